import assert from "node:assert/strict";
import { perturb, sigmaForImage } from "./perturb.ts";
import { norm } from "./vectors.ts";

Deno.test("perturb keeps each vector's norm and adds noise of the given sigma", () => {
  const identity = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i) * 3);
  const images = perturb(Array(10).fill(identity), { sigmas: [0.3, 0.5, 0.7], seed: 4 });
  for (const image of images) assert.ok(Math.abs(norm(image) - norm(identity)) < 1e-3);
  // Noise of sigma s over 512 dims has norm about s * sqrt(512) before rescaling.
  const distance = (a: Float32Array, b: Float32Array) => norm(a.map((v, i) => v - b[i]));
  assert.ok(distance(images[0], identity) < distance(images[9], identity));
});

Deno.test("shares split any image count, not only multiples of 5", () => {
  for (const count of [1, 2, 3, 7, 50, 51]) {
    const sigmas = Array.from({ length: count }, (_, i) => sigmaForImage(i, count, [1, 2, 3], [0.4, 0.4, 0.2]));
    assert.equal(sigmas.length, count);
    assert.deepEqual(sigmas, [...sigmas].sort());
  }
  const fifty = Array.from({ length: 50 }, (_, i) => sigmaForImage(i, 50, [1, 2, 3], [0.4, 0.4, 0.2]));
  assert.deepEqual([1, 2, 3].map((s) => fifty.filter((x) => x === s).length), [20, 20, 10]);
  assert.equal(perturb(Array(3).fill(new Float32Array(8).fill(1))).length, 3);
});

Deno.test("perturb is deterministic for a seed and refuses bad input", () => {
  const v = new Float32Array(16).fill(1);
  assert.deepEqual(perturb([v, v], { seed: 3 }), perturb([v, v], { seed: 3 }));
  assert.notDeepEqual(perturb([v], { seed: 3 }), perturb([v], { seed: 4 }));
  const withNaN = new Float32Array(16);
  withNaN[3] = NaN;
  assert.throws(() => perturb([v, withNaN]), /vectors\[1\].*at 3 is NaN/);
  assert.throws(() => perturb([v, new Float32Array(15)]), /current length is 15/);
  assert.throws(() => perturb([v], { shares: [0.5, 0.5, 0.5] }), /current sum is 1.5/);
  assert.throws(() => perturb([]), RangeError);
});
