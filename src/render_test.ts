import assert from "node:assert/strict";
import { hasHardwareWebGpu } from "./_backend.ts";
import type { Backend } from "./_backend.ts";
import { drawMask, type TokenMask } from "./mask.ts";
import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
import { Random, STREAM_TAGS } from "./random.ts";
import { perturbVector } from "./perturb.ts";
import { generatorOutput, render, toByte } from "./render.ts";

interface Reference {
  images: {
    identity: number[];
    masked: number[];
    kept: number[];
    pose?: [number, number];
    pixels: number[][];
    mean: number;
    std: number;
  }[];
}
/** A pack's reference.json (training/export_onnx.py): torch outputs on fixed vectors and masks. */
async function readReference(folder: URL): Promise<Reference> {
  return JSON.parse(await Deno.readTextFile(new URL("reference.json", folder)));
}

/** The token mask a reference image was rendered with. */
function maskOf(image: Reference["images"][number]): TokenMask {
  return { masked: Float32Array.from(image.masked), kept: BigInt64Array.from(image.kept.map(BigInt)), ratio: NaN };
}

const reference = await readReference(new URL("../models/fixture/", import.meta.url));
const referenceVectors = reference.images.map((image) => Float32Array.from(image.identity));
const referenceMasks: TokenMask[] = reference.images.map(maskOf);

async function outputOn(device: Backend, vectors: Float32Array[], masks: TokenMask[]): Promise<Float32Array> {
  await using pack = await loadPack(FIXTURE_PACK, { device });
  assert.equal(pack.backend, device);
  return await generatorOutput(pack, vectors, masks);
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

// Every bundled generator against the torch outputs written when it was
// exported (training/export_onnx.py): the fixture within 1e-4, the trained
// pack within the 1e-3 (a deeper network accumulates more rounding).
// The whole reference batch, then each image alone: the bundled pack's frame
// gate sits behind an ONNX If on "does any vector of the batch fire", so a
// batch of the images it does not fire on takes the other branch.
for (const [name, tolerance] of [["fixture", 1e-4], ["vec2face-small", 1e-3]] as const) {
  Deno.test(`the ${name} generator on wasm and native matches torch (reference.json)`, async () => {
    const folder = new URL(`../models/${name}/`, import.meta.url);
    const expected = await readReference(folder);
    const plane = 3 * 112 * 112;
    const batches = [expected.images.map((_, n) => n), ...expected.images.map((_, n) => [n])];
    for (const device of ["wasm", "native"] as const) {
      await using pack = await loadPack(folder.href, { device });
      let worst = 0;
      for (const batch of batches) {
        const images = batch.map((n) => expected.images[n]);
        // Generators with a pose input were exported with poses in the reference.
        const poses = images.map(({ pose }) => ({ yaw: pose?.[0] ?? 0, pitch: pose?.[1] ?? 0 }));
        const vectors = images.map((image) => Float32Array.from(image.identity));
        const output = await generatorOutput(pack, vectors, images.map(maskOf), poses);
        images.forEach((image, n) => {
          for (const [c, y, x, value] of image.pixels) {
            worst = Math.max(worst, Math.abs(output[n * plane + c * 112 * 112 + y * 112 + x] - value));
          }
          const values = output.subarray(n * plane, (n + 1) * plane);
          worst = Math.max(worst, Math.abs(values.reduce((a, b) => a + b, 0) / plane - image.mean));
        });
      }
      console.log(`${name} on ${device}: max |onnxruntime - torch| ${worst.toExponential(2)}`);
      assert.ok(worst <= tolerance, `${name} on ${device} differs from torch by ${worst}`);
    }
  });
}

Deno.test("wasm, webgpu and native agree within 1e-3 on the fixture pack", async () => {
  const vectors = [...referenceVectors, ...referenceVectors.map((v) => v.map((x) => -x))];
  const masks = [...referenceMasks, ...vectors.slice(2).map((_, i) => drawMask(Random.from(3, STREAM_TAGS.mask, i)))];
  const wasm = await outputOn("wasm", vectors, masks);
  const native = await outputOn("native", vectors, masks);
  // webgpu: a hardware adapter, or Mesa llvmpipe on CPU-only machines (slow, numerically real).
  const webgpu = await outputOn("webgpu", vectors, masks);
  const nativeDifference = maxDifference(wasm, native);
  const webgpuDifference = maxDifference(wasm, webgpu);
  console.log(
    `max |wasm - native| ${nativeDifference.toExponential(2)}, |wasm - webgpu| ${webgpuDifference.toExponential(2)}`,
  );
  assert.ok(nativeDifference <= 1e-3, `native differs by ${nativeDifference}`);
  assert.ok(webgpuDifference <= 1e-3, `webgpu differs by ${webgpuDifference}`);
  console.log(`hardware WebGPU adapter: ${await hasHardwareWebGpu()}`);
});

Deno.test("render: images independent of batch size, clipped to 8 bits, bad vectors refused", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const vectors = referenceVectors.concat(referenceVectors, referenceVectors);
  const one = await render(vectors, { pack, seed: 5, batchSize: 1 });
  const four = await render(vectors, { pack, seed: 5, batchSize: 4 });
  assert.equal(one.length, 6);
  one.forEach((image, i) => assert.deepEqual(image.data, four[i].data));
  assert.notDeepEqual(one[0].data, one[2].data, "same vector, different masks");
  assert.equal(toByte(-4), 0);
  assert.equal(toByte(3.4), 255);
  assert.equal(toByte(0), 128);
  await assert.rejects(render([new Float32Array(511)], { pack }), /current length is 511/);
  await assert.rejects(render([new Float32Array(512).fill(Infinity)], { pack }), /Infinity/);
  await assert.rejects(render(referenceVectors, { pack, batchSize: 0 }), /batch size 0/);
});

