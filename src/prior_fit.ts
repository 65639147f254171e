/**
 * Helpers for fitting an identity prior (see {@linkcode fitPrior}) and judging
 * it: group labels to group ids, pairwise-cosine statistics of prior draws and
 * real vectors, a seeded subset, and a summary of the eigenvalues. Used by
 * `cli.ts prior fit`.
 *
 * @module
 */
import { dirname } from "node:path";
import { drawFromPrior, identityCentres, type Prior } from "./prior.ts";
import { Random } from "./random.ts";
import { norm } from "./vectors.ts";

/**
 * Cosine thresholds reported besides a pack's separation threshold: 0.3 and
 * 0.41, lower thresholds for comparison (the bundled pack separates at 0.476,
 * the identity model's cosine at FAR 1e-5).
 */
export const COMPARISON_THRESHOLDS: readonly number[] = [0.3, 0.41];

/**
 * Group labels (folder names, strings or numbers) to group ids 0, 1, 2, ...
 * in order of first appearance; equal labels get equal ids.
 *
 * @example Ids of four labels, one repeated
 * ```ts
 * import assert from "node:assert/strict";
 * import { groupIds } from "./prior_fit.ts";
 * assert.equal(groupIds(["bob", "ann", "bob", 7]).join(), "0,1,0,2");
 * ```
 */
export function groupIds(labels: readonly unknown[]): number[] {
  if (!Array.isArray(labels)) {
    throw new TypeError(`Cannot use labels as an array: current value is ${typeof labels}`);
  }
  const ids = new Map<string, number>();
  return labels.map((label) => {
    const key = JSON.stringify(label) ?? String(label);
    if (!ids.has(key)) ids.set(key, ids.size);
    return ids.get(key)!;
  });
}

/**
 * Group ids from parsed groups JSON for `count` features: an array with one
 * label (number or string) per feature, or the sidecar of `cli.ts embed`
 * (`{"files": [...]}`), grouped by each file's parent folder.
 *
 * @example Group an embed sidecar by folder, and a list of labels
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGroups } from "./prior_fit.ts";
 * const sidecar = { files: ["lfw/ann/1.jpg", "lfw/bob/1.jpg", "lfw/ann/2.jpg"] };
 * assert.equal(parseGroups(sidecar, 3).join(), "0,1,0");
 * assert.equal(parseGroups([5, 5, 2], 3).join(), "0,0,1");
 * ```
 */
export function parseGroups(parsed: unknown, count: number, name = "groups"): number[] {
  const files = (parsed as { files?: unknown })?.files;
  const labels = Array.isArray(parsed)
    ? parsed
    : Array.isArray(files) && files.every((file) => typeof file === "string")
    ? files.map((file) => dirname(file))
    : undefined;
  if (!labels) {
    throw new TypeError(
      `Cannot read ${name} as groups: current value is neither an array of labels nor {"files": [...]}`,
    );
  }
  if (labels.length !== count) {
    throw new RangeError(
      `Cannot use ${name} as one group per feature: current length is ${labels.length} for ${count} features`,
    );
  }
  return groupIds(labels);
}

/**
 * What {@linkcode cosineStatistics} measures.
 */
export interface CosineStatistics {
  /** Number of pairs. */
  pairs: number;
  /** Mean pairwise cosine. */
  mean: number;
  /** Standard deviation of the pairwise cosines. */
  std: number;
  /** Share of the pairs with cosine above each threshold, in the thresholds' order. */
  above: number[];
}

/**
 * Pairwise cosines of the vectors (every pair once): mean, standard deviation
 * and the share of pairs above each threshold. A zero vector counts as
 * cosine 0 with everything.
 *
 * @example Three vectors at 45 and 90 degrees
 * ```ts
 * import assert from "node:assert/strict";
 * import { cosineStatistics } from "./prior_fit.ts";
 * const vectors = [[1, 0], [1, 1], [0, 1]].map((x) => new Float32Array(x));
 * const { pairs, above } = cosineStatistics(vectors, [0.5]);
 * // Cosines 0.707, 0, 0.707: two of the three pairs above 0.5.
 * assert.equal(pairs, 3);
 * assert.ok(Math.abs(above[0] - 2 / 3) < 1e-12);
 * ```
 */
