/**
 * 68-point facial landmarks with faceplugin's `fr_landmark` (grey 64x64 crop
 * of the square face box, values `p / 256`; 136 outputs normalised to the
 * crop), and the reduction to the 5 points that alignment uses.
 *
 * @module
 */
import type { OnnxSession } from "../_backend.ts";
import type { RgbImage } from "../image/codec.ts";
import { type AffineMatrix, type GreyImage, rgbToGrey, toNchwTensor, warpAffine } from "../image/transform.ts";
import type { FaceBox, Point, SessionProvider } from "./types.ts";

/** Side of the `fr_landmark` input. */
export const LANDMARK_INPUT_SIZE = 64;

/**
 * Side of the crop of a refining pass relative to the height of the previous
 * pass's landmarks (brows to chin). On LFW 1.2 beat 1.0 and 1.4.
 */
export const REFINED_CROP_SCALE = 1.2;

/** Options of {@linkcode predictLandmarks}. */
export interface LandmarkOptions {
  /** Side of the first square crop relative to the box height; default 1 (faceplugin's). */
  cropScale?: number;
  /**
   * Model runs; default 2. Each pass after the first crops around the
   * landmarks of the one before ({@linkcode boxAroundLandmarks}), which fits
   * the crop the model expects better than a detector box does: LFW
   * verification went from 99.0 to 99.2 % with the second pass.
   */
  passes?: number;
}

/**
 * The square crop the landmark model sees: centred on the box, side = box
 * height times `cropScale` (faceplugin squares detector boxes on their height).
 *
 * @example Square a tall box on its height
 * ```ts
 * import assert from "node:assert/strict";
 * import { squareCropBox } from "./landmarks.ts";
 * const crop = squareCropBox({ x1: 10, y1: 0, x2: 30, y2: 40 });
 * assert.equal(crop.x1, 0);
 * assert.equal(crop.x2, 40);
 * assert.equal(crop.y1, 0);
 * assert.equal(crop.y2, 40);
 * ```
 */
export function squareCropBox(box: FaceBox, cropScale = 1): FaceBox {
  if (!Number.isFinite(cropScale) || cropScale <= 0) {
    throw new RangeError(`Cannot square a face box with scale ${cropScale}: current value is not a positive number`);
  }
  const side = (box.y2 - box.y1) * cropScale;
  if (!(side > 0)) {
    throw new RangeError(`Cannot square a face box as ${JSON.stringify(box)}: current height is not positive`);
  }
  const cx = (box.x1 + box.x2) / 2, cy = (box.y1 + box.y2) / 2;
  return { x1: cx - side / 2, y1: cy - side / 2, x2: cx + side / 2, y2: cy + side / 2 };
}

/**
 * The square crop for a refining pass: centred on the bounding box of the
 * landmarks, side `scale` times its height.
 *
 * @example Grow the box around three landmarks by 1.2
 * ```ts
 * import assert from "node:assert/strict";
 * import { boxAroundLandmarks } from "./landmarks.ts";
 * const box = boxAroundLandmarks([[10, 10], [30, 60], [20, 30]], 1.2);
 * assert.equal(box.x1, -10);
 * assert.equal(box.y1, 5);
 * assert.equal(box.x2, 50);
 * assert.equal(box.y2, 65);
 * ```
 */
export function boxAroundLandmarks(points: readonly Point[], scale = REFINED_CROP_SCALE): FaceBox {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (const [x, y] of points) {
    x1 = Math.min(x1, x), x2 = Math.max(x2, x), y1 = Math.min(y1, y), y2 = Math.max(y2, y);
  }
  return squareCropBox({ x1, y1, x2, y2 }, scale);
}

/**
 * Reduces iBUG 68 points to the 5 alignment points, as faceplugin's
 * `convert68pts5pts`: left eye centre (mean of points 37, 38, 40, 41), right
 * eye centre (43, 44, 46, 47), nose tip (30), left mouth corner (mean of 48
 * and 60), right mouth corner (54 and 64). "Left" is the image left.
 *
 * @example Reduce 68 synthetic points to 5
 * ```ts
 * import assert from "node:assert/strict";
 * import { landmarks68To5 } from "./landmarks.ts";
 * const points = Array.from({ length: 68 }, (_, i): [number, number] => [i, 2 * i]);
 * const five = landmarks68To5(points);
 * assert.equal(five[0][0], 39);
 * assert.equal(five[2][1], 60);
 * assert.equal(five[4][0], 59);
 * ```
 */
export function landmarks68To5(points: readonly Point[]): Point[] {
  if (points.length !== 68) {
    throw new RangeError(`Cannot reduce landmarks to 5 points as 68: current count is ${points.length}`);
  }
  const mean = (...indices: number[]): Point => [
    indices.reduce((sum, i) => sum + points[i][0], 0) / indices.length,
    indices.reduce((sum, i) => sum + points[i][1], 0) / indices.length,
  ];
  return [mean(37, 38, 40, 41), mean(43, 44, 46, 47), mean(30), mean(48, 60), mean(54, 64)];
}

