import assert from "node:assert/strict";
import { symmetricEigen } from "./linalg.ts";
import { Random } from "./random.ts";

// Largest |A v - lambda v| over all pairs, relative to the largest |lambda|,
// and largest |V V' - I|.
function residuals(matrix: Float64Array, n: number, values: Float64Array, vectors: Float64Array) {
  const scale = Math.max(...Array.from(values, Math.abs), Number.MIN_VALUE);
  let eigen = 0, orthonormal = 0;
  for (let p = 0; p < n; p++) {
    for (let i = 0; i < n; i++) {
      let product = 0;
      for (let j = 0; j < n; j++) product += matrix[i * n + j] * vectors[p * n + j];
      eigen = Math.max(eigen, Math.abs(product - values[p] * vectors[p * n + i]) / scale);
    }
    for (let q = 0; q <= p; q++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += vectors[p * n + i] * vectors[q * n + i];
      orthonormal = Math.max(orthonormal, Math.abs(dot - (p === q ? 1 : 0)));
    }
  }
  return { eigen, orthonormal };
}

function randomSymmetric(n: number, seed: number): Float64Array {
  const random = Random.from(seed);
  const matrix = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) matrix[i * n + j] = matrix[j * n + i] = random.normal();
  }
  return matrix;
}

Deno.test("symmetricEigen: a diagonal matrix gives its diagonal, sorted, and unit vectors", () => {
  const { values, vectors } = symmetricEigen(new Float64Array([1, 0, 0, 0, -2, 0, 0, 0, 5]), 3);
  assert.deepEqual(Array.from(values), [5, 1, -2]);
  assert.deepEqual(Array.from(vectors, Math.abs), [0, 0, 1, 1, 0, 0, 0, 1, 0]);
});

Deno.test("symmetricEigen: a known 3x3", () => {
  // [[2, -1, 0], [-1, 2, -1], [0, -1, 2]]: eigenvalues 2 + sqrt 2, 2, 2 - sqrt 2,
  // eigenvectors (1, -sqrt 2, 1) / 2, (1, 0, -1) / sqrt 2, (1, sqrt 2, 1) / 2.
  const matrix = new Float64Array([2, -1, 0, -1, 2, -1, 0, -1, 2]);
  const { values, vectors } = symmetricEigen(matrix, 3);
  const expectedValues = [2 + Math.SQRT2, 2, 2 - Math.SQRT2];
  const expectedVectors = [[0.5, -Math.SQRT1_2, 0.5], [Math.SQRT1_2, 0, -Math.SQRT1_2], [0.5, Math.SQRT1_2, 0.5]];
  values.forEach((value, i) => assert.ok(Math.abs(value - expectedValues[i]) < 1e-14, `value ${i}: ${value}`));
  expectedVectors.forEach((expected, p) => {
    const sign = Math.sign(vectors[p * 3]) * Math.sign(expected[0]);
    expected.forEach((x, i) => assert.ok(Math.abs(sign * vectors[p * 3 + i] - x) < 1e-14, `vector ${p}`));
  });
  assert.deepEqual(matrix, new Float64Array([2, -1, 0, -1, 2, -1, 0, -1, 2]), "the input is not modified");
});

Deno.test("symmetricEigen: a random symmetric 64x64 satisfies A v = lambda v with orthonormal vectors", () => {
  const n = 64;
  const matrix = randomSymmetric(n, 7);
  const { values, vectors } = symmetricEigen(matrix, n);
  for (let i = 1; i < n; i++) assert.ok(values[i] <= values[i - 1], "values are descending");
  const { eigen, orthonormal } = residuals(matrix, n, values, vectors);
  assert.ok(eigen < 1e-9, `|A v - lambda v| / max |lambda| = ${eigen}`);
  assert.ok(orthonormal < 1e-9, `|V V' - I| = ${orthonormal}`);
  // The trace is the sum of the eigenvalues.
  let trace = 0;
  for (let i = 0; i < n; i++) trace += matrix[i * n + i];
  assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) - trace) < 1e-9);
});

Deno.test("symmetricEigen: a rank-deficient covariance has (numerically) zero eigenvalues, none below -1e-9", () => {
  // 3 centred samples in 6-d: rank 2, so 4 zero eigenvalues.
  const n = 6, random = Random.from(11);
  const samples = Array.from({ length: 3 }, () => Array.from({ length: n }, () => random.normal()));
  const mean = Array.from({ length: n }, (_, i) => samples.reduce((sum, x) => sum + x[i], 0) / 3);
  const matrix = new Float64Array(n * n);
  for (const x of samples) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) matrix[i * n + j] += (x[i] - mean[i]) * (x[j] - mean[j]) / 2;
    }
  }
  const { values, vectors } = symmetricEigen(matrix, n);
  assert.ok(values[1] > 1e-3, "two positive eigenvalues");
  for (let i = 2; i < n; i++) assert.ok(Math.abs(values[i]) < 1e-12 && values[i] >= -1e-9, `value ${i}: ${values[i]}`);
  const { eigen, orthonormal } = residuals(matrix, n, values, vectors);
  assert.ok(eigen < 1e-12 && orthonormal < 1e-12);
  // The all-zero matrix and 1x1 are edge cases of the same.
  assert.deepEqual(Array.from(symmetricEigen(new Float64Array(4), 2).values), [0, 0]);
  assert.deepEqual(symmetricEigen(new Float64Array([-3]), 1), {
    values: new Float64Array([-3]),
    vectors: new Float64Array([1]),
  });
});

// Speed is not asserted here (unit tests are not timed); prior fitting reports it.
Deno.test("symmetricEigen: n = 512 (a prior's size) gives eigenpairs", () => {
  const n = 512;
  const matrix = randomSymmetric(n, 3);
  const { values, vectors } = symmetricEigen(matrix, n);
  // Spot-check a few pairs rather than all 512 (the 64x64 test checks every one).
  for (const p of [0, 255, 511]) {
    for (let i = 0; i < n; i += 37) {
      let product = 0;
      for (let j = 0; j < n; j++) product += matrix[i * n + j] * vectors[p * n + j];
      assert.ok(Math.abs(product - values[p] * vectors[p * n + i]) < 1e-9 * Math.abs(values[0]));
    }
  }
});

Deno.test("symmetricEigen: bad arguments are refused", () => {
  assert.throws(() => symmetricEigen(new Float64Array(4), 0), RangeError);
  assert.throws(() => symmetricEigen(new Float64Array(4), 1.5), RangeError);
  assert.throws(() => symmetricEigen(new Float32Array(4) as unknown as Float64Array, 2), TypeError);
  assert.throws(() => symmetricEigen(new Float64Array(5), 2), /current length is 5/);
  assert.throws(() => symmetricEigen(new Float64Array([1, 2, 3, 1]), 2), /at \(1, 0\) is 3 but at \(0, 1\) is 2/);
  assert.throws(() => symmetricEigen(new Float64Array([1, NaN, NaN, 1]), 2), /at \(0, 1\) is NaN/);
});
