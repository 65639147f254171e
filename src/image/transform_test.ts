import assert from "node:assert/strict";
import {
  type AffineMatrix,
  invertAffine,
  padImage,
  resizeBilinear,
  rgbToGrey,
  toNchwTensor,
  warpAffine,
} from "./transform.ts";

const grey = (width: number, height: number, values: number[]) => ({ width, height, data: new Uint8Array(values) });

Deno.test("resizeBilinear upscales a 2x2 grey image with half-pixel centres and clamped edges", () => {
  // Source columns sit at output x = 0.5 and 2.5 (scale 2): 0 and 100 on the top row.
  const out = resizeBilinear(grey(2, 2, [0, 100, 200, 100]), 4, 4);
  assert.deepEqual([...out.data.subarray(0, 4)], [0, 25, 75, 100]);
  // The bottom row becomes [200, 175, 125, 100]; row 1 is 3/4 top + 1/4 bottom: 62.5 and 87.5 round up.
  assert.deepEqual([...out.data.subarray(4, 8)], [50, 63, 88, 100]);
  assert.deepEqual([...out.data.subarray(12, 16)], [200, 175, 125, 100]);
});

Deno.test("resizeBilinear halves a row by averaging neighbour pairs", () => {
  const out = resizeBilinear(grey(4, 1, [0, 10, 20, 30]), 2, 1);
  assert.deepEqual([...out.data], [5, 25]);
});

Deno.test("resizeBilinear keeps the size and channels unchanged as a copy", () => {
  const image = { width: 2, height: 1, data: new Uint8Array([1, 2, 3, 4, 5, 6]) };
  const out = resizeBilinear(image, 2, 1);
  assert.deepEqual([...out.data], [1, 2, 3, 4, 5, 6]);
  assert.notEqual(out.data, image.data);
});

Deno.test("resizeBilinear interpolates RGB channels independently", () => {
  const image = { width: 2, height: 1, data: new Uint8Array([0, 100, 200, 100, 0, 200]) };
  const out = resizeBilinear(image, 4, 1);
  assert.deepEqual([...out.data], [0, 100, 200, 25, 75, 200, 75, 25, 200, 100, 0, 200]);
});

Deno.test("resizeBilinear rejects a bad size or data length", () => {
  assert.throws(() => resizeBilinear(grey(2, 1, [0, 1]), 0, 1), RangeError);
  assert.throws(() => resizeBilinear(grey(2, 2, [0, 1]), 1, 1), /current data length is 2/);
});

Deno.test("invertAffine undoes a rotation, scale and shift", () => {
  const matrix: AffineMatrix = [0, -2, 3, 2, 0, -1];
  const inverse = invertAffine(matrix);
  const [a, b, c, d, e, f] = matrix;
  const [ia, ib, ic, id, ie, iff] = inverse;
  const x = 5, y = 7;
  const u = a * x + b * y + c, v = d * x + e * y + f;
  assert.ok(Math.abs(ia * u + ib * v + ic - x) < 1e-12);
  assert.ok(Math.abs(id * u + ie * v + iff - y) < 1e-12);
  assert.throws(() => invertAffine([1, 2, 0, 2, 4, 0]), /determinant is 0/);
});

Deno.test("warpAffine with the identity copies the image", () => {
  const image = {
    width: 3,
    height: 2,
    data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]),
  };
  assert.deepEqual([...warpAffine(image, [1, 0, 0, 0, 1, 0], 3, 2).data], [...image.data]);
});

Deno.test("warpAffine shifts by half a pixel: neighbours averaged, constant border mixed in", () => {
  const out = warpAffine(grey(3, 1, [10, 20, 40]), [1, 0, 0.5, 0, 1, 0], 3, 1, { value: 100 });
  // Destination x reads source x - 0.5: (100+10)/2, (10+20)/2, (20+40)/2.
  assert.deepEqual([...out.data], [55, 15, 30]);
});

Deno.test("warpAffine fills outside with the constant or the nearest edge", () => {
  const image = grey(2, 2, [10, 20, 30, 40]);
  const shift: AffineMatrix = [1, 0, 2, 0, 1, 2];
  // deno-fmt-ignore
  assert.deepEqual([...warpAffine(image, shift, 4, 4, { value: 7 }).data], [
    7, 7, 7, 7,
    7, 7, 7, 7,
    7, 7, 10, 20,
    7, 7, 30, 40,
  ]);
  // deno-fmt-ignore
  assert.deepEqual([...warpAffine(image, shift, 4, 4, { border: "edge" }).data], [
    10, 10, 10, 20,
    10, 10, 10, 20,
    10, 10, 10, 20,
    30, 30, 30, 40,
  ]);
});

