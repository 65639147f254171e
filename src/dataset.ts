/**
 * Datasets (HSFace layout): N identities x M images. A dataset is a pure
 * function of (pack, bank, seed, options): image j of identity i uses noise
 * from `(seed, perturb, i, j)` and a mask from `(seed, mask, i, j)`, so any
 * identity range (a shard) renders on its own, on any machine.
 *
 * @module
 */
import { encodeJpeg, type RgbImage } from "./image/codec.ts";
import { drawMask, type TokenMask } from "./mask.ts";
import type { ModelPack } from "./model_pack.ts";
import { perturbVector, sigmaForImage } from "./perturb.ts";
import { checkSeed, Random, STREAM_TAGS } from "./random.ts";
import { checkBatchSize, renderBatch } from "./render.ts";
import { sha256 } from "./_hash.ts";
import { edit, type EditResult, type EditTargets } from "./edit.ts";
import { releaseArray } from "./_release.ts";
import { checkCount } from "./_check.ts";
import { DEFAULTS } from "./defaults.ts";
import { samplePath } from "./dataset/layout.ts";

export { samplePath };

/**
 * Attribute targets for every image of a dataset (the official pose
 * generation, with more attributes): each image's perturbed vector is edited
 * with its own mask and search stream `(seed, edit, identity, image)`.
 */
export interface DatasetEdit {
  /** Targets, as for `edit`. */
  targets: EditTargets;
  /** Generator calls per image; default 200. */
  budget?: number;
  /** Lowest identity cosine to the unedited image; default 0.6. */
  minIdentity?: number;
}

/** One generated image of a dataset with its metadata. */
export interface DatasetSample {
  /** Identity index in the dataset. */
  identity: number;
  /** Image index within the identity. */
  image: number;
  /** Noise sigma used. */
  sigma: number;
  /** Path in the dataset: `{identity:06d}/{image:03d}.jpg`. */
  path: string;
  /** JPEG bytes. */
  bytes: Uint8Array;
  /** sha256 of the JPEG bytes. */
  sha256: string;
  /** With `edit`: what the image's edit reached. */
  edit?: Pick<EditResult, "status" | "errors" | "identity" | "calls">;
}

/** Options for {@linkcode generateSamples}. */
export interface GenerateSamplesOptions {
  /** The model pack. */
  pack: ModelPack;
  /** Identity vectors of the whole dataset (the bank). */
  identities: Float32Array[];
  /** Images per identity. */
  perId: number;
  /** Dataset seed. */
  seed: number;
  /** First identity to render (inclusive); default 0. */
  start?: number;
  /** Identity to stop before; default all. */
  end?: number;
  /** Images per generator call; default 16. */
  batchSize?: number;
  /** JPEG quality; default 90. */
  quality?: number;
  /** Edit every image towards attribute targets (slow: up to `budget` renders per image). */
  edit?: DatasetEdit;
  /** Cancels between batches. */
  signal?: AbortSignal;
}

/**
 * Renders the images of identities `[start, end)` in order, batched across
 * identities. Output does not depend on the batch size.
 *
 * @example The images of one identity, in order
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateSamples } from "./dataset.ts";
 * import { loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const identities = [pack.prior.mean];
 * const samples = await Array.fromAsync(generateSamples({ pack, identities, perId: 2, seed: 1 }));
 * assert.equal(samples.length, 2);
 * assert.equal(samples[1].path, "000000/001.jpg");
 * ```
 */
export async function* generateSamples(options: GenerateSamplesOptions): AsyncGenerator<DatasetSample> {
  const { pack, identities } = options;
  const perId = checkCount(options.perId, "images per identity `perId`", DEFAULTS.maxPerId);
  const seed = checkSeed(options.seed);
  const batchSize = checkBatchSize(options.batchSize ?? DEFAULTS.batchSize);
  const quality = options.quality ?? DEFAULTS.jpegQuality;
  const start = options.start ?? 0;
  const end = options.end ?? identities.length;
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= identities.length)) {
    throw new RangeError(`Cannot render identities [${start}, ${end}): current bank has ${identities.length}`);
  }
  let pending: { identity: number; image: number }[] = [];
  const flush = async function* (): AsyncGenerator<DatasetSample> {
    options.signal?.throwIfAborted();
    const inputs = pending.map(({ identity, image }) => sampleInput(pack, identities, perId, seed, identity, image));
    let images: RgbImage[];
    const edits: EditResult[] = [];
    if (options.edit) {
      for (const [k, { identity, image }] of pending.entries()) {
        edits.push(
          await edit(inputs[k].vector, options.edit.targets, {
            pack,
            mask: inputs[k].mask,
            random: Random.from(seed, STREAM_TAGS.edit, identity, image),
            budget: options.edit.budget,
            minIdentity: options.edit.minIdentity,
            signal: options.signal,
          }),
        );
      }
      images = edits.map((result) => result.image);
    } else {
      images = await renderBatch(pack, inputs.map((input) => input.vector), inputs.map((input) => input.mask));
    }
    for (let k = 0; k < pending.length; k++) {
      const bytes = await encodeJpeg(images[k], quality);
      // Rendered for this sample alone: free the RGB pixels now, not at the next GC.
      if (!options.edit) releaseArray(images[k].data);
      const { identity, image } = pending[k];
      const edited = edits[k];
      yield {
        identity,
        image,
        sigma: inputs[k].sigma,
        path: samplePath(identity, image),
        bytes,
        sha256: sha256(bytes),
        ...(edited
          ? { edit: { status: edited.status, errors: edited.errors, identity: edited.identity, calls: edited.calls } }
          : {}),
      };
    }
    pending = [];
  };
  for (let identity = start; identity < end; identity++) {
    for (let image = 0; image < perId; image++) {
      pending.push({ identity, image });
      if (pending.length === batchSize) yield* flush();
    }
  }
  if (pending.length > 0) yield* flush();
}

/** The generator inputs of one dataset image. */
export interface SampleInput {
  /** The perturbed identity vector. */
  vector: Float32Array;
  /** The token mask. */
  mask: TokenMask;
  /** The noise sigma. */
  sigma: number;
}

/**
 * The generator inputs of image `image` of identity `identity` in a dataset of
 * `perId` images per identity (the sigma depends on `perId`).
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
  return { vector, mask, sigma };
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
  const { vector, mask } = sampleInput(pack, identities, perId, seed, identity, image);
  const [face] = await renderBatch(pack, [vector], [mask]);
  return face;
}