export function cosineStatistics(vectors: readonly Float32Array[], thresholds: readonly number[]): CosineStatistics {
  if (!Array.isArray(vectors) || vectors.length < 2) {
    throw new RangeError(
      `Cannot measure pairwise cosines of fewer than 2 vectors: current count is ${vectors?.length}`,
    );
  }
  const dim = vectors[0].length;
  const unit = vectors.map((vector, index) => {
    if (vector?.length !== dim) {
      throw new RangeError(`Cannot use vectors[${index}] as a ${dim}-d vector: current length is ${vector?.length}`);
    }
    const length = norm(vector) || 1;
    return Float64Array.from(vector, (value: number) => value / length);
  });
  let pairs = 0, sum = 0, sumSquares = 0;
  const above = thresholds.map(() => 0);
  for (let a = 0; a < unit.length; a++) {
    const first = unit[a];
    for (let b = a + 1; b < unit.length; b++) {
      const second = unit[b];
      let cosine = 0;
      for (let k = 0; k < dim; k++) cosine += first[k] * second[k];
      pairs++;
      sum += cosine;
      sumSquares += cosine * cosine;
      for (let t = 0; t < thresholds.length; t++) if (cosine > thresholds[t]) above[t]++;
    }
  }
  const mean = sum / pairs;
  return {
    pairs,
    mean,
    std: Math.sqrt(Math.max(0, sumSquares / pairs - mean * mean)),
    above: above.map((count) => count / pairs),
  };
}

/**
 * At most `count` of the items: all of them (in order) when there are no
 * more, else a seeded random subset (partial Fisher-Yates shuffle).
 *
 * @example Two of five items, and all of two
 * ```ts
 * import assert from "node:assert/strict";
 * import { seededSubset } from "./prior_fit.ts";
 * import { Random } from "./random.ts";
 * const picked = seededSubset([1, 2, 3, 4, 5], 2, Random.from(0));
 * assert.equal(picked.length, 2);
 * assert.notEqual(picked[0], picked[1]);
 * assert.equal(seededSubset([1, 2], 5, Random.from(0)).join(), "1,2");
 * ```
 */
export function seededSubset<T>(items: readonly T[], count: number, random: Random): T[] {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`Cannot take a subset of ${count} items: current value is not a non-negative integer`);
  }
  if (count >= items.length) return [...items];
  const copy = [...items];
  for (let i = 0; i < count; i++) {
    const j = i + random.int(copy.length - i);
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, count);
}

/**
 * What {@linkcode eigenSummary} reports.
 */
export interface EigenSummary {
  /** The largest eigenvalues, descending (at most `top`). */
  top: number[];
  /** Sum of all eigenvalues (total variance). */
  total: number;
  /** (sum of eigenvalues)^2 / (sum of their squares): how many directions carry the variance. */
  effectiveDimension: number;
  /** Share of the total variance in the `top` largest eigenvalues, 0..1. */
  topShare: number;
}

/**
 * Summarises a prior's eigenvalues: the largest, the total variance, the
 * effective dimension and the share of the largest in the total.
 *
 * @example Two equal eigenvalues make an effective dimension of 2
 * ```ts
 * import assert from "node:assert/strict";
 * import { eigenSummary } from "./prior_fit.ts";
 * const prior = { dim: 4, mean: new Float32Array(4), eigenvalues: new Float32Array([2, 2, 0, 0]),
 *   eigenvectors: new Float32Array(16) };
 * const summary = eigenSummary(prior, 1);
 * assert.equal(summary.total, 4);
 * assert.equal(summary.effectiveDimension, 2);
 * assert.equal(summary.topShare, 0.5);
 * ```
 */
export function eigenSummary(prior: Prior, top = 10): EigenSummary {
  const eigenvalues = Array.from(prior.eigenvalues);
  const total = eigenvalues.reduce((a, b) => a + b, 0);
  const sumSquares = eigenvalues.reduce((a, b) => a + b * b, 0);
  const largest = eigenvalues.slice(0, top);
  return {
    top: largest,
    total,
    effectiveDimension: sumSquares > 0 ? (total * total) / sumSquares : 0,
    topShare: total > 0 ? largest.reduce((a, b) => a + b, 0) / total : 0,
  };
}

