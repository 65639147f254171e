import assert from "node:assert/strict";
import { decodeImage, encodePng } from "./codec.ts";
import { blankImage, drawText, fillRect, formatTick, histogramPlot, imageGrid, textWidth } from "./plot.ts";

const pixel = (
  image: { width: number; data: Uint8Array },
  x: number,
  y: number,
) => [...image.data.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3)];

Deno.test("fillRect clips to the image and blends with alpha", () => {
  const image = blankImage(4, 3, [200, 100, 0]);
  fillRect(image, -2, -2, 4, 4, [0, 0, 0]); // covers (0..1, 0..1)
  assert.deepEqual(pixel(image, 1, 1), [0, 0, 0]);
  assert.deepEqual(pixel(image, 2, 1), [200, 100, 0]);
  fillRect(image, 3, 2, 10, 10, [100, 200, 50], 0.5);
  assert.deepEqual(pixel(image, 3, 2), [150, 150, 25]);
  assert.throws(() => blankImage(0, 1), /0x1/);
});

Deno.test("drawText: 3x5 glyphs, scaled, unknown characters as spaces", () => {
  const image = blankImage(textWidth("7-", 2), 10);
  drawText(image, "7-", 0, 0, [0, 0, 0], 2);
  // "7": top row full, then the right column; "-": the middle row of the second glyph.
  for (const x of [0, 2, 4]) assert.deepEqual(pixel(image, x, 0), [0, 0, 0]);
  assert.deepEqual(pixel(image, 0, 2), [255, 255, 255]);
  assert.deepEqual(pixel(image, 4, 2), [0, 0, 0]);
  assert.deepEqual(pixel(image, 8, 4), [0, 0, 0]);
  assert.deepEqual(pixel(image, 8, 2), [255, 255, 255]);
  const blank = blankImage(3, 5);
  drawText(blank, "?", 0, 0, [0, 0, 0]);
  assert.ok(blank.data.every((value) => value === 255));
  assert.throws(() => drawText(blank, "1", 0, 0, [0, 0, 0], 0), /scale 0/);
});

Deno.test("formatTick", () => {
  assert.deepEqual([-0.5, 0, 0.25, 1, 0.1 + 0.2, 12].map(formatTick), ["-0.5", "0", "0.25", "1", "0.3", "12"]);
});

Deno.test("histogramPlot: bars as shares, where the bins are; dashed markers; PNG round trip", () => {
  // Bin 1 of 2 over [0, 1] holds everything: the right half of the plot gets a full-height bar.
  const green = [46, 160, 67] as const;
  const image = histogramPlot([{ counts: [0, 5], color: green }], {
    min: 0,
    max: 1,
    width: 200,
    height: 100,
    markers: [{ value: 0.25, color: [0, 0, 255] }],
  });
  assert.equal(image.width, 200);
  // Plot area: x 44..188, y 12..72; the bar's top edge is drawn in the full colour.
  assert.deepEqual(pixel(image, 150, 12), [...green]);
  const inside = pixel(image, 150, 40); // blended 45 % over white
  assert.deepEqual(inside, green.map((c) => Math.round(0.55 * 255 + 0.45 * c)));
  assert.deepEqual(pixel(image, 60, 40), [255, 255, 255]); // empty left bin
  const markerX = Math.round(44 + 0.25 * 144);
  assert.deepEqual(pixel(image, markerX, 12), [0, 0, 255]);
  assert.throws(() =>
    histogramPlot([{ counts: [1], color: green }, { counts: [1, 2], color: green }], {
      min: 0,
      max: 1,
    }), /series 1 with 2 bins/);
  assert.throws(() => histogramPlot([], { min: 1, max: 0 }), /\[1, 0\]/);
});

Deno.test("histogramPlot: two series of different sizes are drawn as shares", async () => {
  const image = histogramPlot([
    { counts: [10, 0], color: [255, 0, 0] },
    { counts: [0, 1000], color: [0, 0, 255] },
  ], { min: 0, max: 1, width: 200, height: 100 });
  // Both bars reach the top: each is 100 % of its series.
  assert.deepEqual(pixel(image, 60, 12), [255, 0, 0]);
  assert.deepEqual(pixel(image, 150, 12), [0, 0, 255]);
  const decoded = await decodeImage(encodePng(image));
  assert.deepEqual(decoded.data, image.data);
});

Deno.test("imageGrid: tiles in rows, resizing odd sizes; empty grids refused", () => {
  const red = blankImage(2, 2, [255, 0, 0]), blue = blankImage(4, 4, [0, 0, 255]);
  const sheet = imageGrid([[red], [red, blue]], { cell: 4, gap: 1, background: [0, 0, 0] });
  assert.equal(sheet.width, 2 * 4 + 3);
  assert.equal(sheet.height, 2 * 4 + 3);
  assert.deepEqual(pixel(sheet, 1, 1), [255, 0, 0]); // resized 2x2 red
  assert.deepEqual(pixel(sheet, 6, 1), [0, 0, 0]); // row 0 has no second image
  assert.deepEqual(pixel(sheet, 6, 6), [0, 0, 255]);
  assert.deepEqual(pixel(sheet, 0, 0), [0, 0, 0]);
  assert.throws(() => imageGrid([]), /0 rows/);
});
