/**
 * Pixel geometry and tensor packing for the face models: bilinear resize,
 * affine warp, border padding, RGB to grey, and NCHW float32 packing.
 *
 * Images are 8-bit, interleaved; the number of channels (1 grey, 3 RGB) is
 * `data.length / (width * height)`. Coordinates follow OpenCV: pixel `(x, y)`
 * has its centre at `(x, y)`, so a 2x3 matrix estimated for `cv2.warpAffine`
 * (such as the ArcFace alignment) means the same thing here.
 *
 * @module
 */
import type { RgbImage } from "./codec.ts";
import type { TensorData } from "../_backend.ts";

/** An 8-bit grey image, one byte per pixel, row by row. */
export interface GreyImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `width * height` bytes. */
  data: Uint8Array;
}

/**
 * A 2x3 affine matrix `[a, b, c, d, e, f]`, row-major, mapping a source point
 * to a destination point: `x' = a x + b y + c`, `y' = d x + e y + f`.
 */
export type AffineMatrix = readonly [number, number, number, number, number, number];

/** How {@linkcode padImage} and {@linkcode warpAffine} fill pixels outside the source. */
export type BorderMode = "edge" | "constant";

/** Border of {@linkcode padImage}, in pixels. */
export interface Padding {
  /** Rows added above. */
  top: number;
  /** Columns added on the right. */
  right: number;
  /** Rows added below. */
  bottom: number;
  /** Columns added on the left. */
  left: number;
}

/** Options of {@linkcode padImage}. */
export interface PadOptions {
  /** `edge` repeats the nearest source pixel, `constant` fills with `value`; default `edge`. */
  mode?: BorderMode;
  /** Fill byte for `constant`, every channel; default 0. */
  value?: number;
}

/** Options of {@linkcode warpAffine}. */
export interface WarpOptions {
  /** `constant` (default) reads `value` outside the source, `edge` the nearest source pixel. */
  border?: BorderMode;
  /** Fill byte for `constant`, every channel; default 0. */
  value?: number;
}

/** Options of {@linkcode toNchwTensor}: each value becomes `(p - mean) / std`. */
export interface NormaliseOptions {
  /** One mean for all channels or one per channel. */
  mean: number | readonly number[];
  /** One standard deviation for all channels or one per channel. */
  std: number | readonly number[];
}

type Image = RgbImage | GreyImage;

function channelsOf(image: Image, what: string): number {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`Cannot ${what} as an image: current size is ${width}x${height}`);
  }
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(`Cannot ${what} as an image: current data is not a Uint8Array`);
  }
  const channels = data.length / (width * height);
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(
      `Cannot ${what} as a ${width}x${height} grey or RGB image: current data length is ${data.length}`,
    );
  }
  return channels;
}

function checkSize(width: number, height: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`Cannot ${what} as ${width}x${height}: current value is not a positive integer size`);
  }
}

function checkByte(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 255) {
    throw new RangeError(`Cannot ${what} as ${value}: current value is not an integer in 0..255`);
  }
}

