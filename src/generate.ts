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
import { type BankInfo, decodeBank, encodeBank, saveBank } from "./bank.ts";
import type { Backend } from "./_backend.ts";
import { checkCount, generateSamples, type Sample, samplePath } from "./dataset.ts";
import { Vec2FaceError } from "./errors.ts";
import {
  JOURNAL_NAME,
  type ManifestRow,
  ProgressJournal,
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
  /** Replace a non-empty output folder. */
  overwrite?: boolean;
  /**
   * Continue an interrupted run in `out` (a missing or empty folder starts a
   * new one). The run there must have the same spec (ids, perId, seed,
   * format, shard size, threshold, pack, backend, bank), else a
   * `Vec2FaceError` (`resume-mismatch`).
   */
  resume?: boolean;
  /** Cancels the run. */
  signal?: AbortSignal;
  /** Progress callback. */
  onProgress?: (progress: GenerateProgress) => void;
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
}

/** Refuses an output path that is a file, or a non-empty folder unless overwriting. */
export async function prepareOutput(out: string, overwrite: boolean): Promise<void> {
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(out);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (info && !info.isDirectory) {
    throw new Vec2FaceError("output-exists", `Cannot write a dataset to ${out}: it is a file, not a folder`);
  }
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

/** Bank vectors and sidecar: kept from the journal when their files match, else sampled (or taken) and saved. */
async function identityBank(
  options: GenerateOptions,
  journal: ProgressJournal,
  spec: RunSpec,
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
    bank = {
      packSha256: pack.sha256,
      priorSha256,
      threshold,
      seed,
      count: ids,
      candidates: sampled.candidates,
      maxCosine: sampled.maxCosine,
    };
  }
  await saveBank(npy, identities, bank);
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
  };
  const unitSize = sharded ? shardSize : 1;
  const unitCount = Math.ceil(ids / unitSize);
  const shards = sharded ? unitCount : 0;

  let journal: ProgressJournal | undefined;
  if (options.resume) {
    const state = await openRun(out, spec);
    if (state === "complete") {
      const bank = JSON.parse(await Deno.readTextFile(join(out, "identities.json"))) as BankInfo;
      bank.maxCosine ??= NaN;
      return { images: ids * perId, kept: ids * perId, shards, backend: pack.backend, bank };
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
  await Deno.rename(`${manifestPath}.tmp`, manifestPath);
  await Deno.remove(join(out, JOURNAL_NAME));
  return { images: ids * perId, kept, shards, backend: pack.backend, bank };
}
