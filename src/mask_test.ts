import assert from "node:assert/strict";
import { drawMask, drawMaskRatio, VEC2FACE_LAYOUT } from "./mask.ts";
import { Random, STREAM_TAGS } from "./random.ts";

Deno.test("masks follow the contract: 50 flags, 45 sorted kept positions, 0 kept, dropped ones masked", () => {
  for (let i = 0; i < 500; i++) {
    const { masked, kept, ratio } = drawMask(Random.from(5, STREAM_TAGS.mask, i));
    assert.equal(masked.length, 50);
    assert.equal(kept.length, 45);
    assert.equal(masked[0], 0);
    assert.equal(kept[0], 0n);
    const keptPositions = [...kept].map(Number);
    assert.deepEqual(keptPositions, [...keptPositions].sort((a, b) => a - b));
    assert.equal(new Set(keptPositions).size, 45);
    const maskedCount = masked.reduce((a, b) => a + b, 0);
    assert.equal(maskedCount, Math.ceil(49 * ratio));
    for (let position = 1; position < 50; position++) {
      if (!keptPositions.includes(position)) assert.equal(masked[position], 1, "a dropped token is a masked one");
    }
  }
});

Deno.test("mask ratio follows the truncated normal (min 0.1, mu 0.15, std 0.25, max 1.0)", () => {
  const random = Random.from(11);
  const ratios = Array.from({ length: 50_000 }, () => drawMaskRatio(random, VEC2FACE_LAYOUT.maskRatio));
  assert.ok(ratios.every((r) => r >= 0.1 && r <= 1.0));
  const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
  // Mean of N(0.15, 0.25) truncated to [0.1, 1]: 0.15 + 0.25 (phi(-0.2) - phi(3.4)) / (Phi(3.4) - Phi(-0.2)) = 0.3203.
  assert.ok(Math.abs(mean - 0.3203) < 0.004, `mean ${mean}`);
});

Deno.test("the same stream gives the same mask", () => {
  const a = drawMask(Random.from(1, STREAM_TAGS.mask, 2, 3));
  const b = drawMask(Random.from(1, STREAM_TAGS.mask, 2, 3));
  assert.deepEqual(a, b);
});
