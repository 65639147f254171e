/**
 * Reference-photo mode: identities from photos of real people instead of the
 * prior, so that a dataset holds variations of them (`generate
 * --from-images`). Each photo directly in the folder is one identity; each
 * subfolder is one identity, the mean feature of its photos (Vec2Face's
 * identity centres). Photos without a face are listed, not fatal.
 *
 * @module
 */
import { dirname, relative } from "node:path";
import { embedPhotos, findImages } from "./estimators/embed_photos.ts";
import type { Progress } from "./progress.ts";
import type { SessionProvider } from "./estimators/types.ts";
import { identityCentres } from "./prior.ts";

/** Options of {@linkcode referenceIdentities}. */
export interface ReferenceOptions {
  /** Provides the detector, landmark and identity sessions (a model pack). */
  pack: SessionProvider;
  /** Called after each photo: photos `done` of `total`. */
  onProgress?: (progress: Progress) => void;
}

/** Identities made from photos. */
export interface ReferenceIdentities {
  /** One identity vector per source, in the order of `sources`. */
  vectors: Float32Array[];
  /** What each identity comes from: a photo, or a subfolder (relative to the folder). */
  sources: string[];
  /** Photos used per identity. */
  photos: number[];
  /** Photos in which no face was found (relative to the folder). */
  noFace: string[];
}

/**
 * Identity vectors from a folder of photos: one per photo at the top level,
 * one per subfolder (the mean of its photos' features), sorted by name.
 *
 * @example A blank photo has no face to take an identity from
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePng } from "./image/codec.ts";
 * import { loadPack } from "./model_pack.ts";
 * import { referenceIdentities } from "./reference.ts";
 * const directory = await Deno.makeTempDir();
 * await Deno.writeFile(`${directory}/blank.png`, encodePng({ width: 8, height: 8, data: new Uint8Array(192) }));
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * await assert.rejects(referenceIdentities(directory, { pack }), /no face/);
 * await Deno.remove(directory, { recursive: true });
 * ```
 */
export async function referenceIdentities(directory: string, options: ReferenceOptions): Promise<ReferenceIdentities> {
  const files = await findImages(directory);
  if (files.length === 0) {
    throw new RangeError(`Cannot make identities from ${directory}: current folder holds no .jpg or .png photos`);
  }
  const embedded = await embedPhotos(files, { pack: options.pack, onProgress: options.onProgress });
  const noFace = embedded.noFace.map((file) => relative(directory, file));
  if (embedded.features.length === 0) {
    throw new RangeError(
      `Cannot make identities from ${directory}: current folder has no face in any of its ${files.length} photos`,
    );
  }
  // A photo's source: its top-level subfolder, or itself when it sits at the top.
  const sourceOf = (file: string) => {
    const path = relative(directory, file);
    const folder = dirname(path);
    return folder === "." ? path : folder.split(/[\\/]/)[0];
  };
  const sourceNames = [...new Set(embedded.files.map(sourceOf))].sort();
  const groupOf = new Map(sourceNames.map((name, i) => [name, i]));
  const groups = embedded.files.map((file) => groupOf.get(sourceOf(file))!);
  // identityCentres returns groups in first-seen order; map them back to sorted order.
  const firstSeen = [...new Set(groups)];
  const centres = identityCentres(embedded.features, groups);
  const vectors: Float32Array[] = new Array(sourceNames.length);
  firstSeen.forEach((group, i) => vectors[group] = centres[i]);
  const photos = sourceNames.map((_, group) => groups.filter((g) => g === group).length);
  return { vectors, sources: sourceNames, photos, noFace };
}