// Per destination coordinate: the two source indices and the weight of the second,
// with OpenCV's INTER_LINEAR half-pixel mapping and clamping at the edges.
function axisTaps(source: number, target: number): { i0: Int32Array; i1: Int32Array; w1: Float32Array } {
  const i0 = new Int32Array(target), i1 = new Int32Array(target), w1 = new Float32Array(target);
  const scale = source / target;
  for (let x = 0; x < target; x++) {
    let s = (x + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    let lo = Math.floor(s);
    if (lo > source - 1) lo = source - 1;
    i0[x] = lo;
    i1[x] = Math.min(lo + 1, source - 1);
    w1[x] = Math.min(s - lo, 1);
  }
  return { i0, i1, w1 };
}

/**
 * Resizes with bilinear interpolation (OpenCV `INTER_LINEAR` mapping: pixel
 * centres aligned, edges clamped, no anti-aliasing when shrinking).
 *
 * @example Upscale a 2x1 grey ramp
 * ```ts
 * import assert from "node:assert/strict";
 * import { resizeBilinear } from "./transform.ts";
 * const out = resizeBilinear({ width: 2, height: 1, data: new Uint8Array([0, 100]) }, 4, 1);
 * assert.equal(out.data.join(), "0,25,75,100");
 * ```
 */
export function resizeBilinear<T extends Image>(image: T, width: number, height: number): T {
  const channels = channelsOf(image, "resize an image");
  checkSize(width, height, "resize an image");
  const src = image.data, srcWidth = image.width;
  const xs = axisTaps(image.width, width), ys = axisTaps(image.height, height);
  const out = new Uint8Array(width * height * channels);
  let o = 0;
  for (let y = 0; y < height; y++) {
    const row0 = ys.i0[y] * srcWidth, row1 = ys.i1[y] * srcWidth, wy = ys.w1[y];
    for (let x = 0; x < width; x++) {
      const wx = xs.w1[x];
      const p00 = (row0 + xs.i0[x]) * channels, p01 = (row0 + xs.i1[x]) * channels;
      const p10 = (row1 + xs.i0[x]) * channels, p11 = (row1 + xs.i1[x]) * channels;
      for (let c = 0; c < channels; c++) {
        const top = src[p00 + c] + (src[p01 + c] - src[p00 + c]) * wx;
        const bottom = src[p10 + c] + (src[p11 + c] - src[p10 + c]) * wx;
        out[o++] = (top + (bottom - top) * wy + 0.5) | 0;
      }
    }
  }
  return { width, height, data: out } as T;
}

/**
 * Inverts a 2x3 affine matrix.
 *
 * @example Invert a scale by 2 and a shift
 * ```ts
 * import assert from "node:assert/strict";
 * import { invertAffine } from "./transform.ts";
 * assert.equal(invertAffine([2, 0, 10, 0, 2, 20]).join(), "0.5,0,-5,0,0.5,-10");
 * ```
 */
export function invertAffine(matrix: AffineMatrix): AffineMatrix {
  const [a, b, c, d, e, f] = matrix;
  const det = a * e - b * d;
  if (!Number.isFinite(det) || det === 0) {
    throw new RangeError(`Cannot invert an affine matrix as [${matrix.join(", ")}]: current determinant is ${det}`);
  }
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

/**
 * Warps an image with a 2x3 affine matrix, as `cv2.warpAffine` does: each
 * destination pixel is mapped back through the inverse matrix and sampled
 * bilinearly; neighbours outside the source read the border.
 *
 * @param matrix maps source coordinates to destination coordinates.
 *
 * @example Shift one pixel to the right, constant border 9
 * ```ts
 * import assert from "node:assert/strict";
 * import { warpAffine } from "./transform.ts";
 * const image = { width: 3, height: 1, data: new Uint8Array([10, 20, 30]) };
 * const out = warpAffine(image, [1, 0, 1, 0, 1, 0], 3, 1, { value: 9 });
 * assert.equal(out.data.join(), "9,10,20");
 * ```
 */
export function warpAffine<T extends Image>(
  image: T,
  matrix: AffineMatrix,
  width: number,
  height: number,
  options: WarpOptions = {},
): T {
  const channels = channelsOf(image, "warp an image");
  checkSize(width, height, "warp an image");
  if (matrix.length !== 6 || !matrix.every(Number.isFinite)) {
    throw new RangeError(
      `Cannot warp an image with matrix [${matrix.join(", ")}]: current value is not 6 finite numbers`,
    );
  }
  const border = options.border ?? "constant";
  if (border !== "constant" && border !== "edge") {
    throw new RangeError(`Cannot warp an image with border ${border}: current value is not "constant" or "edge"`);
  }
  const value = options.value ?? 0;
  checkByte(value, "warp an image with border value");
  const [ia, ib, ic, id, ie, iff] = invertAffine(matrix);
  const src = image.data, srcWidth = image.width, srcHeight = image.height;
  const maxX = srcWidth - 1, maxY = srcHeight - 1, stride = srcWidth * channels;
  const out = new Uint8Array(width * height * channels);
  // Byte offset of source pixel (x, y), or -1 when it reads the constant border.
  const offset = border === "edge"
    ? (x: number, y: number) =>
      ((y < 0 ? 0 : y > maxY ? maxY : y) * srcWidth + (x < 0 ? 0 : x > maxX ? maxX : x)) * channels
    : (x: number, y: number) => (x < 0 || x > maxX || y < 0 || y > maxY ? -1 : (y * srcWidth + x) * channels);
  let o = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++, o += channels) {
      const sx = ia * x + ib * y + ic, sy = id * x + ie * y + iff;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const fx = sx - x0, fy = sy - y0;
      if (x0 >= 0 && y0 >= 0 && x0 < maxX && y0 < maxY) {
        // All four neighbours inside: the common case, no border lookups.
        const p00 = y0 * stride + x0 * channels, p10 = p00 + stride;
        for (let c = 0; c < channels; c++) {
          const a = src[p00 + c], b = src[p00 + channels + c];
          const top = a + (b - a) * fx;
          const d = src[p10 + c], e = src[p10 + channels + c];
          const bottom = d + (e - d) * fx;
          out[o + c] = (top + (bottom - top) * fy + 0.5) | 0;
        }
        continue;
      }
      if (x0 < -1 || y0 < -1 || x0 > maxX || y0 > maxY) {
        // Entirely outside: the fill value, or for edge the clamped pixel.
        if (border === "constant") {
          if (value !== 0) out.fill(value, o, o + channels);
          continue;
        }
      }
      const p00 = offset(x0, y0), p01 = offset(x0 + 1, y0), p10 = offset(x0, y0 + 1), p11 = offset(x0 + 1, y0 + 1);
      for (let c = 0; c < channels; c++) {
        const a = p00 < 0 ? value : src[p00 + c], b = p01 < 0 ? value : src[p01 + c];
        const d = p10 < 0 ? value : src[p10 + c], e = p11 < 0 ? value : src[p11 + c];
        const top = a + (b - a) * fx, bottom = d + (e - d) * fx;
        out[o + c] = (top + (bottom - top) * fy + 0.5) | 0;
      }
    }
  }
  return { width, height, data: out } as T;
}

