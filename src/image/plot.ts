/**
 * A tiny raster plotter for the quality report: filled rectangles, a 3x5
 * pixel font for axis numbers, histogram charts and image grids (contact
 * sheets), all drawn into an {@linkcode RgbImage} to be encoded as PNG. No
 * canvas, no fonts, no dependencies: the same numbers give the same pixels.
 *
 * @module
 */
import type { RgbImage } from "./codec.ts";
import { resizeBilinear } from "./transform.ts";

/**
 * An RGB colour, each channel 0..255.
 */
export type Color = readonly [number, number, number];

// 3x5 glyphs, one string of 15 bits per character (rows top to bottom).
const GLYPHS: Record<string, string> = {
  "0": "111101101101111",
  "1": "010110010010111",
  "2": "111001111100111",
  "3": "111001111001111",
  "4": "101101111001001",
  "5": "111100111001111",
  "6": "111100111101111",
  "7": "111001010010010",
  "8": "111101111101111",
  "9": "111101111001111",
  ".": "000000000000010",
  "-": "000000111000000",
  "+": "000010111010000",
  "%": "101001010100101",
  "e": "000111111100111",
  " ": "000000000000000",
};

/**
 * Creates an image filled with one colour.
 *
 * @example A red 2x1 image
 * ```ts
 * import assert from "node:assert/strict";
 * import { blankImage } from "./plot.ts";
 * const image = blankImage(2, 1, [255, 0, 0]);
 * assert.equal(image.data.join(), "255,0,0,255,0,0");
 * ```
 */
export function blankImage(width: number, height: number, color: Color = [255, 255, 255]): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`Cannot create an image of ${width}x${height}: current size is not positive integers`);
  }
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(color, i);
  return { width, height, data };
}

/**
 * Fills a rectangle (clipped to the image), optionally blended: each pixel
 * becomes `(1 - alpha) * pixel + alpha * color`.
 *
 * @example Blacken the middle of a white 4x4 image
 * ```ts
 * import assert from "node:assert/strict";
 * import { blankImage, fillRect } from "./plot.ts";
 * const image = blankImage(4, 4);
 * fillRect(image, 1, 1, 2, 2, [0, 0, 0]);
 * assert.equal(image.data[(1 * 4 + 1) * 3], 0);
 * assert.equal(image.data[0], 255);
 * ```
 */
export function fillRect(
  image: RgbImage,
  x: number,
  y: number,
  width: number,
  height: number,
  color: Color,
  alpha = 1,
): void {
  const x0 = Math.max(0, Math.round(x)), y0 = Math.max(0, Math.round(y));
  const x1 = Math.min(image.width, Math.round(x + width)), y1 = Math.min(image.height, Math.round(y + height));
  for (let row = y0; row < y1; row++) {
    for (let column = x0; column < x1; column++) {
      const at = (row * image.width + column) * 3;
      for (let c = 0; c < 3; c++) {
        image.data[at + c] = alpha >= 1 ? color[c] : Math.round((1 - alpha) * image.data[at + c] + alpha * color[c]);
      }
    }
  }
}

/**
 * Width in pixels of `text` drawn by {@linkcode drawText} at `scale`.
 *
 * @example Three characters at scale 2
 * ```ts
 * import assert from "node:assert/strict";
 * import { textWidth } from "./plot.ts";
 * assert.equal(textWidth("0.5", 2), 3 * 8 - 2);
 * ```
 */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * 4 - 1) * scale;
}

/**
 * Draws text in a 3x5 pixel font (digits, `.`, `-`, `+`, `%`, `e` and space;
 * other characters are drawn as spaces) with its top-left corner at
 * `(x, y)`, each font pixel `scale` pixels wide.
 *
 * @example Draw a "1" on a white 3x5 image
 * ```ts
 * import assert from "node:assert/strict";
 * import { blankImage, drawText } from "./plot.ts";
 * const image = blankImage(3, 5);
 * drawText(image, "1", 0, 0, [0, 0, 0]);
 * assert.equal(image.data[1 * 3], 0);
 * assert.equal(image.data[0], 255); // "1" has its top pixel in the middle
 * ```
 */
