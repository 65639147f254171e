/**
 * Every file name of a dataset folder, in one place: what `generateDataset`
 * and `fetchDataset` write, what a resumed or shared run may find there, and
 * where each image is as `manifest.jsonl` says it.
 *
 * @module
 */
import { imageRecordIndex } from "../recordio.ts";
import { webDatasetKey } from "../webdataset.ts";
import type { DatasetFormat } from "./plan.ts";

/** Names of the files in a dataset folder. */
export const FILES = Object.freeze({
  /** One row per image, written last: a folder with it is complete. */
  manifest: "manifest.jsonl",
  /** The progress journal of a run (removed when the run is complete). */
  journal: "progress.jsonl",
  /** The identity bank. */
  bankNpy: "identities.npy",
  /** The identity bank's sidecar. */
  bankJson: "identities.json",
  /** Which photos each identity came from (`cli.ts generate --from-images`). */
  sources: "sources.json",
  /** Held (created exclusively) by the worker that merges the parts of a shared run. */
  mergeLock: "merge.lock",
  /** RecordIO: the records. */
  rec: "train.rec",
  /** RecordIO: the record index. */
  idx: "train.idx",
  /** RecordIO: `count,height,width`. */
  property: "property",
});

/**
 * The temporary name a file is written under before it is renamed.
 *
 * @example A file written under its temporary name
 * ```ts
 * import assert from "node:assert/strict";
 * import { partial } from "./layout.ts";
 * assert.equal(partial("out/train.rec"), "out/train.rec.tmp");
 * ```
 */
export function partial(path: string): string {
  return `${path}.tmp`;
}

/**
 * The hidden name an identity folder is written under (`folder` format)
 * before it is renamed to `name`, once all its images are written.
 *
 * @example Identity 123's folder while it is written
 * ```ts
 * import assert from "node:assert/strict";
 * import { partialFolder } from "./layout.ts";
 * assert.equal(partialFolder("000123"), ".partial-000123");
 * ```
 */
export function partialFolder(name: string): string {
  return `.partial-${name}`;
}

/** A folder {@linkcode partialFolder} names. */
export const PARTIAL_FOLDER = /^\.partial-\d{6,}$/;

/**
 * The path of an image in a dataset: `{identity:06d}/{image:03d}.jpg`.
 *
 * @example The path of image 3 of identity 12
 * ```ts
 * import assert from "node:assert/strict";
 * import { samplePath } from "./layout.ts";
 * assert.equal(samplePath(12, 3), "000012/003.jpg");
 * ```
 */
export function samplePath(identity: number, image: number): string {
  return `${String(identity).padStart(6, "0")}/${String(image).padStart(3, "0")}.jpg`;
}

/**
 * The file of shard `shard`: `shard-{k:05d}.{extension}`.
 *
 * @example A tar shard name
 * ```ts
 * import assert from "node:assert/strict";
 * import { shardName } from "./layout.ts";
 * assert.equal(shardName(7, "tar"), "shard-00007.tar");
 * ```
 */
export function shardName(shard: number, extension: "zip" | "tar"): string {
  return `shard-${String(shard).padStart(5, "0")}.${extension}`;
}

/**
 * Where image `image` of identity `identity` is, as `manifest.jsonl` says it.
 *
 * @example Where images are in a zip and in a RecordIO dataset
 * ```ts
 * import assert from "node:assert/strict";
 * import { manifestFile } from "./layout.ts";
 * assert.equal(manifestFile("zip", 12, 3, 5, 10), "shard-00001.zip#000012/003.jpg");
 * assert.equal(manifestFile("recordio", 0, 1, 5, 1), "train.rec#2");
 * ```
 */
export function manifestFile(
  format: DatasetFormat,
  identity: number,
  image: number,
  perId: number,
  shardSize: number,
): string {
  const shard = Math.floor(identity / shardSize);
  switch (format) {
    case "folder":
      return samplePath(identity, image);
    case "zip":
      return `${shardName(shard, "zip")}#${samplePath(identity, image)}`;
    case "webdataset":
      return `${shardName(shard, "tar")}#${webDatasetKey(identity, image)}.jpg`;
    case "recordio":
      return `${FILES.rec}#${imageRecordIndex(identity, image, perId)}`;
  }
}

/** A part journal of a shared run: complete (`.jsonl`) or still running (`.progress.jsonl`). */
export const PART_JOURNAL = /^part-(\d{5,})-of-(\d{5,})(\.progress)?\.jsonl$/;

/** The files a folder shared by the workers of a sharded run may hold. */
export const SHARED_FILE =
  /^(identities\.(npy|json)(\.tmp[-\w]*)?|shard-\d{5,}\.(zip|tar)(\.tmp)?|part-\d{5,}-of-\d{5,}(\.progress)?\.jsonl(\.tmp)?|merge\.lock|sources\.json(\.tmp)?)$/;

/**
 * The part journal of worker `index` of `count`: `part-{k:05d}-of-{K:05d}.jsonl`
 * when complete, `.progress.jsonl` while it runs.
 *
 * @example A running part journal
 * ```ts
 * import assert from "node:assert/strict";
 * import { partJournalName } from "./layout.ts";
 * assert.equal(partJournalName({ index: 1, count: 3 }, false), "part-00001-of-00003.progress.jsonl");
 * ```
 */
export function partJournalName(share: { index: number; count: number }, complete: boolean): string {
  const name = `part-${String(share.index).padStart(5, "0")}-of-${String(share.count).padStart(5, "0")}`;
  return complete ? `${name}.jsonl` : `${name}.progress.jsonl`;
}
