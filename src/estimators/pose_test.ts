import assert from "node:assert/strict";
import { loadPack } from "../model_pack.ts";
import { render } from "../render.ts";
import { sample } from "../sample.ts";
import { mirrorImage } from "../image/transform.ts";
import { estimateLandmarkYaw, estimatePose, expectedLandmarkYaw, poseCrop } from "./pose.ts";
import type { OnnxSession, TensorData } from "../_backend.ts";

Deno.test("poseCrop grows the box by a quarter on each side and stretches it to 224x224", () => {
  // Pixel value = column index, so the crop's columns tell which source columns they read.
  const width = 200, height = 100;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.fill(x, (y * width + x) * 3, (y * width + x) * 3 + 3);
  }
  const crop = poseCrop({ width, height, data }, { x1: 60, y1: 20, x2: 140, y2: 80 });
  assert.equal(crop.width, 224);
  // The grown box spans columns 40..160: crop column 0 reads 40, the last reads about 160.
  assert.ok(Math.abs(crop.data[0] - 40) <= 1, `left edge reads column ${crop.data[0]}`);
  assert.ok(Math.abs(crop.data[223 * 3] - 160) <= 1, `right edge reads column ${crop.data[223 * 3]}`);
  assert.throws(() => poseCrop({ width, height, data }, { x1: 5, y1: 5, x2: 5, y2: 9 }), RangeError);
});

Deno.test("estimatePose reads each angle as the softmax expectation of 66 bins of 3 degrees, then calibrates", async () => {
  // A fake fr_pose: yaw logits peak at bin 40, pitch at 33, roll at 20 (one-hot, so the expectation is the bin).
  const calls: number[] = [];
  const session = {
    inputNames: ["input"],
    outputNames: ["output", "617", "618"],
    run: (feeds: Record<string, TensorData>) => {
      const [n, channels, height, width] = feeds.input.dims;
      calls.push(n);
      assert.deepEqual([channels, height, width], [3, 224, 224]);
      const logits = (bin: number) => {
        const data = new Float32Array(n * 66).fill(-50);
        for (let i = 0; i < n; i++) data[i * 66 + bin] = 50;
        return { data, dims: [n, 66] };
      };
      return Promise.resolve({ output: logits(40), "617": logits(33), "618": logits(20) });
    },
  } as unknown as OnnxSession;
  const pack = { session: () => Promise.resolve(session) };
  const face = { width: 112, height: 112, data: new Uint8Array(112 * 112 * 3) };
  const poses = await estimatePose([face, face, face], { pack, batchSize: 2 });
  assert.deepEqual(calls, [2, 1]);
  // Raw angles 40*3-99 = 21, 33*3-99 = 0, 20*3-99 = -39; yaw x 1.299, pitch x 0.792 - 1.98, roll as read.
  assert.ok(Math.abs(poses[2].yaw - 21 * 1.299) < 1e-6, `yaw ${poses[2].yaw}`);
  assert.ok(Math.abs(poses[2].pitch - -1.98) < 1e-6, `pitch ${poses[2].pitch}`);
  assert.ok(Math.abs(poses[2].roll - -39) < 1e-6, `roll ${poses[2].roll}`);
});

Deno.test("estimatePose on the real model: batching changes nothing, mirrored faces agree on pitch, bad sizes rejected", async () => {
  await using pack = await loadPack(undefined, { device: "wasm" });
  const { vectors } = await sample(5, { prior: pack.prior, threshold: pack.manifest.separationThreshold, seed: 11 });
  const faces = await render(vectors, { pack, seed: 2 });
  const batched = await estimatePose(faces, { pack, batchSize: 5 });
  const mirrored = await estimatePose(faces.map(mirrorImage), { pack, batchSize: 3 });
  for (const [i, face] of faces.entries()) {
    const [alone] = await estimatePose([face], { pack });
    assert.ok(Math.abs(batched[i].yaw - alone.yaw) < 1e-3, `batched yaw ${batched[i].yaw} vs ${alone.yaw}`);
    assert.ok(Math.abs(batched[i].pitch - alone.pitch) < 1e-3);
    // Mirroring turns the head the other way but does not tilt it.
    assert.ok(Math.abs(batched[i].pitch - mirrored[i].pitch) < 5, `pitch ${batched[i].pitch} vs ${mirrored[i].pitch}`);
    assert.ok([batched[i].yaw, batched[i].pitch, batched[i].roll].every((angle) => Math.abs(angle) < 99 * 1.3));
  }
  await assert.rejects(
    estimatePose([{ width: 100, height: 100, data: new Uint8Array(100 * 100 * 3) }], { pack }),
    /aligned 112x112/,
  );
  await assert.rejects(estimatePose([], { pack, batchSize: 0 }), /batches of 0/);
  assert.deepEqual(await estimatePose([], { pack }), []);
});

