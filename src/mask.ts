/**
 * Vec2Face token masks. The generator expands a vector into 49 tokens (7x7);
 * at inference a random share of them is replaced by the projected identity,
 * and 5 of the masked ones are dropped before the encoder, as in training.
 *
 * @module
 */
import type { Random } from "./random.ts";

/** The truncated normal the mask ratio is drawn from. */
export interface MaskRatio {
  /** Lower bound (also the share of dropped tokens). */
  min: number;
  /** Mean of the untruncated normal. */
  mu: number;
  /** Standard deviation of the untruncated normal. */
  std: number;
  /** Upper bound. */
  max: number;
}

/** Vec2Face's mask-ratio distribution. */
export const VEC2FACE_MASK_RATIO: MaskRatio = { min: 0.1, mu: 0.15, std: 0.25, max: 1.0 };

/** Token layout of a generator: 49 feature tokens, 5 dropped. */
export interface TokenLayout {
  /** Feature tokens (position 0, the class token, comes on top). */
  tokens: number;
  /** Masked tokens removed before the encoder. */
  droppedTokens: number;
  /** Mask-ratio distribution. */
  maskRatio: MaskRatio;
}

/** Vec2Face's token layout. */
export const VEC2FACE_LAYOUT: TokenLayout = { tokens: 49, droppedTokens: 5, maskRatio: VEC2FACE_MASK_RATIO };

/** One image's mask, in the generator contract's form. */
export interface TokenMask {
  /** `tokens + 1` values: 1 where the token is replaced by the identity; position 0 never. */
  masked: Float32Array;
  /** Sorted kept positions (`tokens + 1 - droppedTokens` of them, always containing 0). */
  kept: BigInt64Array;
  /** The drawn mask ratio. */
  ratio: number;
}

/** Draws a ratio from the truncated normal by rejection (acceptance ~58 % for Vec2Face's). */
export function drawMaskRatio(random: Random, ratio: MaskRatio = VEC2FACE_MASK_RATIO): number {
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const value = ratio.mu + ratio.std * random.normal();
    if (value >= ratio.min && value <= ratio.max) return value;
  }
  // Only reachable with a degenerate distribution; the midpoint keeps it finite.
  return (ratio.min + ratio.max) / 2;
}

/**
 * Draws one image's mask: `ceil(tokens * ratio)` masked tokens, the first
 * `droppedTokens` of them (in random order) dropped, as Vec2Face does.
 *
 * @example Draw the mask of one image with Vec2Face's layout
 * ```ts
 * import assert from "node:assert/strict";
 * import { drawMask } from "./mask.ts";
 * import { Random } from "./random.ts";
 * const mask = drawMask(Random.from(1, 3, 0, 0));
 * assert.equal(mask.masked.length, 50);
 * assert.equal(mask.kept.length, 45);
 * assert.equal(mask.masked[0], 0);
 * assert.equal(mask.kept[0], 0n);
 * ```
 */
export function drawMask(random: Random, layout: TokenLayout = VEC2FACE_LAYOUT): TokenMask {
  const { tokens, droppedTokens } = layout;
  const ratio = drawMaskRatio(random, layout.maskRatio);
  const maskedCount = Math.max(droppedTokens, Math.min(tokens, Math.ceil(tokens * ratio)));
  // Fisher-Yates: order[0..maskedCount) are masked, order[0..droppedTokens) also dropped.
  const order = Array.from({ length: tokens }, (_, i) => i + 1);
  for (let i = 0; i < maskedCount; i++) {
    const j = i + random.int(tokens - i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const masked = new Float32Array(tokens + 1);
  for (let i = 0; i < maskedCount; i++) masked[order[i]] = 1;
  const dropped = new Set(order.slice(0, droppedTokens));
  const kept = new BigInt64Array(tokens + 1 - droppedTokens);
  let k = 0;
  for (let position = 0; position <= tokens; position++) {
    if (!dropped.has(position)) kept[k++] = BigInt(position);
  }
  return { masked, kept, ratio };
}
