/**
 * Face detection with faceplugin's `fr_detect` (an Ultra-Light-Fast face
 * detector: RGB 320x240 in, 4420 prior boxes out, already decoded to
 * normalised corners) followed by greedy non-maximum suppression.
 *
 * @module
 */
import type { OnnxSession } from "../_backend.ts";
import type { RgbImage } from "../image/codec.ts";
import { type BorderMode, padImage, resizeBilinear, toNchwTensor } from "../image/transform.ts";
import type { Detection, FaceBox, SessionProvider } from "./types.ts";

/** Input width of `fr_detect`. */
export const DETECTOR_WIDTH = 320;
/** Input height of `fr_detect`. */
export const DETECTOR_HEIGHT = 240;

/** Options of {@linkcode detectFaces}. */
export interface DetectOptions {
  /** Keep candidates scoring at least this; default 0.65 (faceplugin's). */
  confidenceThreshold?: number;
  /** Drop a candidate overlapping a better one by more than this IoU; default 0.4. */
  iouThreshold?: number;
  /** Candidates kept, best first, before suppression; default 750. */
  topK?: number;
  /**
   * Border added on every side before detection, as a fraction of the longer
   * image side; default 0.25. Without it the detector misses more faces that
   * fill the frame (15 of LFW's 7701 160x160 centre crops; none with the default).
   */
  padding?: number;
  /**
   * How the border is filled: `constant` (default) is black, like a photo
   * frame; `edge` replicates the outer pixels (3 LFW crops missed instead of 0).
   */
  padMode?: BorderMode;
}

/**
 * Intersection over union of two boxes (0 when either is empty).
 *
 * @example Two 2x2 boxes sharing half their width
 * ```ts
 * import assert from "node:assert/strict";
 * import { intersectionOverUnion } from "./detect.ts";
 * const iou = intersectionOverUnion({ x1: 0, y1: 0, x2: 2, y2: 2 }, { x1: 1, y1: 0, x2: 3, y2: 2 });
 * assert.ok(Math.abs(iou - 1 / 3) < 1e-12);
 * ```
 */
export function intersectionOverUnion(a: FaceBox, b: FaceBox): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const intersection = w * h;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - intersection;
  return union > 0 ? intersection / union : 0;
}

function checkFraction(value: number, what: string, max = 1): void {
  if (!Number.isFinite(value) || value < 0 || value > max) {
    throw new RangeError(`Cannot detect faces with ${what} ${value}: current value is not in 0..${max}`);
  }
}

/**
 * Greedy non-maximum suppression ordered by score: the best remaining box is
 * kept and every box overlapping it by more than `iouThreshold` is dropped.
 * Returns the kept detections, best first. (faceplugin's JS orders by the
 * bottom edge instead, which sometimes keeps a worse box.)
 *
 * @example Two overlapping boxes and a separate one
 * ```ts
 * import assert from "node:assert/strict";
 * import { nonMaxSuppression } from "./detect.ts";
 * const kept = nonMaxSuppression([
 *   { box: { x1: 0, y1: 0, x2: 10, y2: 10 }, score: 0.8 },
 *   { box: { x1: 1, y1: 1, x2: 11, y2: 11 }, score: 0.9 },
 *   { box: { x1: 50, y1: 50, x2: 60, y2: 60 }, score: 0.7 },
 * ], 0.4);
 * assert.equal(kept.map((d) => d.score).join(), "0.9,0.7");
 * ```
 */
export function nonMaxSuppression(detections: readonly Detection[], iouThreshold: number): Detection[] {
  checkFraction(iouThreshold, "IoU threshold");
  const candidates = detections
    .filter((d) => d.box.x2 > d.box.x1 && d.box.y2 > d.box.y1)
    .sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const candidate of candidates) {
    if (kept.every((k) => intersectionOverUnion(k.box, candidate.box) <= iouThreshold)) kept.push(candidate);
  }
  return kept;
}

/**
 * Turns the raw detector outputs into pixel-space candidates: `boxes` is
 * `[N, 4]` normalised corners, `scores` `[N, 2]` (background, face). Keeps
 * those scoring at least `confidenceThreshold`, best first, at most `topK`.
 *
 * @example Keep the one box scoring above the threshold, in pixels
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeDetections } from "./detect.ts";
 * const boxes = new Float32Array([0.1, 0.25, 0.5, 0.75, 0, 0, 1, 1]);
 * const scores = new Float32Array([0.1, 0.9, 0.8, 0.2]);
 * const found = decodeDetections(boxes, scores, 100, 50, 0.5);
 * assert.equal(found.length, 1);
 * assert.equal(found[0].box.x2, 50);
 * assert.equal(found[0].box.y1, 12.5);
 * ```
 */
