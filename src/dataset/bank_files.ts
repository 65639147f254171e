/**
 * A dataset's identity bank files, `identities.npy` and `identities.json`:
 * kept from the journal when their files still match, else sampled (or
 * taken from a given bank), saved and journaled.
 *
 * @module
 */
import { join } from "node:path";
import { sha256, sha256File } from "../_hash.ts";
import { type BankInfo, decodeBank, encodeBank, sampledBankInfo, saveBank } from "../bank.ts";
import { Vec2FaceError } from "../errors.ts";
import type { ProgressJournal, RunSpec } from "../journal.ts";
import type { ModelPack } from "../model_pack.ts";
import { sample } from "../sample.ts";
import { FILES } from "./layout.ts";

/**
 * Reads a dataset's bank sidecar (`identities.json`; a `null` max cosine,
 * as JSON has no NaN, becomes NaN).
 *
 * @example A null max cosine reads as NaN
 * ```ts
 * import assert from "node:assert/strict";
 * import { readBankInfo } from "./bank_files.ts";
 * const out = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${out}/identities.json`, JSON.stringify({ count: 2, maxCosine: null }));
 * assert.ok(Number.isNaN((await readBankInfo(out)).maxCosine));
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function readBankInfo(out: string): Promise<BankInfo> {
  const bank = JSON.parse(await Deno.readTextFile(join(out, FILES.bankJson))) as BankInfo;
  bank.maxCosine ??= NaN; // JSON has no NaN
  return bank;
}

/** What {@linkcode identityBank} needs. */
export interface IdentityBankOptions {
  /** The model pack (prior, vector size, sha256). */
  pack: ModelPack;
  /** The output folder. */
  out: string;
  /** Identity vectors to take instead of sampling. */
  bank?: Float32Array[];
  /** Cancels sampling. */
  signal?: AbortSignal;
  /** Sampling progress: identities accepted of `total`. */
  onSample?: (done: number, total: number) => void;
}

/**
 * The bank's vectors and sidecar: kept from the journal when the files match,
 * else sampled (or taken) and saved, then journaled. With `temporary` (a
 * folder shared by workers), the bank is written under temporary names of
 * this worker's own, and a bank already there must be the same bytes.
 */
export async function identityBank(
  options: IdentityBankOptions,
  journal: ProgressJournal,
  spec: RunSpec,
  temporary?: string,
): Promise<{ identities: Float32Array[]; bank: BankInfo }> {
  const { pack, out } = options;
  const npy = join(out, FILES.bankNpy);
  const sidecar = join(out, FILES.bankJson);
  if (journal.bank && await sha256File(npy) === journal.bank.npy && await sha256File(sidecar) === journal.bank.json) {
    const identities = decodeBank(await Deno.readFile(npy), { dim: pack.manifest.vectorSize, name: npy });
    return { identities, bank: await readBankInfo(out) };
  }
  const { identities, bank } = await makeBank(options, spec);
  if (temporary !== undefined) {
    // A folder shared by workers: another worker may have written the same bank already (same bytes).
    const there = await sha256File(npy);
    if (there !== undefined && there !== sha256(encodeBank(identities))) {
      throw new Vec2FaceError(
        "resume-mismatch",
        `Cannot use ${npy}: current bank there differs from the one this run sampled or was given ` +
          "(another dataset, or workers with other `seed`, `threshold`, `pack` or `bank`)",
      );
    }
  }
  await saveBank(npy, identities, bank, { temporary });
  await journal.appendBank({ npy: (await sha256File(npy))!, json: (await sha256File(sidecar))! });
  return { identities, bank };
}

/** The first `spec.ids` vectors of the given bank, or a sampled bank, with its sidecar. */
async function makeBank(
  options: IdentityBankOptions,
  spec: RunSpec,
): Promise<{ identities: Float32Array[]; bank: BankInfo }> {
  const { pack } = options;
  const { ids, seed, threshold } = spec;
  const priorSha256 = pack.manifest.files.prior.sha256;
  if (options.bank) {
    return {
      identities: options.bank.slice(0, ids),
      bank: { packSha256: pack.sha256, priorSha256, threshold, seed, count: ids, candidates: 0, maxCosine: NaN },
    };
  }
  const sampled = await sample(ids, {
    prior: pack.prior,
    threshold,
    seed,
    signal: options.signal,
    onProgress: ({ done }) => options.onSample?.(done, ids),
  });
  return { identities: sampled.vectors, bank: sampledBankInfo(pack.sha256, priorSha256, { threshold, seed }, sampled) };
}
