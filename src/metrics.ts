/**
 * Dataset quality metrics on identity features, as pure functions: genuine
 * and impostor cosine scores, the equal error rate between them, Vec2Face's
 * unique-identity ratio, summary statistics, histograms and the Frechet
 * distance between two feature sets. `evaluate.ts` feeds them with the
 * features of a dataset; every function here is checked against hand-computed
 * values in `metrics_test.ts`.
 *
 * @module
 */
import { meanCovariance, symmetricEigen } from "./linalg.ts";
import { Random, STREAM_TAGS } from "./random.ts";

/**
 * Summary statistics of a set of values.
 */
export interface Summary {
  /** Number of values. */
  count: number;
  /** Arithmetic mean. */
  mean: number;
  /** Population standard deviation. */
  std: number;
  /** Smallest value. */
  min: number;
  /** 5th percentile (linear interpolation between order statistics, as NumPy's default). */
  p5: number;
  /** Median. */
  median: number;
  /** Largest value. */
  max: number;
}

function checkValues(values: ArrayLike<number>, what: string): void {
  if (values === null || typeof values !== "object" || typeof values.length !== "number") {
    throw new TypeError(`Cannot use ${what} as an array of numbers: current value is ${typeof values}`);
  }
  for (let i = 0; i < values.length; i++) {
    if (typeof values[i] !== "number" || !Number.isFinite(values[i])) {
      throw new RangeError(`Cannot use ${what} as finite numbers: current value at ${i} is ${values[i]}`);
    }
  }
}

/**
 * The `q`-quantile (0..1) of values sorted ascending, interpolating linearly
 * between the two nearest order statistics (NumPy's default).
 *
 * @example The median of five values and a low quantile of two
 * ```ts
 * import assert from "node:assert/strict";
 * import { quantile } from "./metrics.ts";
 * assert.equal(quantile([0, 10, 20, 30, 40], 0.5), 20);
 * assert.equal(quantile([0, 10], 0.05), 0.5);
 * ```
 */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`Cannot take the quantile ${q}: current value is not in 0..1`);
  if (sorted.length === 0) throw new RangeError("Cannot take a quantile of values: current count is 0");
  const position = q * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}

/**
 * Count, mean, standard deviation (population), minimum, 5th percentile,
 * median and maximum of finite values; at least one is needed.
 *
 * @example Mean, standard deviation and 5th percentile of eight values
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarize } from "./metrics.ts";
 * const { mean, std, p5 } = summarize([2, 4, 4, 4, 5, 5, 7, 9]);
 * assert.equal(mean, 5);
 * assert.equal(std, 2);
 * assert.ok(Math.abs(p5 - 2.7) < 1e-12);
 * ```
 */
export function summarize(values: ArrayLike<number>): Summary {
  checkValues(values, "values");
  if (values.length === 0) throw new RangeError("Cannot summarize values: current count is 0");
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  const mean = sum / sorted.length;
  let squares = 0;
  for (const value of sorted) squares += (value - mean) ** 2;
  return {
    count: sorted.length,
    mean,
    std: Math.sqrt(squares / sorted.length),
    min: sorted[0],
    p5: quantile(sorted, 0.05),
    median: quantile(sorted, 0.5),
    max: sorted[sorted.length - 1],
  };
}

/**
 * Features scaled to unit length (a zero vector stays zero), so that a dot
 * product is a cosine. The inputs are not modified.
 *
 * @example Scale a 3-4-5 vector to unit length
 * ```ts
 * import assert from "node:assert/strict";
 * import { unitVectors } from "./metrics.ts";
 * const [unit] = unitVectors([new Float32Array([3, 4])]);
 * assert.ok(Math.abs(unit[0] - 0.6) < 1e-7);
 * assert.ok(Math.abs(unit[1] - 0.8) < 1e-7);
 * ```
 */
export function unitVectors(features: readonly Float32Array[]): Float32Array[] {
  checkFeatures(features, "features");
  return features.map((feature) => {
    let sum = 0;
    for (let i = 0; i < feature.length; i++) sum += feature[i] * feature[i];
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
    return Float32Array.from(feature, (value) => value * scale);
  });
}

