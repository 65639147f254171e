import assert from "node:assert/strict";
import { Vec2FaceError } from "./errors.ts";
import { sample } from "./sample.ts";
import { estimateSampling, samplingPilot } from "./sample_price.ts";

const dim = 8;
const eigenvectors = new Float32Array(dim * dim);
for (let i = 0; i < dim; i++) eigenvectors[i * dim + i] = 1;
const prior = { dim, mean: new Float32Array(dim), eigenvalues: new Float32Array(dim).fill(1), eigenvectors };

Deno.test("the estimated collapse is within a factor 2 of where sample() stalls", async () => {
  const pilot = samplingPilot(prior, 1000);
  for (const threshold of [0.5, 0.6, 0.7]) {
    const estimate = estimateSampling(pilot, threshold, 100_000);
    let reached = 0;
    try {
      await sample(100_000, { prior, threshold, engine: "js" });
    } catch (error) {
      assert.ok(error instanceof Vec2FaceError && error.code === "sampling-stalled");
      reached = Number(/after (\d+) identities/.exec(error.message)![1]);
    }
    const ratio = estimate.collapseAt! / reached;
    assert.ok(
      ratio > 0.5 && ratio < 2,
      `threshold ${threshold}: estimate ${estimate.collapseAt}, stalled at ${reached}`,
    );
  }
});

Deno.test("candidates: the estimate for a count that does not collapse is near what sample() drew", async () => {
  const pilot = samplingPilot(prior, 1000);
  const estimate = estimateSampling(pilot, 0.8, 40);
  const { candidates } = await sample(40, { prior, threshold: 0.8, engine: "js" });
  assert.equal(estimate.collapseAt, null);
  assert.ok(
    Math.abs(estimate.candidates / candidates - 1) < 0.5,
    `estimate ${estimate.candidates}, drew ${candidates}`,
  );
});

Deno.test("estimateSampling refuses bad input with the option's name", () => {
  const pilot = samplingPilot(prior, 10);
  assert.throws(() => estimateSampling(pilot, 1.5, 10), /at threshold 1\.5/);
  assert.throws(() => estimateSampling(pilot, 0.5, 0), /identity count `n`/);
  assert.throws(() => samplingPilot(prior, 1), /pilot of 1: current value is under 2/);
});
