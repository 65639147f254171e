/**
 * Writes a dataset to disk: the identity bank, the images in one of four
 * formats, and `manifest.jsonl`.
 *
 * - `folder`: `{identity:06d}/{image:03d}.jpg` (ImageFolder layout).
 * - `zip`: `shard-{k:05d}.zip`, S identities each, entries STOREd.
 * - `webdataset`: `shard-{k:05d}.tar`, S identities each, members
 *   `{identity:06d}_{image:03d}.jpg` and `.json`.
 * - `recordio`: insightface's `train.rec`, `train.idx` and `property`.
 *
 * Every file is written under a temporary name and renamed when complete, and
 * `manifest.jsonl` comes last, so an interrupted run never looks complete.
 * While it runs, `progress.jsonl` journals each completed unit (an identity
 * for folders and RecordIO, a shard otherwise) with its sha256; `resume`
 * checks the spec, keeps the units whose files still match, redoes the rest,
 * and the finished output is byte-identical to an uninterrupted run.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type BankInfo, decodeBank, encodeBank, sampledBankInfo, saveBank } from "./bank.ts";
import type { Backend } from "./_backend.ts";
import { checkCount, type DatasetEdit, generateSamples, type Sample, samplePath } from "./dataset.ts";
import { Vec2FaceError } from "./errors.ts";
import {
  JOURNAL_NAME,
  type ManifestRow,
  ProgressJournal,
  readJournalSpec,
  type RunSpec,
  specDifferences,
  type UnitRecord,
} from "./journal.ts";
import { type ModelPack, sha256Hex } from "./model_pack.ts";
import { checkSeed } from "./random.ts";
import {
  frameRecord,
  headerRecord,
  identityRecord,
  imageRecordIndex,
  packRecord,
  propertyText,
  type RecordIOEntry,
  RecordIOStream,
} from "./recordio.ts";
import { sample } from "./sample.ts";
import { type ShardEntry, ZipShardStream } from "./shard.ts";
import { checkVectors } from "./vectors.ts";
import { TarShardStream, webDatasetEntries, webDatasetKey } from "./webdataset.ts";

/**
 * Output formats.
 *
 * @example
 * ```ts
 * import type { DatasetFormat } from "./generate.ts";
 * const format: DatasetFormat = "recordio";
 * console.assert(format === "recordio");
 * ```
 */
export type DatasetFormat = "folder" | "zip" | "webdataset" | "recordio";

/**
 * Every output format, in the order the CLI lists them.
 *
 * @example
 * ```ts
 * import { DATASET_FORMATS } from "./generate.ts";
 * console.assert(DATASET_FORMATS.includes("webdataset"));
 * ```
 */
export const DATASET_FORMATS: readonly DatasetFormat[] = ["folder", "zip", "webdataset", "recordio"];

/**
 * Checks an output format name.
 *
 * @example
 * ```ts
 * import { checkFormat } from "./generate.ts";
 * console.assert(checkFormat("recordio") === "recordio");
 * let message = "";
 * try {
 *   checkFormat("tfrecord");
 * } catch (error) {
 *   message = (error as Error).message;
 * }
 * console.assert(message.startsWith('Cannot write format "tfrecord": current value is not one of folder'));
 * ```
 */
export function checkFormat(value: unknown): DatasetFormat {
  if (!DATASET_FORMATS.includes(value as DatasetFormat)) {
    throw new RangeError(
      `Cannot write format ${JSON.stringify(value)}: current value is not one of ${DATASET_FORMATS.join(", ")}`,
    );
  }
  return value as DatasetFormat;
}

/** Progress of {@linkcode generateDataset}. */
export interface GenerateProgress {
  /** Stage of the run. */
  stage: "sample" | "render";
  /** Done so far (identities sampled, or images rendered or kept). */
  done: number;
  /** Total for the stage. */
  total: number;
}

/** Options for {@linkcode generateDataset}. */
export interface GenerateOptions {
  /** The model pack. */
  pack: ModelPack;
  /** Output folder. */
  out: string;
  /** Number of identities. */
  ids: number;
  /** Images per identity. */
  perId: number;
  /** Dataset seed; default 0. */
  seed?: number;
  /** `folder` (default), `zip` or `webdataset` shards, or `recordio`. */
  format?: DatasetFormat;
  /** Identities per zip or tar shard; default 100. */
  shardSize?: number;
  /** Images per generator call; default 16. */
  batchSize?: number;
  /** Separation threshold; default the pack's. */
  threshold?: number;
  /** Identity vectors to use instead of sampling (at least `ids` of them). */
  bank?: Float32Array[];
  /** Edit every image towards attribute targets (see `DatasetEdit`; up to `budget` renders per image). */
  edit?: DatasetEdit;
  /** Replace a non-empty output folder. */
  overwrite?: boolean;
  /**
   * Continue an interrupted run in `out` (a missing or empty folder starts a
   * new one). The run there must have the same spec (ids, perId, seed,
   * format, shard size, threshold, pack, backend, bank), else a
   * `Vec2FaceError` (`resume-mismatch`).
   */
  resume?: boolean;
  /**
   * Render only this worker's share of the shards (`zip` and `webdataset`;
   * the CLI's `--shards k/K`): shards j with j mod `count` = `index`. See
   * {@linkcode WorkerShare}.
   */
  share?: WorkerShare;
  /** Cancels the run. */
  signal?: AbortSignal;
  /** Progress callback. */
  onProgress?: (progress: GenerateProgress) => void;
}

