/**
 * One image of a dataset, alone: its generator inputs and its render. Kept
 * apart from `dataset.ts` (which re-exports it) so that it imports only what
 * a browser can run (no `node:` modules, no encoders): the preview page
 * (`src/web/preview.ts`) bundles it to render the same bytes as the server.
 *
 * @module
 */
import type { RgbImage } from "./image/codec.ts";
import type { HeadPose } from "./render.ts";
import { drawMask, type TokenMask } from "./mask.ts";
import type { ModelPack } from "./model_pack.ts";
import { perturbVector, sigmaForImage } from "./perturb.ts";
import { checkSeed, Random, STREAM_TAGS } from "./random.ts";
import { renderBatch } from "./render.ts";
import { checkCount } from "./_check.ts";
import { DEFAULTS } from "./defaults.ts";

/** The generator inputs of one dataset image. */
export interface SampleInput {
  /** The perturbed identity vector. */
  vector: Float32Array;
  /** The token mask. */
  mask: TokenMask;
  /** The noise sigma. */
  sigma: number;
  /** The head pose, for packs that declare a pose range (`manifest.pose`); else none. */
  pose?: HeadPose;
}

/**
 * The generator inputs of image `image` of identity `identity` in a dataset of
 * `perId` images per identity (the sigma depends on `perId`); with a pack that
 * declares a pose range, also its head pose, uniform over that range (stream
 * `(seed, pose, identity, image)`).
 *
 * @example The inputs of the last image of five
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleInput } from "./dataset.ts";
 * import { loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const input = sampleInput(pack, [pack.prior.mean], 5, 1, 0, 4);
 * assert.equal(input.vector.length, 512);
 * assert.equal(input.sigma, pack.manifest.sigmas[2]);
 * ```
 */
export function sampleInput(
  pack: ModelPack,
  identities: Float32Array[],
  perId: number,
  seed: number,
  identity: number,
  image: number,
): SampleInput {
  checkCount(perId, "images per identity `perId`", DEFAULTS.maxPerId);
  checkSeed(seed);
  if (!Number.isInteger(identity) || identity < 0 || identity >= identities.length) {
    throw new RangeError(`Cannot render identity ${identity}: current bank has ${identities.length}`);
  }
  if (!Number.isInteger(image) || image < 0 || image >= perId) {
    throw new RangeError(`Cannot render image ${image}: current value is not an integer in 0..${perId - 1}`);
  }
  const { sigmas, shares } = pack.manifest;
  const sigma = sigmaForImage(image, perId, sigmas, shares);
  const vector = perturbVector(identities[identity], sigma, Random.from(seed, STREAM_TAGS.perturb, identity, image));
  const mask = drawMask(Random.from(seed, STREAM_TAGS.mask, identity, image), pack.layout);
  const range = pack.manifest.pose;
  if (!range) return { vector, mask, sigma };
  return { vector, mask, sigma, pose: poseInRange(range, Random.from(seed, STREAM_TAGS.pose, identity, image)) };
}

/** Yaw and pitch uniform in the range a pack renders true (as float32, the generator's input type). */
function poseInRange(range: { yaw: number; pitch: number }, random: Random): HeadPose {
  const yaw = Math.fround((2 * random.float() - 1) * range.yaw);
  const pitch = Math.fround((2 * random.float() - 1) * range.pitch);
  return { yaw, pitch };
}

/** Options of {@linkcode renderDatasetImage}: the dataset's spec and which image. */
export interface RenderDatasetImageOptions {
  /** The model pack the dataset was generated with. */
  pack: ModelPack;
  /** The dataset's identity vectors (its bank, e.g. `identities.npy`). */
  identities: Float32Array[];
  /** The dataset's images per identity (the noise sigma of an image depends on it). */
  perId: number;
  /** The dataset's seed. */
  seed: number;
  /** Identity index, in `0..identities.length-1`. */
  identity: number;
  /** Image index within the identity, in `0..perId-1`. */
  image: number;
}

/**
 * Renders exactly image `image` of identity `identity` of a dataset, alone:
 * the noise from `(seed, perturb, identity, image)`, the token mask from
 * `(seed, mask, identity, image)`, one generator call of batch 1. Its JPEG at
 * the dataset's quality is byte for byte the file `generateDataset` wrote for
 * it (datasets generated with `edit` excepted). `perturb` and `render` do not
 * reproduce dataset images: their streams are keyed by position in the call.
 *
 * @example Image 3 of identity 0 is the dataset's image 3 of identity 0
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateSamples, renderDatasetImage } from "./dataset.ts";
 * import { encodeJpeg } from "./image/codec.ts";
 * import { loadPack } from "./model_pack.ts";
 * await using pack = await loadPack({ device: "wasm" });
 * const spec = { pack, identities: [pack.prior.mean], perId: 4, seed: 1 };
 * const face = await renderDatasetImage({ ...spec, identity: 0, image: 3 });
 * assert.equal(face.width, 112);
 * const written = await Array.fromAsync(generateSamples(spec));
 * assert.deepEqual(await encodeJpeg(face, 90), written[3].bytes);
 * ```
 *
 * @param options The dataset's pack, identities, perId and seed, and the image.
 * @returns The 112x112 RGB face.
 * @throws {RangeError} When the identity or image is out of range, or perId or seed is invalid.
 */
export async function renderDatasetImage(options: RenderDatasetImageOptions): Promise<RgbImage> {
  const { pack, identities, perId, seed, identity, image } = options;
  const { vector, mask, pose } = sampleInput(pack, identities, perId, seed, identity, image);
  const [face] = await renderBatch(pack, [vector], [mask], pose ? [pose] : undefined);
  return face;
}