function checkFeatures(features: readonly Float32Array[], what: string): void {
  if (!Array.isArray(features)) {
    throw new TypeError(`Cannot use ${what} as an array of Float32Array: current value is ${typeof features}`);
  }
  const dim = features[0]?.length;
  features.forEach((feature, index) => {
    if (!(feature instanceof Float32Array)) {
      throw new TypeError(`Cannot use ${what}[${index}] as a Float32Array: current value is ${typeof feature}`);
    }
    if (feature.length !== dim) {
      throw new RangeError(`Cannot use ${what}[${index}] as a ${dim}-d vector: current length is ${feature.length}`);
    }
  });
}

function checkLabels(labels: readonly number[], count: number): void {
  if (!Array.isArray(labels)) {
    throw new TypeError(`Cannot use labels as an array of identity ids: current value is ${typeof labels}`);
  }
  if (labels.length !== count) {
    throw new RangeError(
      `Cannot use labels as one identity id per feature: current length is ${labels.length} for ${count} features`,
    );
  }
  labels.forEach((label, index) => {
    if (!Number.isSafeInteger(label)) {
      throw new TypeError(`Cannot use labels[${index}] as an integer identity id: current value is ${label}`);
    }
  });
}

function checkPairCount(value: number | undefined, fallback: number): number {
  const pairs = value ?? fallback;
  if (!Number.isSafeInteger(pairs) || pairs < 1) {
    throw new RangeError(`Cannot use ${pairs} pairs: current value is not a positive integer`);
  }
  return pairs;
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/**
 * Options of {@linkcode genuineScores} and {@linkcode impostorScores}.
 */
export interface PairOptions {
  /** At most this many pairs: when more exist, this many are sampled (seeded); default 1,000,000. */
  pairs?: number;
  /** Seed of the sampled pairs; default 0. */
  seed?: number;
}

/**
 * Cosine scores of image pairs, and whether they are all the pairs there are.
 */
export interface PairScores {
  /** One cosine per pair. */
  scores: Float64Array;
  /** Pairs that exist (sampled from when `exhaustive` is false). */
  available: number;
  /** True when `scores` holds every pair once; false when they were sampled uniformly, with replacement. */
  exhaustive: boolean;
}

/** Indices of the features of each identity, in order of first appearance. */
function groupsOf(labels: readonly number[]): number[][] {
  const groups = new Map<number, number[]>();
  labels.forEach((label, index) => {
    let group = groups.get(label);
    if (!group) groups.set(label, group = []);
    group.push(index);
  });
  return [...groups.values()];
}

/** The checked inputs of the pair scores: at most `limit` pairs, of the unit-length features. */
function pairInputs(
  features: readonly Float32Array[],
  labels: readonly number[],
  options: PairOptions,
): { limit: number; unit: Float32Array[] } {
  checkFeatures(features, "features");
  checkLabels(labels, features.length);
  return { limit: checkPairCount(options.pairs, 1_000_000), unit: unitVectors(features) };
}

/**
 * Genuine scores: the cosine of every pair of images of the same identity
 * (identity by identity, `i < j`), or, when there are more than `pairs` of
 * them, `pairs` pairs drawn uniformly with replacement (seeded).
 *
 * @example Two identities: (a, b) and (c, d, e)
 * ```ts
 * import assert from "node:assert/strict";
 * import { genuineScores } from "./metrics.ts";
 * const v = (x: number, y: number) => new Float32Array([x, y]);
 * const { scores, available } = genuineScores([v(1, 0), v(0, 1), v(1, 0), v(1, 0), v(2, 0)], [0, 0, 1, 1, 1]);
 * assert.equal(available, 4);
 * assert.equal(scores.join(), "0,1,1,1");
 * ```
 */
export function genuineScores(
  features: readonly Float32Array[],
  labels: readonly number[],
  options: PairOptions = {},
): PairScores {
  const { limit, unit } = pairInputs(features, labels, options);
  const groups = groupsOf(labels).filter((group) => group.length > 1);
  const available = groups.reduce((sum, group) => sum + (group.length * (group.length - 1)) / 2, 0);
  if (available <= limit) {
    const scores = new Float64Array(available);
    let k = 0;
    for (const group of groups) {
      for (let a = 0; a < group.length; a++) {
        for (let b = a + 1; b < group.length; b++) scores[k++] = dot(unit[group[a]], unit[group[b]]);
      }
    }
    return { scores, available, exhaustive: true };
  }
  // A group with probability proportional to its pair count, then a pair in it: uniform over all pairs.
  const cumulative = new Float64Array(groups.length);
  let running = 0;
  groups.forEach((group, g) => cumulative[g] = running += (group.length * (group.length - 1)) / 2);
  const random = Random.from(options.seed ?? 0, STREAM_TAGS.genuinePairs);
  const scores = new Float64Array(limit);
  for (let k = 0; k < limit; k++) {
    const target = random.float() * available;
    let low = 0, high = groups.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (cumulative[middle] > target) high = middle;
      else low = middle + 1;
    }
    const group = groups[low];
    const a = random.int(group.length);
    let b = random.int(group.length - 1);
    if (b >= a) b++;
    scores[k] = dot(unit[group[a]], unit[group[b]]);
  }
  return { scores, available, exhaustive: false };
}