/**
 * One worker's share of a sharded run (`generate --shards index/count`):
 * worker `index` (0-based) of `count` renders shards j with j mod `count` =
 * `index`, into an output folder of its own or one shared by all workers.
 *
 * A shard is a pure function of the spec, so the workers need not talk to each
 * other: each samples the whole identity bank from the seed (sampling is
 * sequential and greedy, and bit-identical on every machine and engine) or
 * reads the same `bank`, and writes `identities.npy` and `.json` (the same
 * bytes as a whole run), its shards, and its part journal
 * `part-{index:05d}-of-{count:05d}.jsonl` (`.progress.jsonl` while it runs;
 * the manifest rows and sha256 of its shards). A worker always continues its
 * own part journal (a restarted worker redoes only what is missing), and
 * refuses a folder that holds anything else than the parts of the same spec
 * (backend included: a worker on another backend would write other bytes).
 *
 * The worker that finishes last, finding every part of `count` complete in its
 * folder, merges them: it verifies every shard's sha256, writes
 * `manifest.jsonl` and removes the part journals; the folder is then
 * byte-identical to a whole run's. Workers with folders of their own: copy the
 * folders into one and run the same spec with `resume` (and no share); that
 * merge also renders any shard that is missing or damaged.
 *
 * @example
 * ```ts
 * import type { WorkerShare } from "./generate.ts";
 * const share: WorkerShare = { index: 2, count: 3 }; // shards 2, 5, 8, ...
 * console.assert(share.index < share.count);
 * ```
 */
export interface WorkerShare {
  /** This worker, in `0..count-1`. */
  index: number;
  /** How many workers share the shards. */
  count: number;
}

/**
 * Reads `--shards`: `k/K` (worker k of K), or `K` with the worker index
 * from `completionIndex` (Kubernetes Indexed Jobs set `JOB_COMPLETION_INDEX`
 * in each pod). Throws a `RangeError` naming the problem.
 *
 * @example
 * ```ts
 * import { parseShare } from "./generate.ts";
 * console.assert(parseShare("1/4").index === 1);
 * console.assert(parseShare("4", "3").index === 3); // from JOB_COMPLETION_INDEX
 * let message = "";
 * try {
 *   parseShare("4");
 * } catch (error) {
 *   message = (error as Error).message;
 * }
 * console.assert(message.startsWith("Cannot use --shards 4 without a worker index"));
 * ```
 */
export function parseShare(text: string, completionIndex?: string): WorkerShare {
  const match = /^\s*(?:(\d{1,9})\s*\/\s*)?(\d{1,9})\s*$/.exec(text);
  if (!match || Number(match[2]) < 1 || (match[1] !== undefined && Number(match[1]) >= Number(match[2]))) {
    throw new RangeError(
      `Cannot use --shards ${JSON.stringify(text)}: current value is not k/K (worker k of K, 0 <= k < K) ` +
        `or K (k from JOB_COMPLETION_INDEX)`,
    );
  }
  const count = Number(match[2]);
  if (match[1] !== undefined) return { index: Number(match[1]), count };
  if (completionIndex === undefined || completionIndex === "") {
    throw new RangeError(
      `Cannot use --shards ${count} without a worker index: current JOB_COMPLETION_INDEX is not set ` +
        `(pass --shards k/${count})`,
    );
  }
  if (!/^\d{1,9}$/.test(completionIndex) || Number(completionIndex) >= count) {
    throw new RangeError(
      `Cannot use JOB_COMPLETION_INDEX ${JSON.stringify(completionIndex)} with --shards ${count}: ` +
        `current value is not an integer in 0..${count - 1}`,
    );
  }
  return { index: Number(completionIndex), count };
}

/**
 * Checks a share against the dataset's shard count: more workers than shards
 * would leave some with nothing to do, so it is refused.
 *
 * @example
 * ```ts
 * import { checkShare } from "./generate.ts";
 * console.assert(checkShare({ index: 0, count: 10 }, 10).count === 10);
 * let message = "";
 * try {
 *   checkShare({ index: 0, count: 12 }, 10);
 * } catch (error) {
 *   message = (error as Error).message;
 * }
 * console.assert(message.includes("current dataset has 10 shards"));
 * ```
 */
export function checkShare(share: WorkerShare, shards: number): WorkerShare {
  const { index, count } = share ?? {};
  if (!(Number.isSafeInteger(count) && count >= 1 && Number.isSafeInteger(index) && index >= 0 && index < count)) {
    throw new RangeError(
      `Cannot render share ${index}/${count}: current value is not worker k of K with 0 <= k < K`,
    );
  }
  if (count > shards) {
    throw new RangeError(
      `Cannot split the shards among ${count} workers (--shards ${index}/${count}): current dataset has ` +
        `${shards} shards; use at most ${shards} workers or a smaller --shard-size`,
    );
  }
  return share;
}

/** What {@linkcode generateDataset} wrote. */
export interface GenerateResult {
  /** Images in the dataset. */
  images: number;
  /** Of them, images kept (verified) from an interrupted run. */
  kept: number;
  /** Zip or tar shards (0 for folders and RecordIO). */
  shards: number;
  /** The backend that rendered. */
  backend: Backend;
  /** The bank's sidecar. */
  bank: BankInfo;
  /**
   * Whether `out` now holds the whole dataset with its `manifest.jsonl`:
   * always after a whole run; after a share, when it was the last part and
   * merged them all. For a share, `images`, `kept` and `shards` count its share.
   */
  complete: boolean;
}