Deno.test("warpAffine turns a 3x3 image a quarter about its centre", () => {
  const image = grey(3, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // x' = 2 - y, y' = x: a clockwise quarter turn in image coordinates (y down).
  const out = warpAffine(image, [0, -1, 2, 1, 0, 0], 3, 3);
  assert.deepEqual([...out.data], [7, 4, 1, 8, 5, 2, 9, 6, 3]);
});

Deno.test("warpAffine rejects a singular matrix and a bad border", () => {
  assert.throws(() => warpAffine(grey(1, 1, [0]), [0, 0, 0, 0, 0, 0], 1, 1), RangeError);
  assert.throws(
    () => warpAffine(grey(1, 1, [0]), [1, 0, 0, 0, 1, 0], 1, 1, { value: 256 }),
    /current value is not an integer in 0..255/,
  );
});

Deno.test("padImage replicates the edges by default", () => {
  const out = padImage(grey(2, 2, [1, 2, 3, 4]), 1);
  assert.equal(out.width, 4);
  assert.equal(out.height, 4);
  // deno-fmt-ignore
  assert.deepEqual([...out.data], [
    1, 1, 2, 2,
    1, 1, 2, 2,
    3, 3, 4, 4,
    3, 3, 4, 4,
  ]);
});

Deno.test("padImage fills a constant per side on RGB", () => {
  const image = { width: 1, height: 1, data: new Uint8Array([10, 20, 30]) };
  const out = padImage(image, { top: 0, right: 1, bottom: 1, left: 0 }, { mode: "constant", value: 5 });
  assert.equal(out.width, 2);
  assert.equal(out.height, 2);
  assert.deepEqual([...out.data], [10, 20, 30, 5, 5, 5, 5, 5, 5, 5, 5, 5]);
});

Deno.test("padImage rejects a negative or fractional border", () => {
  assert.throws(() => padImage(grey(1, 1, [0]), -1), /Cannot pad an image by -1 on the top/);
  assert.throws(() => padImage(grey(1, 1, [0]), 0.5), RangeError);
});

Deno.test("rgbToGrey uses BT.601 weights rounded as OpenCV", () => {
  const image = { width: 4, height: 1, data: new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 100, 100, 100]) };
  assert.deepEqual([...rgbToGrey(image).data], [76, 150, 29, 100]);
  assert.throws(() => rgbToGrey(grey(1, 1, [0])), /as RGB/);
});

Deno.test("toNchwTensor lays out planes per image and normalises per channel", () => {
  const a = { width: 2, height: 1, data: new Uint8Array([10, 20, 30, 40, 50, 60]) };
  const b = { width: 2, height: 1, data: new Uint8Array([0, 0, 0, 255, 255, 255]) };
  const tensor = toNchwTensor([a, b], { mean: [10, 20, 30], std: [1, 2, 5] });
  assert.equal(tensor.type, "float32");
  assert.deepEqual(tensor.dims, [2, 3, 1, 2]);
  assert.deepEqual([...tensor.data], [0, 30, 0, 15, 0, 6, -10, 245, -10, 117.5, -6, 45]);
});

Deno.test("toNchwTensor packs grey images as one channel", () => {
  const tensor = toNchwTensor([grey(2, 1, [0, 128])], { mean: 0, std: 256 });
  assert.deepEqual(tensor.dims, [1, 1, 1, 2]);
  assert.deepEqual([...tensor.data], [0, 0.5]);
});

Deno.test("toNchwTensor rejects mixed sizes, empty input and bad statistics", () => {
  assert.throws(() => toNchwTensor([grey(1, 1, [0]), grey(2, 1, [0, 0])], { mean: 0, std: 1 }), /image 1/);
  assert.throws(() => toNchwTensor([], { mean: 0, std: 1 }), /current count is 0/);
  assert.throws(() => toNchwTensor([grey(1, 1, [0])], { mean: [1, 2], std: 1 }), RangeError);
  assert.throws(() => toNchwTensor([grey(1, 1, [0])], { mean: 0, std: 0 }), /has a zero/);
});
