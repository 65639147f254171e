/**
 * Head pose (yaw, pitch, roll in degrees) of aligned 112x112 faces with
 * faceplugin's `fr_pose` (a Hopenet-style network: 224x224 RGB crop of the
 * face box grown by a quarter on each side, ImageNet normalisation, 66 bins
 * of 3 degrees per angle, read as the softmax expectation).
 *
 * The model expects a detector box in a photo; our faces are aligned crops.
 * The box used here is where fr_detect's boxes land after alignment
 * (mean over 300 UTKFace photos, shrunk to 0.85, which tracked mirrored
 * faces best), and a linear calibration maps the aligned estimate onto the
 * estimate from the photo itself: measured on those 300 photos, calibrated
 * yaw is within 3.4 degrees of the photo's (correlation 0.89) and pitch
 * within 2.5 (0.86). Positive yaw turns the face to the image's left.
 * Alignment rotates faces upright, so roll is close to 0 and not calibrated.
 *
 * @module
 */
import { checkBatches } from "../_check.ts";
import { DEFAULTS } from "../defaults.ts";
import { Vec2FaceError } from "../errors.ts";
import type { RgbImage } from "../image/codec.ts";
import { toNchwTensor, warpAffine } from "../image/transform.ts";
import { ALIGNED_SIZE } from "./align.ts";
import { predictLandmarks } from "./landmarks.ts";
import type { FaceBox, Point, SessionProvider } from "./types.ts";

/** Side of the `fr_pose` input. */
export const POSE_INPUT_SIZE = 224;

/** Head pose in degrees. */
export interface Pose {
  /** Left-right turn; positive turns the face to the image's left. */
  yaw: number;
  /** Up-down tilt; positive looks up. */
  pitch: number;
  /** In-plane rotation (near 0 on aligned faces). */
  roll: number;
}

/** Options of {@linkcode estimatePose}. */
export interface PoseOptions {
  /** Hands out the `pose` session. */
  pack: SessionProvider;
  /** Faces per model run; default 16. */
  batchSize?: number;
  /** Stops between batches. */
  signal?: AbortSignal;
}

/** The face box in aligned 112x112 coordinates that `fr_pose` is given (see the module doc). */
export const ALIGNED_POSE_BOX: FaceBox = { x1: 20.37, y1: 23.53, x2: 91.43, y2: 110.07 };

// Photo-pose = slope * aligned-pose + intercept, least squares on 300 UTKFace photos.
// Yaw has no offset: a mirrored face must read as the opposite yaw.
const YAW_CALIBRATION = [1.299, 0] as const;
const PITCH_CALIBRATION = [0.792, -1.98] as const;

const IMAGENET_MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255];
const IMAGENET_STD = [0.229 * 255, 0.224 * 255, 0.225 * 255];
const BINS = 66;

/**
 * The 224x224 crop `fr_pose` sees for a face box: the box grown by a quarter
 * of its size on each side (faceplugin's crop), stretched to the input size,
 * with edge pixels repeated outside the image.
 *
 * @example Crop a face box of a flat image
 * ```ts
 * import assert from "node:assert/strict";
 * import { poseCrop } from "./pose.ts";
 * const image = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3).fill(7) };
 * const crop = poseCrop(image, { x1: 2, y1: 2, x2: 6, y2: 6 });
 * assert.equal(crop.width, 224);
 * assert.equal(crop.data[0], 7);
 * ```
 */
export function poseCrop(image: RgbImage, box: FaceBox): RgbImage {
  const width = (box.x2 - box.x1) * 1.5, height = (box.y2 - box.y1) * 1.5;
  if (!(width > 0 && height > 0)) {
    throw new RangeError(`Cannot crop a face for pose as ${JSON.stringify(box)}: current box is empty`);
  }
  const left = box.x1 - (box.x2 - box.x1) / 4, top = box.y1 - (box.y2 - box.y1) / 4;
  const sx = POSE_INPUT_SIZE / width, sy = POSE_INPUT_SIZE / height;
  return warpAffine(image, [sx, 0, -left * sx, 0, sy, -top * sy], POSE_INPUT_SIZE, POSE_INPUT_SIZE, {
    border: "edge",
  });
}