/** The output folder's info (undefined when missing); refuses a path that is a file. */
async function statFolder(out: string): Promise<Deno.FileInfo | undefined> {
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(out);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (info && !info.isDirectory) {
    throw new Vec2FaceError("output-exists", `Cannot write a dataset to ${out}: it is a file, not a folder`);
  }
  return info;
}

/** Refuses an output path that is a file, or a non-empty folder unless overwriting. */
export async function prepareOutput(out: string, overwrite: boolean): Promise<void> {
  const info = await statFolder(out);
  if (info) {
    const entries = await Array.fromAsync(Deno.readDir(out));
    if (entries.length > 0 && !overwrite) {
      throw new Vec2FaceError(
        "output-exists",
        `Cannot write a dataset to ${out}: the folder is not empty (${entries.length} entries); pass --overwrite to replace it`,
      );
    }
    if (entries.length > 0) await Deno.remove(out, { recursive: true });
  }
  await Deno.mkdir(out, { recursive: true });
}

async function writeAtomic(path: string, bytes: Uint8Array | ReadableStream<Uint8Array>): Promise<void> {
  const temporary = `${path}.tmp`;
  await Deno.writeFile(temporary, bytes);
  await Deno.rename(temporary, path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** sha256 of a file, or of `length` bytes from `start`; undefined when the file is missing or shorter. */
async function sha256File(path: string, start = 0, length = Infinity): Promise<string | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    await file.seek(start, Deno.SeekMode.Start);
    const hash = createHash("sha256");
    const buffer = new Uint8Array(1 << 20);
    for (let left = length; left > 0;) {
      const n = await file.read(left < buffer.length ? buffer.subarray(0, left) : buffer);
      if (n === null) {
        if (Number.isFinite(length)) return undefined;
        break;
      }
      hash.update(buffer.subarray(0, n));
      left -= n;
    }
    return hash.digest("hex");
  } finally {
    file.close();
  }
}

/** Buffered appends to a file (the manifest, `train.idx`): few system calls for many short lines. */
class LineSink {
  #file: Deno.FsFile;
  #buffer = new Uint8Array(1 << 16);
  #used = 0;
  #encoder = new TextEncoder();

  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  async write(text: string): Promise<void> {
    const bytes = this.#encoder.encode(text);
    if (this.#used + bytes.length > this.#buffer.length) await this.flush();
    if (bytes.length > this.#buffer.length) return await writeAll(this.#file, bytes);
    this.#buffer.set(bytes, this.#used);
    this.#used += bytes.length;
  }

  async flush(): Promise<void> {
    await writeAll(this.#file, this.#buffer.subarray(0, this.#used));
    this.#used = 0;
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.#file.close();
    }
  }

  /** Closes the file without flushing (after a failure: the file is rewritten on resume). */
  abandon(): void {
    try {
      this.#file.close();
    } catch { /* already closed */ }
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) written += await file.write(bytes.subarray(written));
}

function shardName(shard: number, extension: string): string {
  return `shard-${String(shard).padStart(5, "0")}.${extension}`;
}

/** Where image `image` of identity `identity` is, as `manifest.jsonl` says it. */
function manifestFile(format: DatasetFormat, identity: number, image: number, perId: number, shardSize: number) {
  const shard = Math.floor(identity / shardSize);
  switch (format) {
    case "folder":
      return samplePath(identity, image);
    case "zip":
      return `${shardName(shard, "zip")}#${samplePath(identity, image)}`;
    case "webdataset":
      return `${shardName(shard, "tar")}#${webDatasetKey(identity, image)}.jpg`;
    case "recordio":
      return `train.rec#${imageRecordIndex(identity, image, perId)}`;
  }
}

function manifestRow(sample: Sample, file: string): ManifestRow {
  const { identity, image, sigma, sha256 } = sample;
  return { identity, image, sigma, file, sha256 };
}

/** What a format does with units: identity groups (folder, RecordIO) or shards (zip, WebDataset). */
interface UnitWriter {
  /** Units must be kept as a prefix (one file appended in order). */
  readonly contiguous: boolean;
  /** Checks a journaled unit's files, in unit order; true keeps it. */
  verify(record: UnitRecord): Promise<boolean>;
  /** Called once after verification, before {@linkcode UnitWriter.keep} and {@linkcode UnitWriter.write}. */
  begin(): Promise<void>;
  /** Takes a kept unit, in unit order. */
  keep(record: UnitRecord): Promise<void>;
  /** Writes a unit from its samples, in unit order; returns its journal record. */
  write(unit: number, samples: AsyncIterable<Sample>): Promise<UnitRecord>;
  /** Writes the format's last files. */
  finish(): Promise<void>;
  /** Releases open files (after a failure too). */
  close(): void;
}

function folderWriter(out: string): UnitWriter {
  return {
    contiguous: false,
    async verify(record) {
      for (const row of record.rows) {
        if (await sha256File(join(out, row.file)) !== row.sha256) return false;
      }
      return true;
    },
    async begin() {},
    async keep() {},
    async write(unit, samples) {
      await Deno.mkdir(join(out, String(unit).padStart(6, "0")), { recursive: true });
      const rows: ManifestRow[] = [];
      for await (const sample of samples) {
        await writeAtomic(join(out, sample.path), sample.bytes);
        rows.push(manifestRow(sample, sample.path));
      }
      return { unit, rows };
    },
    async finish() {},
    close() {},
  };
}

function shardWriter(out: string, format: "zip" | "webdataset"): UnitWriter {
  return {
    contiguous: false,
    async verify(record) {
      return record.file !== undefined && await sha256File(join(out, record.file)) === record.sha256;
    },
    async begin() {},
    async keep() {},
    async write(unit, samples) {
      const name = shardName(unit, format === "zip" ? "zip" : "tar");
      const rows: ManifestRow[] = [];
      const entries = ReadableStream.from((async function* (): AsyncGenerator<ShardEntry> {
        for await (const sample of samples) {
          if (format === "zip") {
            rows.push(manifestRow(sample, `${name}#${sample.path}`));
            yield { path: sample.path, bytes: sample.bytes };
          } else {
            const [jpg, json] = webDatasetEntries(sample);
            rows.push(manifestRow(sample, `${name}#${jpg.path}`));
            yield jpg;
            yield json;
          }
        }
      })());
      const hash = createHash("sha256");
      let bytes = 0;
      const hashing = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          hash.update(chunk);
          bytes += chunk.length;
          controller.enqueue(chunk);
        },
      });
      const archive = format === "zip" ? new ZipShardStream() : new TarShardStream();
      await writeAtomic(join(out, name), entries.pipeThrough(archive).pipeThrough(hashing));
      return { unit, rows, file: name, sha256: hash.digest("hex"), bytes };
    },
    async finish() {},
    close() {},
  };
}