/**
 * Impostor scores: the cosine of every pair of images of different
 * identities (`i < j`), or, when there are more than `pairs` of them, `pairs`
 * pairs drawn uniformly with replacement (seeded).
 *
 * @example Every impostor pair, then one drawn pair
 * ```ts
 * import assert from "node:assert/strict";
 * import { impostorScores } from "./metrics.ts";
 * const v = (x: number, y: number) => new Float32Array([x, y]);
 * const all = impostorScores([v(1, 0), v(1, 0), v(0, 1)], [0, 0, 1]);
 * assert.ok(all.exhaustive);
 * assert.equal(all.scores.join(), "0,0");
 * const some = impostorScores([v(1, 0), v(1, 0), v(0, 1)], [0, 0, 1], { pairs: 1, seed: 3 });
 * assert.ok(!some.exhaustive);
 * assert.equal(some.scores.length, 1);
 * assert.equal(some.available, 2);
 * ```
 */
export function impostorScores(
  features: readonly Float32Array[],
  labels: readonly number[],
  options: PairOptions = {},
): PairScores {
  const { limit, unit } = pairInputs(features, labels, options);
  const n = features.length;
  const sameIdentity = groupsOf(labels).reduce((sum, group) => sum + (group.length * (group.length - 1)) / 2, 0);
  const available = (n * (n - 1)) / 2 - sameIdentity;
  if (available <= limit) {
    const scores = new Float64Array(available);
    let k = 0;
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) if (labels[a] !== labels[b]) scores[k++] = dot(unit[a], unit[b]);
    }
    return { scores, available, exhaustive: true };
  }
  // Ordered pairs of different identities drawn uniformly (rejecting same-identity
  // ones) are uniform over unordered pairs too.
  const random = Random.from(options.seed ?? 0, STREAM_TAGS.impostorPairs);
  const scores = new Float64Array(limit);
  for (let k = 0; k < limit;) {
    const a = random.int(n), b = random.int(n);
    if (labels[a] !== labels[b]) scores[k++] = dot(unit[a], unit[b]);
  }
  return { scores, available, exhaustive: false };
}

/**
 * The equal error rate of a verifier that accepts a pair when its score is
 * at least a threshold, and the threshold where it occurs.
 */
export interface EqualErrorRate {
  /** The rate at which false accepts equal false rejects, 0..1. */
  rate: number;
  /** The score threshold at that point. */
  threshold: number;
}

