/**
 * Face alignment: the least-squares similarity transform (Umeyama) from five
 * facial points to the ArcFace 112x112 template, and the warp it defines.
 *
 * @module
 */
import type { RgbImage } from "../image/codec.ts";
import { type AffineMatrix, warpAffine } from "../image/transform.ts";
import type { Point } from "./types.ts";

/** Side of an aligned face. */
export const ALIGNED_SIZE = 112;

/**
 * Where the five points (left eye, right eye, nose tip, left and right mouth
 * corners; image left first) sit in a 112x112 ArcFace crop.
 */
export const ARCFACE_TEMPLATE_112: readonly Point[] = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];

function checkPoints(points: readonly Point[], what: string): void {
  if (!points.every((p) => p.length === 2 && Number.isFinite(p[0]) && Number.isFinite(p[1]))) {
    throw new TypeError(`Cannot estimate a similarity from ${what}: current value has a non-finite coordinate`);
  }
}

/**
 * Least-squares similarity transform (rotation, uniform scale, translation)
 * mapping `source` points onto `destination` points: Umeyama (1991) with its
 * reflection check, so the result never mirrors. Returns the 2x3 matrix for
 * {@linkcode warpAffine}.
 *
 * @example Recover a 90 degree turn, scale 2, shift (1, 0)
 * ```ts
 * import assert from "node:assert/strict";
 * import { umeyamaSimilarity } from "./align.ts";
 * const m = umeyamaSimilarity([[0, 0], [1, 0], [0, 1]], [[1, 0], [1, 2], [-1, 0]]);
 * assert.equal(m.map((v) => Math.round(v * 1e9) / 1e9 + 0).join(), "0,-2,1,2,0,0");
 * ```
 */
export function umeyamaSimilarity(source: readonly Point[], destination: readonly Point[]): AffineMatrix {
  if (source.length !== destination.length || source.length < 2) {
    throw new RangeError(
      `Cannot estimate a similarity from ${source.length} to ${destination.length} points: current counts differ or are below 2`,
    );
  }
  checkPoints(source, "source points");
  checkPoints(destination, "destination points");
  const n = source.length;
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    sx += source[i][0];
    sy += source[i][1];
    dx += destination[i][0];
    dy += destination[i][1];
  }
  sx /= n, sy /= n, dx /= n, dy /= n;
  // Source variance and the covariance Σ = mean((d - d̄)(s - s̄)ᵀ).
  let variance = 0, c00 = 0, c01 = 0, c10 = 0, c11 = 0;
  for (let i = 0; i < n; i++) {
    const ux = source[i][0] - sx, uy = source[i][1] - sy;
    const vx = destination[i][0] - dx, vy = destination[i][1] - dy;
    variance += ux * ux + uy * uy;
    c00 += vx * ux, c01 += vx * uy, c10 += vy * ux, c11 += vy * uy;
  }
  variance /= n, c00 /= n, c01 /= n, c10 /= n, c11 /= n;
  if (!(variance > 0)) {
    throw new RangeError(`Cannot estimate a similarity from source points: current spread is ${variance}`);
  }
  // A 2x2 matrix factors as Σ = R(φ) diag(q + r, q - r) R(θ) with q = |(e, h)|,
  // r = |(f, g)| below. Umeyama takes U = R(φ), V = R(θ)ᵀ up to the sign of the
  // second singular value; its reflection check (S = diag(1, sign det Σ)) then
  // gives rotation U S Vᵀ = R(φ + θ) = R(atan2(h, e)) and scale
  // trace(D S) / variance = 2q / variance, whatever the sign of det Σ.
  const e = (c00 + c11) / 2, h = (c10 - c01) / 2;
  const q = Math.hypot(e, h);
  if (!(q > 0)) {
    throw new RangeError("Cannot estimate a similarity between the points: current best scale is 0");
  }
  const scale = (2 * q) / variance;
  const cos = (e / q) * scale, sin = (h / q) * scale;
  return [cos, -sin, dx - (cos * sx - sin * sy), sin, cos, dy - (sin * sx + cos * sy)];
}

/**
 * Warps a face to the 112x112 ArcFace crop from its five points (see
 * {@linkcode ARCFACE_TEMPLATE_112}); pixels from outside the image are black.
 *
 * @example Points already on the template give the identity warp
 * ```ts
 * import assert from "node:assert/strict";
 * import { alignFace, ARCFACE_TEMPLATE_112 } from "./align.ts";
 * const image = { width: 112, height: 112, data: new Uint8Array(112 * 112 * 3).map((_, i) => i % 251) };
 * const aligned = alignFace(image, ARCFACE_TEMPLATE_112);
 * assert.equal(aligned.width, 112);
 * assert.equal(aligned.data[3 * 500], image.data[3 * 500]);
 * ```
 */
export function alignFace(image: RgbImage, points5: readonly Point[]): RgbImage {
  if (points5.length !== 5) {
    throw new RangeError(`Cannot align a face from ${points5.length} points: current value is not 5`);
  }
  const matrix = umeyamaSimilarity(points5, ARCFACE_TEMPLATE_112);
  return warpAffine(image, matrix, ALIGNED_SIZE, ALIGNED_SIZE);
}