/**
 * RecordIO: one `train.rec.tmp` appended unit by unit (record 0 first), whose
 * journaled prefix is kept on resume; `train.idx` is rewritten in full.
 */
async function recordIOWriter(out: string, ids: number, perId: number, size: number): Promise<UnitWriter> {
  const rec = join(out, "train.rec");
  const partial = `${rec}.tmp`;
  // A run killed after renaming train.rec (but before its manifest) goes on from it.
  if (!(await exists(partial)) && await exists(rec)) await Deno.rename(rec, partial);
  const file = await Deno.open(partial, { read: true, write: true, create: true });
  let index: LineSink | undefined;
  const header = frameRecord(packRecord(headerRecord(ids, perId)));
  const start = await sha256File(partial, 0, header.length);
  let verified = start === await sha256Hex(header) ? header.length : undefined;
  let position = header.length;
  return {
    contiguous: true,
    async verify(record) {
      if (verified === undefined || record.offset !== verified || record.bytes === undefined) return false;
      if (await sha256File(partial, record.offset, record.bytes) !== record.sha256) return false;
      verified += record.bytes;
      return true;
    },
    async begin() {
      if (verified === undefined) {
        await file.truncate(0);
        await writeAll(file, header);
      } else {
        await file.truncate(verified);
      }
      index = new LineSink(
        await Deno.open(`${join(out, "train.idx")}.tmp`, { write: true, create: true, truncate: true }),
      );
      await index.write("0\t0\n");
    },
    async keep(record) {
      for (const [k, row] of record.rows.entries()) {
        await index!.write(`${imageRecordIndex(row.identity, row.image, perId)}\t${position}\n`);
        position += record.sizes![k];
      }
    },
    async write(unit, samples) {
      const offset = position;
      const rows: ManifestRow[] = [];
      const sizes: number[] = [];
      const hash = createHash("sha256");
      const entries = ReadableStream.from((async function* (): AsyncGenerator<RecordIOEntry> {
        for await (const sample of samples) {
          const id = imageRecordIndex(sample.identity, sample.image, perId);
          rows.push(manifestRow(sample, `train.rec#${id}`));
          yield { label: sample.identity, id, bytes: sample.bytes };
        }
      })());
      await file.seek(position, Deno.SeekMode.Start);
      let k = 0;
      for await (const frame of entries.pipeThrough(new RecordIOStream())) {
        await writeAll(file, frame);
        hash.update(frame);
        await index!.write(`${imageRecordIndex(rows[k].identity, rows[k].image, perId)}\t${position}\n`);
        position += frame.length;
        sizes.push(frame.length);
        k++;
      }
      return { unit, rows, offset, bytes: position - offset, sha256: hash.digest("hex"), sizes };
    },
    async finish() {
      // Identity records (each class's image range) after the images, as insightface's tools write them.
      await file.seek(position, Deno.SeekMode.Start);
      const chunks: Uint8Array[] = [];
      let pending = 0;
      for (let identity = 0; identity < ids; identity++) {
        const frame = frameRecord(packRecord(identityRecord(identity, ids, perId)));
        await index!.write(`${ids * perId + 1 + identity}\t${position}\n`);
        chunks.push(frame);
        pending += frame.length;
        position += frame.length;
        if (pending >= 1 << 16 || identity === ids - 1) {
          const joined = new Uint8Array(pending);
          let at = 0;
          for (const chunk of chunks) {
            joined.set(chunk, at);
            at += chunk.length;
          }
          await writeAll(file, joined);
          chunks.length = 0;
          pending = 0;
        }
      }
      await file.truncate(position);
      file.close();
      await index!.close();
      index = undefined;
      await Deno.rename(`${join(out, "train.idx")}.tmp`, join(out, "train.idx"));
      await writeAtomic(join(out, "property"), new TextEncoder().encode(propertyText(ids, size, size)));
      await Deno.rename(partial, rec);
    },
    close() {
      try {
        file.close();
      } catch { /* closed by finish */ }
      index?.abandon();
    },
  };
}

