/**
 * The identity prior: a Gaussian fitted in PCA space of real identity
 * features (mean, eigenvectors, eigenvalues), as in Vec2Face.
 *
 * File layout (`prior.npy`): float32 `[dim + 2, dim]`; row 0 the mean, row 1
 * the eigenvalues (descending), rows 2.. the eigenvectors, one per row.
 *
 * @module
 */
import { meanCovariance, symmetricEigen } from "./linalg.ts";
import { decodeNpy, encodeNpy } from "./npy.ts";
import type { Random } from "./random.ts";
import { checkVectors } from "./vectors.ts";

/** A Gaussian identity prior in PCA form. */
export interface Prior {
  /** Vector size. */
  dim: number;
  /** Mean feature. */
  mean: Float32Array;
  /** Variances along the eigenvectors, descending. */
  eigenvalues: Float32Array;
  /** Eigenvectors, row-major `[dim, dim]`, one per row. */
  eigenvectors: Float32Array;
}

/**
 * Reads a prior from its `.npy` bytes.
 *
 * @example Parse a 2-d prior
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeNpy } from "./npy.ts";
 * import { parsePrior } from "./prior.ts";
 * const data = new Float32Array(4 * 2);
 * data.set([1, 1, 0.5, 0.25, 1, 0, 0, 1]);
 * const prior = parsePrior(encodeNpy({ shape: [4, 2], data }));
 * assert.equal(prior.dim, 2);
 * assert.equal(prior.eigenvalues[1], 0.25);
 * ```
 */
export function parsePrior(bytes: Uint8Array): Prior {
  const { shape, data } = decodeNpy(bytes);
  const [rows, dim] = shape;
  if (rows !== dim + 2) {
    throw new RangeError(`Cannot read a prior as [dim + 2, dim]: current shape is [${rows}, ${dim}]`);
  }
  const prior = {
    dim,
    mean: data.slice(0, dim),
    eigenvalues: data.slice(dim, 2 * dim),
    eigenvectors: data.slice(2 * dim),
  };
  if (prior.eigenvalues.some((value) => !(value >= 0))) {
    throw new RangeError("Cannot read a prior with negative or NaN eigenvalues: current file is not a valid prior");
  }
  return prior;
}

/**
 * Draws one vector: mean + sum_i sqrt(lambda_i) z_i e_i.
 *
 * @example A draw keeps the mean along a zero-variance axis
 * ```ts
 * import assert from "node:assert/strict";
 * import { drawFromPrior } from "./prior.ts";
 * import { Random } from "./random.ts";
 * const prior = { dim: 2, mean: new Float32Array([1, 1]), eigenvalues: new Float32Array([4, 0]),
 *   eigenvectors: new Float32Array([1, 0, 0, 1]) };
 * const vector = drawFromPrior(prior, Random.from(0));
 * assert.equal(vector[1], 1); // no variance along the second axis
 * ```
 */
export function drawFromPrior(prior: Prior, random: Random): Float32Array {
  const { dim, mean, eigenvalues, eigenvectors } = prior;
  const out = Float32Array.from(mean);
  for (let component = 0; component < dim; component++) {
    const scale = Math.sqrt(eigenvalues[component]) * random.normal();
    if (scale === 0) continue;
    const row = component * dim;
    for (let i = 0; i < dim; i++) out[i] += scale * eigenvectors[row + i];
  }
  return out;
}

/** Options of {@linkcode fitPrior}. */
export interface FitPriorOptions {
  /**
   * One group id per feature (e.g. the index of the photo's person folder).
   * Given, the features of each group are averaged first and the Gaussian is
   * fitted on these identity centres, as Vec2Face does; else on the features.
   */
  groups?: readonly number[];
}

/**
 * Fits a full-rank Gaussian prior to identity features: the mean, and the
 * eigendecomposition of the sample covariance (divided by count - 1), with
 * eigenvalues clamped at 0 and sorted descending. With `groups`, it is fitted
 * on the per-group averages (identity centres) instead of the features.
 *
 * @example Fit on the centres of two people with two photos each
 * ```ts
 * import assert from "node:assert/strict";
 * import { fitPrior } from "./prior.ts";
 * const features = [[1, 0], [3, 0], [0, 1], [0, 3]].map((x) => new Float32Array(x));
 * const prior = fitPrior(features, { groups: [0, 0, 1, 1] });
 * // Centres (2, 0) and (0, 2): mean (1, 1), variance 4 along (1, -1) / sqrt 2, none across.
 * assert.equal(prior.mean[0], 1);
 * assert.equal(prior.mean[1], 1);
 * assert.ok(Math.abs(prior.eigenvalues[0] - 4) < 1e-6);
 * assert.ok(prior.eigenvalues[1] < 1e-6);
 * ```
 */
