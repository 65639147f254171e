/**
 * What a sampled bank will cost, checked before a run writes anything: the
 * memory the bank needs, and (past 10,000 identities) whether sampling would
 * collapse before the count, by the pilot estimate of `sample_price.ts`.
 *
 * @module
 */
import { estimateSampling, samplingPilot } from "../sample_price.ts";
import type { Prior } from "../prior.ts";

/** Banks up to this size are sampled without an estimate (seconds at worst; a pilot costs 1-2 s). */
const PRICED_FROM = 10_000;

/**
 * Throws `RangeError` when `ids` identities of `prior` at `threshold` cannot
 * be sampled here: their vectors (float32, and the sampler's unit copy) would
 * take more than this machine's memory, or the pilot estimate says acceptance
 * collapses under 1 % before `ids` (sampling would stall there).
 *
 * @example A bank larger than memory is refused at once
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkBankPrice } from "./bank_price.ts";
 * const dim = 4;
 * const eigenvectors = new Float32Array(dim * dim);
 * for (let i = 0; i < dim; i++) eigenvectors[i * dim + i] = 1;
 * const prior = { dim, mean: new Float32Array(dim), eigenvalues: new Float32Array(dim).fill(1), eigenvectors };
 * assert.throws(() => checkBankPrice(prior, 0.5, Number.MAX_SAFE_INTEGER), /bank would need .* GiB/);
 * assert.throws(() => checkBankPrice(prior, 0.2, 20_000), /acceptance falls under 1 % after about \d+ identities/);
 * checkBankPrice(prior, 0.5, 50); // small: not priced
 * ```
 */
export function checkBankPrice(prior: Prior, threshold: number, ids: number): void {
  const bytes = 2 * ids * prior.dim * 4;
  const memory = Deno.systemMemoryInfo().total;
  if (bytes > memory) {
    throw new RangeError(
      `Cannot sample ${ids} identities: current bank would need ${(bytes / 2 ** 30).toFixed(1)} GiB, more than ` +
        `this machine's ${(memory / 2 ** 30).toFixed(1)} GiB of memory; lower \`ids\` or split the dataset`,
    );
  }
  if (ids < PRICED_FROM) return;
  const estimate = estimateSampling(samplingPilot(prior), threshold, ids);
  if (estimate.collapseAt !== null) {
    throw new RangeError(
      `Cannot sample ${ids} identities at threshold ${threshold}: current estimate is that acceptance falls under 1 % ` +
        `after about ${estimate.collapseAt} identities; raise \`threshold\` or lower \`ids\``,
    );
  }
}
