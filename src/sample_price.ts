/**
 * What sampling `n` identities at a threshold will cost, told before it runs:
 * the candidates `sample` will draw, and the identity count at which its
 * acceptance collapses (the stall that ends it with `sampling-stalled`).
 *
 * The estimate comes from a pilot of candidates drawn from the prior: for
 * each pilot candidate c, the share p_c of the others whose cosine to it is at
 * or above the threshold. With k identities kept, a new candidate is accepted
 * with probability about a(k) = mean_c (1 - p_c)^k; the candidates for n
 * identities are about the sum of 1 / a(k) for k < n. A single mean share
 * (every candidate alike) underestimates the collapse point 2.5-7 times,
 * because the prior's dense middle fills up first while its tails stay open;
 * the per-candidate mixture is within 15 % of the measured collapse point at
 * thresholds 0.2 and 0.25 (pilot of 2,000, vec2face-small: 168 vs 197 and
 * 820 vs 684 identities) and within 5 % of the measured candidates at 0.4
 * and 0.476 (20,000 identities). Where few pilot pairs exceed the threshold
 * (0.3-0.35) it reads low, by up to 3x (the pilot cannot see the rare pairs).
 *
 * @module
 */
import type { Prior } from "./prior.ts";
import { drawFromPrior } from "./prior.ts";
import { Random, STREAM_TAGS } from "./random.ts";
import { checkCount, checkThreshold } from "./_check.ts";

/**
 * The pairwise cosines of a pilot of candidates, computed once per prior and
 * read for any threshold by {@linkcode estimateSampling}.
 */
export interface SamplingPilot {
  /** Pilot candidates. */
  readonly size: number;
  /** Each candidate's cosines to the others, sorted ascending, row after row (`size - 1` per row). */
  readonly sortedCosines: Float32Array;
}

/**
 * Draws a pilot of `size` candidates (the first candidates of seed 0's
 * stream, whatever seed is later sampled: the estimate is of the prior, not
 * of a seed) and sorts each one's cosines to the others. Costs about 1 s for
 * 2,000 candidates of 512 values, and `size^2` floats of memory.
 *
 * @example A pilot of an isotropic 8-d prior
 * ```ts
 * import assert from "node:assert/strict";
 * import { samplingPilot } from "./sample_price.ts";
 * const dim = 8;
 * const eigenvectors = new Float32Array(dim * dim);
 * for (let i = 0; i < dim; i++) eigenvectors[i * dim + i] = 1;
 * const prior = { dim, mean: new Float32Array(dim), eigenvalues: new Float32Array(dim).fill(1), eigenvectors };
 * const pilot = samplingPilot(prior, 100);
 * assert.equal(pilot.size, 100);
 * assert.equal(pilot.sortedCosines.length, 100 * 99);
 * assert.ok(pilot.sortedCosines[0] <= pilot.sortedCosines[98]);
 * ```
 */
export function samplingPilot(prior: Prior, size = 2000): SamplingPilot {
  checkCount(size, "pilot size `size`");
  if (size < 2) throw new RangeError(`Cannot draw a sampling pilot of ${size}: current value is under 2`);
  const { dim } = prior;
  const units = new Float32Array(size * dim);
  for (let j = 0; j < size; j++) {
    const vector = drawFromPrior(prior, Random.from(0, STREAM_TAGS.candidate, j));
    let sum = 0;
    for (const value of vector) sum += value * value;
    const scale = sum > 0 && Number.isFinite(sum) ? 1 / Math.sqrt(sum) : 0;
    for (let i = 0; i < dim; i++) units[j * dim + i] = vector[i] * scale;
  }
  const cosines = new Float32Array(size * size);
  for (let a = 0; a < size; a++) {
    for (let b = a + 1; b < size; b++) {
      let dot = 0;
      for (let i = 0, x = a * dim, y = b * dim; i < dim; i++) dot += units[x + i] * units[y + i];
      cosines[a * size + b] = dot;
      cosines[b * size + a] = dot;
    }
  }
  const width = size - 1;
  const sortedCosines = new Float32Array(size * width);
  for (let a = 0; a < size; a++) {
    const row = sortedCosines.subarray(a * width, (a + 1) * width);
    row.set(cosines.subarray(a * size, a * size + a), 0);
    row.set(cosines.subarray(a * size + a + 1, (a + 1) * size), a);
    row.sort();
  }
  return { size, sortedCosines };
}

