/**
 * Identity vectors to faces, through the pack's generator.
 *
 * @module
 */
import type { RgbImage } from "./image/codec.ts";
import { drawMask, type TokenMask } from "./mask.ts";
import type { ModelPack } from "./model_pack.ts";
import { checkSeed, Random, STREAM_TAGS } from "./random.ts";
import { checkVectors } from "./vectors.ts";
import type { TensorData } from "./_backend.ts";
import { releaseArray } from "./_release.ts";
import { DEFAULTS } from "./defaults.ts";

/** Options for {@linkcode render}. */
export interface RenderOptions {
  /** The model pack whose generator renders. */
  pack: ModelPack;
  /** Seed of the token masks; vector i's mask comes from `(seed, mask, i)`. Default 0. */
  seed?: number;
  /** Vectors per generator call; default 16. Results do not depend on it. */
  batchSize?: number;
  /** Cancels rendering between batches. */
  signal?: AbortSignal;
  /**
   * Head pose per vector, for generators with a `pose` input (the default
   * pack); others ignore it. Default frontal (yaw 0, pitch 0).
   */
  poses?: readonly HeadPose[];
}

/** Yaw and pitch in degrees, the `pose` input of generators that have one. */
export interface HeadPose {
  /** Left-right turn in degrees. */
  yaw: number;
  /** Up-down tilt in degrees. */
  pitch: number;
}

/** Checks a batch size. */
export function checkBatchSize(batchSize: unknown): number {
  if (!Number.isInteger(batchSize) || (batchSize as number) < 1 || (batchSize as number) > 4096) {
    throw new RangeError(`Cannot render with batch size ${batchSize}: current value is not an integer in 1..4096`);
  }
  return batchSize as number;
}

/** Maps generator output in [-1, 1] (clipped) to 8-bit, rounding to nearest. */
export function toByte(value: number): number {
  const clipped = value < -1 ? -1 : value > 1 ? 1 : value;
  return Math.round((clipped + 1) * 127.5);
}

/**
 * One generator call: raw output `[B, 3, size, size]` in about [-1, 1].
 * Low-level; most callers want {@linkcode render}.
 */
export async function generatorOutput(
  pack: ModelPack,
  vectors: Float32Array[],
  masks: TokenMask[],
  poses?: readonly HeadPose[],
): Promise<Float32Array> {
  const { vectorSize, tokens, droppedTokens } = pack.manifest;
  const count = vectors.length;
  const identity = new Float32Array(count * vectorSize);
  const masked = new Float32Array(count * (tokens + 1));
  const kept = new BigInt64Array(count * (tokens + 1 - droppedTokens));
  vectors.forEach((vector, i) => identity.set(vector, i * vectorSize));
  masks.forEach((mask, i) => {
    masked.set(mask.masked, i * mask.masked.length);
    kept.set(mask.kept, i * mask.kept.length);
  });
  const session = await pack.session("generator");
  const feeds: Record<string, TensorData> = {
    identity: { type: "float32", data: identity, dims: [count, vectorSize] },
    masked: { type: "float32", data: masked, dims: [count, tokens + 1] },
    kept: { type: "int64", data: kept, dims: [count, tokens + 1 - droppedTokens] },
  };
  if (session.inputNames.includes("pose")) {
    const pose = new Float32Array(count * 2);
    poses?.forEach((p, i) => pose.set([p.yaw, p.pitch], i * 2));
    feeds.pose = { type: "float32", data: pose, dims: [count, 2] };
  }
  const output = await session.run(feeds);
  return output.image.data;
}

/** Renders one batch with given masks to 8-bit RGB images (one generator call). */
export async function renderBatch(
  pack: ModelPack,
  vectors: Float32Array[],
  masks: TokenMask[],
  poses?: readonly HeadPose[],
): Promise<RgbImage[]> {
  const { imageSize } = pack.manifest;
  const count = vectors.length;
  const pixels = await generatorOutput(pack, vectors, masks, poses);
  const plane = imageSize * imageSize;
  const images: RgbImage[] = [];
  for (let n = 0; n < count; n++) {
    const data = new Uint8Array(plane * 3);
    const offset = n * plane * 3;
    for (let p = 0; p < plane; p++) {
      data[p * 3] = toByte(pixels[offset + p]);
      data[p * 3 + 1] = toByte(pixels[offset + plane + p]);
      data[p * 3 + 2] = toByte(pixels[offset + 2 * plane + p]);
    }
    images.push({ width: imageSize, height: imageSize, data });
  }
  // The session's output array is this call's alone: free its 2.4 MB (16 images) now, not at the next GC.
  releaseArray(pixels);
  return images;
}

/**
 * Renders identity vectors to 112x112 RGB faces. The token mask of vector i
 * is drawn from `(seed, mask, i)`, so the same seed gives the same images
 * whatever the batch size.
 *
 * @example Render the prior's mean with the default pack
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "./model_pack.ts";
 * import { render } from "./render.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const [face] = await render([pack.prior.mean], { pack, seed: 1 });
 * assert.equal(face.width, 112);
 * assert.equal(face.data.length, 112 * 112 * 3);
 * ```
 */
export async function render(vectors: Float32Array[], options: RenderOptions): Promise<RgbImage[]> {
  const { pack } = options;
  checkVectors(vectors, pack.manifest.vectorSize);
  const seed = checkSeed(options.seed ?? 0);
  const batchSize = checkBatchSize(options.batchSize ?? DEFAULTS.batchSize);
  const { poses } = options;
  if (poses !== undefined) {
    if (!Array.isArray(poses) || poses.length !== vectors.length) {
      throw new RangeError(
        `Cannot render ${vectors.length} vectors with poses: current count is ${(poses as unknown[])?.length}`,
      );
    }
    poses.forEach((p, i) => {
      if (!Number.isFinite(p?.yaw) || !Number.isFinite(p?.pitch)) {
        throw new RangeError(`Cannot render with pose ${i} as yaw and pitch: current value is ${JSON.stringify(p)}`);
      }
    });
  }
  const images: RgbImage[] = [];
  for (let start = 0; start < vectors.length; start += batchSize) {
    options.signal?.throwIfAborted();
    const batch = vectors.slice(start, start + batchSize);
    const masks = batch.map((_, i) => drawMask(Random.from(seed, STREAM_TAGS.mask, start + i), pack.layout));
    images.push(...await renderBatch(pack, batch, masks, poses?.slice(start, start + batchSize)));
  }
  return images;
}
