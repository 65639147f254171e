// Head pose of every face in a PREFIX.faces.npy written by prepare_faces.ts
// (uint8 [N, 112, 112, 3] aligned faces), with the pack's pose estimator:
// writes float32 [N, 3] (yaw, pitch, roll in degrees) for fitting attribute
// directions (training/fit_attributes.py).
//
//   deno run -A tools/label_poses.ts --faces /work/data/utk.faces.npy --out /work/data/utk.pose.npy \
//     [--limit 10000] [--pack DIR] [--device native]
import { parseArgs } from "node:util";
import { checkDevice } from "../src/_backend.ts";
import { estimatePose } from "../src/estimators/pose.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { decodeImagesNpy, encodeNpy } from "../src/npy.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    faces: { type: "string" },
    out: { type: "string" },
    limit: { type: "string" },
    pack: { type: "string", default: DEFAULT_PACK },
    device: { type: "string", default: "auto" },
  },
});
if (!values.faces || !values.out) {
  console.error("usage: label_poses.ts --faces PREFIX.faces.npy --out PREFIX.pose.npy [--limit N]");
  Deno.exit(2);
}
const faces = decodeImagesNpy(await Deno.readFile(values.faces));
const first = faces.count > 0 ? faces.image(0) : undefined;
if (first && (first.width !== 112 || first.height !== 112)) {
  throw new TypeError(
    `Cannot read ${values.faces} as aligned 112x112 faces: current size is ${first.width}x${first.height}`,
  );
}
const count = Math.min(faces.count, values.limit ? Number(values.limit) : Infinity);
await using pack = await loadPack(values.pack, { device: checkDevice(values.device) });
const poses = new Float32Array(count * 3);
const started = performance.now();
for (let start = 0; start < count; start += 256) {
  const batch = [];
  for (let i = start; i < Math.min(count, start + 256); i++) batch.push(faces.image(i));
  (await estimatePose(batch, { pack })).forEach((pose, j) =>
    poses.set([pose.yaw, pose.pitch, pose.roll], (start + j) * 3)
  );
  console.error(
    `${start + batch.length}/${count} ${
      ((start + batch.length) / ((performance.now() - started) / 1000)).toFixed(1)
    } faces/s`,
  );
}
await Deno.writeFile(values.out, encodeNpy({ shape: [count, 3], data: poses }));
