import assert from "node:assert/strict";
import {
  equalErrorRate,
  frechetDistance,
  gaussianStats,
  genuineScores,
  histogram,
  impostorScores,
  quantile,
  summarize,
  uniqueIdentities,
  unitCentres,
  unitVectors,
} from "./metrics.ts";
import { Random } from "./random.ts";

const v = (...values: number[]) => new Float32Array(values);
const close = (actual: number, expected: number, tolerance = 1e-9, what = "") =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} ${actual} != ${expected}`);

Deno.test("equalErrorRate: hand-computed sweeps", async (t) => {
  await t.step("FAR = FRR exactly at a score: 1/3 at 0.5", () => {
    // t = 0.1: FAR 3/3, FRR 0; t = 0.2: 2/3, 0; t = 0.3: 1/3, 0; t = 0.5: 1/3, 1/3.
    assert.deepEqual(equalErrorRate([0.9, 0.8, 0.3], [0.1, 0.2, 0.5]), { rate: 1 / 3, threshold: 0.5 });
  });
  await t.step("separated scores: 0 at the lowest genuine score", () => {
    assert.deepEqual(equalErrorRate([0.8, 0.9], [0.1, 0.2]), { rate: 0, threshold: 0.8 });
  });
  await t.step("crossing between two thresholds is interpolated", () => {
    // t = 0.6: FAR 1/4, FRR 0 (d = +1/4); t = 0.7: FAR 1/4, FRR 1/2 (d = -1/4): halfway.
    const { rate, threshold } = equalErrorRate([0.6, 0.9], [0.1, 0.2, 0.3, 0.7]);
    assert.equal(rate, 0.25);
    close(threshold, 0.65, 1e-15);
  });
  await t.step("inverted scores: 1", () => {
    assert.deepEqual(equalErrorRate([0.1], [0.9]), { rate: 1, threshold: 0.9 });
  });
  await t.step("identical distributions: 1/2", () => {
    // t = 0.5: FAR 1, FRR 0; past the end: FAR 0, FRR 1: the line crosses at 1/2.
    assert.deepEqual(equalErrorRate([0.5, 0.5], [0.5, 0.5]), { rate: 0.5, threshold: 0.5 });
  });
  await t.step("ties across the two sets count as accepted", () => {
    // t = 0.4: FAR 2/2, FRR 0; t = 0.6: FAR 1/2 (0.6 >= 0.6), FRR 1/2 (0.4 < 0.6).
    assert.deepEqual(equalErrorRate([0.4, 0.6], [0.4, 0.6]), { rate: 0.5, threshold: 0.6 });
  });
  await t.step("order of the inputs does not matter, and they are not modified", () => {
    const genuine = [0.3, 0.9, 0.8], impostor = [0.5, 0.1, 0.2];
    assert.deepEqual(equalErrorRate(genuine, impostor), { rate: 1 / 3, threshold: 0.5 });
    assert.deepEqual(genuine, [0.3, 0.9, 0.8]);
  });
  await t.step("agrees with a brute-force sweep on random scores", () => {
    const random = Random.from(11);
    const genuine = Array.from({ length: 300 }, () => Math.round((0.5 + 0.2 * random.normal()) * 100) / 100);
    const impostor = Array.from({ length: 700 }, () => Math.round(0.2 * random.normal() * 100) / 100);
    const { rate } = equalErrorRate(genuine, impostor);
    // Brute force: the smallest max(FAR, FRR) over thresholds bounds the EER from above, the largest
    // min(FAR, FRR) at the same threshold from below.
    let best = Infinity, atBest = 0;
    for (const t of [...genuine, ...impostor, Infinity]) {
      const far = impostor.filter((s) => s >= t).length / impostor.length;
      const frr = genuine.filter((s) => s < t).length / genuine.length;
      if (Math.max(far, frr) < best) [best, atBest] = [Math.max(far, frr), Math.min(far, frr)];
    }
    assert.ok(rate <= best + 1e-12 && rate >= atBest - 1e-12, `${atBest} <= ${rate} <= ${best}`);
  });
  await t.step("empty or non-finite input: RangeError", () => {
    assert.throws(() => equalErrorRate([], [0.1]), /from 0 genuine and 1 impostor scores/);
    assert.throws(() => equalErrorRate([NaN], [0.1]), /genuine scores as finite numbers: current value at 0 is NaN/);
  });
});

Deno.test("genuine and impostor scores: every pair when few, hand-computed", () => {
  // Identity 0: a = (1, 0), b = (0.6, 0.8); identity 1: c = (0, 2), d = (-1, 0), e = (0, 1).
  const features = [v(1, 0), v(0.6, 0.8), v(0, 2), v(-1, 0), v(0, 1)];
  const labels = [0, 0, 1, 1, 1];
  const genuine = genuineScores(features, labels);
  assert.equal(genuine.exhaustive, true);
  assert.equal(genuine.available, 1 + 3);
  // (a, b) = 0.6; (c, d) = 0, (c, e) = 1, (d, e) = 0.
  [0.6, 0, 1, 0].forEach((expected, k) => close(genuine.scores[k], expected, 1e-7, `genuine ${k}`));
  const impostor = impostorScores(features, labels);
  assert.equal(impostor.exhaustive, true);
  assert.equal(impostor.available, 10 - 4);
  // (a, c) 0, (a, d) -1, (a, e) 0, (b, c) 0.8, (b, d) -0.6, (b, e) 0.8.
  [0, -1, 0, 0.8, -0.6, 0.8].forEach((expected, k) => close(impostor.scores[k], expected, 1e-7, `impostor ${k}`));
  close(summarize(genuine.scores).mean, 1.6 / 4, 1e-7);
  close(summarize(impostor.scores).mean, 0, 1e-7);
  // Identities need not be contiguous: labels group the features.
  const shuffled = genuineScores([features[0], features[2], features[1]], [0, 1, 0]);
  assert.equal(shuffled.available, 1);
  close(shuffled.scores[0], 0.6, 1e-7);
});

Deno.test("genuine and impostor scores: seeded uniform samples when there are more pairs than asked", () => {
  const random = Random.from(5);
  const features = Array.from({ length: 300 }, () => random.normals(new Float32Array(8)));
  const labels = features.map((_, i) => Math.floor(i / 30)); // 10 identities x 30
  for (const scoresOf of [genuineScores, impostorScores]) {
    const all = scoresOf(features, labels);
    const sampled = scoresOf(features, labels, { pairs: 2000, seed: 1 });
    assert.equal(all.exhaustive, true);
    assert.equal(sampled.exhaustive, false);
    assert.equal(sampled.available, all.available);
    assert.equal(sampled.scores.length, 2000);
    assert.deepEqual(scoresOf(features, labels, { pairs: 2000, seed: 1 }).scores, sampled.scores);
    assert.notDeepEqual(scoresOf(features, labels, { pairs: 2000, seed: 2 }).scores, sampled.scores);
    // Every sampled score is one of the pairs', and the mean matches the exhaustive one.
    const pairs = new Set(all.scores);
    assert.ok(sampled.scores.every((score) => pairs.has(score)));
    close(summarize(sampled.scores).mean, summarize(all.scores).mean, 0.04, scoresOf.name); // 5 standard errors
  }
  assert.equal(genuineScores(features, labels).available, 10 * 435);
  assert.equal(impostorScores(features, labels).available, (300 * 299) / 2 - 4350);
});

Deno.test("genuine and impostor scores: no pairs, bad labels", () => {
  assert.equal(genuineScores([v(1), v(2)], [0, 1]).scores.length, 0);
  assert.equal(impostorScores([v(1), v(2)], [0, 0]).scores.length, 0);
  assert.throws(() => genuineScores([v(1)], [0, 1]), /current length is 2 for 1 features/);
  assert.throws(() => impostorScores([v(1)], [0.5]), /labels\[0\] as an integer identity id: current value is 0.5/);
  assert.throws(() => impostorScores([v(1), v(1, 2)], [0, 1]), /features\[1\] as a 1-d vector: current length is 2/);
  assert.throws(() => genuineScores([v(1)], [0], { pairs: 0 }), /Cannot use 0 pairs/);
});

Deno.test("uniqueIdentities: Vec2Face's measure, hand-computed", () => {
  // Cosines: (0, 1) 0.8, (0, 2) 0, (1, 2) 0.6, (0, 3) -1, (1, 3) -0.8, (2, 3) 0.
  const centres = [v(1, 0), v(0.8, 0.6), v(0, 1), v(-1, 0)];
  assert.deepEqual(uniqueIdentities(centres, 0.4), { threshold: 0.4, unique: 2, total: 4, ratio: 0.5 });
  // Identity 2 is within 0.4 only of identity 1, which does not count itself: it still does not count.
  assert.equal(uniqueIdentities(centres, 0.7).unique, 3);
  assert.equal(uniqueIdentities(centres, 0.9).unique, 4);
  // "Above" is strict: a cosine equal to the threshold keeps the identity.
  assert.equal(uniqueIdentities([v(1, 0), v(1, 0)], 1).unique, 2);
  assert.equal(uniqueIdentities(centres).threshold, 0.4);
  assert.throws(() => uniqueIdentities(centres, 2), /cosine 2: current value is not in -1..1/);
  assert.throws(() => uniqueIdentities([]), /current count is 0/);
});

Deno.test("unitCentres and unitVectors", () => {
  const centres = unitCentres([v(3, 4), v(0, 10), v(-2, 0)], [1, 1, 2]);
  assert.equal(centres.length, 2);
  close(centres[0][0], 0.3, 1e-7);
  close(centres[0][1], 0.9, 1e-7);
  assert.deepEqual([...centres[1]], [-1, 0]);
  assert.deepEqual([...unitVectors([v(0, 0)])[0]], [0, 0]);
});

Deno.test("summarize, quantile and histogram", () => {
  const { p5, ...summary } = summarize([3, 1, 2, 4]);
  assert.deepEqual(summary, { count: 4, mean: 2.5, std: Math.sqrt(1.25), min: 1, median: 2.5, max: 4 });
  close(p5, 1.15, 1e-15); // position 0.05 x 3 between 1 and 2
  assert.equal(quantile([7], 0.05), 7);
  assert.throws(() => quantile([1], 2), /quantile 2/);
  assert.throws(() => summarize([]), /current count is 0/);
  const counts = histogram([-1, 0, 0.24, 0.25, 0.5, 0.75, 1, 2], { min: 0, max: 1, bins: 4 }).counts;
  assert.deepEqual(counts, [3, 1, 1, 3]);
  assert.throws(() => histogram([1], { min: 1, max: 1, bins: 2 }), /\[1, 1\]: current range is empty/);
  assert.throws(() => histogram([1], { min: 0, max: 1, bins: 0 }), /in 0 bins/);
});

Deno.test("gaussianStats: mean and covariance with denominator n - 1", () => {
  // Points (0, 0), (2, 0), (0, 2), (2, 2): mean (1, 1), variances 4/3, covariance 0.
  const stats = gaussianStats([v(0, 0), v(2, 0), v(0, 2), v(2, 2)]);
  assert.deepEqual([...stats.mean], [1, 1]);
  assert.deepEqual([...stats.covariance], [4 / 3, 0, 0, 4 / 3]);
  // (0, 0), (1, 1), (2, 2): every entry 1.
  assert.deepEqual([...gaussianStats([v(0, 0), v(1, 1), v(2, 2)]).covariance], [1, 1, 1, 1]);
  assert.throws(() => gaussianStats([v(1)]), /from 1 features: current count is below 2/);
});

Deno.test("frechetDistance: known Gaussians and identical sets", async (t) => {
  const stats = (mean: number[], covariance: number[]) => ({
    dim: mean.length,
    count: 2,
    mean: new Float64Array(mean),
    covariance: new Float64Array(covariance),
  });
  await t.step("diagonal covariances: |mu1 - mu2|^2 + sum (sqrt s1 - sqrt s2)^2", () => {
    const a = stats([1, 2, 0], [4, 0, 0, 0, 9, 0, 0, 0, 1]);
    const b = stats([0, 0, 0], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
    close(frechetDistance(a, b), 1 + 4 + (2 - 1) ** 2 + (3 - 1) ** 2 + 0, 1e-12);
    close(frechetDistance(b, a), frechetDistance(a, b), 1e-12);
  });
  await t.step("commuting: S1 = [[2, 1], [1, 2]] against I gives 6 - 2 (sqrt 3 + 1)", () => {
    close(frechetDistance(stats([0, 0], [2, 1, 1, 2]), stats([0, 0], [1, 0, 0, 1])), 6 - 2 * (Math.sqrt(3) + 1), 1e-12);
  });
  await t.step("non-commuting 2x2: tr sqrt(A) = sqrt(tr A + 2 sqrt(det A)) by hand", () => {
    const s1 = [2, 1, 1, 2], s2 = [3, 0, 0, 1];
    // tr(S1 S2) = 2*3 + 1*0 + 1*0 + 2*1 = 8; det S1 = 3, det S2 = 3.
    const rootTrace = Math.sqrt(8 + 2 * Math.sqrt(3 * 3));
    const expected = (1 - 0) ** 2 + (4 + 4) - 2 * rootTrace;
    close(frechetDistance(stats([1, 0], s1), stats([0, 0], s2)), expected, 1e-12);
    close(frechetDistance(stats([0, 0], s2), stats([1, 0], s1)), expected, 1e-12);
  });
  await t.step("identical sets give 0; a shifted copy gives |shift|^2", () => {
    const random = Random.from(3);
    const features = Array.from({ length: 40 }, () => random.normals(new Float32Array(16)));
    const base = gaussianStats(features);
    close(frechetDistance(base, gaussianStats(features.map((f) => f.slice()))), 0, 1e-9);
    const shift = Float32Array.from({ length: 16 }, (_, i) => (i % 4) * 0.5);
    const shifted = gaussianStats(features.map((f) => f.map((x, i) => x + shift[i])));
    const expected = shift.reduce((sum, s) => sum + s * s, 0); // 4 x (0 + 0.25 + 1 + 2.25) = 14
    close(frechetDistance(base, shifted), expected, 1e-4);
  });
  await t.step("rank-deficient covariance (fewer features than dimensions) works", () => {
    const random = Random.from(4);
    const a = gaussianStats(Array.from({ length: 5 }, () => random.normals(new Float32Array(32))));
    const b = gaussianStats(Array.from({ length: 5 }, () => random.normals(new Float32Array(32))));
    const distance = frechetDistance(a, b);
    assert.ok(Number.isFinite(distance) && distance > 0);
    close(frechetDistance(a, a), 0, 1e-8);
  });
  await t.step("mismatched dimensions: RangeError", () => {
    assert.throws(() => frechetDistance(stats([0], [1]), stats([0, 0], [1, 0, 0, 1])), /1-d with 2-d/);
  });
});