export function drawText(image: RgbImage, text: string, x: number, y: number, color: Color, scale = 1): void {
  if (!Number.isInteger(scale) || scale < 1) {
    throw new RangeError(`Cannot draw text at scale ${scale}: current value is not a positive integer`);
  }
  [...text].forEach((character, k) => {
    const glyph = GLYPHS[character] ?? GLYPHS[" "];
    for (let bit = 0; bit < 15; bit++) {
      if (glyph[bit] !== "1") continue;
      const column = bit % 3, row = Math.floor(bit / 3);
      fillRect(image, x + (k * 4 + column) * scale, y + row * scale, scale, scale, color);
    }
  });
}

/** Tick step with at most `most` ticks over `span`: 1, 2, 2.5 or 5 times a power of ten. */
function tickStep(span: number, most: number): number {
  const raw = span / most;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 2.5, 5, 10]) if (factor * power >= raw) return factor * power;
  return 10 * power;
}

/**
 * A number as a short axis label: at most 3 decimals, trailing zeros
 * dropped.
 *
 * @example Labels of a few ticks
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTick } from "./plot.ts";
 * assert.equal(formatTick(-0.5), "-0.5");
 * assert.equal(formatTick(1), "1");
 * assert.equal(formatTick(0.125), "0.125");
 * assert.equal(formatTick(-0.0000001), "0");
 * ```
 */
export function formatTick(value: number): string {
  const text = value.toFixed(3).replace(/\.?0+$/, "");
  return text === "-0" ? "0" : text;
}

/**
 * One distribution of a {@linkcode histogramPlot}.
 */
export interface PlotSeries {
  /** Counts per bin; drawn as shares of their sum, so series of different sizes compare. */
  counts: readonly number[];
  /** Bar colour. */
  color: Color;
}

/**
 * Options of {@linkcode histogramPlot}.
 */
export interface HistogramPlotOptions {
  /** Value at the left edge of the first bin. */
  min: number;
  /** Value at the right edge of the last bin. */
  max: number;
  /** Image width; default 480. */
  width?: number;
  /** Image height; default 240. */
  height?: number;
  /** Vertical dashed lines at values (e.g. a threshold). */
  markers?: { value: number; color: Color }[];
}

const MARGIN = { left: 44, right: 12, top: 12, bottom: 28 };

/**
 * Draws histograms over the same bins as translucent bars (each series as
 * shares of its own total), with an x axis labelled at round values, the
 * largest share at the top of the y axis, and optional dashed markers.
 *
 * @example Plot one distribution at the default size
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePng } from "./codec.ts";
 * import { histogramPlot } from "./plot.ts";
 * const image = histogramPlot([{ counts: [0, 2, 6, 2], color: [46, 160, 67] }], { min: 0, max: 1 });
 * assert.equal(image.width, 480);
 * assert.equal(image.height, 240);
 * assert.ok(encodePng(image).length > 100);
 * ```
 */
