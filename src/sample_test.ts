import assert from "node:assert/strict";
import { Vec2FaceError } from "./errors.ts";
import type { Prior } from "./prior.ts";
import { sample } from "./sample.ts";
import { cosineSimilarity } from "./vectors.ts";

function isotropicPrior(dim: number, meanValue = 0): Prior {
  const eigenvectors = new Float32Array(dim * dim);
  for (let i = 0; i < dim; i++) eigenvectors[i * dim + i] = 1;
  return { dim, mean: new Float32Array(dim).fill(meanValue), eigenvalues: new Float32Array(dim).fill(1), eigenvectors };
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

Deno.test("sample is deterministic for a seed", async () => {
  const prior = isotropicPrior(16);
  const a = await sample(20, { prior, threshold: 0.5, seed: 7 });
  const b = await sample(20, { prior, threshold: 0.5, seed: 7 });
  assert.deepEqual(a.vectors, b.vectors);
  const c = await sample(20, { prior, threshold: 0.5, seed: 8 });
  assert.notDeepEqual(a.vectors, c.vectors);
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

Deno.test("sample refuses bad arguments", async () => {
  const prior = isotropicPrior(4);
  await assert.rejects(sample(0, { prior, threshold: 0.3 }), /Cannot sample 0 identities/);
  await assert.rejects(sample(2, { prior, threshold: 1.5 }), /threshold 1.5/);
  await assert.rejects(sample(2, { prior, threshold: 0.3, seed: -1 }), /seed as -1/);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(sample(2, { prior, threshold: 0.3, signal: controller.signal }));
});
