import assert from "node:assert/strict";
import { Vec2FaceError } from "./errors.ts";
import { drawFromPrior, type Prior } from "./prior.ts";
import { Random, STREAM_TAGS } from "./random.ts";
import { sample, type SampleOptions, type SampleProgress, type SampleResult } from "./sample.ts";
import { cosineSimilarity, norm } from "./vectors.ts";

function isotropicPrior(dim: number, meanValue = 0): Prior {
  const eigenvectors = new Float32Array(dim * dim);
  for (let i = 0; i < dim; i++) eigenvectors[i * dim + i] = 1;
  return { dim, mean: new Float32Array(dim).fill(meanValue), eigenvalues: new Float32Array(dim).fill(1), eigenvectors };
}

/**
 * A realistic prior: 512 dims, eigenvalues 1/i (most variance in ~100 dims, as
 * identity features), eigenvectors a random rotation (Gram-Schmidt in float64).
 */
let realistic: Prior | undefined;
function realisticPrior(): Prior {
  if (realistic) return realistic;
  const dim = 512;
  const random = Random.from(99, 1);
  const basis = new Float64Array(dim * dim);
  for (let k = 0; k < dim; k++) {
    const row = basis.subarray(k * dim, (k + 1) * dim);
    for (let i = 0; i < dim; i++) row[i] = random.normal();
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < k; j++) {
        const other = basis.subarray(j * dim, (j + 1) * dim);
        let dot = 0;
        for (let i = 0; i < dim; i++) dot += row[i] * other[i];
        for (let i = 0; i < dim; i++) row[i] -= dot * other[i];
      }
    }
    const length = norm(row);
    for (let i = 0; i < dim; i++) row[i] /= length;
  }
  realistic = {
    dim,
    mean: new Float32Array(dim),
    eigenvalues: Float32Array.from({ length: dim }, (_, i) => 1 / (i + 1)),
    eigenvectors: Float32Array.from(basis),
  };
  return realistic;
}

/** Unit vector as the reference makes it: float32 rounding of value / norm. */
function unit(vector: Float32Array): Float32Array {
  const length = norm(vector);
  return vector.map((value) => value / length);
}

/** The reference semantics, written as plainly as possible: sequential greedy, float64 cosines. */
function referenceSample(n: number, prior: Prior, threshold: number, seed: number) {
  const units: Float32Array[] = [];
  const vectors: Float32Array[] = [];
  let candidates = 0;
  let maxCosine = -1;
  while (vectors.length < n) {
    if (candidates > 100 * n + 10_000) throw new Error(`reference: no ${n} identities at ${threshold}`);
    const candidate = drawFromPrior(prior, Random.from(seed, STREAM_TAGS.candidate, candidates));
    candidates++;
    const length = norm(candidate);
    if (!(length > 0 && length < Infinity)) continue;
    const u = unit(candidate);
    let worst = -1;
    for (const kept of units) {
      let dot = 0;
      for (let i = 0; i < u.length; i++) dot += u[i] * kept[i];
      worst = Math.max(worst, dot);
    }
    if (worst < threshold) {
      units.push(u);
      vectors.push(candidate);
      if (units.length > 1) maxCosine = Math.max(maxCosine, worst);
    }
  }
  return { vectors, candidates, maxCosine: vectors.length > 1 ? maxCosine : 0 };
}

function assertSameBank(actual: SampleResult, expected: ReturnType<typeof referenceSample>, what: string) {
  assert.equal(actual.vectors.length, expected.vectors.length, what);
  assert.equal(actual.candidates, expected.candidates, `${what}: candidates`);
  assert.ok(Object.is(actual.maxCosine, expected.maxCosine), `${what}: maxCosine ${actual.maxCosine}`);
  actual.vectors.forEach((vector, k) => {
    const reference = expected.vectors[k];
    for (let i = 0; i < vector.length; i++) {
      if (!Object.is(vector[i], reference[i])) assert.fail(`${what}: vector ${k} differs at ${i}`);
    }
  });
}

/**
 * The largest reference cosine over every pair, by brute force: float64 sums
 * in index order (the reference), four rows per pass over the others.
 */