export function decodeDetections(
  boxes: Float32Array,
  scores: Float32Array,
  width: number,
  height: number,
  confidenceThreshold: number,
  topK = 750,
): Detection[] {
  const count = scores.length / 2;
  if (boxes.length !== count * 4) {
    throw new RangeError(
      `Cannot decode detections as ${count} boxes: current boxes length is ${boxes.length}, expected ${count * 4}`,
    );
  }
  const found: Detection[] = [];
  for (let i = 0; i < count; i++) {
    const score = scores[i * 2 + 1];
    if (score < confidenceThreshold) continue;
    found.push({
      box: {
        x1: boxes[i * 4] * width,
        y1: boxes[i * 4 + 1] * height,
        x2: boxes[i * 4 + 2] * width,
        y2: boxes[i * 4 + 3] * height,
      },
      score,
    });
  }
  found.sort((a, b) => b.score - a.score);
  return found.slice(0, topK);
}

/**
 * Finds faces with `fr_detect`. The image is padded (see
 * {@linkcode DetectOptions.padding}), stretched to 320x240 and fed as RGB
 * `(p - 127) / 128`; boxes come back in the coordinates of the unpadded image
 * (they may reach outside it), best first.
 *
 * @example Detect the face of a generated image with the default pack's detector
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "../model_pack.ts";
 * import { render } from "../render.ts";
 * import { detectFaces } from "./detect.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const [image] = await render([new Float32Array(pack.prior.mean)], { pack, seed: 1 });
 * const [best] = await detectFaces(await pack.session("detector"), image);
 * assert.ok(best.score > 0.9);
 * assert.ok(best.box.x1 < 56 && best.box.x2 > 56);
 * ```
 */
export async function detectFaces(
  session: OnnxSession,
  image: RgbImage,
  options: DetectOptions = {},
): Promise<Detection[]> {
  const confidenceThreshold = options.confidenceThreshold ?? 0.65;
  const iouThreshold = options.iouThreshold ?? 0.4;
  const topK = options.topK ?? 750;
  const padding = options.padding ?? 0.25;
  checkFraction(confidenceThreshold, "confidence threshold");
  checkFraction(padding, "padding", 4);
  if (!Number.isInteger(topK) || topK < 1) {
    throw new RangeError(`Cannot detect faces with topK ${topK}: current value is not a positive integer`);
  }
  const border = Math.round(padding * Math.max(image.width, image.height));
  const padded = border > 0 ? padImage(image, border, { mode: options.padMode ?? "constant" }) : image;
  const input = toNchwTensor([resizeBilinear(padded, DETECTOR_WIDTH, DETECTOR_HEIGHT)], { mean: 127, std: 128 });
  const outputs = await session.run({ input });
  const candidates = decodeDetections(
    outputs.boxes.data,
    outputs.scores.data,
    padded.width,
    padded.height,
    confidenceThreshold,
    topK,
  );
  return nonMaxSuppression(candidates, iouThreshold).map(({ box, score }) => ({
    box: { x1: box.x1 - border, y1: box.y1 - border, x2: box.x2 - border, y2: box.y2 - border },
    score,
  }));
}

/** Options of {@linkcode findFaces}: the detector's options and the pack that runs it. */
export interface FindFacesOptions extends DetectOptions {
  /** Hands out the `detector` session (a loaded pack). */
  pack: SessionProvider;
}

/**
 * Finds the faces of a photo (any size) with the pack's detector: boxes in
 * the photo's pixels (they may reach outside it), best first; `[]` when none.
 *
 * @example The face of a generated image
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "../model_pack.ts";
 * import { render } from "../render.ts";
 * import { findFaces } from "./detect.ts";
 * await using pack = await loadPack({ device: "wasm" });
 * const [image] = await render([new Float32Array(pack.prior.mean)], { pack, seed: 1 });
 * const [best] = await findFaces(image, { pack });
 * assert.ok(best.score > 0.9);
 * ```
 *
 * @param image The photo.
 * @param options The pack, and the detector's thresholds and padding.
 * @returns The faces found, best first.
 */
export async function findFaces(image: RgbImage, options: FindFacesOptions): Promise<Detection[]> {
  return detectFaces(await options.pack.session("detector"), image, options);
}
