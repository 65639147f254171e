import assert from "node:assert/strict";
import { symmetricEigen } from "./linalg.ts";
import { drawFromPrior, encodePrior, fitPrior, parsePrior, type Prior } from "./prior.ts";
import { Random } from "./random.ts";

// A known anisotropic Gaussian in 16-d: well separated top variances along a
// random orthonormal basis (the eigenvectors of a random symmetric matrix).
function knownGaussian(): Prior {
  const dim = 16, random = Random.from(2024);
  const symmetric = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j <= i; j++) symmetric[i * dim + j] = symmetric[j * dim + i] = random.normal();
  }
  const basis = symmetricEigen(symmetric, dim).vectors;
  return {
    dim,
    mean: Float32Array.from({ length: dim }, (_, i) => (i % 3) - 1 + i / 10),
    eigenvalues: Float32Array.from({ length: dim }, (_, i) => 9 * 0.7 ** i),
    eigenvectors: Float32Array.from(basis),
  };
}

function draws(prior: Prior, count: number, seed: number): Float32Array[] {
  const random = Random.from(seed);
  return Array.from({ length: count }, () => drawFromPrior(prior, random));
}

// Sample covariance (count - 1) of vectors, float64, row-major.
function covarianceOf(vectors: Float32Array[]): Float64Array {
  const dim = vectors[0].length;
  const mean = new Float64Array(dim);
  for (const v of vectors) for (let i = 0; i < dim; i++) mean[i] += v[i] / vectors.length;
  const covariance = new Float64Array(dim * dim);
  for (const v of vectors) {
    for (let i = 0; i < dim; i++) {
      for (let j = 0; j < dim; j++) covariance[i * dim + j] += (v[i] - mean[i]) * (v[j] - mean[j]);
    }
  }
  return covariance.map((value) => value / (vectors.length - 1));
}

// V' diag(lambda) V: the covariance a prior describes.
function covarianceOfPrior(prior: Prior): Float64Array {
  const { dim, eigenvalues, eigenvectors } = prior;
  const covariance = new Float64Array(dim * dim);
  for (let p = 0; p < dim; p++) {
    for (let i = 0; i < dim; i++) {
      for (let j = 0; j < dim; j++) {
        covariance[i * dim + j] += eigenvalues[p] * eigenvectors[p * dim + i] * eigenvectors[p * dim + j];
      }
    }
  }
  return covariance;
}

Deno.test("fitPrior recovers a known anisotropic Gaussian from 5,000 draws", () => {
  const truth = knownGaussian();
  const fitted = fitPrior(draws(truth, 5000, 1));
  const { dim } = truth;
  assert.equal(fitted.dim, dim);
  for (let i = 0; i < 6; i++) {
    const ratio = fitted.eigenvalues[i] / truth.eigenvalues[i];
    assert.ok(Math.abs(ratio - 1) < 0.1, `eigenvalue ${i}: ${fitted.eigenvalues[i]} vs ${truth.eigenvalues[i]}`);
    // Their directions too, up to sign.
    let dot = 0;
    for (let k = 0; k < dim; k++) dot += fitted.eigenvectors[i * dim + k] * truth.eigenvectors[i * dim + k];
    assert.ok(Math.abs(dot) > 0.95, `eigenvector ${i}: |cos| = ${Math.abs(dot)}`);
  }
  for (let i = 1; i < dim; i++) assert.ok(fitted.eigenvalues[i] <= fitted.eigenvalues[i - 1], "descending");
  // The mean's standard error is at most sqrt(9 / 5000) = 0.042 along any axis.
  fitted.mean.forEach((value, i) => assert.ok(Math.abs(value - truth.mean[i]) < 0.15, `mean ${i}: ${value}`));
  // Eigenvectors come out orthonormal rows.
  for (let p = 0; p < dim; p++) {
    for (let q = 0; q <= p; q++) {
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += fitted.eigenvectors[p * dim + k] * fitted.eigenvectors[q * dim + k];
      assert.ok(Math.abs(dot - (p === q ? 1 : 0)) < 1e-5);
    }
  }
});

