// A second, independent reading of head yaw, to catch renders that fool the pose model: landmark geometry
// (faceplugin fr_landmark, 68 points, on aligned 112x112 faces) gives the nose tip's horizontal place between the
// two sides of the jaw, r = (d_left - d_right) / (d_left + d_right), mapped to degrees by a line fitted against
// the pose model on real aligned faces. Then, for renders: the pose model's yaw next to the landmark yaw.
//
//   deno run -A bench/pose_crosscheck.ts --faces $WORK/utk [--calibrate 600] [--pack DIR] [--ids 32]
//     [--yaws 0,30,45,60] [--edits 20] [--budget 200] [--device native] [--labels $WORK/utk.pose.npy]
//
// --labels (tools/label_poses.ts output): also fits what real faces read by landmarks given the pose network's yaw
// (expectedLandmarkYaw's cubic), on the --calibrate faces plus every face labelled at |yaw| >= 25 and their mirror
// images, and prints how many real faces pass edit's agreement rule, per band of yaw.
//
// --faces is tools/prepare_faces.ts output (PREFIX.faces.npy, uint8 [N,112,112,3]); real faces are only read,
// never written. --pack: a pack whose generator has a `pose` input, rendered at --yaws. --edits K: the default
// pack's `edit` towards yaw 45 on K sampled identities (as bench/edit_bench.ts), both readings of the results.
import { parseArgs } from "node:util";
import { checkDevice } from "../src/_backend.ts";
import { edit, EDIT_TOLERANCES, LANDMARK_YAW_SLACK } from "../src/edit.ts";
import {
  ALIGNED_POSE_BOX,
  estimateLandmarkYaw,
  estimatePose,
  expectedLandmarkYaw,
  noseJawRatio,
} from "../src/estimators/pose.ts";
import { predictLandmarks } from "../src/estimators/landmarks.ts";
import type { RgbImage } from "../src/image/codec.ts";
import { mirrorImage } from "../src/image/transform.ts";
import { solveLinear } from "../src/linalg.ts";
import { DEFAULT_PACK, loadPack, type ModelPack } from "../src/model_pack.ts";
import { decodeImagesNpy, decodeNpy } from "../src/npy.ts";
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
    labels: { type: "string" },
  },
});
if (!values.faces) {
  console.error("usage: pose_crosscheck.ts --faces PREFIX [--pack DIR] [--edits K]");
  Deno.exit(2);
}
const device = checkDevice(values.device);

/** The ratio that estimateLandmarkYaw maps to degrees, for each face (the line is fitted below). */
async function landmarkRatios(pack: ModelPack, faces: readonly RgbImage[]): Promise<number[]> {
  const session = await pack.session("landmarks");
  const ratios: number[] = [];
  for (const face of faces) ratios.push(noseJawRatio(await predictLandmarks(session, face, ALIGNED_POSE_BOX)));
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
const stored = decodeImagesNpy(await Deno.readFile(values.faces + ".faces.npy"));
const calibrate = Number(values.calibrate);
const rows = Array.from({ length: calibrate }, (_, i) => Math.floor((i + 0.5) * stored.count / calibrate));
const real = rows.map((row) => stored.image(row));
// Mirrored copies double the turned faces and make the fit symmetric.
const mirrored = real.map(mirrorImage);
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

if (values.labels) {
  // Large turns are rare (under 1 % of UTKFace beyond 38 degrees): add every labelled turned face to the spread ones.
  const labels = decodeNpy(await Deno.readFile(values.labels));
  const turnedRows = Array.from({ length: labels.shape[0] }, (_, i) => i)
    .filter((i) => Math.abs(labels.data[i * labels.shape[1]]) >= 25);
  // The calibration faces (and mirrors) already have their pose read: read only the turned faces not among them.
  const calibrationRows = new Set(rows);
  const extraFaces = turnedRows.filter((row) => !calibrationRows.has(row)).map((row) => stored.image(row));
  const extra = [...extraFaces, ...extraFaces.map(mirrorImage)];
  const fitSet = [...calibration, ...extra];
  const y = [...poseYaw, ...(await estimatePose(extra, { pack })).map((p) => p.yaw)];
  const landmark = await estimateLandmarkYaw(fitSet, { pack });
  // Least squares landmark ~ a*y + b*y^3 + c (normal equations, 3x3).
  const basis = y.map((v) => [v, v ** 3, 1]);
  const normal = [0, 1, 2].map((j) => [0, 1, 2].map((k) => basis.reduce((sum, row) => sum + row[j] * row[k], 0)));
  const right = [0, 1, 2].map((j) => basis.reduce((sum, row, i) => sum + row[j] * landmark[i], 0));
  const coefficients = solveLinear(normal, right);
  const allowed = EDIT_TOLERANCES.yaw + LANDMARK_YAW_SLACK;
  console.log(
    `landmark yaw given the pose network's yaw y, on ${fitSet.length} faces (${
      rows.length + extraFaces.length
    }: ${rows.length} spread, ` +
      `every one labelled |yaw| >= 25, and their mirror images): ${coefficients[0].toFixed(4)} y + ` +
      `${coefficients[1].toExponential(3)} y^3 + ${coefficients[2].toFixed(3)} (the runtime's expectedLandmarkYaw ` +
      `uses the fit of the last calibration)\n\n| pose network |yaw| | faces | landmark yaw (mean abs) | ` +
      `pass: within ${allowed} of the target | pass: within ${allowed} of expectedLandmarkYaw |\n|---|---|---|---|---|`,
  );
  for (const [low, high] of [[0, 20], [20, 30], [30, 38], [38, 90]]) {
    const band = y.map((_, i) => i).filter((i) => Math.abs(y[i]) >= low && Math.abs(y[i]) < high);
    if (!band.length) continue;
    const share = (pass: (i: number) => boolean) => `${(100 * band.filter(pass).length / band.length).toFixed(0)} %`;
    console.log(
      `| ${low}-${high} | ${band.length} | ${mean(band.map((i) => Math.abs(landmark[i]))).toFixed(1)} | ${
        share((i) => Math.abs(landmark[i] - y[i]) <= allowed)
      } | ${share((i) => Math.abs(landmark[i] - expectedLandmarkYaw(y[i])) <= allowed)} |`,
    );
  }
  console.log();
}

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