/**
 * Options of {@linkcode priorReport}.
 */
export interface PriorReportOptions {
  /** The features the prior was fitted on. */
  features: readonly Float32Array[];
  /** The group of each feature, as given to `fitPrior`: the report then compares identity centres. */
  groups?: readonly number[];
  /** Prior draws, and at most this many real vectors, for the cosine statistics; default 2000, at least 2. */
  draws?: number;
  /** Seeds the draws and the subset of real vectors; default 0. */
  seed?: number;
  /** The pack's separation threshold, reported besides {@linkcode COMPARISON_THRESHOLDS}. */
  separationThreshold?: number;
}

/**
 * Lines that judge a fitted prior: its eigenvalues, mean norms of features,
 * centres and draws, and pairwise-cosine statistics of prior draws against
 * real vectors (identity centres with `groups`) with the share of pairs above
 * 0.3, 0.41 and the separation threshold.
 *
 * @example Judge a prior fitted on random features
 * ```ts
 * import assert from "node:assert/strict";
 * import { fitPrior } from "./prior.ts";
 * import { priorReport } from "./prior_fit.ts";
 * import { Random } from "./random.ts";
 * const random = Random.from(0);
 * const features = Array.from({ length: 20 }, () => Float32Array.from({ length: 8 }, () => random.normal()));
 * const lines = priorReport(fitPrior(features), { features, draws: 50, separationThreshold: 0.5 });
 * assert.ok(lines.some((line) => line.startsWith("prior draws (50): pairwise cosine")));
 * assert.ok(lines.some((line) => line.includes("P(cos > 0.5, pack)")));
 * ```
 */
export function priorReport(prior: Prior, options: PriorReportOptions): string[] {
  const { features, groups, seed = 0, separationThreshold } = options;
  const draws = options.draws ?? 2000;
  if (!Number.isInteger(draws) || draws < 2) {
    throw new RangeError(`Cannot report on ${draws} prior draws: current value is not an integer of at least 2`);
  }
  const centres = groups && identityCentres([...features], groups);
  const fitted = centres ?? [...features];
  const eigen = eigenSummary(prior, 10);
  const lines = [
    `top-10 eigenvalues: ${eigen.top.map((value) => value.toPrecision(4)).join(", ")}`,
    `sum of eigenvalues: ${eigen.total.toPrecision(5)}; effective dimension (sum)^2 / sum of squares: ${
      eigen.effectiveDimension.toFixed(1)
    }; top-10 share ${(eigen.topShare * 100).toFixed(1)} %`,
  ];
  const random = Random.from(seed);
  const drawn = Array.from({ length: draws }, () => drawFromPrior(prior, random));
  const meanNorm = (vectors: readonly Float32Array[]) =>
    vectors.reduce((sum, vector) => sum + norm(vector), 0) / vectors.length;
  lines.push(
    `mean norm: features ${meanNorm(features).toFixed(3)}` +
      (centres ? `, centres ${meanNorm(centres).toFixed(3)}` : "") +
      `, prior mean ${norm(prior.mean).toFixed(3)}, prior draws ${meanNorm(drawn).toFixed(3)}`,
  );
  const thresholds = [
    ...new Set([...COMPARISON_THRESHOLDS, ...(separationThreshold === undefined ? [] : [separationThreshold])]),
  ].sort((a, b) => a - b);
  const cosines = (label: string, vectors: readonly Float32Array[]) => {
    const { mean, std, above } = cosineStatistics(vectors, thresholds);
    const shares = thresholds.map((threshold, t) =>
      `P(cos > ${threshold}${threshold === separationThreshold ? ", pack" : ""}) = ${above[t].toExponential(2)}`
    );
    return `${label} (${vectors.length}): pairwise cosine ${mean.toFixed(4)} +- ${std.toFixed(4)}; ${
      shares.join(", ")
    }`;
  };
  lines.push(cosines("prior draws", drawn));
  const real = seededSubset(fitted, draws, Random.from(seed, 1));
  const subset = real.length < fitted.length ? " (random subset)" : "";
  lines.push(cosines(`real ${centres ? "centres" : "features"}${subset}`, real));
  return lines;
}