// The bundled pack's generator ends in a frame gate (training/frame_gate.py): it fills the black frame of
// UTKFace's tight crops when the vector says the photo had a background there. Its reference.json holds
// such a vector as a third image (its first, the prior draw it was moved from, must not fire); the method's own
// perturbation, even at the pack's smallest sigma, must switch the gate off again.
Deno.test("the vec2face-small frame gate fills the frame of the vector it fires on, not of its perturbed copy", async () => {
  const folder = new URL("../models/vec2face-small/", import.meta.url);
  const expected = await readReference(folder);
  assert.equal(expected.images.length, 3, "reference.json has the frame gate's image");
  const gated = Float32Array.from(expected.images[2].identity);
  const drawn = Float32Array.from(expected.images[0].identity);
  const mask = maskOf(expected.images[2]);
  await using pack = await loadPack(folder.href, { device: "native" });
  const perturbed = perturbVector(gated, Math.min(...pack.manifest.sigmas), Random.from(1, STREAM_TAGS.perturb, 0, 0));
  const output = await generatorOutput(pack, [gated, perturbed, drawn], [mask, mask, mask]);
  const plane = 3 * 112 * 112;
  // the top-left 8x8 corner, all channels: frame in every UTKFace-like render
  const cornerMean = (n: number) => {
    let sum = 0;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) sum += output[n * plane + c * 112 * 112 + y * 112 + x];
    }
    return sum / (3 * 64);
  };
  const [filled, perturbedCorner, drawnCorner] = [0, 1, 2].map(cornerMean);
  console.log(
    `corner mean: gated ${filled.toFixed(3)}, perturbed ${perturbedCorner.toFixed(3)}, drawn ${drawnCorner.toFixed(3)}`,
  );
  assert.ok(filled > -0.5, `the gate did not fill the frame: corner mean ${filled}`);
  assert.ok(perturbedCorner < -0.7, `the perturbed vector's frame was filled: corner mean ${perturbedCorner}`);
  assert.ok(drawnCorner < -0.7, `the prior draw's frame was filled: corner mean ${drawnCorner}`);
});
