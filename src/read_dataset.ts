/**
 * Reads face datasets back for evaluation: the four formats `generate`
 * writes (found by their `manifest.jsonl`, with the identity bank
 * `identities.npy` when present), insightface RecordIO datasets from
 * elsewhere (`train.rec` + `train.idx`), and plain ImageFolder trees (one
 * subfolder per identity, or a flat folder of photos).
 *
 * @module
 */
import { basename, join, relative } from "node:path";
import { unzipSync } from "fflate";
import { concatBytes, readAt } from "./_fs.ts";
import { sha256 } from "./_hash.ts";
import { FILES } from "./dataset/layout.ts";
import { type BankInfo, decodeBank } from "./bank.ts";
import { findImages } from "./estimators/embed_photos.ts";
import type { ManifestEdit, ManifestRow } from "./journal.ts";
import { parseRecordIndex, RECORDIO_MAGIC, unpackRecord } from "./recordio.ts";
import { readTar } from "./webdataset.ts";

/**
 * How a dataset is laid out: one of `generate`'s formats (with a manifest),
 * `recordio` also for insightface datasets without one, or `imagefolder`.
 */
export type DatasetLayout = "folder" | "zip" | "webdataset" | "recordio" | "imagefolder";

/**
 * One image of a dataset.
 */
export interface DatasetItem {
  /** Identity: the manifest's (an index into the bank), the RecordIO class, or the ImageFolder subfolder's rank. */
  identity: number;
  /** Image index within the identity. */
  image: number;
  /** Where the bytes are, relative to the dataset: a path, or `CONTAINER#MEMBER` (`.zip`, `.tar`, `.rec`). */
  file: string;
  /** sha256 of the image bytes, when a manifest gives it. */
  sha256?: string;
  /** What the image's attribute edit reached, when its manifest row records one (`generate` with `edit`). */
  edit?: ManifestEdit;
}

/**
 * A dataset's images and identities, as {@linkcode openDataset} found them.
 */
export interface DatasetIndex {
  /** The dataset folder. */
  path: string;
  /** Its layout. */
  layout: DatasetLayout;
  /** Whether a `manifest.jsonl` lists the images. */
  manifest: boolean;
  /** Every image, grouped by identity. */
  items: DatasetItem[];
  /** A name per identity number (ImageFolder: the subfolder; otherwise the number). */
  identityNames: string[];
  /** The identity vectors the images were rendered from (`identities.npy`), when present. */
  bank?: Float32Array[];
  /** The bank's sidecar (`identities.json`), when present. */
  bankInfo?: BankInfo;
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

function layoutOf(file: string): DatasetLayout {
  const container = file.includes("#") ? file.slice(0, file.indexOf("#")) : "";
  if (container.endsWith(".zip")) return "zip";
  if (container.endsWith(".tar")) return "webdataset";
  if (container.endsWith(".rec")) return "recordio";
  return "folder";
}

async function readManifest(path: string): Promise<DatasetItem[]> {
  const text = await Deno.readTextFile(join(path, FILES.manifest));
  const items: DatasetItem[] = [];
  text.split("\n").forEach((line, number) => {
    if (line.trim() === "") return;
    let row: Partial<ManifestRow>;
    try {
      row = JSON.parse(line);
    } catch (error) {
      throw new TypeError(
        `Cannot read ${join(path, FILES.manifest)} line ${number + 1} as JSON: ${(error as Error).message}`,
      );
    }
    if (!Number.isSafeInteger(row?.identity) || !Number.isSafeInteger(row.image) || typeof row.file !== "string") {
      throw new TypeError(
        `Cannot read ${join(path, FILES.manifest)} line ${number + 1} as {identity, image, file}: current line is ${
          line.slice(0, 120)
        }`,
      );
    }
    const item: DatasetItem = { identity: row.identity!, image: row.image!, file: row.file, sha256: row.sha256 };
    if (row.edit !== undefined) {
      item.edit = checkManifestEdit(row.edit, `${join(path, FILES.manifest)} line ${number + 1}`);
    }
    items.push(item);
  });
  return items;
}

/** Whether `value` is an object whose every value is a finite number (the targets and measured values of an edit). */
function isNumberRecord(value: unknown): value is Record<string, number> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    Object.values(value).every(Number.isFinite);
}

