// A second, independent reading of head yaw, to catch renders that fool the pose model: landmark geometry
// (faceplugin fr_landmark, 68 points, on aligned 112x112 faces) gives the nose tip's horizontal place between the
// two sides of the jaw, r = (d_left - d_right) / (d_left + d_right), mapped to degrees by a line fitted against
// the pose model on real aligned faces. Then, for renders: the pose model's yaw next to the landmark yaw.
//
//   deno run -A bench/pose_crosscheck.ts --faces $WORK/utk [--calibrate 600] [--pack DIR] [--ids 32]
//     [--yaws 0,30,45,60] [--edits 20] [--budget 200] [--device native]
//
// --faces is tools/prepare_faces.ts output (PREFIX.faces.npy, uint8 [N,112,112,3]); real faces are only read,
// never written. --pack: a pack whose generator has a `pose` input, rendered at --yaws. --edits K: the default
// pack's `edit` towards yaw 45 on K sampled identities (as bench/edit_bench.ts), both readings of the results.
import { parseArgs } from "node:util";
import { checkDevice } from "../src/_backend.ts";
import { edit } from "../src/edit.ts";
import { ALIGNED_POSE_BOX, estimatePose } from "../src/estimators/pose.ts";
import { predictLandmarks } from "../src/estimators/landmarks.ts";
import type { RgbImage } from "../src/image/codec.ts";
import { DEFAULT_PACK, loadPack, type ModelPack } from "../src/model_pack.ts";
import { render } from "../src/render.ts";
import { sample } from "../src/sample.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    faces: { type: "string" },
    calibrate: { type: "string", default: "600" },
    pack: { type: "string" },
    ids: { type: "string", default: "32" },
    yaws: { type: "string", default: "0,30,45,60" },
    edits: { type: "string", default: "0" },
    budget: { type: "string", default: "200" },
    device: { type: "string", default: "native" },
  },
});
if (!values.faces) {
  console.error("usage: pose_crosscheck.ts --faces PREFIX [--pack DIR] [--edits K]");
  Deno.exit(2);
}
const device = checkDevice(values.device);

/** Rows of a uint8 [N,112,112,3] .npy file, read one by one. */
async function readFaces(path: string, rows: number[]): Promise<RgbImage[]> {
  using file = await Deno.open(path);
  const head = new Uint8Array(12);
  await file.read(head);
  const major = head[6];
  const headerLength = major === 1 ? head[8] | (head[9] << 8) : new DataView(head.buffer).getUint32(8, true);
  const offset = (major === 1 ? 10 : 12) + headerLength;
  const size = 112 * 112 * 3;
  const faces: RgbImage[] = [];
  for (const row of rows) {
    const data = new Uint8Array(size);
    await file.seek(offset + row * size, Deno.SeekMode.Start);
    let read = 0;
    while (read < size) read += (await file.read(data.subarray(read))) ?? size;
    faces.push({ width: 112, height: 112, data });
  }
  return faces;
}

