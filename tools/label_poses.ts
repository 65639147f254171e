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
import { encodeNpy } from "../src/npy.ts";

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
const bytes = await Deno.readFile(values.faces);
const headerLength = bytes[8] | (bytes[9] << 8);
const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
const shape = /'shape':\s*\((\d+),\s*112,\s*112,\s*3\)/.exec(header);
if (!header.includes("'|u1'") || !shape) throw new TypeError(`Cannot read ${values.faces}: header is ${header}`);
const side = 112, faceBytes = side * side * 3;
const count = Math.min(Number(shape[1]), values.limit ? Number(values.limit) : Infinity);
await using pack = await loadPack(values.pack, { device: checkDevice(values.device) });
const poses = new Float32Array(count * 3);
const started = performance.now();
for (let start = 0; start < count; start += 256) {
  const faces = [];
  for (let i = start; i < Math.min(count, start + 256); i++) {
    faces.push({
      width: side,
      height: side,
      data: bytes.subarray(10 + headerLength + i * faceBytes).subarray(0, faceBytes),
    });
  }
  (await estimatePose(faces, { pack })).forEach((pose, j) =>
    poses.set([pose.yaw, pose.pitch, pose.roll], (start + j) * 3)
  );
  console.error(
    `${start + faces.length}/${count} ${
      ((start + faces.length) / ((performance.now() - started) / 1000)).toFixed(1)
    } faces/s`,
  );
}
await Deno.writeFile(values.out, encodeNpy({ shape: [count, 3], data: poses }));
