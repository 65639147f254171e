/**
 * Detect, locate landmarks, align: every face of a photo as a 112x112 ArcFace
 * crop ready for `embed`.
 *
 * @module
 */
import { Vec2FaceError } from "../errors.ts";
import type { RgbImage } from "../image/codec.ts";
import { alignFace } from "./align.ts";
import { detectFaces, type DetectOptions } from "./detect.ts";
import { landmarks68To5, predictLandmarks } from "./landmarks.ts";
import type { FaceBox, Point, SessionProvider } from "./types.ts";

/** Options of {@linkcode alignFaces}. */
export interface AlignFacesOptions extends DetectOptions {
  /** Hands out the `detector` and `landmarks` sessions. */
  pack: SessionProvider;
  /** Align at most this many faces, best first; default all. */
  maxFaces?: number;
  /** Side of the first landmark crop relative to the box height; default 1. */
  landmarkCropScale?: number;
  /** Landmark model runs per face, each after the first refining the crop; default 2. */
  landmarkPasses?: number;
  /** Stops between faces. */
  signal?: AbortSignal;
}

/** One face of a photo, aligned. */
export interface AlignedFace {
  /** The 112x112 ArcFace crop. */
  image: RgbImage;
  /** Detector box in the photo's pixels (may reach outside the photo). */
  box: FaceBox;
  /** Detector confidence in 0..1. */
  score: number;
  /** Eye centres, nose tip and mouth corners in the photo's pixels, image left first. */
  points5: Point[];
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new Vec2FaceError("aborted", "Cannot finish aligning faces: the signal was aborted", {
      cause: signal.reason,
    });
  }
}

/**
 * Finds the faces of a photo and aligns each to the 112x112 ArcFace template
 * from five landmarks; sorted by detector score, best first; `[]` when no
 * face is found.
 *
 * @example Align the face of a generated image with the default pack's detector and landmarks
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "../model_pack.ts";
 * import { render } from "../render.ts";
 * import { alignFaces } from "./align_faces.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const [image] = await render([new Float32Array(pack.prior.mean)], { pack, seed: 1 });
 * const [best] = await alignFaces(image, { pack });
 * assert.equal(best.image.width, 112);
 * assert.equal(best.points5.length, 5);
 * ```
 */
export async function alignFaces(image: RgbImage, options: AlignFacesOptions): Promise<AlignedFace[]> {
  const maxFaces = options.maxFaces ?? Infinity;
  if (maxFaces !== Infinity && (!Number.isInteger(maxFaces) || maxFaces < 1)) {
    throw new RangeError(`Cannot align at most ${maxFaces} faces: current value is not a positive integer`);
  }
  if (!(image?.data instanceof Uint8Array) || image.data.length !== image.width * image.height * 3) {
    throw new RangeError(
      `Cannot align faces in an image as ${image?.width}x${image?.height} RGB: current data length is ${image?.data?.length}`,
    );
  }
  throwIfAborted(options.signal);
  const detector = await options.pack.session("detector");
  const detections = (await detectFaces(detector, image, options)).slice(0, maxFaces);
  if (detections.length === 0) return [];
  const landmarker = await options.pack.session("landmarks");
  const faces: AlignedFace[] = [];
  for (const { box, score } of detections) {
    throwIfAborted(options.signal);
    const points68 = await predictLandmarks(landmarker, image, box, {
      cropScale: options.landmarkCropScale,
      passes: options.landmarkPasses,
    });
    const points5 = landmarks68To5(points68);
    faces.push({ image: alignFace(image, points5), box, score, points5 });
  }
  return faces;
}
