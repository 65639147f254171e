import assert from "node:assert/strict";
import { facepluginModel } from "../_test_models.ts";
import type { OnnxSession } from "../_backend.ts";
import { createSession } from "../_backend.ts";
import { boxAroundLandmarks, landmarkCrop, landmarks68To5, predictLandmarks, squareCropBox } from "./landmarks.ts";
import type { Point } from "./types.ts";

Deno.test("landmarks68To5 averages the eye corners and mouth corners, takes the nose tip", () => {
  const points: Point[] = Array.from({ length: 68 }, () => [0, 0]);
  // Left eye 37, 38, 40, 41; right eye 43, 44, 46, 47; nose 30; mouth 48+60 and 54+64.
  [[37, 10, 20], [38, 14, 18], [40, 14, 22], [41, 10, 24]].forEach(([i, x, y]) => (points[i] = [x, y]));
  [[43, 30, 20], [44, 34, 20], [46, 34, 20], [47, 30, 20]].forEach(([i, x, y]) => (points[i] = [x, y]));
  points[30] = [22, 30];
  points[36] = [999, 999]; // outer corner: not used
  points[48] = [12, 40];
  points[60] = [14, 42];
  points[54] = [32, 40];
  points[64] = [30, 40];
  assert.deepEqual(landmarks68To5(points), [[12, 21], [32, 20], [22, 30], [13, 41], [31, 40]]);
  assert.throws(() => landmarks68To5(points.slice(1)), /current count is 67/);
});

Deno.test("squareCropBox centres a square of the box height", () => {
  assert.deepEqual(squareCropBox({ x1: 10, y1: 20, x2: 50, y2: 80 }), { x1: 0, y1: 20, x2: 60, y2: 80 });
  assert.deepEqual(squareCropBox({ x1: 0, y1: 0, x2: 10, y2: 10 }, 2), { x1: -5, y1: -5, x2: 15, y2: 15 });
  assert.throws(() => squareCropBox({ x1: 0, y1: 5, x2: 10, y2: 5 }), /current height is not positive/);
  assert.throws(() => squareCropBox({ x1: 0, y1: 0, x2: 1, y2: 1 }, 0), RangeError);
});

Deno.test("boxAroundLandmarks centres a square of 1.2 times the points' height", () => {
  const box = boxAroundLandmarks([[0, 0], [40, 100], [20, 50]]);
  assert.deepEqual(box, { x1: -40, y1: -10, x2: 80, y2: 110 });
  assert.deepEqual(boxAroundLandmarks([[0, 0], [10, 10]], 1), { x1: 0, y1: 0, x2: 10, y2: 10 });
});

Deno.test("landmarkCrop maps the box onto 64x64 grey, halving a 128 px box", () => {
  // Columns alternate 0 and 200 in 2-px stripes: halving averages each stripe to itself.
  const width = 128, image = { width, height: width, data: new Uint8Array(width * width * 3) };
  for (let y = 0; y < width; y++) {
    for (let x = 0; x < width; x++) {
      image.data.fill(Math.floor(x / 2) % 2 ? 200 : 0, (y * width + x) * 3, (y * width + x) * 3 + 3);
    }
  }
  const crop = landmarkCrop(image, { x1: 0, y1: 0, x2: 128, y2: 128 });
  assert.equal(crop.width, 64);
  assert.deepEqual([...crop.data.subarray(0, 6)], [0, 200, 0, 200, 0, 200]);
});

Deno.test("predictLandmarks maps normalised outputs back through the square crop", async () => {
  const seen: number[][] = [];
  const session = {
    outputNames: ["output"],
    run: (feeds: Record<string, { dims: readonly number[] }>) => {
      seen.push([...feeds.input.dims]);
      // Every point at (0.25, 0.5) of the crop.
      const data = new Float32Array(136).map((_, i) => (i % 2 ? 0.5 : 0.25));
      return Promise.resolve({ output: { data, dims: [1, 136] } });
    },
  } as unknown as OnnxSession;
  const image = { width: 200, height: 200, data: new Uint8Array(200 * 200 * 3) };
  const points = await predictLandmarks(session, image, { x1: 60, y1: 40, x2: 140, y2: 140 }, { passes: 1 });
  assert.deepEqual(seen, [[1, 1, 64, 64]]);
  assert.equal(points.length, 68);
  // Crop: x 50..150, y 40..140 (side 100).
  assert.deepEqual(points[0], [75, 90]);
  // The default second pass has nothing to refine on when every point coincides.
  assert.deepEqual(await predictLandmarks(session, image, { x1: 60, y1: 40, x2: 140, y2: 140 }), points);
  assert.equal(seen.length, 2);
});

Deno.test("predictLandmarks refines on a crop around the first pass's points", async () => {
  let run = 0;
  const session = {
    outputNames: ["output"],
    run: () => {
      run++;
      // Pass 1: points at 0.25 and 0.75 of the crop; pass 2: all at the crop's top-left corner.
      const data = new Float32Array(136).map((_, i) => (run === 1 ? (i < 68 ? 0.25 : 0.75) : 0));
      return Promise.resolve({ output: { data, dims: [1, 136] } });
    },
  } as unknown as OnnxSession;
  const image = { width: 200, height: 200, data: new Uint8Array(200 * 200 * 3) };
  const points = await predictLandmarks(session, image, { x1: 0, y1: 0, x2: 100, y2: 100 });
  // Pass 1 points span 25..75 (height 50): the second crop is 60 wide, centred at 50: 20..80.
  assert.equal(run, 2);
  assert.deepEqual(points[0], [20, 20]);
  await assert.rejects(
    () => predictLandmarks(session, image, { x1: 0, y1: 0, x2: 1, y2: 1 }, { passes: 0 }),
    /in 0 passes/,
  );
});

Deno.test({
  name: "predictLandmarks returns 68 finite points near the crop (faceplugin model)",
  async fn() {
    const session = await createSession(await facepluginModel("fr_landmark.onnx"), { device: "wasm" });
    try {
      const image = { width: 100, height: 100, data: new Uint8Array(100 * 100 * 3).map((_, i) => (i * 7) % 256) };
      const points = await predictLandmarks(session, image, { x1: 20, y1: 20, x2: 80, y2: 80 });
      assert.equal(points.length, 68);
      for (const [x, y] of points) assert.ok(x > -40 && x < 140 && y > -40 && y < 140, `point ${x}, ${y}`);
    } finally {
      await session.dispose();
    }
  },
});
