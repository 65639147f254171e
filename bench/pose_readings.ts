// Both readings of head yaw (the pose model and landmark geometry, as `edit` asks them) on a file of aligned
// faces cut into equal groups, e.g. the synthetic turns of training/pose_warp.py: one row per group, mean ± std.
//
//   deno run -A bench/pose_readings.ts --faces FILE.npy --groups 0,15,30,45 [--device native]
//
// FILE.npy is uint8 [N,112,112,3]; N must divide into the groups, in order.
import { parseArgs } from "node:util";
import { checkDevice } from "../src/_backend.ts";
import { estimateLandmarkYaw, estimatePose } from "../src/estimators/pose.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { decodeImagesNpy } from "../src/npy.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    faces: { type: "string" },
    groups: { type: "string" },
    device: { type: "string", default: "native" },
  },
});
if (!values.faces || !values.groups) {
  console.error("usage: pose_readings.ts --faces FILE.npy --groups LABEL,LABEL,... [--device native]");
  Deno.exit(2);
}
const labels = values.groups.split(",");
const stored = decodeImagesNpy(await Deno.readFile(values.faces));
if (stored.count % labels.length !== 0) {
  console.error(`Cannot cut ${stored.count} faces into ${labels.length} equal groups`);
  Deno.exit(2);
}
const perGroup = stored.count / labels.length;
const summary = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  return `${mean.toFixed(1)} ± ${std.toFixed(1)}`;
};
await using pack = await loadPack(DEFAULT_PACK, { device: checkDevice(values.device) });
console.log(`${perGroup} faces per group\n\n| group | pose model yaw | landmark yaw |\n|---|---|---|`);
for (const [g, label] of labels.entries()) {
  const faces = Array.from({ length: perGroup }, (_, i) => stored.image(g * perGroup + i));
  const poseYaw = (await estimatePose(faces, { pack })).map((pose) => pose.yaw);
  const landmarkYaw = await estimateLandmarkYaw(faces, { pack });
  console.log(`| ${label} | ${summary(poseYaw)} | ${summary(landmarkYaw)} |`);
}
