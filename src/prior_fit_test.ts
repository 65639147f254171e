import assert from "node:assert/strict";
import { cosineStatistics, eigenSummary, groupIds, parseGroups, priorReport, seededSubset } from "./prior_fit.ts";
import { fitPrior } from "./prior.ts";
import { Random } from "./random.ts";

Deno.test("groupIds: ids by first appearance; strings and numbers are different labels", () => {
  assert.deepEqual(groupIds(["b", "a", "b", 1, "1", 1, null]), [0, 1, 0, 2, 3, 2, 4]);
  assert.deepEqual(groupIds([]), []);
});

Deno.test("parseGroups: label arrays, embed sidecars by parent folder, and errors", () => {
  assert.deepEqual(parseGroups([3, 3, 1], 3), [0, 0, 1]);
  const sidecar = { packSha256: "x", files: ["/p/lfw/Ann/1.jpg", "/p/lfw/Bob/1.jpg", "/p/lfw/Ann/2.jpg"], noFace: [] };
  assert.deepEqual(parseGroups(sidecar, 3), [0, 1, 0]);
  assert.throws(
    () => parseGroups([1, 2], 3, "g.json"),
    (error) =>
      error instanceof RangeError &&
      error.message === "Cannot use g.json as one group per feature: current length is 2 for 3 features",
  );
  for (const bad of [{ labels: [1] }, "abc", null, { files: [1, 2] }]) {
    assert.throws(() => parseGroups(bad, 2, "g.json"), /^TypeError: Cannot read g\.json as groups: current value/);
  }
});

Deno.test("cosineStatistics: exact mean, std and shares on known vectors", () => {
  // Cosines of the three pairs: 1 (parallel), 0 and 0.
  const vectors = [[1, 0, 0], [2, 0, 0], [0, 3, 0]].map((x) => new Float32Array(x));
  const statistics = cosineStatistics(vectors, [-0.5, 0.5, 1]);
  assert.equal(statistics.pairs, 3);
  assert.ok(Math.abs(statistics.mean - 1 / 3) < 1e-12);
  assert.ok(Math.abs(statistics.std - Math.sqrt(2) / 3) < 1e-12);
  assert.deepEqual(statistics.above, [1, 1 / 3, 0]); // "above" is strict
  assert.throws(() => cosineStatistics([new Float32Array(2)], [0.5]), /fewer than 2 vectors: current count is 1/);
  assert.throws(
    () => cosineStatistics([new Float32Array(2), new Float32Array(3)], [0.5]),
    /vectors\[1\] as a 2-d vector: current length is 3/,
  );
});

Deno.test("cosineStatistics: random 512-d Gaussian vectors are near orthogonal", () => {
  const random = Random.from(3);
  const vectors = Array.from({ length: 60 }, () => Float32Array.from({ length: 512 }, () => random.normal()));
  const { mean, std, above } = cosineStatistics(vectors, [0.3]);
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(std - 1 / Math.sqrt(512)) < 0.005, `std ${std}`);
  assert.equal(above[0], 0);
});

Deno.test("seededSubset: deterministic per seed, distinct items, everything when count is large", () => {
  const items = Array.from({ length: 100 }, (_, i) => i);
  const first = seededSubset(items, 10, Random.from(7, 1));
  assert.deepEqual(seededSubset(items, 10, Random.from(7, 1)), first);
  assert.notDeepEqual(seededSubset(items, 10, Random.from(8, 1)), first);
  assert.equal(new Set(first).size, 10);
  assert.deepEqual(seededSubset(items, 100, Random.from(0)), items);
  assert.deepEqual(seededSubset(items, 0, Random.from(0)), []);
  assert.equal(items[0], 0, "input untouched");
  assert.throws(() => seededSubset(items, -1, Random.from(0)), /subset of -1 items/);
});

Deno.test("eigenSummary of a fitted prior: total variance equals the trace of the sample covariance", () => {
  const random = Random.from(1);
  const scales = [3, 2, 1, 0.5];
  const features = Array.from({ length: 200 }, () => Float32Array.from(scales, (scale) => scale * random.normal()));
  const prior = fitPrior(features);
  const summary = eigenSummary(prior, 2);
  let trace = 0;
  for (let i = 0; i < 4; i++) {
    const mean = features.reduce((sum, feature) => sum + feature[i], 0) / features.length;
    trace += features.reduce((sum, feature) => sum + (feature[i] - mean) ** 2, 0) / (features.length - 1);
  }
  assert.ok(Math.abs(summary.total - trace) < 1e-4 * trace, `${summary.total} vs ${trace}`);
  assert.equal(summary.top.length, 2);
  assert.ok(summary.top[0] >= summary.top[1]);
  assert.ok(summary.effectiveDimension > 1 && summary.effectiveDimension < 4);
  assert.ok(summary.topShare > 0.8 && summary.topShare < 1);
});

Deno.test("priorReport: centres with groups, the pack's threshold marked, deterministic per seed", () => {
  const random = Random.from(2);
  const centres = Array.from({ length: 6 }, () => Float32Array.from({ length: 16 }, () => random.normal()));
  const groups = Array.from({ length: 60 }, (_, i) => i % 6);
  const features = groups.map((group) => centres[group].map((value) => value + 0.1 * random.normal()));
  const prior = fitPrior(features, { groups });
  const lines = priorReport(prior, { features, groups, draws: 40, seed: 5, separationThreshold: 0.41 });
  assert.equal(lines.length, 5);
  assert.match(lines[0], /^top-10 eigenvalues: /);
  assert.match(lines[2], /^mean norm: features \d+\.\d{3}, centres \d+\.\d{3}, prior mean/);
  assert.match(lines[3], /^prior draws \(40\): .*P\(cos > 0\.3\) = .*, P\(cos > 0\.41, pack\) = [^,]*$/);
  assert.match(lines[4], /^real centres \(6\): /);
  assert.deepEqual(priorReport(prior, { features, groups, draws: 40, seed: 5, separationThreshold: 0.41 }), lines);
  assert.notDeepEqual(priorReport(prior, { features, groups, draws: 40, seed: 6 })[3], lines[3]);
  const plain = priorReport(fitPrior(features), { features, draws: 20, separationThreshold: 0.5 });
  assert.match(plain[4], /^real features \(random subset\) \(20\): .*P\(cos > 0\.5, pack\)/);
  assert.throws(() => priorReport(prior, { features, draws: 1 }), /1 prior draws/);
});