/** Yields the next `count` samples of `samples`, calling `onEach` after each is taken. */
async function* take(samples: AsyncGenerator<Sample>, count: number, onEach: () => void): AsyncGenerator<Sample> {
  for (let k = 0; k < count; k++) {
    const next = await samples.next();
    if (next.done) throw new RangeError(`Cannot take ${count} samples: current stream ended after ${k}`);
    yield next.value;
    onEach();
  }
}

/** The state of `out` for a resumed run: a journal to go on from, nothing (start anew), or a complete dataset. */
async function openRun(out: string, spec: RunSpec): Promise<ProgressJournal | undefined | "complete"> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(out);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  if (!info.isDirectory) {
    throw new Vec2FaceError("output-exists", `Cannot write a dataset to ${out}: it is a file, not a folder`);
  }
  const names = (await Array.fromAsync(Deno.readDir(out))).map((entry) => entry.name);
  if (names.includes(JOURNAL_NAME)) {
    const journal = await ProgressJournal.open(join(out, JOURNAL_NAME));
    const { wanted, found } = specDifferences(spec, journal.spec);
    if (wanted.length > 0) {
      journal.close();
      throw new Vec2FaceError(
        "resume-mismatch",
        `Cannot resume ${out} with ${wanted.join(", ")}: current run there was started with ${
          found.join(", ")
        } (pass the same options, or --overwrite to start over)`,
      );
    }
    // Until it is finished again, the run must not look complete; half-written files go (train.rec.tmp is
    // checked record by record instead).
    for (const name of names) {
      if (name === "manifest.jsonl" || (name.endsWith(".tmp") && name !== "train.rec.tmp")) {
        await Deno.remove(join(out, name));
      }
    }
    return journal;
  }
  const parts = names.filter((name) => PART_JOURNAL.test(name));
  if (parts.length > 0 && !names.includes("manifest.jsonl")) return await mergeParts(out, spec, names, parts);
  // Killed while the journal was being created: nothing else was written.
  if (names.every((name) => name === `${JOURNAL_NAME}.tmp`)) {
    for (const name of names) await Deno.remove(join(out, name));
    return undefined;
  }
  if (names.includes("manifest.jsonl")) {
    await checkComplete(out, spec);
    return "complete";
  }
  throw new Vec2FaceError(
    "output-exists",
    `Cannot resume ${out}: current folder holds no ${JOURNAL_NAME} (not an interrupted vec2face run); ` +
      `pass --overwrite to start over`,
  );
}

/** Checks that the complete dataset in `out` is the one `spec` asks for. */
async function checkComplete(out: string, spec: RunSpec): Promise<void> {
  const { ids, perId, format } = spec;
  const shardSize = spec.shardSize ?? 1;
  const bank = JSON.parse(await Deno.readTextFile(join(out, "identities.json"))) as BankInfo;
  const problems: string[] = [];
  if (bank.packSha256 !== spec.pack) problems.push(`pack ${bank.packSha256.slice(0, 12)}`);
  if (bank.seed !== spec.seed) problems.push(`seed ${bank.seed}`);
  if (bank.count !== ids) problems.push(`${bank.count} identities`);
  if (bank.threshold !== spec.threshold) problems.push(`threshold ${bank.threshold}`);
  if (spec.bank !== "sampled" && await sha256File(join(out, "identities.npy")) !== spec.bank) {
    problems.push("another bank");
  }
  // Every row's file tells the format, the shard size and the images per identity.
  let rows = 0;
  let mismatch: string | undefined;
  let line = "";
  const decoder = new TextDecoder();
  for await (const chunk of (await Deno.open(join(out, "manifest.jsonl"))).readable) {
    const parts = (line + decoder.decode(chunk, { stream: true })).split("\n");
    line = parts.pop()!;
    for (const part of parts) {
      const identity = Math.floor(rows / perId);
      const wanted = identity < ids
        ? manifestFile(format as DatasetFormat, identity, rows % perId, perId, shardSize)
        : "";
      if (mismatch === undefined && !part.includes(`"file":${JSON.stringify(wanted)}`)) {
        mismatch = `file ${(JSON.parse(part) as Partial<ManifestRow>).file} at row ${rows + 1}`;
      }
      rows++;
    }
  }
  if (rows !== ids * perId) problems.push(`${rows} manifest rows`);
  else if (mismatch) problems.push(mismatch);
  if (problems.length > 0) {
    throw new Vec2FaceError(
      "resume-mismatch",
      `Cannot resume ${out} as ${ids} x ${perId} images (${format}, seed ${spec.seed}): current dataset there is ` +
        `complete and differs (${problems.join(", ")}); pass --overwrite to make it again`,
    );
  }
}

/** A part journal of a shared run: complete (`.jsonl`) or still running (`.progress.jsonl`). */
const PART_JOURNAL = /^part-(\d{5,})-of-(\d{5,})(\.progress)?\.jsonl$/;
/** The files a folder shared by the workers of a sharded run may hold (`sources.json`: `cli.ts generate --from-images`). */
const SHARED_FILE =
  /^(identities\.(npy|json)(\.tmp[-\w]*)?|shard-\d{5,}\.(zip|tar)(\.tmp)?|part-\d{5,}-of-\d{5,}(\.progress)?\.jsonl(\.tmp)?|merge\.lock|sources\.json)$/;
