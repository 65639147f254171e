/**
 * Identity features of a folder of photos: find the image files, align the
 * best face of each and embed the aligned faces in batches.
 *
 * @module
 */
import { extname, join } from "node:path";
import { DEFAULTS } from "../defaults.ts";
import { decodeImage, type RgbImage } from "../image/codec.ts";
import { alignFaces } from "./align_faces.ts";
import { embed } from "./embed.ts";
import type { Progress } from "../progress.ts";
import type { SessionProvider } from "./types.ts";

/**
 * The `.jpg`, `.jpeg` and `.png` files under a folder, at any depth, sorted.
 *
 * @example Only the image files of a folder are listed
 * ```ts
 * import assert from "node:assert/strict";
 * import { findImages } from "./embed_photos.ts";
 * const directory = await Deno.makeTempDir();
 * await Deno.writeFile(`${directory}/b.png`, new Uint8Array());
 * await Deno.writeFile(`${directory}/a.txt`, new Uint8Array());
 * assert.equal((await findImages(directory)).length, 1);
 * await Deno.remove(directory, { recursive: true });
 * ```
 */
export async function findImages(directory: string): Promise<string[]> {
  const files: string[] = [];
  const walk = async (folder: string) => {
    for await (const entry of Deno.readDir(folder)) {
      const path = join(folder, entry.name);
      if (entry.isDirectory) await walk(path);
      else if ([".jpg", ".jpeg", ".png"].includes(extname(entry.name).toLowerCase())) files.push(path);
    }
  };
  await walk(directory);
  return files.sort();
}

/** Options for {@linkcode embedPhotos}. */
export interface EmbedPhotosOptions {
  /** Provides the detector, landmark and identity sessions (a model pack). */
  pack: SessionProvider;
  /** Aligned faces per identity-model call; default 16. */
  batchSize?: number;
  /** Called after each photo: photos `done` of `total`. */
  onProgress?: (progress: Progress) => void;
}

/** What {@linkcode embedPhotos} found. */
export interface EmbeddedPhotos {
  /** One feature per photo with a face, in the order of `files`. */
  features: Float32Array[];
  /** The photos the features belong to. */
  files: string[];
  /** The photos in which no face was found. */
  noFace: string[];
}

/**
 * Embeds the best face of each photo (any size): alignment one photo at a
 * time, the identity model in batches. Photos without a face are listed, not
 * fatal.
 *
 * @example A blank photo is listed as having no face
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePng } from "../image/codec.ts";
 * import { loadPack } from "../model_pack.ts";
 * import { embedPhotos } from "./embed_photos.ts";
 * const directory = await Deno.makeTempDir();
 * await Deno.writeFile(`${directory}/blank.png`, encodePng({ width: 8, height: 8, data: new Uint8Array(192) }));
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const { features, noFace } = await embedPhotos([`${directory}/blank.png`], { pack });
 * assert.equal(features.length, 0);
 * assert.equal(noFace.length, 1);
 * await Deno.remove(directory, { recursive: true });
 * ```
 */
export async function embedPhotos(paths: readonly string[], options: EmbedPhotosOptions): Promise<EmbeddedPhotos> {
  const { pack } = options;
  const batchSize = options.batchSize ?? DEFAULTS.batchSize;
  const result: EmbeddedPhotos = { features: [], files: [], noFace: [] };
  let pending: { file: string; image: RgbImage }[] = [];
  const flush = async () => {
    result.features.push(...await embed(pending.map((face) => face.image), { pack, batchSize }));
    result.files.push(...pending.map((face) => face.file));
    pending = [];
  };
  for (const [index, file] of paths.entries()) {
    const faces = await alignFaces(await decodeImage(await Deno.readFile(file)), { pack, maxFaces: 1 });
    if (faces.length === 0) result.noFace.push(file);
    else pending.push({ file, image: faces[0].image });
    if (pending.length === batchSize) await flush();
    options.onProgress?.({ done: index + 1, total: paths.length });
  }
  if (pending.length > 0) await flush();
  return result;
}
