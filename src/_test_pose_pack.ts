/**
 * A pack whose generator has a `pose` input, for tests: the fixture pack's
 * manifest and prior with a tiny generator written here (no binary in the
 * repository) in which yaw tints red against blue and pitch green, so a test
 * can tell which pose an image was rendered at. It declares the pose range
 * `{yaw: 30, pitch: 15}`.
 *
 * @module
 */
import { join } from "node:path";
import { encodeOnnxModel } from "./_onnx_write.ts";
import { sha256 } from "./_hash.ts";
import { FIXTURE_PACK } from "./model_pack.ts";

/** The generator: image = tanh(identity·W + pose·P + pattern), broadcast over 112x112. */
function poseGenerator(): Uint8Array {
  const weights = new Float32Array(512 * 3).map((_, i) => Math.sin(i * 12.9898) * 0.05);
  // Degrees to colour: 30 degrees of yaw move red and blue by about 0.6 (of 2), pitch green.
  const poseWeights = new Float32Array([0.02, 0, -0.02, 0, 0.04, 0]);
  const pattern = new Float32Array(3 * 112 * 112).map((_, i) => 0.3 * Math.sin(i / 97));
  return encodeOnnxModel({
    name: "pose-test-generator",
    nodes: [
      { op: "MatMul", inputs: ["identity", "weights"], outputs: ["fromIdentity"] },
      { op: "MatMul", inputs: ["pose", "poseWeights"], outputs: ["fromPose"] },
      { op: "Add", inputs: ["fromIdentity", "fromPose"], outputs: ["colour"] },
      { op: "Reshape", inputs: ["colour", "shape"], outputs: ["colour4"] },
      { op: "Add", inputs: ["colour4", "pattern"], outputs: ["raw"] },
      { op: "Tanh", inputs: ["raw"], outputs: ["image"] },
    ],
    initializers: [
      { name: "weights", dims: [512, 3], data: weights },
      { name: "poseWeights", dims: [2, 3], data: poseWeights },
      { name: "shape", dims: [4], data: new BigInt64Array([-1n, 3n, 1n, 1n]) },
      { name: "pattern", dims: [1, 3, 112, 112], data: pattern },
    ],
    inputs: [
      { name: "identity", dims: ["batch", 512] },
      { name: "masked", dims: ["batch", 50] },
      { name: "kept", dims: ["batch", 45], type: "int64" },
      { name: "pose", dims: ["batch", 2] },
    ],
    outputs: [{ name: "image", dims: ["batch", 3, 112, 112] }],
  });
}

/** Writes the pose pack into a new temporary folder and returns its path (remove it after). */
export async function writePosePack(): Promise<string> {
  const folder = await Deno.makeTempDir({ prefix: "vec2face-pose-pack-" });
  const fixture = new URL(FIXTURE_PACK);
  const manifest = JSON.parse(await Deno.readTextFile(new URL("manifest.json", fixture)));
  const generator = poseGenerator();
  await Deno.writeFile(join(folder, "generator.onnx"), generator);
  await Deno.copyFile(new URL("prior.npy", fixture), join(folder, "prior.npy"));
  manifest.name = "fixture-pose";
  manifest.pose = { yaw: 30, pitch: 15 };
  manifest.files.generator = { ...manifest.files.generator, sha256: sha256(generator) };
  await Deno.writeTextFile(join(folder, "manifest.json"), JSON.stringify(manifest, null, 2));
  return folder;
}