/** A manifest row's `edit`, checked: eval computes its shares and means from these numbers. */
function checkManifestEdit(value: unknown, where: string): ManifestEdit {
  const edit = value as Partial<ManifestEdit> | null;
  if (
    typeof edit !== "object" || edit === null || !isNumberRecord(edit.targets) || !isNumberRecord(edit.measured) ||
    (edit.status !== "reached" && edit.status !== "unreached") || !Number.isFinite(edit.identity) ||
    !Number.isSafeInteger(edit.calls)
  ) {
    throw new TypeError(
      `Cannot read the edit of ${where} as {targets, status, measured, identity, calls}: current value is ${
        JSON.stringify(value)?.slice(0, 120)
      }`,
    );
  }
  return edit as ManifestEdit;
}

const MAGIC_BYTES = new Uint8Array(new Uint32Array([RECORDIO_MAGIC]).buffer);

/** The payload of the RecordIO record at `offset`, its split parts joined (dmlc-core's reader). */
async function readRecord(file: Deno.FsFile, offset: number, name: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const head = new DataView((await readAt(file, offset, 8, name)).buffer);
    if (head.getUint32(0, true) !== RECORDIO_MAGIC) {
      throw new RangeError(
        `Cannot read a RecordIO record at byte ${offset} of ${name}: current word is 0x${
          head.getUint32(0, true).toString(16)
        }, not the magic`,
      );
    }
    const word = head.getUint32(4, true);
    const cflag = word >>> 29, length = word & ((1 << 29) - 1);
    parts.push(await readAt(file, offset + 8, length, name));
    offset += 8 + Math.ceil(length / 4) * 4;
    if (cflag === 0 || cflag === 3) break;
    parts.push(MAGIC_BYTES);
  }
  return parts.length === 1 ? parts[0] : concatBytes(parts);
}

/** A RecordIO label (a class, or a label vector whose first value is the class) as an integer. */
function classOf(label: number | number[]): number {
  return Math.trunc(Array.isArray(label) ? label[0] : label);
}

/** Items of an insightface RecordIO dataset without a manifest: classes from the header and identity records. */
async function recordIOItems(path: string): Promise<DatasetItem[]> {
  const rec = join(path, FILES.rec);
  const index = parseRecordIndex(await Deno.readTextFile(join(path, FILES.idx)));
  using file = await Deno.open(rec);
  const read = async (key: number) => {
    const offset = index.get(key);
    if (offset === undefined) throw new RangeError(`Cannot find record ${key} in ${join(path, FILES.idx)}`);
    return unpackRecord(await readRecord(file, offset, rec));
  };
  const items: DatasetItem[] = [];
  const header = index.has(0) ? await read(0) : undefined;
  const range = Array.isArray(header?.label) ? header.label.map(Math.trunc) : undefined;
  if (
    range && range.length >= 2 && range[1] > range[0] &&
    [...Array(range[1] - range[0]).keys()].every((c) => index.has(range[0] + c))
  ) {
    // Record 0 holds [N + 1, N + 1 + C]; record N + 1 + c holds class c's image range [first, end).
    for (let c = 0; c < range[1] - range[0]; c++) {
      const identity = await read(range[0] + c);
      const [first, end] = (identity.label as number[]).map(Math.trunc);
      for (let key = first; key < end; key++) items.push({ identity: c, image: key - first, file: `train.rec#${key}` });
    }
    return items;
  }
  // No class records: every image record's own label, in index order.
  const last = range ? range[0] : Infinity;
  const counts = new Map<number, number>();
  for (const key of [...index.keys()].sort((a, b) => a - b)) {
    if (key >= last || (range && key === 0)) continue;
    const identity = classOf((await read(key)).label);
    counts.set(identity, (counts.get(identity) ?? 0) + 1);
    items.push({ identity, image: counts.get(identity)! - 1, file: `train.rec#${key}` });
  }
  return items.sort((a, b) => a.identity - b.identity || a.image - b.image);
}

