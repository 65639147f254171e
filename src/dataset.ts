/**
 * Datasets (HSFace layout): N identities x M images. A dataset is a pure
 * function of (pack, bank, seed, options): image j of identity i uses noise
 * from `(seed, perturb, i, j)` and a mask from `(seed, mask, i, j)`, so any
 * identity range (a shard) renders on its own, on any machine.
 *
 * @module
 */
import { encodeJpeg, type RgbImage } from "./image/codec.ts";
import type { ModelPack } from "./model_pack.ts";
import { checkSeed, Random, STREAM_TAGS } from "./random.ts";
import { checkBatchSize, type HeadPose, renderBatch } from "./render.ts";
import { sha256 } from "./_hash.ts";
import { edit, type EditAttribute, type EditResult, type EditTargets } from "./edit.ts";
import type { ManifestEdit } from "./journal.ts";
import { releaseArray } from "./_release.ts";
import { checkCount } from "./_check.ts";
import { DEFAULTS } from "./defaults.ts";
import { samplePath } from "./dataset/layout.ts";
import { sampleInput } from "./dataset_image.ts";

export { samplePath };
export { renderDatasetImage, type RenderDatasetImageOptions, type SampleInput, sampleInput } from "./dataset_image.ts";

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
  /** With a pack that declares a pose range: the head pose the image was rendered at, as its manifest row records it. */
  pose?: HeadPose;
  /** With `edit`: what the image's edit reached, as its manifest row records it. */
  edit?: ManifestEdit;
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
      const poses = pack.manifest.pose ? inputs.map((input) => input.pose!) : undefined;
      images = await renderBatch(pack, inputs.map((input) => input.vector), inputs.map((input) => input.mask), poses);
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
        // An edit renders its own way (its search moves the vector): its images were not rendered at this pose.
        ...(inputs[k].pose && !edited ? { pose: roundedPose(inputs[k].pose!) } : {}),
        ...(edited ? { edit: manifestEdit(options.edit!.targets, edited) } : {}),
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

/** Row numbers keep 4 decimals: enough to read a degree, a year or a cosine, and rows stay short. */
function rounded(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}

/** The pose an image was rendered at, for its manifest row. */
function roundedPose({ yaw, pitch }: HeadPose): HeadPose {
  return { yaw: rounded(yaw), pitch: rounded(pitch) };
}

/** What an image's edit reached, for its manifest row: each target with the value measured for it. */
function manifestEdit(targets: EditTargets, result: EditResult): ManifestEdit {
  const wanted: ManifestEdit["targets"] = {};
  const measured: ManifestEdit["measured"] = {};
  for (const [name, target] of Object.entries(targets) as [EditAttribute, EditTargets[EditAttribute]][]) {
    if (target === undefined) continue;
    // `edit` checked the targets; gender is searched for as the probability of female.
    wanted[name] = target === "female" ? 1 : target === "male" ? 0 : target;
    measured[name] = rounded(name === "gender" ? result.attributes.female : result.attributes[name]);
  }
  const { landmarkYaw } = result.attributes;
  if (wanted.yaw !== undefined && landmarkYaw !== undefined) measured.landmarkYaw = rounded(landmarkYaw);
  return { targets: wanted, status: result.status, measured, identity: rounded(result.identity), calls: result.calls };
}