Deno.test("fitPrior with groups fits the group centres (checked by hand)", () => {
  // Group 5: (0, 0), (2, 4) -> centre (1, 2); group 7: (3, 0) -> (3, 0);
  // group 9: (-1, 1), (1, 1), (0, 4) -> (0, 2). Ids need not be contiguous or sorted.
  const features = [[0, 0], [3, 0], [2, 4], [-1, 1], [1, 1], [0, 4]].map((x) => new Float32Array(x));
  const prior = fitPrior(features, { groups: [5, 7, 5, 9, 9, 9] });
  // Centres (1, 2), (3, 0), (0, 2): mean (4/3, 4/3); deviations (-1/3, 2/3),
  // (5/3, -4/3), (-4/3, 2/3); covariance = sum of outer products / 2.
  const expectedCovariance = [
    (1 / 9 + 25 / 9 + 16 / 9) / 2,
    (-2 / 9 - 20 / 9 - 8 / 9) / 2,
    (-2 / 9 - 20 / 9 - 8 / 9) / 2,
    (4 / 9 + 16 / 9 + 4 / 9) / 2,
  ];
  assert.ok(Math.abs(prior.mean[0] - 4 / 3) < 1e-6 && Math.abs(prior.mean[1] - 4 / 3) < 1e-6);
  covarianceOfPrior(prior).forEach((value, i) => assert.ok(Math.abs(value - expectedCovariance[i]) < 1e-5));
  // Without groups: the mean of the six features instead.
  const ungrouped = fitPrior(features);
  assert.ok(Math.abs(ungrouped.mean[0] - 5 / 6) < 1e-6 && Math.abs(ungrouped.mean[1] - 10 / 6) < 1e-6);
});

Deno.test("fitPrior on fewer vectors than dimensions: full rank layout, zero eigenvalues clamped to 0", () => {
  const random = Random.from(5);
  const features = Array.from({ length: 3 }, () => random.normals(new Float32Array(8)));
  const prior = fitPrior(features);
  assert.equal(prior.eigenvalues.length, 8);
  assert.equal(prior.eigenvectors.length, 64);
  assert.ok(prior.eigenvalues[1] > 0.01);
  for (let i = 2; i < 8; i++) assert.ok(prior.eigenvalues[i] >= 0 && prior.eigenvalues[i] < 1e-6);
  parsePrior(encodePrior(prior)); // parsePrior refuses negative eigenvalues
});

Deno.test("encodePrior round-trips through parsePrior", () => {
  const prior = fitPrior(draws(knownGaussian(), 200, 3));
  const bytes = encodePrior(prior);
  assert.deepEqual(parsePrior(bytes), prior);
  assert.equal(bytes.length % 4, 0);
});

Deno.test("drawing from a fitted prior reproduces its covariance", () => {
  const fitted = fitPrior(draws(knownGaussian(), 5000, 4));
  const { dim } = fitted;
  const covariance = covarianceOf(draws(fitted, 5000, 5));
  let trace = 0;
  for (let i = 0; i < dim; i++) trace += covariance[i * dim + i];
  const expected = fitted.eigenvalues.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(trace / expected - 1) < 0.05, `trace ${trace} vs ${expected}`);
  // Entry by entry too, relative to the largest variance.
  const described = covarianceOfPrior(fitted);
  covariance.forEach((value, i) => assert.ok(Math.abs(value - described[i]) < 0.1 * fitted.eigenvalues[0]));
});

Deno.test("fitPrior and encodePrior refuse bad arguments", () => {
  const good = [new Float32Array([1, 2]), new Float32Array([3, 4])];
  assert.throws(() => fitPrior(undefined as unknown as Float32Array[]), TypeError);
  assert.throws(() => fitPrior([[1, 2], [3, 4]] as unknown as Float32Array[]), /features\[0\] as a Float32Array/);
  assert.throws(() => fitPrior([good[0]]), /fewer than 2 features: current count is 1/);
  assert.throws(() => fitPrior([]), RangeError);
  assert.throws(() => fitPrior([new Float32Array(0), new Float32Array(0)]), /empty features/);
  assert.throws(() => fitPrior([...good, new Float32Array(3)]), /features\[2\] as a 2-d vector: current length is 3/);
  assert.throws(() => fitPrior([...good, new Float32Array([0, NaN])]), /features\[2\] .* at 1 is NaN/);
  assert.throws(() => fitPrior(good, { groups: [0] }), /current length is 1 for 2 features/);
  assert.throws(() => fitPrior(good, { groups: [4, 4] }), /fewer than 2 groups: current count is 1/);
  assert.throws(() => fitPrior(good, { groups: [0, NaN] }), /groups\[1\] as a group id: current value is NaN/);
  assert.throws(() => fitPrior(good, { groups: [0, "a"] as unknown as number[] }), TypeError);
  const prior = fitPrior(good);
  assert.throws(() => encodePrior({ ...prior, dim: 0 }), /dim 0/);
  assert.throws(() => encodePrior({ ...prior, eigenvectors: new Float32Array(3) }), /prior.eigenvectors as 4 values/);
});
