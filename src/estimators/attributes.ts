/**
 * Age, gender and quality from identity features, with the pack's own
 * attribute heads (`attributes.onnx`, fitted by `training/fit_attributes.py`
 * on UTKFace labels): age is a ridge regression and gender a small MLP on the
 * L2-normalised features; quality is the feature norm over the mean norm of
 * real aligned faces. The norm of an ArcFace-style feature shrinks as a face
 * loses detail (MagFace's observation), and on our identity model it falls
 * monotonically with blur, JPEG compression and noise (numbers in the pack's
 * `attributes.json`), so it flags the generator's smeared or broken faces
 * with no extra model.
 *
 * @module
 */
import type { RgbImage } from "../image/codec.ts";
import { embed } from "./embed.ts";
import type { SessionProvider } from "./types.ts";

/** Attributes read from one face. */
export interface FaceAttributes {
  /** Apparent age in years. */
  age: number;
  /** Probability that the face is female, 0..1. */
  female: number;
  /** Feature norm over the mean norm of real faces: about 1 for a clear photo, lower when degraded. */
  quality: number;
}

/** Options of {@linkcode estimateAttributes} and {@linkcode attributesOfFeatures}. */
export interface AttributeOptions {
  /** Hands out the `identity` and `attributes` sessions. */
  pack: SessionProvider;
  /** Faces per model run; default 16. */
  batchSize?: number;
  /** Stops between batches. */
  signal?: AbortSignal;
}

/**
 * Attributes of raw identity features (as `embed` returns them).
 *
 * @example Attributes of the prior's mean vector
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "../model_pack.ts";
 * import { attributesOfFeatures } from "./attributes.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const [attributes] = await attributesOfFeatures([new Float32Array(pack.prior.mean)], { pack });
 * assert.ok(attributes.female >= 0);
 * assert.ok(attributes.female <= 1);
 * assert.ok(attributes.age >= 0);
 * ```
 */
export async function attributesOfFeatures(
  features: readonly Float32Array[],
  options: AttributeOptions,
): Promise<FaceAttributes[]> {
  if (features.length === 0) return [];
  const size = features[0].length;
  features.forEach((vector, i) => {
    if (vector.length !== size) {
      throw new RangeError(
        `Cannot read attributes of feature ${i} with the first: current length is ${vector.length}, expected ${size}`,
      );
    }
  });
  const session = await options.pack.session("attributes");
  const batchSize = options.batchSize ?? 256;
  const result: FaceAttributes[] = [];
  for (let start = 0; start < features.length; start += batchSize) {
    const batch = features.slice(start, start + batchSize);
    const data = new Float32Array(batch.length * size);
    batch.forEach((vector, i) => data.set(vector, i * size));
    const outputs = await session.run({ features: { type: "float32", data, dims: [batch.length, size] } });
    for (let i = 0; i < batch.length; i++) {
      result.push({ age: outputs.age.data[i], female: outputs.female.data[i], quality: outputs.quality.data[i] });
    }
  }
  return result;
}

/**
 * Attributes of aligned 112x112 faces: identity features, then the heads.
 *
 * @example Attributes of a generated face
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "../model_pack.ts";
 * import { render } from "../render.ts";
 * import { estimateAttributes } from "./attributes.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const faces = await render([new Float32Array(pack.prior.mean)], { pack, seed: 1 });
 * const [attributes] = await estimateAttributes(faces, { pack });
 * assert.ok(attributes.quality > 0);
 * ```
 */
export async function estimateAttributes(
  faces: readonly RgbImage[],
  options: AttributeOptions,
): Promise<FaceAttributes[]> {
  return attributesOfFeatures(await embed(faces, options), options);
}