/**
 * Adds a border around an image: `edge` (the default) replicates the nearest
 * pixel, `constant` fills with `value`.
 *
 * @param padding pixels on every side, or per side.
 *
 * @example Replicate the edge of a 1x1 grey image
 * ```ts
 * import assert from "node:assert/strict";
 * import { padImage } from "./transform.ts";
 * const out = padImage({ width: 1, height: 1, data: new Uint8Array([7]) }, 1);
 * assert.equal(out.width, 3);
 * assert.ok(out.data.every((v) => v === 7));
 * ```
 */
export function padImage<T extends Image>(image: T, padding: number | Padding, options: PadOptions = {}): T {
  const channels = channelsOf(image, "pad an image");
  const sides = typeof padding === "number"
    ? { top: padding, right: padding, bottom: padding, left: padding }
    : padding;
  for (const [side, amount] of Object.entries(sides)) {
    if (!Number.isInteger(amount) || amount < 0) {
      throw new RangeError(
        `Cannot pad an image by ${amount} on the ${side}: current value is not a non-negative integer`,
      );
    }
  }
  const mode = options.mode ?? "edge";
  if (mode !== "constant" && mode !== "edge") {
    throw new RangeError(`Cannot pad an image with mode ${mode}: current value is not "constant" or "edge"`);
  }
  const value = options.value ?? 0;
  checkByte(value, "pad an image with value");
  const { top, right, bottom, left } = sides;
  const width = image.width + left + right, height = image.height + top + bottom;
  const out = new Uint8Array(width * height * channels);
  const src = image.data, srcWidth = image.width;
  if (mode === "constant") out.fill(value);
  for (let y = 0; y < height; y++) {
    const sy = y - top;
    if (mode === "constant" && (sy < 0 || sy >= image.height)) continue;
    const srcRow = Math.min(Math.max(sy, 0), image.height - 1) * srcWidth;
    const outRow = y * width;
    // The source row itself, then (edge mode) the replicated ends.
    out.set(src.subarray(srcRow * channels, (srcRow + srcWidth) * channels), (outRow + left) * channels);
    if (mode === "constant") continue;
    const first = srcRow * channels, last = (srcRow + srcWidth - 1) * channels;
    for (let x = 0; x < left; x++) {
      for (let c = 0; c < channels; c++) out[(outRow + x) * channels + c] = src[first + c];
    }
    for (let x = left + srcWidth; x < width; x++) {
      for (let c = 0; c < channels; c++) out[(outRow + x) * channels + c] = src[last + c];
    }
  }
  return { width, height, data: out } as T;
}

/**
 * Mirrors an image left to right (a head turned one way becomes turned the other way).
 *
 * @example Mirror a two-pixel image
 * ```ts
 * import assert from "node:assert/strict";
 * import { mirrorImage } from "./transform.ts";
 * const mirrored = mirrorImage({ width: 2, height: 1, data: new Uint8Array([1, 2, 3, 4, 5, 6]) });
 * assert.equal(mirrored.data.join(), "4,5,6,1,2,3");
 * ```
 */
