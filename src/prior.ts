/**
 * The identity prior: a Gaussian fitted in PCA space of real identity
 * features (mean, eigenvectors, eigenvalues), as in Vec2Face.
 *
 * File layout (`prior.npy`): float32 `[dim + 2, dim]`; row 0 the mean, row 1
 * the eigenvalues (descending), rows 2.. the eigenvectors, one per row.
 *
 * @module
 */
import { decodeNpy } from "./npy.ts";
import type { Random } from "./random.ts";

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
 * @example
 * ```ts
 * import { encodeNpy } from "./npy.ts";
 * import { parsePrior } from "./prior.ts";
 * const data = new Float32Array(4 * 2);
 * data.set([1, 1, 0.5, 0.25, 1, 0, 0, 1]);
 * const prior = parsePrior(encodeNpy({ shape: [4, 2], data }));
 * console.assert(prior.dim === 2 && prior.eigenvalues[1] === 0.25);
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

/** Draws one vector: mean + sum_i sqrt(lambda_i) z_i e_i. */
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