/**
 * The 64x64 grey crop of a square box, sampled as `cv2.resize` of the box
 * region would be (half-pixel centres), with the edge replicated outside the
 * image so boxes may reach past it.
 *
 * @example Crop a flat grey image
 * ```ts
 * import assert from "node:assert/strict";
 * import { landmarkCrop } from "./landmarks.ts";
 * const image = { width: 4, height: 4, data: new Uint8Array(48).fill(200) };
 * const crop = landmarkCrop(image, { x1: 0, y1: 0, x2: 4, y2: 4 });
 * assert.equal(crop.width, 64);
 * assert.ok(crop.data.every((v) => v === 200));
 * ```
 */
export function landmarkCrop(image: RgbImage, crop: FaceBox): GreyImage {
  const scale = LANDMARK_INPUT_SIZE / (crop.x2 - crop.x1);
  const scaleY = LANDMARK_INPUT_SIZE / (crop.y2 - crop.y1);
  // dst + 0.5 = (src + 0.5 - corner) * scale, i.e. the box edges map to the crop edges.
  const matrix: AffineMatrix = [
    scale,
    0,
    (0.5 - crop.x1) * scale - 0.5,
    0,
    scaleY,
    (0.5 - crop.y1) * scaleY - 0.5,
  ];
  // Warp first, then grey: 64x64 pixels to convert whatever the photo's size.
  return rgbToGrey(warpAffine(image, matrix, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE, { border: "edge" }));
}

/**
 * Predicts 68 landmarks (iBUG order) for a face box, in image pixels: a
 * first pass on the square crop of the box, then refining passes (see
 * {@linkcode LandmarkOptions.passes}).
 *
 * @example Landmarks of a generated face, with the default pack's models
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "../model_pack.ts";
 * import { render } from "../render.ts";
 * import { detectFaces } from "./detect.ts";
 * import { predictLandmarks } from "./landmarks.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const [image] = await render([new Float32Array(pack.prior.mean)], { pack, seed: 1 });
 * const [face] = await detectFaces(await pack.session("detector"), image);
 * const points = await predictLandmarks(await pack.session("landmarks"), image, face.box);
 * assert.equal(points.length, 68);
 * ```
 */
export async function predictLandmarks(
  session: OnnxSession,
  image: RgbImage,
  box: FaceBox,
  options: LandmarkOptions = {},
): Promise<Point[]> {
  const passes = options.passes ?? 2;
  if (!Number.isInteger(passes) || passes < 1) {
    throw new RangeError(`Cannot predict landmarks in ${passes} passes: current value is not a positive integer`);
  }
  let points = await runLandmarks(session, image, squareCropBox(box, options.cropScale ?? 1));
  for (let pass = 1; pass < passes; pass++) {
    const ys = points.map(([, y]) => y);
    // Collapsed points (a blank crop) give no crop to refine on: keep what there is.
    if (!(Math.max(...ys) - Math.min(...ys) > 0)) break;
    points = await runLandmarks(session, image, boxAroundLandmarks(points));
  }
  return points;
}

async function runLandmarks(session: OnnxSession, image: RgbImage, crop: FaceBox): Promise<Point[]> {
  const input = toNchwTensor([landmarkCrop(image, crop)], { mean: 0, std: 256 });
  const outputs = await session.run({ input });
  const values = outputs[session.outputNames[0]].data;
  if (values.length !== 136) {
    throw new RangeError(`Cannot read landmarks as 68 points: current output length is ${values.length}`);
  }
  const side = crop.x2 - crop.x1;
  const points: Point[] = [];
  for (let i = 0; i < 68; i++) points.push([crop.x1 + values[2 * i] * side, crop.y1 + values[2 * i + 1] * side]);
  return points;
}

/** Options of {@linkcode findLandmarks}: the landmark model's options and the pack that runs it. */
export interface FindLandmarksOptions extends LandmarkOptions {
  /** Hands out the `landmarks` session (a loaded pack). */
  pack: SessionProvider;
}

/**
 * 68 landmarks (iBUG order) of the face in a box of a photo (e.g. a
 * {@linkcode findFaces} box), in the photo's pixels, with the pack's landmark
 * model; reduce them to the 5 alignment points with `landmarks68To5`.
 *
 * @example The landmarks of a generated face
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "../model_pack.ts";
 * import { render } from "../render.ts";
 * import { findFaces } from "./detect.ts";
 * import { findLandmarks, landmarks68To5 } from "./landmarks.ts";
 * await using pack = await loadPack({ device: "wasm" });
 * const [image] = await render([new Float32Array(pack.prior.mean)], { pack, seed: 1 });
 * const [face] = await findFaces(image, { pack });
 * const points = await findLandmarks(image, face.box, { pack });
 * assert.equal(points.length, 68);
 * assert.equal(landmarks68To5(points).length, 5);
 * ```
 *
 * @param image The photo.
 * @param box The face's box in the photo.
 * @param options The pack, and the crop scale and passes.
 * @returns 68 points `[x, y]` in the photo's pixels.
 */
export async function findLandmarks(image: RgbImage, box: FaceBox, options: FindLandmarksOptions): Promise<Point[]> {
  return predictLandmarks(await options.pack.session("landmarks"), image, box, options);
}