Deno.test("estimateLandmarkYaw maps the nose tip's place between the jaw sides through the fitted line", async () => {
  // A fake fr_landmark: jaw point 2 at x 0.3, point 14 at 0.7, nose tip 30 at 0.6 of the crop (ys spread so that
  // the refining pass runs). left 0.3, right 0.1: r = 0.5, whatever the crop.
  const session = {
    inputNames: ["input"],
    outputNames: ["output"],
    run: () => {
      const data = new Float32Array(136);
      for (let i = 0; i < 68; i++) data.set([0.5, i / 68], 2 * i);
      data[4] = 0.3, data[28] = 0.7, data[60] = 0.6;
      return Promise.resolve({ output: { data, dims: [1, 136] } });
    },
  } as unknown as OnnxSession;
  const face = { width: 112, height: 112, data: new Uint8Array(112 * 112 * 3) };
  const [yaw] = await estimateLandmarkYaw([face], { pack: { session: () => Promise.resolve(session) } });
  assert.ok(Math.abs(yaw - (-45.03 * 0.5 - 1.69)) < 1e-4, `landmark yaw ${yaw}`); // float32 points
  await assert.rejects(
    estimateLandmarkYaw([{ width: 100, height: 100, data: new Uint8Array(100 * 100 * 3) }], {
      pack: { session: () => Promise.resolve(session) },
    }),
    /aligned 112x112/,
  );
});

Deno.test("estimateLandmarkYaw on the real model: a mirrored face reads the opposite turn about the line's offset", async () => {
  await using pack = await loadPack(undefined, { device: "wasm" });
  const { vectors } = await sample(4, { prior: pack.prior, threshold: pack.manifest.separationThreshold, seed: 11 });
  const faces = await render(vectors, { pack, seed: 2 });
  const yaws = await estimateLandmarkYaw(faces, { pack });
  const mirrored = await estimateLandmarkYaw(faces.map(mirrorImage), { pack });
  for (const [i, yaw] of yaws.entries()) {
    assert.ok(Number.isFinite(yaw) && Math.abs(yaw) < 45, `landmark yaw ${yaw}`);
    // r flips sign under mirroring, so yaw + mirrored yaw = 2 x offset (-1.69), up to the landmark model's asymmetry.
    assert.ok(Math.abs(yaw + mirrored[i] + 3.38) < 4, `landmark yaw ${yaw} and mirrored ${mirrored[i]}`);
  }
});

Deno.test("expectedLandmarkYaw follows the pose reading for small turns, saturates on large ones, never falls back", () => {
  // Near frontal the two readings agree (within the fit's offset).
  for (const yaw of [-10, -5, 0, 5, 10]) {
    assert.ok(Math.abs(expectedLandmarkYaw(yaw) - yaw) < 1.5, `yaw ${yaw}: ${expectedLandmarkYaw(yaw)}`);
  }
  // Large turns read well short of the target: what real faces read, not the target itself.
  assert.ok(expectedLandmarkYaw(45) > 28 && expectedLandmarkYaw(45) < 33, `45: ${expectedLandmarkYaw(45)}`);
  assert.ok(expectedLandmarkYaw(-45) < -28 && expectedLandmarkYaw(-45) > -33, `-45: ${expectedLandmarkYaw(-45)}`);
  // Monotone non-decreasing over every yaw: held at the cubic's peak beyond it.
  let previous = -Infinity;
  for (let yaw = -120; yaw <= 120; yaw += 0.5) {
    const value = expectedLandmarkYaw(yaw);
    assert.ok(value >= previous - 1e-9, `falls at ${yaw}: ${value} < ${previous}`);
    previous = value;
  }
  assert.equal(expectedLandmarkYaw(90), expectedLandmarkYaw(170));
  assert.throws(() => expectedLandmarkYaw(NaN), RangeError);
});