/**
 * The equal error rate between genuine and impostor scores, by an exact sweep
 * over every distinct score as a threshold `t` (a pair is accepted when its
 * score is `>= t`): the false accept rate FAR(t) is the share of impostor
 * scores `>= t`, the false reject rate FRR(t) the share of genuine scores
 * `< t`. At the first threshold where FAR <= FRR, the rate is FAR when they
 * are equal; otherwise the (FAR, FRR) points of that threshold and the one
 * before are joined by a line and the rate is where it crosses FAR = FRR (the
 * threshold is interpolated likewise). Perfectly separated scores give 0.
 *
 * @example Hand-computed: FAR = FRR = 1/3 at threshold 0.5
 * ```ts
 * import assert from "node:assert/strict";
 * import { equalErrorRate } from "./metrics.ts";
 * const { rate, threshold } = equalErrorRate([0.9, 0.8, 0.3], [0.1, 0.2, 0.5]);
 * assert.equal(rate, 1 / 3);
 * assert.equal(threshold, 0.5);
 * assert.equal(equalErrorRate([0.8, 0.9], [0.1, 0.2]).rate, 0);
 * ```
 */
export function equalErrorRate(genuine: ArrayLike<number>, impostor: ArrayLike<number>): EqualErrorRate {
  checkValues(genuine, "genuine scores");
  checkValues(impostor, "impostor scores");
  if (genuine.length === 0 || impostor.length === 0) {
    throw new RangeError(
      `Cannot compute an equal error rate from ${genuine.length} genuine and ${impostor.length} impostor scores: ` +
        "current value is 0 for one of them",
    );
  }
  const g = Float64Array.from(genuine).sort(), im = Float64Array.from(impostor).sort();
  const G = g.length, I = im.length;
  // Walk the distinct scores ascending; rejected = genuine below t, accepted = impostors at or above t.
  let gi = 0, ii = 0;
  let previous: { far: number; frr: number; t: number } | undefined;
  while (gi < G || ii < I) {
    const t = Math.min(gi < G ? g[gi] : Infinity, ii < I ? im[ii] : Infinity);
    const rejected = gi; // genuine scores < t
    const accepted = I - ii; // impostor scores >= t
    // Exact comparison FAR vs FRR in integers: accepted / I vs rejected / G.
    const difference = accepted * G - rejected * I;
    const far = accepted / I, frr = rejected / G;
    if (difference === 0) return { rate: far, threshold: t };
    if (difference < 0) return crossing(previous!, { far, frr, t });
    previous = { far, frr, t };
    while (gi < G && g[gi] === t) gi++;
    while (ii < I && im[ii] === t) ii++;
  }
  // Past the largest score: nothing accepted, every genuine pair rejected (FAR 0 < FRR 1).
  return crossing(previous!, { far: 0, frr: 1, t: Infinity });
}

function crossing(
  before: { far: number; frr: number; t: number },
  after: { far: number; frr: number; t: number },
): EqualErrorRate {
  const d0 = before.far - before.frr, d1 = after.far - after.frr;
  const s = d0 / (d0 - d1);
  const rate = before.far + s * (after.far - before.far);
  const threshold = Number.isFinite(after.t) ? before.t + s * (after.t - before.t) : before.t;
  return { rate, threshold };
}

/**
 * The centre of each identity: the mean of its unit-length features, in order
 * of first appearance of the identity.
 *
 * @example Centres of two identities
 * ```ts
 * import assert from "node:assert/strict";
 * import { unitCentres } from "./metrics.ts";
 * const centres = unitCentres([new Float32Array([2, 0]), new Float32Array([0, 5]), new Float32Array([0, 1])], [4, 9, 4]);
 * assert.equal(centres.length, 2);
 * assert.equal(centres[0].join(), "0.5,0.5");
 * assert.equal(centres[1].join(), "0,1");
 * ```
 */
export function unitCentres(features: readonly Float32Array[], labels: readonly number[]): Float32Array[] {
  checkFeatures(features, "features");
  checkLabels(labels, features.length);
  const unit = unitVectors(features);
  return groupsOf(labels).map((group) => {
    const sum = new Float64Array(unit[group[0]].length);
    for (const index of group) {
      const vector = unit[index];
      for (let i = 0; i < sum.length; i++) sum[i] += vector[i];
    }
    return Float32Array.from(sum, (value) => value / group.length);
  });
}

