import assert from "node:assert/strict";
import { decodeImagesNpy, decodeNpy, encodeNpy } from "./npy.ts";

Deno.test("npy round trip in float32 and float16, header aligned to 64 bytes", () => {
  const data = Float32Array.from({ length: 6 * 5 }, (_, i) => (i - 10) / 7);
  const bytes = encodeNpy({ shape: [6, 5], data });
  const headerLength = new DataView(bytes.buffer).getUint16(8, true);
  assert.equal((10 + headerLength) % 64, 0);
  assert.deepEqual(decodeNpy(bytes), { shape: [6, 5], data });
  const half = decodeNpy(encodeNpy({ shape: [6, 5], data }, { half: true }));
  half.data.forEach((value, i) => assert.ok(Math.abs(value - data[i]) <= Math.abs(data[i]) * 1e-3 + 1e-4));
});

Deno.test("npy written by NumPy: a hand-made v1.0 float64 file reads", () => {
  const header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
  const padded = header + " ".repeat(128 - 10 - header.length - 1) + "\n";
  const bytes = new Uint8Array(10 + padded.length + 24);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(bytes.buffer).setUint16(8, padded.length, true);
  bytes.set(new TextEncoder().encode(padded), 10);
  const view = new DataView(bytes.buffer, 10 + padded.length);
  [1.5, -2, 3.25].forEach((v, i) => view.setFloat64(i * 8, v, true));
  assert.deepEqual(decodeNpy(bytes), { shape: [1, 3], data: new Float32Array([1.5, -2, 3.25]) });
});

Deno.test("npy errors name the problem", () => {
  assert.throws(() => decodeNpy(new Uint8Array(20)), /do not start with/);
  const truncated = encodeNpy({ shape: [4, 4], data: new Float32Array(16) }).slice(0, 100);
  assert.throws(() => decodeNpy(truncated), /truncated/);
  assert.throws(() => encodeNpy({ shape: [2, 2], data: new Float32Array(3) }), /current data length is 3/);
});

function uint8Npy(shapeText: string, descr: string, data: Uint8Array): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  header = header.padEnd(Math.ceil((10 + header.length + 1) / 64) * 64 - 11) + "\n";
  const bytes = new Uint8Array(10 + header.length + data.length);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  bytes.set(new TextEncoder().encode(header), 10);
  bytes.set(data, 10 + header.length);
  return bytes;
}

Deno.test("decodeImagesNpy: views of each RGB image; wrong dtype, shape and truncation are refused", () => {
  const pixels = Uint8Array.from({ length: 2 * 3 * 4 * 3 }, (_, i) => i);
  const images = decodeImagesNpy(uint8Npy("(2, 3, 4, 3)", "|u1", pixels));
  assert.equal(images.count, 2);
  const second = images.image(1);
  assert.deepEqual([second.width, second.height], [4, 3]);
  assert.deepEqual([...second.data.subarray(0, 3)], [36, 37, 38]);
  assert.throws(() => images.image(2), RangeError);
  assert.throws(() => decodeImagesNpy(uint8Npy("(2, 3, 4, 3)", "<f4", pixels)), /uint8 RGB/);
  assert.throws(() => decodeImagesNpy(uint8Npy("(2, 3, 4)", "|u1", pixels)), /uint8 RGB/);
  assert.throws(() => decodeImagesNpy(uint8Npy("(2, 3, 4, 3)", "|u1", pixels.subarray(1))), /truncated/);
});
