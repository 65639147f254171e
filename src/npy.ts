/**
 * NumPy `.npy` files (format 1.0/2.0), the exchange format for identity banks
 * and priors: float32 (float16 and float64 too on read) arrays, C order.
 *
 * @module
 */

/** A 2-d float32 array read from or written to `.npy`. */
export interface NpyMatrix {
  /** Shape `[rows, columns]` (a 1-d array reads as `[1, n]`). */
  shape: [number, number];
  /** Row-major values. */
  data: Float32Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/**
 * Encodes a float32 (or float16 with `half`) matrix as `.npy` bytes.
 *
 * @example Round-trip a 2x3 matrix
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeNpy, encodeNpy } from "./npy.ts";
 * const bytes = encodeNpy({ shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) });
 * assert.equal(decodeNpy(bytes).data[5], 6);
 * ```
 */
export function encodeNpy(matrix: NpyMatrix, options: { half?: boolean } = {}): Uint8Array {
  const [rows, columns] = matrix.shape;
  if (matrix.data.length !== rows * columns) {
    throw new RangeError(
      `Cannot encode .npy as shape ${rows}x${columns}: current data length is ${matrix.data.length}`,
    );
  }
  const descr = options.half ? "<f2" : "<f4";
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${rows}, ${columns}), }`;
  // Header (magic + version + length + text + "\n") is padded to a multiple of 64 bytes.
  const unpadded = 10 + header.length + 1;
  header += " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  const bytesPerValue = options.half ? 2 : 4;
  const out = new Uint8Array(10 + header.length + matrix.data.length * bytesPerValue);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const view = new DataView(out.buffer, 10 + header.length);
  for (let i = 0; i < matrix.data.length; i++) {
    if (options.half) view.setUint16(i * 2, toHalf(matrix.data[i]), true);
    else view.setFloat32(i * 4, matrix.data[i], true);
  }
  return out;
}

/**
 * Decodes `.npy` bytes holding a 1-d or 2-d little-endian float32/float16/float64 array.
 *
 * @example Round-trip a 1x2 matrix through float16
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeNpy, encodeNpy } from "./npy.ts";
 * const matrix = decodeNpy(encodeNpy({ shape: [1, 2], data: new Float32Array([0.5, -2]) }, { half: true }));
 * assert.equal(matrix.data[1], -2);
 * ```
 */
export function decodeNpy(bytes: Uint8Array): NpyMatrix {
  const { header, start } = readHeader(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined) {
    throw new TypeError(`Cannot read .npy header: current header is ${JSON.stringify(header.trim())}`);
  }
  const dims = shapeText.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (fortran || dims.length < 1 || dims.length > 2) {
    throw new RangeError(
      `Cannot read .npy as a C-order 1-d or 2-d array: current shape is (${dims.join(", ")})${
        fortran ? ", Fortran order" : ""
      }`,
    );
  }
  const shape: [number, number] = dims.length === 1 ? [1, dims[0]] : [dims[0], dims[1]];
  const count = shape[0] * shape[1];
  const size = { "<f4": 4, "<f2": 2, "<f8": 8 }[descr];
  if (!size) throw new TypeError(`Cannot read .npy as float data: current dtype is ${descr}`);
  if (bytes.length - start < count * size) {
    throw new RangeError(
      `Cannot read .npy of shape (${dims.join(", ")}) ${descr}: current file is truncated (${
        Math.max(0, bytes.length - start)
      } of ${count * size} data bytes)`,
    );
  }
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const offset = start + i * size;
    data[i] = size === 4
      ? view.getFloat32(offset, true)
      : size === 8
      ? view.getFloat64(offset, true)
      : fromHalf(view.getUint16(offset, true));
  }
  return { shape, data };
}

/** The header text of `.npy` bytes (format 1.0, or 2.0/3.0 with a 4-byte length) and where the data starts. */
function readHeader(bytes: Uint8Array): { header: string; start: number } {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) {
    throw new TypeError("Cannot read .npy as NumPy data: current bytes do not start with \\x93NUMPY");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength));
  return { header, start: headerStart + headerLength };
}

function toHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  let mantissa = bits & 0x7fffff;
  if (((bits >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  if (exponent >= 0x1f) return sign | 0x7c00;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa = (mantissa | 0x800000) >>> (1 - exponent);
    return sign | ((mantissa + 0x1000) >>> 13);
  }
  // Round to nearest; a carry into the exponent is the correct result.
  return (sign | (exponent << 10) | (mantissa >>> 13)) + ((mantissa >>> 12) & 1);
}

function fromHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Images stored as one uint8 `.npy` array of shape [N, height, width, 3] (`tools/prepare_faces.ts` writes them). */
export interface NpyImages {
  /** N. */
  count: number;
  /** Image `i` (0 <= i < count), a view into the file's bytes. */
  image(i: number): { width: number; height: number; data: Uint8Array };
}

/**
 * Reads a uint8 [N, height, width, 3] `.npy` array (RGB images, e.g. aligned
 * faces) without copying: each image is a view into `bytes`.
 *
 * @example Read one 2x2 image from hand-made bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeImagesNpy } from "./npy.ts";
 * const header = "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2, 3), }".padEnd(117) + "\n";
 * const bytes = new Uint8Array(128 + 12).fill(7);
 * bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0]);
 * bytes.set(new TextEncoder().encode(header), 10);
 * const images = decodeImagesNpy(bytes);
 * assert.equal(images.count, 1);
 * assert.equal(images.image(0).width, 2);
 * assert.equal(images.image(0).data[11], 7);
 * ```
 */
export function decodeImagesNpy(bytes: Uint8Array): NpyImages {
  const { header, start } = readHeader(bytes);
  const shape = /'shape':\s*\((\d+),\s*(\d+),\s*(\d+),\s*3\)/.exec(header);
  if (!/'descr':\s*'\|u1'/.test(header) || !shape) {
    throw new TypeError(
      `Cannot read .npy as uint8 RGB images [N, height, width, 3]: current header is ${header.trim()}`,
    );
  }
  const [count, height, width] = shape.slice(1).map(Number);
  const size = height * width * 3;
  if (bytes.length - start < count * size) {
    throw new RangeError(
      `Cannot read ${count} images of ${width}x${height} from .npy: current file is truncated (${
        Math.max(0, bytes.length - start)
      } of ${count * size} data bytes)`,
    );
  }
  return {
    count,
    image(i) {
      if (!(Number.isInteger(i) && i >= 0 && i < count)) {
        throw new RangeError(`Cannot read image ${i} of a .npy of ${count} images: current index is out of range`);
      }
      return { width, height, data: bytes.subarray(start + i * size, start + (i + 1) * size) };
    },
  };
}