function bruteForceMaxCosine(vectors: Float32Array[]): number {
  const dim = vectors[0].length, count = vectors.length;
  const units = new Float32Array(count * dim);
  vectors.forEach((vector, k) => units.set(unit(vector), k * dim));
  let best = -Infinity;
  let r = 0;
  for (; r + 4 <= count; r += 4) {
    const a0 = r * dim, a1 = a0 + dim, a2 = a1 + dim, a3 = a2 + dim;
    for (let col = 0; col < r + 3; col++) {
      const b0 = col * dim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let i = 0; i < dim; i++) {
        const x = units[b0 + i];
        s0 += units[a0 + i] * x;
        s1 += units[a1 + i] * x;
        s2 += units[a2 + i] * x;
        s3 += units[a3 + i] * x;
      }
      if (col < r && s0 > best) best = s0;
      if (col < r + 1 && s1 > best) best = s1;
      if (col < r + 2 && s2 > best) best = s2;
      if (s3 > best) best = s3;
    }
  }
  for (; r < count; r++) {
    for (let col = 0; col < r; col++) {
      let dot = 0;
      for (let i = 0; i < dim; i++) dot += units[r * dim + i] * units[col * dim + i];
      if (dot > best) best = dot;
    }
  }
  return best;
}

Deno.test("sample is exact: every pair below the threshold, checked by brute force", async () => {
  const { vectors, maxCosine } = await sample(300, { prior: isotropicPrior(128), threshold: 0.3, seed: 2 });
  assert.equal(vectors.length, 300);
  let worst = -1;
  for (let i = 0; i < vectors.length; i++) {
    for (let j = 0; j < i; j++) worst = Math.max(worst, cosineSimilarity(vectors[i], vectors[j]));
  }
  assert.ok(worst < 0.3, `worst pair ${worst}`);
  assert.ok(Math.abs(worst - maxCosine) < 1e-5, `reported ${maxCosine}, measured ${worst}`);
});

Deno.test("sample is exact on 20,000 identities of a realistic prior: all 2e8 pairs checked", async () => {
  const threshold = 0.4; // acceptance ends near 33 %: many pairs near the threshold
  const started = performance.now();
  const result = await sample(20_000, { prior: realisticPrior(), threshold, seed: 5 });
  const sampled = performance.now();
  assert.equal(result.vectors.length, 20_000);
  if (result.engine !== "js") {
    // The float32 bounds did trigger: some pairs were too close to call and were recomputed.
    assert.ok(result.exactChecks > 0, `${result.engine}: no exact check`);
  }
  const worst = bruteForceMaxCosine(result.vectors);
  assert.ok(worst < threshold, `worst pair ${worst}`);
  assert.ok(Object.is(worst, result.maxCosine), `reported ${result.maxCosine}, brute force ${worst}`);
  console.log(
    `  ${result.engine}: ${result.candidates} candidates, ${result.exactChecks} exact checks, sampled in ${
      ((sampled - started) / 1000).toFixed(1)
    } s, checked in ${((performance.now() - sampled) / 1000).toFixed(1)} s`,
  );
});

Deno.test("sample gives the bank of a sequential float64 reference, bit for bit, on every engine", async () => {
  const prior = realisticPrior();
  const expected = referenceSample(2000, prior, 0.4, 11);
  for (const engine of ["js", "native", "wasm", "auto"] as const) {
    let result: SampleResult;
    try {
      result = await sample(2000, { prior, threshold: 0.4, seed: 11, engine });
    } catch (error) {
      // An onnxruntime backend may be unavailable here (no native addon); the others must pass.
      if (error instanceof Vec2FaceError && error.code === "backend-unavailable") continue;
      throw error;
    }
    assertSameBank(result, expected, engine);
  }
});

Deno.test("sample draws exactly as drawFromPrior, zero eigenvalues included", async () => {
  // drawFromPrior skips a component whose scale is 0: an infinite eigenvector value there must not turn into NaN.
  const dim = 16;
  const prior = isotropicPrior(dim, 0.1);
  for (const k of [0, 5, 6, 15]) prior.eigenvalues[k] = 0;
  prior.eigenvectors.fill(Infinity, 5 * dim, 6 * dim);
  const expected = referenceSample(40, prior, 0.6, 3);
  for (const batchSize of [1, 5, 64]) {
    assertSameBank(await sample(40, { prior, threshold: 0.6, seed: 3, batchSize }), expected, `batch ${batchSize}`);
  }
});

Deno.test("sample is deterministic for a seed", async () => {
  const prior = isotropicPrior(16);
  const a = await sample(20, { prior, threshold: 0.5, seed: 7 });
  const b = await sample(20, { prior, threshold: 0.5, seed: 7 });
  assert.deepEqual(a.vectors, b.vectors);
  const c = await sample(20, { prior, threshold: 0.5, seed: 8 });
  assert.notDeepEqual(a.vectors, c.vectors);
});