export function histogramPlot(series: readonly PlotSeries[], options: HistogramPlotOptions): RgbImage {
  const { min, max } = options;
  const width = options.width ?? 480, height = options.height ?? 240;
  if (!Number.isFinite(min) || !Number.isFinite(max) || !(max > min)) {
    throw new RangeError(`Cannot plot a histogram over [${min}, ${max}]: current range is empty or not finite`);
  }
  if (width < MARGIN.left + MARGIN.right + 10 || height < MARGIN.top + MARGIN.bottom + 10) {
    throw new RangeError(`Cannot plot a histogram in ${width}x${height}: current size is too small`);
  }
  const bins = series[0]?.counts.length ?? 0;
  series.forEach((one, k) => {
    if (one.counts.length !== bins || bins === 0) {
      throw new RangeError(
        `Cannot plot series ${k} with ${one.counts.length} bins: current first series has ${bins} (at least 1)`,
      );
    }
  });
  const image = blankImage(width, height);
  const left = MARGIN.left, top = MARGIN.top;
  const plotWidth = width - MARGIN.left - MARGIN.right, plotHeight = height - MARGIN.top - MARGIN.bottom;
  const xOf = (value: number) => left + ((value - min) / (max - min)) * plotWidth;
  const shares = series.map((one) => {
    const total = one.counts.reduce((sum, count) => sum + count, 0);
    return one.counts.map((count) => (total > 0 ? count / total : 0));
  });
  const largest = Math.max(1e-12, ...shares.flat());
  const grey: Color = [225, 225, 225], ink: Color = [40, 40, 40];

  // Grid and x labels at round values.
  const step = tickStep(max - min, 8);
  for (let k = Math.ceil(min / step - 1e-9); k * step <= max + 1e-9; k++) {
    const value = k * step, x = Math.round(xOf(value));
    fillRect(image, x, top, 1, plotHeight, grey);
    fillRect(image, x, top + plotHeight, 1, 4, ink);
    const label = formatTick(value);
    drawText(image, label, x - Math.floor(textWidth(label, 2) / 2), top + plotHeight + 8, ink, 2);
  }
  // Bars, series after series, blended so that overlaps show.
  shares.forEach((share, k) => {
    const color = series[k].color;
    share.forEach((value, bin) => {
      if (value === 0) return;
      const x0 = left + Math.floor((bin * plotWidth) / bins), x1 = left + Math.floor(((bin + 1) * plotWidth) / bins);
      const barHeight = Math.max(1, Math.round((value / largest) * plotHeight));
      fillRect(image, x0, top + plotHeight - barHeight, x1 - x0, barHeight, color, 0.45);
      fillRect(image, x0, top + plotHeight - barHeight, x1 - x0, 1, color);
    });
  });
  for (const marker of options.markers ?? []) {
    if (!(marker.value >= min && marker.value <= max)) continue;
    const x = Math.round(xOf(marker.value));
    for (let y = top; y < top + plotHeight; y += 6) fillRect(image, x, y, 1, 3, marker.color);
  }
  // Axes and the y scale: 0 at the bottom, the largest share at the top.
  fillRect(image, left, top, 1, plotHeight + 1, ink);
  fillRect(image, left, top + plotHeight, plotWidth, 1, ink);
  const topLabel = formatTick(largest);
  drawText(image, topLabel, left - 4 - textWidth(topLabel, 2), top, ink, 2);
  drawText(image, "0", left - 4 - textWidth("0", 2), top + plotHeight - 10, ink, 2);
  return image;
}

/**
 * Lays out rows of images as a grid of `cell x cell` tiles (images of
 * another size are resized) with `gap` pixels between and around them: a
 * contact sheet. Rows may differ in length; the grid is as wide as the
 * longest.
 *
 * @example A contact sheet of two rows of black faces
 * ```ts
 * import assert from "node:assert/strict";
 * import { blankImage, imageGrid } from "./plot.ts";
 * const face = blankImage(112, 112, [0, 0, 0]);
 * const sheet = imageGrid([[face, face], [face]], { gap: 4 });
 * assert.equal(sheet.width, 2 * 112 + 3 * 4);
 * assert.equal(sheet.height, 2 * 112 + 3 * 4);
 * assert.equal(sheet.data[(4 * sheet.width + 4) * 3], 0);
 * assert.equal(sheet.data[0], 255);
 * ```
 */
export function imageGrid(
  rows: readonly (readonly RgbImage[])[],
  options: { cell?: number; gap?: number; background?: Color } = {},
): RgbImage {
  const cell = options.cell ?? 112, gap = options.gap ?? 4;
  const columns = Math.max(0, ...rows.map((row) => row.length));
  if (rows.length === 0 || columns === 0) {
    throw new RangeError(`Cannot lay out a grid of ${rows.length} rows: current rows hold no image`);
  }
  const width = columns * cell + (columns + 1) * gap, height = rows.length * cell + (rows.length + 1) * gap;
  const sheet = blankImage(width, height, options.background);
  rows.forEach((row, r) => {
    row.forEach((tile, c) => {
      const image = tile.width === cell && tile.height === cell ? tile : resizeBilinear(tile, cell, cell);
      const x = gap + c * (cell + gap), y = gap + r * (cell + gap);
      for (let line = 0; line < cell; line++) {
        sheet.data.set(image.data.subarray(line * cell * 3, (line + 1) * cell * 3), ((y + line) * width + x) * 3);
      }
    });
  });
  return sheet;
}