/** Items of an ImageFolder tree: subfolders with images are identities (sorted); else the folder's own photos. */
async function imageFolderItems(path: string): Promise<{ items: DatasetItem[]; names: string[] }> {
  const folders = (await Array.fromAsync(Deno.readDir(path)))
    .filter((entry) => entry.isDirectory)
    .map((entry) => entry.name)
    .sort();
  const items: DatasetItem[] = [];
  const names: string[] = [];
  for (const folder of folders) {
    const files = await findImages(join(path, folder));
    if (files.length === 0) continue;
    files.forEach((file, image) => items.push({ identity: names.length, image, file: relative(path, file) }));
    names.push(folder);
  }
  if (items.length === 0) {
    const files = (await Array.fromAsync(Deno.readDir(path)))
      .filter((entry) => entry.isFile && /\.(jpe?g|png)$/i.test(entry.name))
      .map((entry) => entry.name)
      .sort();
    files.forEach((file, image) => items.push({ identity: 0, image, file }));
    if (files.length > 0) names.push(basename(path));
  }
  return { items, names };
}

/**
 * Indexes a dataset folder: a `manifest.jsonl` written by `generate` (any
 * format; the bank `identities.npy` is read too), else insightface's
 * `train.rec` + `train.idx` (classes from the header and class records, or
 * from each record's label), else an ImageFolder tree (each subfolder with
 * images is an identity, sorted by name; a folder without such subfolders
 * is one identity of its own photos). Throws a `TypeError` naming the path
 * when there is nothing to read (a missing folder, a file, an interrupted
 * `generate` run, no images).
 *
 * @example An ImageFolder tree
 * ```ts
 * import assert from "node:assert/strict";
 * import { openDataset } from "./read_dataset.ts";
 * const root = await Deno.makeTempDir();
 * for (const name of ["bob/1.jpg", "bob/2.jpg", "ann/1.png"]) {
 *   await Deno.mkdir(`${root}/${name.split("/")[0]}`, { recursive: true });
 *   await Deno.writeFile(`${root}/${name}`, new Uint8Array());
 * }
 * const index = await openDataset(root);
 * assert.equal(index.layout, "imagefolder");
 * assert.equal(index.identityNames.join(), "ann,bob");
 * assert.equal(index.items.map((item) => item.identity).join(), "0,1,1");
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function openDataset(path: string): Promise<DatasetIndex> {
  const info = await statOrUndefined(path);
  if (!info) throw new TypeError(`Cannot read ${path} as a dataset: current path does not exist`);
  if (!info.isDirectory) throw new TypeError(`Cannot read ${path} as a dataset: current path is a file, not a folder`);
  if (await statOrUndefined(join(path, FILES.manifest))) {
    const items = await readManifest(path);
    const index: DatasetIndex = {
      path,
      layout: items.length > 0 ? layoutOf(items[0].file) : "folder",
      manifest: true,
      items,
      identityNames: [],
    };
    if (await statOrUndefined(join(path, FILES.bankNpy))) {
      index.bank = decodeBank(await Deno.readFile(join(path, FILES.bankNpy)), {
        name: join(path, FILES.bankNpy),
      });
      const sidecar = await statOrUndefined(join(path, FILES.bankJson));
      if (sidecar) index.bankInfo = JSON.parse(await Deno.readTextFile(join(path, FILES.bankJson)));
    }
    const largest = items.reduce((max, item) => Math.max(max, item.identity), -1);
    index.identityNames = Array.from({ length: largest + 1 }, (_, i) => String(i));
    return index;
  }
  if (await statOrUndefined(join(path, FILES.journal))) {
    throw new TypeError(
      `Cannot read ${path} as a dataset: current folder is an interrupted generate run (progress.jsonl, no ` +
        "manifest.jsonl); finish it with generate --resume",
    );
  }
  if (await statOrUndefined(join(path, FILES.rec)) && await statOrUndefined(join(path, FILES.idx))) {
    const items = await recordIOItems(path);
    const largest = items.reduce((max, item) => Math.max(max, item.identity), -1);
    const identityNames = Array.from({ length: largest + 1 }, (_, i) => String(i));
    return { path, layout: "recordio", manifest: false, items, identityNames };
  }
  const { items, names } = await imageFolderItems(path);
  if (items.length === 0) {
    throw new TypeError(
      `Cannot read ${path} as a dataset: current folder holds no manifest.jsonl, train.rec + train.idx, or ` +
        ".jpg/.jpeg/.png images",
    );
  }
  return { path, layout: "imagefolder", manifest: false, items, identityNames: names };
}

/**
 * One image read by {@linkcode readDataset}: its bytes, or why there are none.
 */
