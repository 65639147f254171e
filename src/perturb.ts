/**
 * Intra-class variation: Gaussian noise on an identity vector, rescaled to the
 * vector's original norm (Vec2Face sec. 3.3).
 *
 * @module
 */
import { checkSeed, Random, STREAM_TAGS } from "./random.ts";
import { checkVectors, norm } from "./vectors.ts";

/** Vec2Face's noise levels for ArcFace features (per-dimension std ~1). */
export const VEC2FACE_SIGMAS: readonly number[] = [0.3, 0.5, 0.7];
/** Vec2Face's shares of images per noise level. */
export const VEC2FACE_SHARES: readonly number[] = [0.4, 0.4, 0.2];

/** Options for {@linkcode perturb}. */
export interface PerturbOptions {
  /** Noise standard deviations, in the vectors' own units; default Vec2Face's (for ArcFace scale). Packs declare their own. */
  sigmas?: readonly number[];
  /** Share of vectors per sigma; sums to 1; default 0.4/0.4/0.2. */
  shares?: readonly number[];
  /** Seed of the noise; default 0. */
  seed?: number;
}

/** Checks sigma/share lists: same length, non-negative finite sigmas, shares summing to 1. */
export function checkSigmas(sigmas: readonly number[], shares: readonly number[]): void {
  if (!Array.isArray(sigmas) || sigmas.length === 0 || sigmas.some((s) => !(Number.isFinite(s) && s >= 0))) {
    throw new RangeError(
      `Cannot perturb with sigmas ${JSON.stringify(sigmas)}: current value is not a list of finite sigmas >= 0`,
    );
  }
  if (
    !Array.isArray(shares) || shares.length !== sigmas.length || shares.some((s) => !(Number.isFinite(s) && s >= 0))
  ) {
    throw new RangeError(
      `Cannot perturb with shares ${JSON.stringify(shares)}: current value is not ${sigmas.length} non-negative shares`,
    );
  }
  const total = shares.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-6) {
    throw new RangeError(`Cannot perturb with shares ${JSON.stringify(shares)}: current sum is ${total}, not 1`);
  }
}

/**
 * The sigma of image `index` among `count` images of one identity: the first
 * 40 % get sigmas[0], the next 40 % sigmas[1], the rest sigmas[2] (counts by
 * largest remainder, so any count works, not only multiples of 5).
 *
 * @example Fifty images of one identity get the default shares
 * ```ts
 * import assert from "node:assert/strict";
 * import { sigmaForImage } from "./perturb.ts";
 * const sigmas = Array.from({ length: 50 }, (_, i) => sigmaForImage(i, 50, [0.3, 0.5, 0.7], [0.4, 0.4, 0.2]));
 * assert.equal(sigmas.filter((s) => s === 0.7).length, 10);
 * ```
 */
export function sigmaForImage(
  index: number,
  count: number,
  sigmas: readonly number[],
  shares: readonly number[],
): number {
  const counts = shareCounts(count, shares);
  let end = 0;
  for (let k = 0; k < counts.length; k++) {
    end += counts[k];
    if (index < end) return sigmas[k];
  }
  return sigmas[sigmas.length - 1];
}

function shareCounts(count: number, shares: readonly number[]): number[] {
  const exact = shares.map((share) => share * count);
  const counts = exact.map(Math.floor);
  let missing = count - counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((value, k) => [value - Math.floor(value), k]).sort((a, b) =>
    b[0] - a[0] || a[1] - b[1]
  );
  for (let r = 0; missing > 0; r = (r + 1) % byRemainder.length, missing--) counts[byRemainder[r][1]]++;
  return counts;
}

/** Adds N(0, sigma^2) noise from `random` to `vector` and rescales to its norm. */
export function perturbVector(vector: Float32Array, sigma: number, random: Random): Float32Array {
  const original = norm(vector);
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i] + sigma * random.normal();
  const scale = original === 0 ? 0 : original / norm(out);
  for (let i = 0; i < out.length; i++) out[i] *= scale;
  return out;
}

/**
 * Perturbs each vector with Gaussian noise and rescales it to its original
 * norm. Vector `i` gets the sigma of position `i` among `vectors.length` (see
 * {@linkcode sigmaForImage}) and noise from the stream `(seed, perturb, i)`.
 *
 * @example Three noisy variations of one identity
 * ```ts
 * import assert from "node:assert/strict";
 * import { perturb } from "./perturb.ts";
 * const identity = new Float32Array(512).fill(1);
 * const images = perturb([identity, identity, identity], { seed: 7 });
 * assert.equal(images.length, 3);
 * assert.notEqual(images[0][0], images[1][0]);
 * ```
 */
export function perturb(vectors: Float32Array[], options: PerturbOptions = {}): Float32Array[] {
  const sigmas = options.sigmas ?? VEC2FACE_SIGMAS;
  const shares = options.shares ?? VEC2FACE_SHARES;
  checkSigmas(sigmas, shares);
  const seed = checkSeed(options.seed ?? 0);
  if (!Array.isArray(vectors) || vectors.length === 0) {
    throw new RangeError(`Cannot perturb vectors as ${vectors}: current value is not a non-empty array`);
  }
  checkVectors(vectors, vectors[0]?.length ?? 0);
  return vectors.map((vector, index) =>
    perturbVector(
      vector,
      sigmaForImage(index, vectors.length, sigmas, shares),
      Random.from(seed, STREAM_TAGS.perturb, index),
    )
  );
}