export function fitPrior(features: Float32Array[], options: FitPriorOptions = {}): Prior {
  const dim = features?.[0]?.length ?? 0;
  checkVectors(features, dim, "features"); // Float32Arrays of one length, finite; names the bad index
  if (features.length < 2) {
    throw new RangeError(`Cannot fit a prior on fewer than 2 features: current count is ${features.length}`);
  }
  if (dim < 1) throw new RangeError("Cannot fit a prior on empty features: current length is 0");
  const vectors = options.groups === undefined ? features : identityCentres(features, options.groups);
  if (vectors.length < 2) {
    throw new RangeError(`Cannot fit a prior on fewer than 2 groups: current count is ${vectors.length}`);
  }
  const { mean, covariance } = meanCovariance(vectors, dim);
  const { values, vectors: eigenvectors } = symmetricEigen(covariance, dim);
  return {
    dim,
    mean: Float32Array.from(mean),
    // Rounding leaves the null space of a rank-deficient covariance at about
    // -1e-16 * lambda_max; a variance cannot be negative.
    eigenvalues: Float32Array.from(values, (value) => Math.max(value, 0)),
    eigenvectors: Float32Array.from(eigenvectors),
  };
}

/**
 * The average feature of each group (identity centres), in order of first
 * appearance of the group: what {@linkcode fitPrior} fits on with `groups`.
 *
 * @example Centres of two groups
 * ```ts
 * import assert from "node:assert/strict";
 * import { identityCentres } from "./prior.ts";
 * const centres = identityCentres([new Float32Array([1]), new Float32Array([2]), new Float32Array([9])], [7, 3, 7]);
 * assert.equal(centres[0][0], 5);
 * assert.equal(centres[1][0], 2);
 * ```
 */
export function identityCentres(features: Float32Array[], groups: readonly number[]): Float32Array[] {
  if (!Array.isArray(groups)) {
    throw new TypeError(`Cannot use groups as an array of numbers: current value is ${typeof groups}`);
  }
  if (groups.length !== features.length) {
    throw new RangeError(
      `Cannot use groups as one group id per feature: current length is ${groups.length} for ${features.length} features`,
    );
  }
  const dim = features[0].length;
  const sums = new Map<number, { sum: Float64Array; count: number }>();
  groups.forEach((group, index) => {
    if (typeof group !== "number") {
      throw new TypeError(`Cannot use groups[${index}] as a numeric group id: current value is ${typeof group}`);
    }
    if (!Number.isFinite(group)) {
      throw new RangeError(`Cannot use groups[${index}] as a group id: current value is ${group}`);
    }
    let entry = sums.get(group);
    if (!entry) sums.set(group, entry = { sum: new Float64Array(dim), count: 0 });
    const feature = features[index];
    for (let i = 0; i < dim; i++) entry.sum[i] += feature[i];
    entry.count++;
  });
  return [...sums.values()].map(({ sum, count }) => Float32Array.from(sum, (value) => value / count));
}

/**
 * Encodes a prior as `.npy` bytes in the layout {@linkcode parsePrior} reads:
 * float32 `[dim + 2, dim]`, row 0 the mean, row 1 the eigenvalues, rows 2..
 * the eigenvectors.
 *
 * @example Round-trip a 2-d prior
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePrior, parsePrior } from "./prior.ts";
 * const prior = { dim: 2, mean: new Float32Array([1, 2]), eigenvalues: new Float32Array([3, 1]),
 *   eigenvectors: new Float32Array([0, 1, 1, 0]) };
 * assert.equal(parsePrior(encodePrior(prior)).eigenvectors[1], 1);
 * ```
 */
export function encodePrior(prior: Prior): Uint8Array {
  const dim = prior?.dim;
  if (!Number.isInteger(dim) || dim < 1) {
    throw new RangeError(`Cannot encode a prior of dim ${dim}: current value is not a positive integer`);
  }
  const parts = { mean: dim, eigenvalues: dim, eigenvectors: dim * dim } as const;
  for (const [name, length] of Object.entries(parts) as [keyof typeof parts, number][]) {
    if (prior[name]?.length !== length) {
      throw new RangeError(
        `Cannot encode prior.${name} as ${length} values for dim ${dim}: current length is ${prior[name]?.length}`,
      );
    }
  }
  const data = new Float32Array((dim + 2) * dim);
  data.set(prior.mean, 0);
  data.set(prior.eigenvalues, dim);
  data.set(prior.eigenvectors, 2 * dim);
  return encodeNpy({ shape: [dim + 2, dim], data });
}
