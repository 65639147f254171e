/**
 * Checks and small linear algebra on identity vectors.
 *
 * @module
 */

/** Checks that every vector is a finite Float32Array of `size` values; returns them. */
export function checkVectors(vectors: unknown, size: number, what = "vectors"): Float32Array[] {
  if (!Array.isArray(vectors)) {
    throw new TypeError(`Cannot use ${what} as an array of Float32Array: current value is ${typeof vectors}`);
  }
  vectors.forEach((vector, index) => {
    if (!(vector instanceof Float32Array)) {
      throw new TypeError(`Cannot use ${what}[${index}] as a Float32Array: current value is ${typeName(vector)}`);
    }
    if (vector.length !== size) {
      throw new RangeError(`Cannot use ${what}[${index}] as a ${size}-d vector: current length is ${vector.length}`);
    }
    for (let i = 0; i < vector.length; i++) {
      if (!Number.isFinite(vector[i])) {
        throw new RangeError(`Cannot use ${what}[${index}] as a vector: current value at ${i} is ${vector[i]}`);
      }
    }
  });
  return vectors as Float32Array[];
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return (value as object).constructor?.name ?? "object";
  return typeof value;
}

/** Euclidean norm. */
export function norm(vector: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i] * vector[i];
  return Math.sqrt(sum);
}

/**
 * Cosine similarity of two vectors (0 when either is zero).
 *
 * @example Parallel vectors of different lengths
 * ```ts
 * import assert from "node:assert/strict";
 * import { cosineSimilarity } from "./vectors.ts";
 * assert.equal(cosineSimilarity([1, 0], [2, 0]), 1);
 * ```
 */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new RangeError(`Cannot compare vectors of length ${a.length} and ${b.length}: current lengths differ`);
  }
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  const denominator = norm(a) * norm(b);
  return denominator === 0 ? 0 : dot / denominator;
}
