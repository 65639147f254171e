/**
 * Face choice and the no-face fallback of LFW-style photos (centred crops of
 * one labelled person), shared by `bench/lfw_eval.ts` and
 * `tools/prepare_faces.ts --pick centre --fallback-centre`: a verification
 * protocol needs every photo of its pairs, so a photo in which the detector
 * finds nothing is aligned from landmarks predicted on a centred box.
 *
 * @module
 */
import { alignFace } from "../src/estimators/align.ts";
import type { AlignedFace } from "../src/estimators/align_faces.ts";
import { landmarks68To5, predictLandmarks } from "../src/estimators/landmarks.ts";
import type { FaceBox, SessionProvider } from "../src/estimators/types.ts";
import type { RgbImage } from "../src/image/codec.ts";

/** How to choose one face of a photo with several. */
export type FacePick = "centre" | "score" | "largest";

/** The face picks `pickFace` knows. */
export const FACE_PICKS: readonly FacePick[] = ["centre", "score", "largest"];

/**
 * The detector found nothing: LFW crops are centred on the face, so take a
 * centred square box of half the image side as the face box for landmarks.
 */
export function fallbackBox(image: RgbImage): FaceBox {
  const side = Math.min(image.width, image.height) * 0.5;
  const cx = image.width / 2, cy = image.height / 2;
  return { x1: cx - side / 2, y1: cy - side / 2, x2: cx + side / 2, y2: cy + side / 2 };
}

/** The 112x112 ArcFace crop aligned from landmarks predicted on `fallbackBox`. */
export async function alignFromCentredBox(
  image: RgbImage,
  pack: SessionProvider,
  options: { landmarkPasses?: number } = {},
): Promise<RgbImage> {
  const points = await predictLandmarks(await pack.session("landmarks"), image, fallbackBox(image), {
    passes: options.landmarkPasses,
  });
  return alignFace(image, landmarks68To5(points));
}

/**
 * One face of several: the one nearest the image centre (LFW labels the
 * person in the middle), the detector's best score, or the largest box.
 */
export function pickFace(faces: AlignedFace[], image: RgbImage, pick: FacePick): AlignedFace {
  const cost = (face: AlignedFace) => {
    const { x1, y1, x2, y2 } = face.box;
    if (pick === "largest") return -(x2 - x1) * (y2 - y1);
    if (pick === "centre") return Math.hypot((x1 + x2 - image.width) / 2, (y1 + y2 - image.height) / 2);
    return -face.score;
  };
  return faces.reduce((best, face) => (cost(face) < cost(best) ? face : best));
}