export function mirrorImage<T extends Image>(image: T): T {
  const channels = channelsOf(image, "mirror an image");
  const { width, height, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + width - 1 - x) * channels;
      out.set(data.subarray(from, from + channels), (y * width + x) * channels);
    }
  }
  return { width, height, data: out } as T;
}

/**
 * Converts RGB to grey with the BT.601 weights in OpenCV's fixed point
 * (`cv2.cvtColor(..., COLOR_RGB2GRAY)`): `0.299 R + 0.587 G + 0.114 B`, rounded.
 *
 * @example A red and a white pixel in grey
 * ```ts
 * import assert from "node:assert/strict";
 * import { rgbToGrey } from "./transform.ts";
 * const grey = rgbToGrey({ width: 2, height: 1, data: new Uint8Array([255, 0, 0, 255, 255, 255]) });
 * assert.equal(grey.data.join(), "76,255");
 * ```
 */
export function rgbToGrey(image: RgbImage): GreyImage {
  if (channelsOf(image, "convert an image to grey") !== 3) {
    throw new RangeError(
      `Cannot convert an image to grey as RGB: current data length is ${image.data.length}, expected ${
        image.width * image.height * 3
      }`,
    );
  }
  const pixels = image.width * image.height, src = image.data;
  const out = new Uint8Array(pixels);
  for (let p = 0, i = 0; p < pixels; p++, i += 3) {
    // 4899 + 9617 + 1868 = 2^14; +2^13 rounds.
    out[p] = (src[i] * 4899 + src[i + 1] * 9617 + src[i + 2] * 1868 + 8192) >> 14;
  }
  return { width: image.width, height: image.height, data: out };
}

function perChannel(value: number | readonly number[], channels: number, what: string): number[] {
  const values = typeof value === "number" ? new Array(channels).fill(value) : [...value];
  if (values.length !== channels || !values.every(Number.isFinite)) {
    throw new RangeError(
      `Cannot normalise ${channels}-channel images with ${what} ${
        JSON.stringify(value)
      }: current value is not one finite number or ${channels}`,
    );
  }
  return values;
}

/**
 * Packs same-size images into one float32 NCHW tensor `[N, C, H, W]`, each
 * value `(p - mean) / std` with per-channel (or shared) mean and std.
 *
 * @example Two RGB pixels, `(p - 127) / 128`
 * ```ts
 * import assert from "node:assert/strict";
 * import { toNchwTensor } from "./transform.ts";
 * const image = { width: 2, height: 1, data: new Uint8Array([255, 127, 0, 127, 127, 127]) };
 * const tensor = toNchwTensor([image], { mean: 127, std: 128 });
 * assert.equal(tensor.dims.join(), "1,3,1,2");
 * assert.equal([...tensor.data].join(), "1,0,0,0,-0.9921875,0");
 * ```
 */
export function toNchwTensor(images: readonly Image[], options: NormaliseOptions): TensorData & { data: Float32Array } {
  if (images.length === 0) {
    throw new RangeError("Cannot pack images as a tensor: current count is 0");
  }
  const first = images[0];
  const channels = channelsOf(first, "pack an image");
  const { width, height } = first;
  const mean = perChannel(options.mean, channels, "mean");
  const std = perChannel(options.std, channels, "std");
  if (std.includes(0)) {
    throw new RangeError(`Cannot normalise images with std ${JSON.stringify(options.std)}: current value has a zero`);
  }
  const plane = width * height;
  const out = new Float32Array(images.length * channels * plane);
  images.forEach((image, n) => {
    if (image.width !== width || image.height !== height || channelsOf(image, "pack an image") !== channels) {
      throw new RangeError(
        `Cannot pack image ${n} with the first as one tensor: current size is ${image.width}x${image.height}, expected ${width}x${height}x${channels}`,
      );
    }
    const src = image.data;
    for (let c = 0; c < channels; c++) {
      const base = (n * channels + c) * plane, m = mean[c], s = std[c];
      for (let p = 0, i = c; p < plane; p++, i += channels) out[base + p] = (src[i] - m) / s;
    }
  });
  return { type: "float32", data: out, dims: [images.length, channels, height, width] };
}
