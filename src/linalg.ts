/**
 * Dense linear algebra in float64 for fitting identity priors: the mean and
 * covariance of vectors, and the eigendecomposition of a symmetric matrix (a
 * covariance).
 *
 * @module
 */

/** Eigenvalues and eigenvectors of a symmetric matrix. */
export interface SymmetricEigen {
  /** Eigenvalues, descending. */
  values: Float64Array;
  /** Orthonormal eigenvectors, row-major `[n, n]`, one per row, in the order of `values`. */
  vectors: Float64Array;
}

// Relative tolerance of the symmetry check: a covariance built from both
// triangles is exactly symmetric, one read back from float32 is not quite.
const SYMMETRY_TOLERANCE = 1e-9;
// QL sweeps allowed per eigenvalue; the shifted iteration needs 1-3 on average.
const MAX_SWEEPS_PER_VALUE = 60;

function checkSymmetric(matrix: Float64Array, n: number): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`Cannot decompose a matrix of size ${n}: current value is not a positive integer`);
  }
  if (!(matrix instanceof Float64Array)) {
    const found = (matrix as unknown as object | undefined)?.constructor?.name ?? typeof matrix;
    throw new TypeError(`Cannot decompose matrix as a Float64Array: current value is ${found}`);
  }
  if (matrix.length !== n * n) {
    throw new RangeError(`Cannot decompose matrix as ${n}x${n}: current length is ${matrix.length}`);
  }
  let largest = 0;
  for (let i = 0; i < matrix.length; i++) {
    if (!Number.isFinite(matrix[i])) {
      throw new RangeError(
        `Cannot decompose matrix with a non-finite entry: current value at (${Math.floor(i / n)}, ${i % n}) is ${
          matrix[i]
        }`,
      );
    }
    largest = Math.max(largest, Math.abs(matrix[i]));
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const lower = matrix[i * n + j], upper = matrix[j * n + i];
      if (Math.abs(lower - upper) > SYMMETRY_TOLERANCE * largest) {
        throw new RangeError(
          `Cannot decompose matrix as symmetric: current value at (${i}, ${j}) is ${lower} but at (${j}, ${i}) is ${upper}`,
        );
      }
    }
  }
}

/**
 * Eigendecomposition of a symmetric `n x n` matrix (row-major): Householder
 * reduction to tridiagonal form, then the implicit QL algorithm with Wilkinson
 * shifts (EISPACK `tred2` + `tql2`), all in float64. Values come out
 * descending; vectors are orthonormal rows with `A v = lambda v`. The input is
 * not modified. O(n^3): n = 512 takes well under a second.
 *
 * @example Eigenvalues and eigenvectors of a 2x2 matrix
 * ```ts
 * import assert from "node:assert/strict";
 * import { symmetricEigen } from "./linalg.ts";
 * const { values, vectors } = symmetricEigen(new Float64Array([2, 1, 1, 2]), 2);
 * assert.ok(Math.abs(values[0] - 3) < 1e-12);
 * assert.ok(Math.abs(values[1] - 1) < 1e-12);
 * assert.ok(Math.abs(Math.abs(vectors[0]) - Math.SQRT1_2) < 1e-12); // (1, 1) / sqrt 2, up to sign
 * ```
 */
export function symmetricEigen(matrix: Float64Array, n: number): SymmetricEigen {
  checkSymmetric(matrix, n);
  // `work` holds the transpose of EISPACK's V (row c of `work` is column c of
  // V), so every inner loop below runs over contiguous memory and the
  // eigenvectors end up as rows. Since the input is symmetric, its transpose
  // is itself.
  const work = Float64Array.from(matrix);
  const diagonal = new Float64Array(n);
  const offDiagonal = new Float64Array(n);
  tridiagonalize(work, n, diagonal, offDiagonal);
  diagonalizeTridiagonal(work, n, diagonal, offDiagonal);
  // Sort descending, moving eigenvector rows with their values.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => diagonal[b] - diagonal[a]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((from, to) => {
    values[to] = diagonal[from];
    vectors.set(work.subarray(from * n, (from + 1) * n), to * n);
  });
  return { values, vectors };
}