/** Softmax expectation of 66 logits in degrees: bins of 3 degrees from -99. */
function binExpectation(logits: Float32Array, offset: number): number {
  let max = -Infinity;
  for (let k = 0; k < BINS; k++) max = Math.max(max, logits[offset + k]);
  let sum = 0, expectation = 0;
  for (let k = 0; k < BINS; k++) {
    const p = Math.exp(logits[offset + k] - max);
    sum += p;
    expectation += p * k;
  }
  return (expectation / sum) * 3 - 99;
}

/**
 * Head pose of aligned 112x112 faces (see `alignFaces`, or the generator's
 * images), calibrated to what `fr_pose` reads from the photo itself.
 *
 * @example Pose of a generated face
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "../model_pack.ts";
 * import { render } from "../render.ts";
 * import { estimatePose } from "./pose.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const vector = new Float32Array(pack.prior.mean);
 * const [pose] = await estimatePose(await render([vector], { pack, seed: 1 }), { pack });
 * assert.ok(Math.abs(pose.yaw) < 90);
 * assert.ok(Math.abs(pose.pitch) < 90);
 * ```
 */
export async function estimatePose(faces: readonly RgbImage[], options: PoseOptions): Promise<Pose[]> {
  const batchSize = checkBatches(options.batchSize ?? DEFAULTS.batchSize, "estimate pose");
  faces.forEach((face, i) => {
    if (face.width !== ALIGNED_SIZE || face.height !== ALIGNED_SIZE || face.data?.length !== ALIGNED_SIZE ** 2 * 3) {
      throw new RangeError(
        `Cannot estimate the pose of image ${i} as an aligned ${ALIGNED_SIZE}x${ALIGNED_SIZE} RGB face: current size is ${face.width}x${face.height} with ${face.data?.length} bytes`,
      );
    }
  });
  if (faces.length === 0) return [];
  const session = await options.pack.session("pose");
  const poses: Pose[] = [];
  for (let start = 0; start < faces.length; start += batchSize) {
    if (options.signal?.aborted) {
      throw new Vec2FaceError("aborted", "Cannot finish estimating poses: the signal was aborted", {
        cause: options.signal.reason,
      });
    }
    const batch = faces.slice(start, start + batchSize).map((face) => poseCrop(face, ALIGNED_POSE_BOX));
    const input = toNchwTensor(batch, { mean: IMAGENET_MEAN, std: IMAGENET_STD });
    const outputs = await session.run({ [session.inputNames[0]]: input });
    const [yawLogits, pitchLogits, rollLogits] = session.outputNames.map((name) => outputs[name].data);
    if (yawLogits?.length !== batch.length * BINS || session.outputNames.length !== 3) {
      throw new RangeError(
        `Cannot read pose bins as 3 outputs of ${BINS} per face: current outputs are ${
          session.outputNames.map((name) => `[${outputs[name].dims.join(", ")}]`).join(", ")
        }`,
      );
    }
    for (let i = 0; i < batch.length; i++) {
      poses.push({
        yaw: YAW_CALIBRATION[0] * binExpectation(yawLogits, i * BINS) + YAW_CALIBRATION[1],
        pitch: PITCH_CALIBRATION[0] * binExpectation(pitchLogits, i * BINS) + PITCH_CALIBRATION[1],
        roll: binExpectation(rollLogits, i * BINS),
      });
    }
  }
  return poses;
}

// Landmark yaw = slope * r + intercept, least squares against estimatePose on 600 UTKFace aligned faces and their
// mirror images (bench/pose_crosscheck.ts): correlation 0.958, MAE 2.1 degrees, 3.8 beyond 20 degrees.
const LANDMARK_YAW_CALIBRATION = [-45.03, -1.69] as const;

/**
 * Where the nose tip sits between the jaw sides, from 68 landmarks (point 30
 * between points 2 and 14, horizontally): r = (left - right) / (left + right),
 * 0 for a frontal face, of opposite signs for mirrored faces; 0 when the
 * points collapse. {@linkcode estimateLandmarkYaw} maps it to degrees.
 *
 * @example Nose halfway towards the right jaw side
 * ```ts
 * import assert from "node:assert/strict";
 * import { noseJawRatio } from "./pose.ts";
 * const points: [number, number][] = Array.from({ length: 68 }, () => [50, 50]);
 * points[2] = [30, 60], points[14] = [70, 60], points[30] = [60, 60];
 * assert.ok(Math.abs(noseJawRatio(points) - 0.5) < 1e-12);
 * ```
 */
export function noseJawRatio(points: readonly Point[]): number {
  const left = points[30][0] - points[2][0], right = points[14][0] - points[30][0];
  return left + right > 0 ? (left - right) / (left + right) : 0;
}

