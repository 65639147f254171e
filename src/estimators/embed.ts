/**
 * Identity features with faceplugin's `fr_feature` (an ArcFace-style network:
 * aligned 112x112 RGB in as `(p - 127) / 128`, 512 raw features out), and the
 * cosine similarity that compares them.
 *
 * @module
 */
import type { OnnxSession } from "../_backend.ts";
import { checkBatches } from "../_check.ts";
import { DEFAULTS } from "../defaults.ts";
import { Vec2FaceError } from "../errors.ts";
import type { RgbImage } from "../image/codec.ts";
import { toNchwTensor } from "../image/transform.ts";
import { ALIGNED_SIZE } from "./align.ts";
import type { SessionProvider } from "./types.ts";

/** Options of {@linkcode embed}. */
export interface EmbedOptions {
  /** Hands out the `identity` session. */
  pack: SessionProvider;
  /** Images per model run; default 16. Models fixed to batch 1 are detected and run one by one. */
  batchSize?: number;
  /** Stops between batches. */
  signal?: AbortSignal;
}

// Sessions whose model refused a batch above 1 (fixed batch dimension).
const singleImageSessions = new WeakSet<OnnxSession>();

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new Vec2FaceError("aborted", "Cannot finish embedding: the signal was aborted", { cause: signal.reason });
  }
}

async function runBatch(session: OnnxSession, images: readonly RgbImage[]): Promise<Float32Array[]> {
  const input = toNchwTensor(images, { mean: 127, std: 128 });
  const outputs = await session.run({ [session.inputNames[0]]: input });
  const features = outputs[session.outputNames[0]];
  const width = features.data.length / images.length;
  if (!Number.isInteger(width) || width < 1) {
    throw new RangeError(
      `Cannot split identity features for ${images.length} images: current output shape is [${
        features.dims.join(", ")
      }]`,
    );
  }
  return images.map((_, i) => features.data.slice(i * width, (i + 1) * width));
}

/**
 * Identity features of aligned 112x112 faces (see `alignFaces`): one raw,
 * unnormalised 512-value vector per image, in order. Compare them with
 * `cosineSimilarity` (vectors.ts).
 *
 * @example Embed two aligned faces with the default pack's identity model
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "../model_pack.ts";
 * import { cosineSimilarity } from "../vectors.ts";
 * import { embed } from "./embed.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const face = { width: 112, height: 112, data: new Uint8Array(112 * 112 * 3).fill(90) };
 * const [a, b] = await embed([face, face], { pack });
 * assert.equal(a.length, 512);
 * assert.ok(cosineSimilarity(a, b) > 0.999);
 * ```
 */
export async function embed(images: readonly RgbImage[], options: EmbedOptions): Promise<Float32Array[]> {
  const batchSize = checkBatches(options.batchSize ?? DEFAULTS.batchSize, "embed faces");
  images.forEach((image, i) => {
    if (image.width !== ALIGNED_SIZE || image.height !== ALIGNED_SIZE || image.data?.length !== ALIGNED_SIZE ** 2 * 3) {
      throw new RangeError(
        `Cannot embed image ${i} as an aligned ${ALIGNED_SIZE}x${ALIGNED_SIZE} RGB face: current size is ${image.width}x${image.height} with ${image.data?.length} bytes`,
      );
    }
  });
  throwIfAborted(options.signal);
  if (images.length === 0) return [];
  const session = await options.pack.session("identity");
  const features: Float32Array[] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    throwIfAborted(options.signal);
    const batch = images.slice(start, start + batchSize);
    if (batch.length > 1 && !singleImageSessions.has(session)) {
      try {
        features.push(...await runBatch(session, batch));
        continue;
      } catch {
        // A model exported with batch 1 rejects the shape: remember and go one by one.
        singleImageSessions.add(session);
      }
    }
    for (const image of batch) {
      throwIfAborted(options.signal);
      features.push(...await runBatch(session, [image]));
    }
  }
  return features;
}
