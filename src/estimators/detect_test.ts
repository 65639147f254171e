import assert from "node:assert/strict";
import { facepluginModel } from "../_test_models.ts";
import type { OnnxSession } from "../_backend.ts";
import { createSession } from "../_backend.ts";
import { decodeDetections, detectFaces, intersectionOverUnion, nonMaxSuppression } from "./detect.ts";
import type { Detection } from "./types.ts";

const detection = (x1: number, y1: number, x2: number, y2: number, score: number): Detection => ({
  box: { x1, y1, x2, y2 },
  score,
});

Deno.test("intersectionOverUnion of identical, half-overlapping, touching and empty boxes", () => {
  const a = { x1: 0, y1: 0, x2: 4, y2: 4 };
  assert.equal(intersectionOverUnion(a, a), 1);
  // Overlap 2x4 = 8, union 16 + 16 - 8 = 24.
  assert.equal(intersectionOverUnion(a, { x1: 2, y1: 0, x2: 6, y2: 4 }), 8 / 24);
  assert.equal(intersectionOverUnion(a, { x1: 4, y1: 0, x2: 8, y2: 4 }), 0);
  assert.equal(intersectionOverUnion(a, { x1: 1, y1: 1, x2: 1, y2: 1 }), 0);
});

Deno.test("nonMaxSuppression keeps the best-scoring box of a cluster, not the lowest one", () => {
  // The lower box (bigger y2) scores worse: ordering by bottom edge would keep it.
  const kept = nonMaxSuppression([
    detection(10, 12, 50, 62, 0.7),
    detection(10, 10, 50, 60, 0.95),
    detection(12, 10, 52, 60, 0.9),
    detection(100, 100, 140, 150, 0.8),
  ], 0.4);
  assert.deepEqual(kept.map((d) => d.score), [0.95, 0.8]);
  assert.deepEqual(kept[0].box, { x1: 10, y1: 10, x2: 50, y2: 60 });
});

Deno.test("nonMaxSuppression keeps overlaps at or below the threshold and drops empty boxes", () => {
  const a = detection(0, 0, 4, 4, 0.9), b = detection(2, 0, 6, 4, 0.8); // IoU 1/3
  assert.equal(nonMaxSuppression([a, b], 0.4).length, 2);
  assert.equal(nonMaxSuppression([a, b], 0.3).length, 1);
  assert.deepEqual(nonMaxSuppression([detection(5, 5, 5, 9, 0.99), b], 0.4), [b]);
  assert.throws(() => nonMaxSuppression([a], 1.5), /IoU threshold 1.5/);
});

Deno.test("decodeDetections scales normalised corners, filters by score and sorts best first", () => {
  const boxes = new Float32Array([0, 0, 0.5, 0.5, 0.25, 0.25, 0.75, 1, 0.5, 0.5, 1, 1]);
  const scores = new Float32Array([0.5, 0.5, 0.2, 0.8, 0.9, 0.1]);
  const found = decodeDetections(boxes, scores, 200, 100, 0.5);
  assert.deepEqual(found.map((d) => d.box), [{ x1: 50, y1: 25, x2: 150, y2: 100 }, { x1: 0, y1: 0, x2: 100, y2: 50 }]);
  assert.equal(decodeDetections(boxes, scores, 200, 100, 0.5, 1).length, 1);
  assert.throws(() => decodeDetections(boxes.subarray(4), scores, 1, 1, 0.5), /current boxes length is 8/);
});

function fakeDetector(boxes: number[], scores: number[]): { session: OnnxSession; inputs: number[][] } {
  const inputs: number[][] = [];
  const session = {
    run: (feeds: Record<string, { dims: readonly number[] }>) => {
      inputs.push([...feeds.input.dims]);
      return Promise.resolve({
        boxes: { data: new Float32Array(boxes), dims: [1, boxes.length / 4, 4] },
        scores: { data: new Float32Array(scores), dims: [1, scores.length / 2, 2] },
      });
    },
  } as unknown as OnnxSession;
  return { session, inputs };
}

Deno.test("detectFaces feeds 320x240 and maps boxes back through the padding", async () => {
  const { session, inputs } = fakeDetector([0.25, 0.25, 0.75, 0.75], [0.1, 0.9]);
  const image = { width: 100, height: 50, data: new Uint8Array(100 * 50 * 3) };
  // Padding 0.5 of the longer side: 50 px each side, padded image 200x150.
  const faces = await detectFaces(session, image, { padding: 0.5 });
  assert.deepEqual(inputs, [[1, 3, 240, 320]]);
  assert.deepEqual(faces, [{ box: { x1: 0, y1: -12.5, x2: 100, y2: 62.5 }, score: faces[0].score }]);
  assert.ok(Math.abs(faces[0].score - 0.9) < 1e-6);
  const unpadded = await detectFaces(session, image, { padding: 0 });
  assert.deepEqual(unpadded[0].box, { x1: 25, y1: 12.5, x2: 75, y2: 37.5 });
});

Deno.test("detectFaces rejects a bad threshold or padding", async () => {
  const { session } = fakeDetector([], []);
  const image = { width: 4, height: 4, data: new Uint8Array(48) };
  await assert.rejects(() => detectFaces(session, image, { confidenceThreshold: -1 }), RangeError);
  await assert.rejects(() => detectFaces(session, image, { padding: Number.NaN }), /padding NaN/);
});

Deno.test({
  name: "detectFaces finds no face in a flat grey image (faceplugin model)",
  async fn() {
    const session = await createSession(await facepluginModel("fr_detect.onnx"), { device: "wasm" });
    try {
      const image = { width: 160, height: 160, data: new Uint8Array(160 * 160 * 3).fill(128) };
      assert.deepEqual(await detectFaces(session, image), []);
    } finally {
      await session.dispose();
    }
  },
});