/** Held (created exclusively) by the worker that merges the parts. */
const MERGE_LOCK = "merge.lock";

function partJournalName(share: WorkerShare, complete: boolean): string {
  const name = `part-${String(share.index).padStart(5, "0")}-of-${String(share.count).padStart(5, "0")}`;
  return complete ? `${name}.jsonl` : `${name}.progress.jsonl`;
}

/** Throws unless a part journal's spec is `spec`. */
async function checkPartSpec(out: string, name: string, spec: RunSpec, doing: string): Promise<void> {
  const found = await readJournalSpec(join(out, name));
  if (!found) return; // not a spec yet: its worker is creating it
  const { wanted, found: theirs } = specDifferences(spec, found);
  if (wanted.length > 0) {
    throw new Vec2FaceError(
      "resume-mismatch",
      `Cannot ${doing} with ${wanted.join(", ")}: current folder holds ${name} of a run with ${theirs.join(", ")} ` +
        `(pass the same options to every worker)`,
    );
  }
}

/**
 * Starts the merge of the part journals in `out`: a new `progress.jsonl` with
 * the bank and every unit they journaled (complete parts first); the run then
 * verifies the units as a resume does, renders any that are missing and
 * removes the parts when it is complete.
 */
async function mergeParts(out: string, spec: RunSpec, names: string[], parts: string[]): Promise<ProgressJournal> {
  for (const name of parts) await checkPartSpec(out, name, spec, `merge the parts in ${out}`);
  for (const name of names) {
    if (/\.tmp(-[\w]+)?$/.test(name) && name !== "train.rec.tmp") await Deno.remove(join(out, name));
  }
  parts.sort((a, b) => Number(a.includes(".progress.")) - Number(b.includes(".progress.")) || (a < b ? -1 : 1));
  const journal = await ProgressJournal.create(join(out, JOURNAL_NAME), spec);
  try {
    const taken = new Set<number>();
    for (const name of parts) {
      const part = await ProgressJournal.open(join(out, name), { readOnly: true });
      try {
        if (part.bank && !journal.bank) await journal.appendBank(part.bank);
        for (const unit of part.units()) {
          if (taken.has(unit)) continue;
          await journal.appendUnit((await part.unit(unit))!);
          taken.add(unit);
        }
      } finally {
        part.close();
      }
    }
  } catch (error) {
    journal.close();
    throw error;
  }
  return journal;
}