Deno.test("sample is the same whatever the batch size and engine, and prefix-stable", async () => {
  const prior = realisticPrior();
  // 1,000 identities at 0.3 (~8,000 candidates): `auto` starts in js and moves to a float32 engine mid-run.
  const options: SampleOptions = { prior, threshold: 0.3, seed: 9 };
  const results = [];
  for (const batchSize of [1, 7, 512]) results.push(await sample(1000, { ...options, batchSize }));
  results.push(await sample(1000, { ...options, engine: "js" }));
  const [first, ...others] = results;
  for (const other of others) {
    assert.equal(other.candidates, first.candidates);
    assert.ok(Object.is(other.maxCosine, first.maxCosine));
    assert.deepEqual(other.vectors, first.vectors);
  }
  const prefix = await sample(600, options);
  assert.deepEqual(prefix.vectors, first.vectors.slice(0, 600));
  console.log(`  ${first.candidates} candidates, auto ended on ${first.engine}`);
});

Deno.test("sample reports progress every 1,000 candidates and at the end", async () => {
  const reports: SampleProgress[] = [];
  const result = await sample(3000, {
    prior: isotropicPrior(8),
    threshold: 0.9,
    seed: 1,
    onProgress: (p) => reports.push(p),
  });
  const last = reports.pop()!;
  assert.deepEqual(last, { stage: "sample", done: 3000, total: 3000, candidates: result.candidates });
  assert.ok(reports.length >= 3);
  reports.forEach((report, k) => {
    assert.equal(report.candidates, 1000 * (k + 1));
    assert.ok(report.done <= report.candidates && report.total === 3000);
  });
});

Deno.test("sample stops with the count reached when acceptance collapses", async () => {
  // In 3 dimensions only a handful of vectors can be 0.1 apart in cosine.
  const error = await sample(1000, { prior: isotropicPrior(3), threshold: -0.2, seed: 1, window: 2000 }).catch((e) =>
    e
  );
  assert.ok(error instanceof Vec2FaceError);
  assert.equal(error.code, "sampling-stalled");
  assert.match(
    error.message,
    /Cannot sample 1000 identities at threshold -0.2: .*after \d+ identities from \d+ candidates/,
  );
});

Deno.test("sample ends quickly on impossible requests, suggesting a threshold", async () => {
  for (
    const [n, prior, threshold] of [[10_000, realisticPrior(), -0.5], [1000, isotropicPrior(3), 0.1]] as const
  ) {
    const started = performance.now();
    const error = await sample(n, { prior, threshold, seed: 4 }).catch((e) => e);
    const seconds = (performance.now() - started) / 1000;
    assert.ok(error instanceof Vec2FaceError, String(error));
    assert.equal(error.code, "sampling-stalled");
    // At -0.5 at most 3 unit vectors fit (pairwise cosine >= -1/(k-1) for k vectors).
    const match = error.message.match(
      /after (\d+) identities from (\d+) candidates; raise the threshold \(at (-?[\d.]+),/,
    );
    assert.ok(match, error.message);
    assert.ok(Number(match[1]) < n && Number(match[2]) >= 10_000);
    assert.ok(Number(match[3]) > threshold && Number(match[3]) <= 1, error.message);
    assert.ok(seconds < 60, `${seconds} s`);
  }
});

Deno.test("sample refuses bad arguments", async () => {
  const prior = isotropicPrior(4);
  await assert.rejects(sample(0, { prior, threshold: 0.3 }), /Cannot sample 0 identities/);
  await assert.rejects(sample(2, { prior, threshold: 1.5 }), /threshold 1.5/);
  await assert.rejects(sample(2, { prior, threshold: 0.3, seed: -1 }), /seed as -1/);
  await assert.rejects(sample(2, { prior, threshold: 0.3, batchSize: 0 }), RangeError);
  await assert.rejects(sample(2, { prior, threshold: 0.3, window: 1.5 }), RangeError);
  await assert.rejects(sample(2, { prior, threshold: 0.3, minAcceptance: 0 }), /minAcceptance as 0/);
  // deno-lint-ignore no-explicit-any
  await assert.rejects(sample(2, { prior, threshold: 0.3, engine: "gpu" as any }), /engine as "gpu"/);
  await assert.rejects(sample(2, { prior: { ...prior, dim: 5 }, threshold: 0.3 }), /prior of dim 5/);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(sample(2, { prior, threshold: 0.3, signal: controller.signal }));
});
