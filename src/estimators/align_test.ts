import assert from "node:assert/strict";
import { alignFace, ARCFACE_TEMPLATE_112, umeyamaSimilarity } from "./align.ts";
import type { Point } from "./types.ts";

const apply = (m: readonly number[], [x, y]: Point): Point => [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];

function assertClose(actual: readonly number[], expected: readonly number[], tolerance = 1e-9): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= tolerance, `[${actual}] vs [${expected}] at ${i}`));
}

Deno.test("umeyamaSimilarity recovers an exact similarity from five points", () => {
  const angle = 0.3, scale = 1.7;
  // deno-fmt-ignore
  const truth = [
    scale * Math.cos(angle), -scale * Math.sin(angle), 12.5,
    scale * Math.sin(angle), scale * Math.cos(angle), -4,
  ];
  const source: Point[] = [[30, 40], [70, 42], [52, 60], [35, 80], [68, 78]];
  const destination = source.map((p) => apply(truth, p));
  assertClose(umeyamaSimilarity(source, destination), truth);
});

Deno.test("umeyamaSimilarity maps the template onto itself as the identity", () => {
  assertClose(umeyamaSimilarity(ARCFACE_TEMPLATE_112, ARCFACE_TEMPLATE_112), [1, 0, 0, 0, 1, 0]);
});

Deno.test("umeyamaSimilarity of a half turn, where the covariance is negative", () => {
  const source: Point[] = [[0, 0], [2, 0], [0, 1]];
  const destination = source.map(([x, y]): Point => [10 - x, 5 - y]);
  assertClose(umeyamaSimilarity(source, destination), [-1, 0, 10, 0, -1, 5]);
});

Deno.test("umeyamaSimilarity never returns a reflection, even for mirrored points", () => {
  const source: Point[] = [[0, 0], [4, 0], [0, 2], [4, 3]];
  const mirrored = source.map(([x, y]): Point => [-x, y]);
  const m = umeyamaSimilarity(source, mirrored);
  assert.ok(m[0] * m[4] - m[1] * m[3] >= 0, `determinant of [${m}]`);
  // Rotation and uniform scale only: a = e, b = -d.
  assertClose([m[0], m[1]], [m[4], -m[3]]);
});

Deno.test("umeyamaSimilarity is the least-squares fit of points no similarity maps exactly", () => {
  const source: Point[] = [[30, 40], [70, 42], [52, 60], [35, 80], [68, 78]];
  const destination: Point[] = [[38, 52], [74, 51], [55, 73], [42, 92], [71, 93]];
  const squaredError = (m: readonly number[]) =>
    source.reduce((sum, p, i) => {
      const [x, y] = apply(m, p);
      return sum + (x - destination[i][0]) ** 2 + (y - destination[i][1]) ** 2;
    }, 0);
  const best = umeyamaSimilarity(source, destination);
  assert.ok(squaredError(best) > 1, "the points are not an exact similarity");
  // Nudging scale, angle or shift (staying a similarity) never lowers the error.
  const [a, b, c, , , f] = best;
  for (const [da, db, dc, df] of [[1e-4, 0, 0, 0], [0, 1e-4, 0, 0], [0, 0, 1e-3, 0], [0, 0, 0, 1e-3]]) {
    for (const sign of [1, -1]) {
      const na = a + sign * da, nb = b + sign * db;
      const nudged = [na, nb, c + sign * dc, -nb, na, f + sign * df];
      assert.ok(squaredError(nudged) >= squaredError(best), `nudge ${[da, db, dc, df]} x ${sign}`);
    }
  }
});

Deno.test("umeyamaSimilarity rejects mismatched, too few or degenerate points", () => {
  assert.throws(() => umeyamaSimilarity([[0, 0], [1, 1]], [[0, 0]]), /from 2 to 1 points/);
  assert.throws(() => umeyamaSimilarity([[1, 1], [1, 1]], [[0, 0], [1, 1]]), /current spread is 0/);
  assert.throws(() => umeyamaSimilarity([[0, 0], [Number.NaN, 1]], [[0, 0], [1, 1]]), TypeError);
});

Deno.test("alignFace warps the five points onto the template", () => {
  // A 224x224 image whose pixel value encodes its column: after a 2x shrink,
  // column x of the crop reads source column 2x + 0.5, so value x.
  const size = 224, image = { width: size, height: size, data: new Uint8Array(size * size * 3) };
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) image.data.fill(x >> 1, (y * size + x) * 3, (y * size + x) * 3 + 3);
  }
  const points = ARCFACE_TEMPLATE_112.map(([x, y]): Point => [2 * x + 0.5, 2 * y + 0.5]);
  const aligned = alignFace(image, points);
  assert.equal(aligned.width, 112);
  assert.equal(aligned.height, 112);
  for (const x of [0, 40, 111]) assert.equal(aligned.data[(50 * 112 + x) * 3], x);
  assert.throws(() => alignFace(image, points.slice(1)), /from 4 points/);
});