export interface DatasetImage {
  /** The item. */
  item: DatasetItem;
  /** The encoded image (JPEG or PNG). */
  bytes?: Uint8Array;
  /** Why the bytes could not be read: the file or member is missing, or its sha256 differs from the manifest's. */
  problem?: string;
}

/**
 * Reads the images of a dataset in the index's order. Each zip or tar shard
 * is read once (items are grouped by shard); RecordIO records are read at
 * their `train.idx` offsets. A missing file or member, or bytes whose sha256
 * differs from the manifest's, is yielded with a `problem` rather than
 * thrown, so one bad image does not stop an evaluation.
 *
 * @example Read the one image of an image folder
 * ```ts
 * import assert from "node:assert/strict";
 * import { openDataset, readDataset } from "./read_dataset.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/ann`);
 * await Deno.writeFile(`${root}/ann/1.jpg`, new Uint8Array([0xff, 0xd8]));
 * const [first] = await Array.fromAsync(readDataset(await openDataset(root)));
 * assert.equal(first.bytes!.length, 2);
 * assert.equal(first.problem, undefined);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function* readDataset(
  index: DatasetIndex,
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<DatasetImage> {
  let container: { name: string; files: Map<string, Uint8Array> } | undefined;
  let rec: { file: Deno.FsFile; offsets: Map<number, number> } | undefined;
  try {
    for (const item of index.items) {
      options.signal?.throwIfAborted();
      const hash = item.file.indexOf("#");
      let bytes: Uint8Array | undefined;
      let problem: string | undefined;
      try {
        if (hash < 0) {
          bytes = await Deno.readFile(join(index.path, item.file));
        } else {
          const name = item.file.slice(0, hash), member = item.file.slice(hash + 1);
          if (name.endsWith(".rec")) {
            if (!rec) {
              const offsets = parseRecordIndex(
                await Deno.readTextFile(join(index.path, name.replace(/\.rec$/, ".idx"))),
              );
              rec = { file: await Deno.open(join(index.path, name)), offsets };
            }
            const offset = rec.offsets.get(Number(member));
            if (offset === undefined) problem = `record ${member} is not in train.idx`;
            else bytes = unpackRecord(await readRecord(rec.file, offset, join(index.path, name))).bytes;
          } else {
            if (container?.name !== name) {
              const archive = await Deno.readFile(join(index.path, name));
              container = {
                name,
                files: name.endsWith(".zip") ? new Map(Object.entries(unzipSync(archive))) : readTar(archive),
              };
            }
            bytes = container.files.get(member);
            if (!bytes) problem = `${member} is not in ${name}`;
          }
        }
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound || error instanceof RangeError)) throw error;
        problem = error instanceof Deno.errors.NotFound ? "file is missing" : (error as Error).message;
      }
      if (bytes && item.sha256 && sha256(bytes) !== item.sha256) {
        problem = "sha256 differs from the manifest's";
        bytes = undefined;
      }
      yield bytes ? { item, bytes } : { item, problem };
    }
  } finally {
    rec?.file.close();
  }
}