/** Removes the part journals and the merge lock (the merged `progress.jsonl` holds what they held). */
async function removeParts(out: string): Promise<void> {
  for await (const entry of Deno.readDir(out)) {
    if (PART_JOURNAL.test(entry.name) || entry.name === MERGE_LOCK) {
      await Deno.remove(join(out, entry.name)).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
  }
}

/** Renders one worker's share of a sharded run (see {@linkcode WorkerShare}). */
async function generateShare(
  options: GenerateOptions,
  spec: RunSpec,
  share: WorkerShare,
  unitCount: number,
): Promise<GenerateResult> {
  const { pack, out, signal } = options;
  const { ids, perId } = spec;
  const shardSize = spec.shardSize!;
  const label = `part ${share.index}/${share.count} of the shards`;
  const units: number[] = [];
  for (let unit = share.index; unit < unitCount; unit += share.count) units.push(unit);
  const range = (unit: number) => [unit * shardSize, Math.min(ids, (unit + 1) * shardSize)];
  const total = units.reduce((sum, unit) => sum + (range(unit)[1] - range(unit)[0]) * perId, 0);
  const result = (kept: number, bank: BankInfo, complete: boolean): GenerateResult => ({
    images: total,
    kept,
    shards: units.length,
    backend: pack.backend,
    bank,
    complete,
  });

  await statFolder(out);
  await Deno.mkdir(out, { recursive: true });
  const names = (await Array.fromAsync(Deno.readDir(out))).map((entry) => entry.name);
  if (names.includes("manifest.jsonl")) {
    // Merged already (this worker restarted after the last one finished).
    await checkComplete(out, spec);
    const bank = JSON.parse(await Deno.readTextFile(join(out, "identities.json"))) as BankInfo;
    bank.maxCosine ??= NaN;
    return result(total, bank, true);
  }
  if (names.includes(JOURNAL_NAME)) {
    throw new Vec2FaceError(
      "output-exists",
      `Cannot render ${label} in ${out}: current folder holds a merge or a whole run in progress (${JOURNAL_NAME}); ` +
        `finish it with the same options and --resume, without --shards`,
    );
  }
  const foreign = names.find((name) => !SHARED_FILE.test(name));
  if (foreign !== undefined) {
    throw new Vec2FaceError(
      "output-exists",
      `Cannot render ${label} in ${out}: current folder holds ${foreign}, which is not a file of a sharded run ` +
        `(use an empty folder, or one shared only by the workers of this run)`,
    );
  }
  for (const name of names.filter((name) => PART_JOURNAL.test(name))) {
    await checkPartSpec(out, name, spec, `render ${label} in ${out}`);
  }

  // This worker's journal: continued whether it is complete (a restart) or not.
  const running = join(out, partJournalName(share, false));
  const done = join(out, partJournalName(share, true));
  if (names.includes(partJournalName(share, true))) await Deno.rename(done, running);
  const journal = names.includes(partJournalName(share, false)) || names.includes(partJournalName(share, true))
    ? await ProgressJournal.open(running)
    : await ProgressJournal.create(running, spec);
  let kept = 0;
  let bank: BankInfo;
  try {
    // Workers sharing the folder write the bank under temporary names of their own.
    const made = await identityBank(options, journal, spec, `tmp-${share.index}-of-${share.count}`);
    bank = made.bank;
    const writer = shardWriter(out, spec.format as "zip" | "webdataset");
    let rendered = 0;
    const report = () => options.onProgress?.({ stage: "render", done: rendered, total });
    for (const unit of units) {
      signal?.throwIfAborted();
      const [first, last] = range(unit);
      const record = await journal.unit(unit);
      if (record && await writer.verify(record)) {
        kept += record.rows.length;
        rendered += record.rows.length;
        report();
        continue;
      }
      const samples = generateSamples({
        pack,
        identities: made.identities,
        perId,
        seed: spec.seed,
        start: first,
        end: last,
        batchSize: options.batchSize,
        edit: options.edit,
        signal,
      });
      try {
        const taken = take(samples, (last - first) * perId, () => {
          rendered++;
          report();
        });
        await journal.appendUnit(await writer.write(unit, taken));
      } finally {
        await samples.return(undefined);
      }
    }
  } finally {
    journal.close();
  }
  await Deno.rename(running, done);
  return result(kept, bank, await mergeWhenComplete(options, share));
}

/**
 * After a part completes: when every part of its `count` is complete in the
 * folder, takes the merge lock and merges (resume without a share); another
 * worker holding the lock merges instead. True when the folder is complete.
 */
async function mergeWhenComplete(options: GenerateOptions, share: WorkerShare): Promise<boolean> {
  const { out } = options;
  const names = new Set((await Array.fromAsync(Deno.readDir(out))).map((entry) => entry.name));
  for (let index = 0; index < share.count; index++) {
    if (!names.has(partJournalName({ index, count: share.count }, true))) return false;
  }
  let lock: Deno.FsFile;
  try {
    lock = await Deno.open(join(out, MERGE_LOCK), { write: true, createNew: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
  lock.close();
  try {
    const merged = await generateDataset({ ...options, share: undefined, resume: true, overwrite: false });
    return merged.complete;
  } finally {
    await Deno.remove(join(out, MERGE_LOCK)).catch(() => {});
  }
}

/** Bank vectors and sidecar: kept from the journal when their files match, else sampled (or taken) and saved. */
async function identityBank(
  options: GenerateOptions,
  journal: ProgressJournal,
  spec: RunSpec,
  temporary?: string,
): Promise<{ identities: Float32Array[]; bank: BankInfo }> {
  const { pack, out } = options;
  const npy = join(out, "identities.npy");
  const sidecar = join(out, "identities.json");
  if (
    journal.bank && await sha256File(npy) === journal.bank.npy && await sha256File(sidecar) === journal.bank.json
  ) {
    const identities = decodeBank(await Deno.readFile(npy), { dim: pack.manifest.vectorSize, name: npy });
    const bank = JSON.parse(await Deno.readTextFile(sidecar)) as BankInfo;
    bank.maxCosine ??= NaN; // JSON has no NaN
    return { identities, bank };
  }
  const { ids, seed, threshold } = spec;
  const priorSha256 = pack.manifest.files.prior.sha256;
  let identities: Float32Array[];
  let bank: BankInfo;
  if (options.bank) {
    identities = options.bank.slice(0, ids);
    bank = { packSha256: pack.sha256, priorSha256, threshold, seed, count: ids, candidates: 0, maxCosine: NaN };
  } else {
    const sampled = await sample(ids, {
      prior: pack.prior,
      threshold,
      seed,
      signal: options.signal,
      onProgress: ({ accepted }) => options.onProgress?.({ stage: "sample", done: accepted, total: ids }),
    });
    identities = sampled.vectors;
    bank = sampledBankInfo(pack.sha256, priorSha256, { threshold, seed }, sampled);
  }
  if (temporary !== undefined) {
    // A folder shared by workers: another worker may have written the same bank already (same bytes).
    const there = await sha256File(npy);
    if (there !== undefined && there !== await sha256Hex(encodeBank(identities))) {
      throw new Vec2FaceError(
        "resume-mismatch",
        `Cannot use ${npy}: current bank there differs from the one this run sampled or was given ` +
          `(another dataset, or workers with other --seed, --threshold, --pack or --bank)`,
      );
    }
  }
  await saveBank(npy, identities, bank, { temporary });
  await journal.appendBank({ npy: (await sha256File(npy))!, json: (await sha256File(sidecar))! });
  return { identities, bank };
}

/**
 * Samples (or takes) identities, renders `ids x perId` images and writes them;
 * with `resume`, continues an interrupted run in `out`.
 *
 * @example
 * ```ts
 * import { generateDataset } from "./generate.ts";
 * import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * const out = await Deno.makeTempDir();
 * const result = await generateDataset({ pack, out, ids: 2, perId: 2, seed: 3, format: "webdataset" });
 * console.assert(result.images === 4 && result.shards === 1);
 * const again = await generateDataset({ pack, out, ids: 2, perId: 2, seed: 3, format: "webdataset", resume: true });
 * console.assert(again.kept === 4); // already complete: nothing to redo
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function generateDataset(options: GenerateOptions): Promise<GenerateResult> {
  const { pack, out } = options;
  const ids = checkCount(options.ids, "identity count (--ids)");
  const perId = checkCount(options.perId, "images per identity (--per-id)", 1000);
  const seed = checkSeed(options.seed ?? 0);
  const format = checkFormat(options.format ?? "folder");
  const shardSize = checkCount(options.shardSize ?? 100, "shard size (--shard-size)");
  const threshold = options.threshold ?? pack.manifest.separationThreshold;
  if (options.bank) {
    checkVectors(options.bank, pack.manifest.vectorSize, "bank");
    if (options.bank.length < ids) {
      throw new RangeError(`Cannot take ${ids} identities from the bank: current bank has ${options.bank.length}`);
    }
  }
  if (options.resume && options.overwrite) {
    throw new RangeError(`Cannot resume and overwrite ${out}: current options ask for both`);
  }
  const sharded = format === "zip" || format === "webdataset";
  const spec: RunSpec = {
    version: 1,
    ids,
    perId,
    seed,
    format,
    shardSize: sharded ? shardSize : null,
    threshold,
    pack: pack.sha256,
    backend: pack.backend,
    bank: options.bank ? await sha256Hex(encodeBank(options.bank.slice(0, ids))) : "sampled",
    ...(options.edit ? { edit: JSON.stringify(options.edit) } : {}),
  };
  const unitSize = sharded ? shardSize : 1;
  const unitCount = Math.ceil(ids / unitSize);
  const shards = sharded ? unitCount : 0;
  if (options.share !== undefined) {
    if (!sharded) {
      throw new RangeError(
        `Cannot render a share of the shards as format ${format}: current format has no shards (use zip or webdataset)`,
      );
    }
    if (options.overwrite) {
      throw new RangeError(
        `Cannot overwrite ${out} for a share of the shards: current folder may hold other workers' shards ` +
          `(a share always continues its own part; remove the folder to start over)`,
      );
    }
    return await generateShare(options, spec, checkShare(options.share, unitCount), unitCount);
  }

  let journal: ProgressJournal | undefined;
  if (options.resume) {
    const state = await openRun(out, spec);
    if (state === "complete") {
      const bank = JSON.parse(await Deno.readTextFile(join(out, "identities.json"))) as BankInfo;
      bank.maxCosine ??= NaN;
      return { images: ids * perId, kept: ids * perId, shards, backend: pack.backend, bank, complete: true };
    }
    journal = state;
  } else {
    await prepareOutput(out, options.overwrite ?? false);
  }
  if (!journal) {
    await Deno.mkdir(out, { recursive: true });
    journal = await ProgressJournal.create(join(out, JOURNAL_NAME), spec);
  }

  const manifestPath = join(out, "manifest.jsonl");
  let writer: UnitWriter | undefined;
  let manifest: LineSink | undefined;
  let bank: BankInfo;
  let kept = 0;
  try {
    const made = await identityBank(options, journal, spec);
    bank = made.bank;
    writer = format === "folder"
      ? folderWriter(out)
      : format === "recordio"
      ? await recordIOWriter(out, ids, perId, pack.manifest.imageSize)
      : shardWriter(out, format);

    // Which journaled units still hold: their files' sha256 match (RecordIO: a prefix of train.rec).
    const keep = new Uint8Array(unitCount);
    for (let unit = 0; unit < unitCount; unit++) {
      options.signal?.throwIfAborted();
      const record = await journal.unit(unit);
      if (record && await writer.verify(record)) keep[unit] = 1;
      else if (writer.contiguous) break;
    }
    await writer.begin();

    manifest = new LineSink(await Deno.open(`${manifestPath}.tmp`, { write: true, create: true, truncate: true }));
    let done = 0;
    const total = ids * perId;
    const report = () => options.onProgress?.({ stage: "render", done, total });
    const range = (unit: number) => [unit * unitSize, Math.min(ids, (unit + 1) * unitSize)];
    const common = {
      pack,
      identities: made.identities,
      perId,
      seed,
      batchSize: options.batchSize,
      edit: options.edit,
      signal: options.signal,
    };
    for (let unit = 0; unit < unitCount;) {
      options.signal?.throwIfAborted();
      if (keep[unit]) {
        const record = (await journal.unit(unit))!;
        await writer.keep(record);
        for (const row of record.rows) await manifest.write(JSON.stringify(row) + "\n");
        done += record.rows.length;
        kept += record.rows.length;
        report();
        unit++;
        continue;
      }
      // Units to redo in a row render as one stream, batched across their identities.
      let end = unit;
      while (end < unitCount && !keep[end]) end++;
      const samples = generateSamples({ ...common, start: range(unit)[0], end: range(end - 1)[1] });
      try {
        for (; unit < end; unit++) {
          const [first, last] = range(unit);
          const taken = take(samples, (last - first) * perId, () => {
            done++;
            report();
          });
          const record = await writer.write(unit, taken);
          await journal.appendUnit(record);
          for (const row of record.rows) await manifest.write(JSON.stringify(row) + "\n");
        }
      } finally {
        await samples.return(undefined);
      }
    }
    options.signal?.throwIfAborted();
    await writer.finish();
    writer = undefined;
    await manifest.close();
    manifest = undefined;
  } finally {
    writer?.close();
    manifest?.abandon();
    journal.close();
  }
  await removeParts(out);
  await Deno.rename(`${manifestPath}.tmp`, manifestPath);
  await Deno.remove(join(out, JOURNAL_NAME));
  return { images: ids * perId, kept, shards, backend: pack.backend, bank, complete: true };
}
