import assert from "node:assert/strict";
import { createSession } from "../_backend.ts";
import { ALIGNED_SIZE, ARCFACE_TEMPLATE_112 } from "./align.ts";
import { CHIP_FROM_ALIGNED, JUDGE_SOURCE, judgeChip, loadJudge, pullJudgeModel } from "./judge.ts";
import { decodeTfjsWeights, judgeReferenceInput } from "./judge_convert.ts";
import { cosineSimilarity } from "../vectors.ts";

const reference: { descriptors: number[][] } = JSON.parse(
  await Deno.readTextFile(new URL("./judge_reference.json", import.meta.url)),
);

Deno.test("judge: the converted ONNX model reproduces face-api's TF.js descriptors on every CPU backend", async () => {
  const model = await pullJudgeModel();
  for (const device of ["wasm", "native"] as const) {
    await using session = await createSession(model, { device });
    for (let k = 0; k < reference.descriptors.length; k++) {
      const hwc = judgeReferenceInput(k);
      const chw = new Float32Array(hwc.length);
      const plane = 150 * 150;
      for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) chw[c * plane + p] = hwc[p * 3 + c];
      const { descriptor } = await session.run({ image: { type: "float32", data: chw, dims: [1, 3, 150, 150] } });
      const worst = Math.max(...reference.descriptors[k].map((value, i) => Math.abs(value - descriptor.data[i])));
      // Measured 2.0e-7 to 3.0e-7 (descriptor values are about 0.1): float rounding of the folded layers.
      assert.ok(worst < 1e-5, `${device} input ${k}: max difference ${worst}`);
    }
  }
});

Deno.test("judge: the chip warp puts the ArcFace eye centres where dlib's chip has them", () => {
  const [a, b, c, d, e, f] = CHIP_FROM_ALIGNED;
  const [leftEye, rightEye] = ARCFACE_TEMPLATE_112.map(([x, y]) => [a * x + b * y + c, d * x + e * y + f]);
  // dlib mean-shape eye centres 0.2255 / 0.7548 and 0.2160, padded 0.25 onto 150 pixels: 47.05 / 100.0 and 46.6.
  assert.ok(Math.abs(leftEye[0] - 47.05) < 1.5 && Math.abs(rightEye[0] - 100.0) < 1.5, `${leftEye} ${rightEye}`);
  assert.ok(Math.abs(leftEye[1] - 46.6) < 1.5 && Math.abs(rightEye[1] - 46.6) < 1.5, `${leftEye} ${rightEye}`);
  // Scale 1.45: the crop spans chip rows -29.5..132, so the chip's bottom 18 rows (below the chin) repeat the
  // crop's last row; left and right are covered.
  assert.ok(Math.abs(Math.hypot(a, d) - 1.45) < 0.01);
  assert.ok(c < 0 && a * 111 + c > 149 && f < 0);
  assert.throws(() => judgeChip({ width: 100, height: 112, data: new Uint8Array(100 * 112 * 3) }), RangeError);
});

Deno.test("judge: faces of different patterns read apart, a face and itself alike; wiring on any 112 face", async () => {
  await using judge = await loadJudge({ device: "wasm" });
  const face = (seed: number) => ({
    width: ALIGNED_SIZE,
    height: ALIGNED_SIZE,
    data: new Uint8Array(ALIGNED_SIZE * ALIGNED_SIZE * 3).map((_, i) => ((i * (seed + 3) * 2654435761) >>> 24) & 255),
  });
  const [a, a2, b] = await judge.embed([face(1), face(1), face(2)], { batchSize: 2 });
  assert.equal(a.length, 128);
  assert.ok(cosineSimilarity(a, a2) > 0.9999);
  assert.ok(cosineSimilarity(a, b) < 0.9999);
  // Batch size does not change a descriptor (up to float rounding).
  const [alone] = await judge.embed([face(2)], { batchSize: 1 });
  assert.ok(Math.max(...alone.map((v, i) => Math.abs(v - b[i]))) < 1e-5);
  await assert.rejects(judge.embed([face(1)], { batchSize: 0 }), RangeError);
  const aborted = AbortSignal.abort();
  await assert.rejects(judge.embed([face(1)], { signal: aborted }), /aborted/);
});

Deno.test("judge: the calibration is recorded and consistent", async () => {
  await using judge = await loadJudge({ device: "wasm" });
  const c = judge.calibration;
  assert.ok(c.accuracy >= 0.985, `LFW accuracy ${c.accuracy}`);
  assert.ok(c.far1e4 > c.far1e3 && c.far1e3 > c.impostorMean && c.genuineMean > c.impostorMean);
  assert.ok(c.auc > 0.99 && c.eer < 0.05);
  assert.equal(judge.independent, true);
});

Deno.test("judge: TF.js weights that do not fit the manifest are refused with the reason", () => {
  const manifest = [{ paths: ["w"], weights: [{ name: "a", shape: [4], dtype: "float32" }] }];
  assert.throws(() => decodeTfjsWeights(manifest, new Uint8Array(8)), /end at 8, before 16/);
  assert.throws(() => decodeTfjsWeights(manifest, new Uint8Array(20)), /uses 16 bytes of 20/);
  assert.throws(() => decodeTfjsWeights({}, new Uint8Array(0)), /not an array/);
  assert.throws(
    () => decodeTfjsWeights([{ weights: [{ name: "h", shape: [1], dtype: "float16" }] }], new Uint8Array(2)),
    /float16 is not supported/,
  );
  assert.match(JUDGE_SOURCE.onnxSha256, /^[0-9a-f]{64}$/);
});