/** Nose tip (point 30) between the jaw sides (points 0..16 at the nose's height: 2 and 14). */
async function landmarkRatios(pack: ModelPack, faces: readonly RgbImage[]): Promise<number[]> {
  const session = await pack.session("landmarks");
  const ratios: number[] = [];
  for (const face of faces) {
    const points = await predictLandmarks(session, face, ALIGNED_POSE_BOX);
    const [noseX] = points[30], [leftX] = points[2], [rightX] = points[14];
    const left = noseX - leftX, right = rightX - noseX;
    ratios.push((left - right) / (left + right));
  }
  return ratios;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const correlation = (xs: number[], ys: number[]) => {
  const mx = mean(xs), my = mean(ys);
  const sxy = mean(xs.map((x, i) => (x - mx) * (ys[i] - my)));
  return sxy / (std(xs) * std(ys));
};

await using pack = await loadPack(DEFAULT_PACK, { device });
const count = (await Deno.stat(values.faces + ".faces.npy")).size;
const total = Math.floor((count - 128) / (112 * 112 * 3));
const calibrate = Number(values.calibrate);
const rows = Array.from({ length: calibrate }, (_, i) => Math.floor((i + 0.5) * total / calibrate));
const real = await readFaces(values.faces + ".faces.npy", rows);
// Mirrored copies double the turned faces and make the fit symmetric.
const mirrored = real.map((face) => {
  const data = new Uint8Array(face.data.length);
  for (let y = 0; y < 112; y++) {
    for (let x = 0; x < 112; x++) {
      data.set(face.data.subarray((y * 112 + x) * 3, (y * 112 + x) * 3 + 3), (y * 112 + 111 - x) * 3);
    }
  }
  return { width: 112, height: 112, data };
});
const calibration = [...real, ...mirrored];
const poseYaw = (await estimatePose(calibration, { pack })).map((p) => p.yaw);
const ratios = await landmarkRatios(pack, calibration);
const slope = mean(ratios.map((r, i) => (r - mean(ratios)) * (poseYaw[i] - mean(poseYaw)))) /
  mean(ratios.map((r) => (r - mean(ratios)) ** 2));
const intercept = mean(poseYaw) - slope * mean(ratios);
const landmarkYaw = (r: number) => slope * r + intercept;
const fitted = ratios.map(landmarkYaw);
const turned = poseYaw.map((y, i) => [y, fitted[i]]).filter(([y]) => Math.abs(y) > 20);
console.log(
  `calibration: ${calibration.length} real aligned faces (${calibrate} and their mirror images): landmark yaw = ` +
    `${slope.toFixed(2)} * r + ${intercept.toFixed(2)}; correlation with the pose model ${
      correlation(ratios, poseYaw).toFixed(3)
    }, MAE ${
      mean(fitted.map((f, i) => Math.abs(f - poseYaw[i]))).toFixed(2)
    } deg; ${turned.length} faces beyond 20 deg: ` +
    `MAE ${mean(turned.map(([y, f]) => Math.abs(f - y))).toFixed(2)} deg\n`,
);

const table = async (label: string, faces: RgbImage[]) => {
  const byPose = (await estimatePose(faces, { pack })).map((p) => p.yaw);
  const byLandmarks = (await landmarkRatios(pack, faces)).map(landmarkYaw);
  return `| ${label} | ${faces.length} | ${mean(byPose).toFixed(1)} ± ${std(byPose).toFixed(1)} | ${
    mean(byLandmarks).toFixed(1)
  } ± ${std(byLandmarks).toFixed(1)} |`;
};
const lines = ["| faces | count | pose model yaw | landmark yaw |", "|---|---|---|---|"];
const turnedReal = rows.map((_, i) => i).filter((i) => Math.abs(poseYaw[i]) > 20).map((i) => real[i]);
if (turnedReal.length) lines.push(await table("real faces read beyond 20 deg by the pose model", turnedReal));
if (values.pack) {
  await using candidate = await loadPack(values.pack, { device });
  const { vectors } = await sample(Number(values.ids), {
    prior: candidate.prior,
    threshold: candidate.manifest.separationThreshold,
    seed: 1,
  });
  for (const yaw of values.yaws.split(",").map(Number)) {
    const faces = await render(vectors, { pack: candidate, seed: 1, poses: vectors.map(() => ({ yaw, pitch: 0 })) });
    lines.push(await table(`${values.pack}, yaw input ${yaw}`, faces));
  }
}
const edits = Number(values.edits);
if (edits > 0) {
  const { vectors } = await sample(edits, { prior: pack.prior, threshold: pack.manifest.separationThreshold, seed: 1 });
  const reached: RgbImage[] = [], others: RgbImage[] = [];
  for (let i = 0; i < edits; i++) {
    const result = await edit(vectors[i], { yaw: 45 }, { pack, budget: Number(values.budget), seed: i });
    (result.errors.yaw! <= 7 && result.identity >= 0.6 ? reached : others).push(result.image);
  }
  if (reached.length) lines.push(await table("edit to yaw 45: within 7 deg by the pose model", reached));
  if (others.length) lines.push(await table("edit to yaw 45: the others", others));
}
console.log(lines.join("\n"));
