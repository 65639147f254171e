// The torch replay of the pose estimator (training/onnx_to_torch.py PoseNet), used for the pose loss in
// training, must read what the runtime's estimatePose reads: its calibrated yaw and pitch of fixed inputs
// (pose_reference.json, written by `onnx_to_torch.py --check-pose`) against the pack's pose model.
import assert from "node:assert/strict";
import { estimatePose } from "../src/estimators/pose.ts";
import { loadPack } from "../src/model_pack.ts";
import { checkInput } from "./_check_input.ts";

Deno.test("torch replay of the pose estimator matches the runtime's estimatePose", async () => {
  const reference = JSON.parse(await Deno.readTextFile(new URL("./pose_reference.json", import.meta.url)));
  await using pack = await loadPack(undefined, { device: "wasm" });
  const images = reference.poses.map((_: number[], k: number) => checkInput(k));
  const poses = await estimatePose(images, { pack });
  let worst = 0;
  poses.forEach((pose, k) => {
    worst = Math.max(worst, Math.abs(pose.yaw - reference.poses[k][0]), Math.abs(pose.pitch - reference.poses[k][1]));
  });
  console.log(`max |runtime - torch| = ${worst.toFixed(4)} degrees`);
  // The reference rounds the crop to bytes as the runtime does (training does not: up to 2.5 degrees on these images).
  assert.ok(worst <= 0.05, `max |runtime - torch| = ${worst} degrees`);
});