/**
 * Vec2Face's unique-identity count.
 */
export interface UniqueIdentities {
  /** Cosine above which two identity centres count as the same person. */
  threshold: number;
  /** Identities no earlier centre is closer to than the threshold. */
  unique: number;
  /** Identities. */
  total: number;
  /** `unique / total`. */
  ratio: number;
}

/**
 * Vec2Face's unique-identity ratio: identity `j` counts when no earlier
 * identity centre `i < j` (counted or not) has a cosine above `threshold`
 * with it (the paper's measure uses 0.4 with ArcFace features).
 *
 * @example Hand-computed: the second and third are within 0.4 of an earlier centre
 * ```ts
 * import assert from "node:assert/strict";
 * import { uniqueIdentities } from "./metrics.ts";
 * const v = (x: number, y: number) => new Float32Array([x, y]);
 * const result = uniqueIdentities([v(1, 0), v(0.8, 0.6), v(0, 1), v(-1, 0)], 0.4);
 * assert.equal(result.unique, 2);
 * assert.equal(result.ratio, 0.5);
 * ```
 */
export function uniqueIdentities(centres: readonly Float32Array[], threshold = 0.4): UniqueIdentities {
  checkFeatures(centres, "centres");
  if (!(threshold >= -1 && threshold <= 1)) {
    throw new RangeError(`Cannot count unique identities at cosine ${threshold}: current value is not in -1..1`);
  }
  if (centres.length === 0) throw new RangeError("Cannot count unique identities: current count is 0");
  const unit = unitVectors(centres);
  let unique = 0;
  for (let j = 0; j < unit.length; j++) {
    let alone = true;
    for (let i = 0; i < j && alone; i++) if (dot(unit[i], unit[j]) > threshold) alone = false;
    if (alone) unique++;
  }
  return { threshold, unique, total: centres.length, ratio: unique / centres.length };
}

/**
 * A histogram with equal-width bins over `[min, max]`.
 */
export interface Histogram {
  /** Left edge of the first bin. */
  min: number;
  /** Right edge of the last bin. */
  max: number;
  /** Values per bin (values outside `[min, max]` are counted in the first or last bin). */
  counts: number[];
}

/**
 * Counts values in `bins` equal bins over `[min, max]`; a value equal to
 * `max` goes to the last bin, values outside the range to the nearest edge
 * bin.
 *
 * @example Two bins, with the maximum and an outlier in the last
 * ```ts
 * import assert from "node:assert/strict";
 * import { histogram } from "./metrics.ts";
 * assert.equal(histogram([0, 0.2, 0.5, 0.99, 1, 7], { min: 0, max: 1, bins: 2 }).counts.join(), "2,4");
 * ```
 */
export function histogram(
  values: ArrayLike<number>,
  options: { min: number; max: number; bins: number },
): Histogram {
  checkValues(values, "values");
  const { min, max, bins } = options;
  if (!Number.isFinite(min) || !Number.isFinite(max) || !(max > min)) {
    throw new RangeError(`Cannot bin values over [${min}, ${max}]: current range is empty or not finite`);
  }
  if (!Number.isInteger(bins) || bins < 1) {
    throw new RangeError(`Cannot bin values in ${bins} bins: current value is not a positive integer`);
  }
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const bin = Math.floor(((values[i] - min) / (max - min)) * bins);
    counts[Math.min(bins - 1, Math.max(0, bin))]++;
  }
  return { min, max, counts };
}

/**
 * Mean and covariance of a feature set, in float64.
 */
export interface GaussianStats {
  /** Values per feature. */
  dim: number;
  /** Features the statistics come from. */
  count: number;
  /** Mean feature. */
  mean: Float64Array;
  /** Covariance (denominator `count - 1`), row-major `[dim, dim]`. */
  covariance: Float64Array;
}