// EISPACK tred2 (after JAMA), with V(row, column) stored at w[column * n + row].
function tridiagonalize(w: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  for (let j = 0; j < n; j++) d[j] = w[j * n + n - 1];
  for (let i = n - 1; i > 0; i--) {
    // Scale the row to avoid under/overflow in the Householder vector.
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = w[j * n + i - 1];
        w[j * n + i] = 0;
        w[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      // e = A u (lower triangle only), column by column.
      for (let j = 0; j < i; j++) {
        const column = j * n;
        f = d[j];
        w[i * n + j] = f;
        g = e[j] + w[column + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += w[column + k] * d[k];
          e[k] += w[column + k] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      // Rank-2 update A -= u e' + e u' of the lower triangle.
      for (let j = 0; j < i; j++) {
        const column = j * n;
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) w[column + k] -= f * e[k] + g * d[k];
        d[j] = w[column + i - 1];
        w[column + i] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the Householder transformations into V.
  for (let i = 0; i < n - 1; i++) {
    w[i * n + n - 1] = w[i * n + i];
    w[i * n + i] = 1;
    const h = d[i + 1];
    const next = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = w[next + k] / h;
      for (let j = 0; j <= i; j++) {
        const column = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += w[next + k] * w[column + k];
        for (let k = 0; k <= i; k++) w[column + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) w[next + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = w[j * n + n - 1];
    w[j * n + n - 1] = 0;
  }
  w[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

// EISPACK tql2 (after JAMA): implicit QL with shifts on the tridiagonal
// (d, e), rotating the rows of w along.
function diagonalizeTridiagonal(w: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let shift = 0;
  let norm = 0;
  const epsilon = 2 ** -52;
  for (let l = 0; l < n; l++) {
    // Find a negligible off-diagonal element: the block l..m splits off.
    norm = Math.max(norm, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > epsilon * norm) m++;
    if (m > l) {
      let sweeps = 0;
      do {
        if (++sweeps > MAX_SWEEPS_PER_VALUE) {
          throw new RangeError(
            `Cannot diagonalize the matrix within ${MAX_SWEEPS_PER_VALUE} QL sweeps: current eigenvalue ${l} did not converge`,
          );
        }
        // Wilkinson-style shift from the leading 2x2 block.
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        shift += h;
        // Implicit QL transformation, chasing the bulge upwards.
        p = d[m];
        let c = 1, c2 = c, c3 = c;
        const el1 = e[l + 1];
        let s = 0, s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          const row = i * n, nextRow = row + n;
          for (let k = 0; k < n; k++) {
            const upper = w[nextRow + k], lower = w[row + k];
            w[nextRow + k] = s * lower + c * upper;
            w[row + k] = c * lower - s * upper;
          }
        }
        p = -s * s2 * c3 * el1 * e[l] / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > epsilon * norm);
    }
    d[l] += shift;
    e[l] = 0;
  }
}

/**
 * Solves a small square system `a x = b` by Gaussian elimination with partial
 * pivoting, in float64; returns zeros when `a` is singular (a pivot below
 * 1e-9), so a caller stepping by `x` stays put. Inputs are not modified.
 *
 * @example Solve two equations in two unknowns
 * ```ts
 * import assert from "node:assert/strict";
 * import { solveLinear } from "./linalg.ts";
 * const [x, y] = solveLinear([[2, 1], [1, 3]], [3, 5]);
 * assert.ok(Math.abs(x - 0.8) < 1e-12);
 * assert.ok(Math.abs(y - 1.4) < 1e-12);
 * ```
 */
export function solveLinear(a: readonly (readonly number[])[], b: readonly number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[pivot][c])) pivot = r;
    if (Math.abs(m[pivot][c]) < 1e-9) return new Array(n).fill(0);
    [m[c], m[pivot]] = [m[pivot], m[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((row, i) => row[n] / row[i]);
}

/**
 * The mean and covariance (denominator `count - 1`, as NumPy's `cov`) of at
 * least two vectors of length `dim`, summed in float64: a covariance summed
 * over ~10^4 vectors in float32 would lose the small eigenvalues to rounding.
 * The covariance is row-major `[dim, dim]` and exactly symmetric.
 *
 * @example Two 2-d vectors
 * ```ts
 * import assert from "node:assert/strict";
 * import { meanCovariance } from "./linalg.ts";
 * const { mean, covariance } = meanCovariance([new Float32Array([1, 0]), new Float32Array([3, 2])], 2);
 * assert.deepEqual([...mean], [2, 1]);
 * assert.deepEqual([...covariance], [2, 2, 2, 2]);
 * ```
 */
export function meanCovariance(
  vectors: readonly ArrayLike<number>[],
  dim: number,
): { mean: Float64Array; covariance: Float64Array } {
  const count = vectors.length;
  const mean = new Float64Array(dim);
  for (const vector of vectors) for (let i = 0; i < dim; i++) mean[i] += vector[i];
  for (let i = 0; i < dim; i++) mean[i] /= count;
  const covariance = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (const vector of vectors) {
    for (let i = 0; i < dim; i++) centred[i] = vector[i] - mean[i];
    // Upper triangle only; mirrored below.
    for (let i = 0; i < dim; i++) {
      const deviation = centred[i];
      if (deviation === 0) continue;
      const row = i * dim;
      for (let j = i; j < dim; j++) covariance[row + j] += deviation * centred[j];
    }
  }
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      covariance[i * dim + j] /= count - 1;
      covariance[j * dim + i] = covariance[i * dim + j];
    }
  }
  return { mean, covariance };
}