/** What {@linkcode estimateSampling} predicts. */
export interface SamplingEstimate {
  /** Identities asked for. */
  n: number;
  /** Threshold. */
  threshold: number;
  /** Candidates `sample` is expected to draw for `n` (Infinity when it collapses first). */
  candidates: number;
  /** Kept count at which acceptance falls under `minAcceptance`, or null when that is past `n`. */
  collapseAt: number | null;
  /** Acceptance expected when the last identity is kept (or at the collapse). */
  finalAcceptance: number;
}

/**
 * Predicts the cost of `sample(n, { threshold })` from a pilot: the
 * candidates it will draw, and whether (and where) acceptance collapses under
 * `minAcceptance` (`sample`'s own stall rule, default 0.01) before `n`.
 *
 * @example An 8-d prior holds few identities at threshold 0.2, many at 0.9
 * ```ts
 * import assert from "node:assert/strict";
 * import { estimateSampling, samplingPilot } from "./sample_price.ts";
 * const dim = 8;
 * const eigenvectors = new Float32Array(dim * dim);
 * for (let i = 0; i < dim; i++) eigenvectors[i * dim + i] = 1;
 * const prior = { dim, mean: new Float32Array(dim), eigenvalues: new Float32Array(dim).fill(1), eigenvectors };
 * const pilot = samplingPilot(prior, 400);
 * const tight = estimateSampling(pilot, 0.2, 5000);
 * assert.ok(tight.collapseAt !== null && tight.collapseAt < 5000);
 * assert.equal(tight.candidates, Infinity);
 * const loose = estimateSampling(pilot, 0.9, 50);
 * assert.equal(loose.collapseAt, null);
 * assert.ok(loose.candidates >= 50 && loose.candidates < 60);
 * ```
 */
export function estimateSampling(
  pilot: SamplingPilot,
  threshold: number,
  n: number,
  options: { minAcceptance?: number } = {},
): SamplingEstimate {
  checkThreshold(threshold, "estimate sampling");
  checkCount(n, "identity count `n`");
  const minAcceptance = options.minAcceptance ?? 0.01;
  if (!(minAcceptance > 0 && minAcceptance <= 1)) {
    throw new RangeError(
      `Cannot estimate sampling with minAcceptance as ${minAcceptance}: current value is not in (0, 1]`,
    );
  }
  const { size, sortedCosines } = pilot;
  const width = size - 1;
  // Candidates with the same count of neighbours at or above the threshold
  // decay alike: a histogram of counts keeps the loop at (distinct counts) x n.
  const histogram = new Map<number, number>();
  for (let a = 0; a < size; a++) {
    const row = sortedCosines.subarray(a * width, (a + 1) * width);
    let low = 0, high = width;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (row[middle] < threshold) low = middle + 1;
      else high = middle;
    }
    const above = width - low;
    histogram.set(above, (histogram.get(above) ?? 0) + 1);
  }
  const keep = [...histogram.keys()].map((above) => 1 - above / width);
  const weights = [...histogram.values()].map((count) => count / size);
  const acceptance = (k: number): number => {
    let sum = 0;
    for (let i = 0; i < keep.length; i++) sum += weights[i] * keep[i] ** k;
    return sum;
  };
  // acceptance(k) falls with k: the collapse is the first k under minAcceptance, found by bisection.
  if (acceptance(n - 1) < minAcceptance) {
    let low = 0, high = n - 1;
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      if (acceptance(middle) < minAcceptance) high = middle;
      else low = middle + 1;
    }
    return { n, threshold, candidates: Infinity, collapseAt: low, finalAcceptance: acceptance(low) };
  }
  // Candidates: the sum of 1 / acceptance(k) for k < n, term by term up to 20,000, then by the trapezoid rule on a
  // geometric grid (1/acceptance is smooth and rising; steps of 0.5 % keep it within 0.1 % of the sum).
  const exact = Math.min(n, 20_000);
  let candidates = 0;
  for (let k = 0; k < exact; k++) candidates += 1 / acceptance(k);
  for (let k = exact; k < n;) {
    const next = Math.min(n, Math.max(k + 1, Math.floor(k * 1.005)));
    candidates += (next - k) * (1 / acceptance(k) + 1 / acceptance(next - 1)) / 2;
    k = next;
  }
  return { n, threshold, candidates: Math.round(candidates), collapseAt: null, finalAcceptance: acceptance(n - 1) };
}