/**
 * The mean and covariance (denominator `count - 1`, as NumPy's `cov`) of at
 * least two features of equal length.
 *
 * @example Mean and covariance of two 2-d features
 * ```ts
 * import assert from "node:assert/strict";
 * import { gaussianStats } from "./metrics.ts";
 * const stats = gaussianStats([new Float32Array([1, 0]), new Float32Array([3, 0])]);
 * assert.equal(stats.mean.join(), "2,0");
 * assert.equal(stats.covariance.join(), "2,0,0,0");
 * ```
 */
export function gaussianStats(features: readonly Float32Array[]): GaussianStats {
  checkFeatures(features, "features");
  if (features.length < 2) {
    throw new RangeError(`Cannot estimate a covariance from ${features.length} features: current count is below 2`);
  }
  const dim = features[0].length, count = features.length;
  const { mean, covariance } = meanCovariance(features, dim);
  return { dim, count, mean, covariance };
}

function checkStats(stats: GaussianStats, what: string): void {
  const dim = stats?.dim;
  if (
    !Number.isInteger(dim) || dim < 1 || !(stats.mean instanceof Float64Array) ||
    !(stats.covariance instanceof Float64Array) || stats.mean.length !== dim || stats.covariance.length !== dim * dim
  ) {
    throw new RangeError(
      `Cannot use ${what} as Gaussian statistics of dimension ${dim}: current mean has ${stats?.mean?.length} ` +
        `values and covariance ${stats?.covariance?.length}`,
    );
  }
}

/** `a * b` for row-major `n x n` matrices. */
function multiply(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[row + k];
      if (aik === 0) continue;
      const bRow = k * n;
      for (let j = 0; j < n; j++) out[row + j] += aik * b[bRow + j];
    }
  }
  return out;
}

/** The symmetric square root of a symmetric positive semi-definite matrix (negative eigenvalues from rounding count as 0). */
function symmetricSqrt(matrix: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const root = Math.sqrt(Math.max(values[k], 0));
    if (root === 0) continue;
    const v = vectors.subarray(k * n, (k + 1) * n);
    for (let i = 0; i < n; i++) {
      const scaled = root * v[i];
      const row = i * n;
      for (let j = 0; j < n; j++) out[row + j] += scaled * v[j];
    }
  }
  return out;
}

/**
 * The Frechet distance between two Gaussians (the FID formula):
 * `|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)`, with both square
 * roots from the symmetric eigensolver of `linalg.ts` (eigenvalues below 0
 * from rounding count as 0). 0 for identical statistics.
 *
 * @example Hand-computed: diagonal covariances 4 and 1, means 0 and 3
 * ```ts
 * import assert from "node:assert/strict";
 * import { frechetDistance } from "./metrics.ts";
 * const a = { dim: 1, count: 2, mean: new Float64Array([0]), covariance: new Float64Array([4]) };
 * const b = { dim: 1, count: 2, mean: new Float64Array([3]), covariance: new Float64Array([1]) };
 * assert.ok(Math.abs(frechetDistance(a, b) - (9 + (2 - 1) ** 2)) < 1e-12);
 * ```
 */
export function frechetDistance(a: GaussianStats, b: GaussianStats): number {
  checkStats(a, "the first set");
  checkStats(b, "the second set");
  if (a.dim !== b.dim) {
    throw new RangeError(`Cannot compare ${a.dim}-d with ${b.dim}-d statistics: current dimensions differ`);
  }
  const n = a.dim;
  let meanTerm = 0, trace = 0;
  for (let i = 0; i < n; i++) {
    meanTerm += (a.mean[i] - b.mean[i]) ** 2;
    trace += a.covariance[i * n + i] + b.covariance[i * n + i];
  }
  const root = symmetricSqrt(a.covariance, n);
  const product = multiply(multiply(root, b.covariance, n), root, n);
  // Exactly symmetric for the eigensolver's check (rounding leaves it nearly so).
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const mean = (product[i * n + j] + product[j * n + i]) / 2;
      product[i * n + j] = product[j * n + i] = mean;
    }
  }
  const { values } = symmetricEigen(product, n);
  let rootTrace = 0;
  for (const value of values) rootTrace += Math.sqrt(Math.max(value, 0));
  return Math.max(0, meanTerm + trace - 2 * rootTrace);
}