// What real faces read by landmarks, given the pose network's yaw y: least squares a*y + b*y^3 + c over 2,356 UTKFace
// aligned faces (1,200 spread evenly and every face labelled at |yaw| >= 25) and their mirror images
// (`bench/pose_crosscheck.ts --calibrate 1200 --labels`). The landmark reading saturates on large turns: faces the
// pose network reads at 38 degrees or more read 30.6 on average by landmarks (the jaw side turning away is hidden, so
// the nose-jaw ratio stops growing), so agreement is judged against this, not against the pose reading itself.
const LANDMARK_GIVEN_POSE = [0.9553, -1.302e-4, -0.730] as const;
// The cubic peaks here; beyond it, the reading is held at the peak (it cannot fall as the head turns further).
const LANDMARK_GIVEN_POSE_PEAK = Math.sqrt(LANDMARK_GIVEN_POSE[0] / (-3 * LANDMARK_GIVEN_POSE[1]));

/**
 * The landmark yaw ({@linkcode estimateLandmarkYaw}) that real faces read at a
 * given pose-network yaw: near-equal up to about 20 degrees, then saturating
 * (about 30.4 at 45, held beyond 49.5 degrees). `edit` compares the landmark
 * reading of a face with this for its yaw target: a real turn passes, a texture
 * that only fools the pose network (landmark yaw near 0) does not.
 *
 * @example Saturation at 45 degrees, and the offset at 0
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectedLandmarkYaw } from "./pose.ts";
 * assert.ok(Math.abs(expectedLandmarkYaw(45) - 30.4) < 0.1);
 * assert.ok(expectedLandmarkYaw(-45) < -30);
 * assert.ok(expectedLandmarkYaw(0) < 0);
 * ```
 */
export function expectedLandmarkYaw(poseYaw: number): number {
  if (!Number.isFinite(poseYaw)) {
    throw new RangeError(`Cannot predict the landmark yaw of a pose yaw as a number: current value is ${poseYaw}`);
  }
  const y = Math.max(-LANDMARK_GIVEN_POSE_PEAK, Math.min(LANDMARK_GIVEN_POSE_PEAK, poseYaw));
  return LANDMARK_GIVEN_POSE[0] * y + LANDMARK_GIVEN_POSE[1] * y ** 3 + LANDMARK_GIVEN_POSE[2];
}

/**
 * A second reading of yaw from face geometry alone: where the nose tip sits
 * between the two sides of the jaw (`fr_landmark`'s 68 points: 30 between 2
 * and 14), r = (left - right) / (left + right), mapped to degrees by a line
 * fitted against {@linkcode estimatePose} on real faces. Texture patterns can
 * make the pose network read a turn that is not there (renders trained or
 * searched against it do); the nose does not move for them, so `edit` asks
 * both readings before it calls a yaw target reached.
 *
 * @example Both readings of a generated face
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "../model_pack.ts";
 * import { render } from "../render.ts";
 * import { estimateLandmarkYaw } from "./pose.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const faces = await render([new Float32Array(pack.prior.mean)], { pack, seed: 1 });
 * const [yaw] = await estimateLandmarkYaw(faces, { pack });
 * assert.ok(Math.abs(yaw) < 30);
 * ```
 */
export async function estimateLandmarkYaw(
  faces: readonly RgbImage[],
  options: { pack: SessionProvider; signal?: AbortSignal },
): Promise<number[]> {
  const session = await options.pack.session("landmarks");
  const yaws: number[] = [];
  for (const [i, face] of faces.entries()) {
    if (face?.width !== ALIGNED_SIZE || face.height !== ALIGNED_SIZE) {
      throw new RangeError(
        `Cannot read the landmark yaw of image ${i} as an aligned ${ALIGNED_SIZE}x${ALIGNED_SIZE} face: current size is ${face?.width}x${face?.height}`,
      );
    }
    if (options.signal?.aborted) {
      throw new Vec2FaceError("aborted", "Cannot finish reading landmark yaws: the signal was aborted", {
        cause: options.signal.reason,
      });
    }
    const ratio = noseJawRatio(await predictLandmarks(session, face, ALIGNED_POSE_BOX));
    yaws.push(LANDMARK_YAW_CALIBRATION[0] * ratio + LANDMARK_YAW_CALIBRATION[1]);
  }
  return yaws;
}
