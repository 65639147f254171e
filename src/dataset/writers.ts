/**
 * The dataset writers, one per format, behind one interface
 * ({@linkcode UnitWriter}) and chosen from a table ({@linkcode openWriter}):
 * each writes units (an identity group for `folder` and `recordio`, a shard
 * for `zip` and `webdataset`) from their samples, verifies a journaled unit's
 * files on resume, and writes its format's last files.
 *
 * @module
 */
import { join } from "node:path";
import { concatBytes, exists, LineSink, writeAll, writeAtomic } from "../_fs.ts";
import { Sha256, sha256, sha256File, Sha256Stream } from "../_hash.ts";
import { type DatasetEdit, type DatasetSample, generateSamples } from "../dataset.ts";
import type { ManifestRow, ProgressJournal, UnitRecord } from "../journal.ts";
import type { ModelPack } from "../model_pack.ts";
import {
  frameRecord,
  headerRecord,
  identityRecord,
  imageRecordIndex,
  packRecord,
  propertyText,
  type RecordIOEntry,
  RecordIOStream,
} from "../recordio.ts";
import { type ShardEntry, ZipShardStream } from "../shard.ts";
import { TarShardStream, webDatasetEntries } from "../webdataset.ts";
import { FILES, partial, partialFolder, shardName } from "./layout.ts";
import { type DatasetFormat, type DatasetPlan, unitRange } from "./plan.ts";

/** What a format does with units: identity groups (folder, RecordIO) or shards (zip, WebDataset). */
export interface UnitWriter {
  /** Units must be kept as a prefix (one file appended in order). */
  readonly contiguous: boolean;
  /** Checks a journaled unit's files, in unit order; true keeps it. */
  verify(record: UnitRecord): Promise<boolean>;
  /** Called once after verification, before {@linkcode UnitWriter.keep} and {@linkcode UnitWriter.write}. */
  begin(): Promise<void>;
  /** Takes a kept unit, in unit order. */
  keep(record: UnitRecord): Promise<void>;
  /** Writes a unit from its samples, in unit order; returns its journal record. */
  write(unit: number, samples: AsyncIterable<DatasetSample>): Promise<UnitRecord>;
  /** Writes the format's last files. */
  finish(): Promise<void>;
  /** Releases open files (after a failure too). */
  close(): void;
}

/** Opens a format's writer on `out` (`imageSize`: the pack's, for RecordIO's `property`). */
type WriterFactory = (out: string, plan: DatasetPlan, imageSize: number) => Promise<UnitWriter>;

/** The writer of each format. */
const WRITERS: Readonly<Record<DatasetFormat, WriterFactory>> = Object.freeze({
  folder: (out) => Promise.resolve(folderWriter(out)),
  zip: (out) => Promise.resolve(shardWriter(out, "zip")),
  webdataset: (out) => Promise.resolve(shardWriter(out, "webdataset")),
  recordio: (out, plan, imageSize) => recordIOWriter(out, plan.ids, plan.perId, imageSize),
});

/**
 * The writer of `plan.format` on `out`.
 *
 * @example A folder writer writes one identity's images and journals them
 * ```ts
 * import assert from "node:assert/strict";
 * import { openWriter } from "./writers.ts";
 * import { planDataset } from "./plan.ts";
 * const out = await Deno.makeTempDir();
 * const writer = await openWriter(out, planDataset({ ids: 1, perId: 1 }), 112);
 * const bytes = new Uint8Array([1, 2, 3]);
 * const sample = { identity: 0, image: 0, sigma: 0, path: "000000/000.jpg", bytes, sha256: "00" };
 * const record = await writer.write(0, ReadableStream.from([sample]));
 * assert.equal(record.rows[0].file, "000000/000.jpg");
 * assert.deepEqual(await Deno.readFile(`${out}/000000/000.jpg`), bytes);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export function openWriter(out: string, plan: DatasetPlan, imageSize: number): Promise<UnitWriter> {
  return WRITERS[plan.format](out, plan, imageSize);
}

/**
 * The manifest row of a sample stored at `file`: with the head pose it was
 * rendered at (packs that declare a pose range) and the
 * sample's edit record last when it has one (an edited dataset); other rows
 * have no `pose` or `edit` key.
 *
 * @example A plain sample's row, then an edited one's
 * ```ts
 * import assert from "node:assert/strict";
 * import { manifestRow } from "./writers.ts";
 * const sample = { identity: 1, image: 0, sigma: 0.08, path: "000001/000.jpg", bytes: new Uint8Array(), sha256: "ab" };
 * assert.equal(JSON.stringify(manifestRow(sample, sample.path)), '{"identity":1,"image":0,"sigma":0.08,"file":"000001/000.jpg","sha256":"ab"}');
 * const edit = { targets: { yaw: 25 }, status: "reached" as const, measured: { yaw: 24.1 }, identity: 0.83, calls: 37 };
 * assert.deepEqual(manifestRow({ ...sample, edit }, sample.path).edit, edit);
 * ```
 */
export function manifestRow(sample: DatasetSample, file: string): ManifestRow {
  const { identity, image, sigma, sha256, pose, edit } = sample;
  // Rows of other datasets keep their bytes: no `pose` or `edit` key at all, not `undefined` or null.
  return {
    identity,
    image,
    sigma,
    file,
    sha256,
    ...(pose ? { pose } : {}),
    ...(edit ? { edit } : {}),
  };
}

/** `{identity:06d}/{image:03d}.jpg` files, one folder per identity. */
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
      // The identity's images go to a hidden folder renamed when all are written: a killed run never
      // shows a partly written identity folder (an ImageFolder reader sees complete identities only).
      const name = String(unit).padStart(6, "0");
      const temporary = join(out, partialFolder(name));
      await Deno.remove(temporary, { recursive: true }).catch(ignoreNotFound);
      await Deno.mkdir(temporary, { recursive: true });
      const rows: ManifestRow[] = [];
      for await (const sample of samples) {
        await Deno.writeFile(join(temporary, sample.path.slice(name.length + 1)), sample.bytes);
        rows.push(manifestRow(sample, sample.path));
      }
      await Deno.remove(join(out, name), { recursive: true }).catch(ignoreNotFound);
      await Deno.rename(temporary, join(out, name));
      return { unit, rows };
    },
    async finish() {},
    close() {},
  };
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}

/** One zip or tar file per shard, hashed while it is written. */
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
      const hashing = new Sha256Stream();
      const archive = format === "zip" ? new ZipShardStream() : new TarShardStream();
      await writeAtomic(join(out, name), entries.pipeThrough(archive).pipeThrough(hashing));
      return { unit, rows, file: name, sha256: hashing.digest(), bytes: hashing.bytes };
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
  const rec = join(out, FILES.rec);
  const idx = join(out, FILES.idx);
  const recPartial = partial(rec);
  // A run killed after renaming train.rec (but before its manifest) goes on from it.
  if (!(await exists(recPartial)) && await exists(rec)) await Deno.rename(rec, recPartial);
  const file = await Deno.open(recPartial, { read: true, write: true, create: true });
  let index: LineSink | undefined;
  const header = frameRecord(packRecord(headerRecord(ids, perId)));
  const start = await sha256File(recPartial, 0, header.length);
  let verified = start === sha256(header) ? header.length : undefined;
  let position = header.length;
  const indexLine = (key: number, at: number) => index!.write(`${key}\t${at}\n`);
  return {
    contiguous: true,
    async verify(record) {
      if (verified === undefined || record.offset !== verified || record.bytes === undefined) return false;
      if (await sha256File(recPartial, record.offset, record.bytes) !== record.sha256) return false;
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
      index = new LineSink(await Deno.open(partial(idx), { write: true, create: true, truncate: true }));
      await indexLine(0, 0);
    },
    async keep(record) {
      for (const [k, row] of record.rows.entries()) {
        await indexLine(imageRecordIndex(row.identity, row.image, perId), position);
        position += record.sizes![k];
      }
    },
    async write(unit, samples) {
      const offset = position;
      const rows: ManifestRow[] = [];
      const sizes: number[] = [];
      const hash = new Sha256();
      const entries = ReadableStream.from((async function* (): AsyncGenerator<RecordIOEntry> {
        for await (const sample of samples) {
          const id = imageRecordIndex(sample.identity, sample.image, perId);
          rows.push(manifestRow(sample, `${FILES.rec}#${id}`));
          yield { label: sample.identity, id, bytes: sample.bytes };
        }
      })());
      await file.seek(position, Deno.SeekMode.Start);
      let k = 0;
      for await (const frame of entries.pipeThrough(new RecordIOStream())) {
        await writeAll(file, frame);
        hash.update(frame);
        await indexLine(imageRecordIndex(rows[k].identity, rows[k].image, perId), position);
        position += frame.length;
        sizes.push(frame.length);
        k++;
      }
      return { unit, rows, offset, bytes: position - offset, sha256: hash.digest(), sizes };
    },
    async finish() {
      await file.seek(position, Deno.SeekMode.Start);
      position = await writeIdentityRecords(file, indexLine, ids, perId, position);
      await file.truncate(position);
      file.close();
      await index!.close();
      index = undefined;
      await Deno.rename(partial(idx), idx);
      await writeAtomic(join(out, FILES.property), propertyText(ids, size, size));
      await Deno.rename(recPartial, rec);
    },
    close() {
      try {
        file.close();
      } catch { /* closed by finish */ }
      index?.abandon();
    },
  };
}

/**
 * Identity records (each class's image range) after the images, as
 * insightface's tools write them, in 64 KiB writes; resolves to the end.
 */
async function writeIdentityRecords(
  file: Deno.FsFile,
  indexLine: (key: number, at: number) => Promise<void>,
  ids: number,
  perId: number,
  position: number,
): Promise<number> {
  const chunks: Uint8Array[] = [];
  let pending = 0;
  for (let identity = 0; identity < ids; identity++) {
    const frame = frameRecord(packRecord(identityRecord(identity, ids, perId)));
    await indexLine(ids * perId + 1 + identity, position);
    chunks.push(frame);
    pending += frame.length;
    position += frame.length;
    if (pending >= 1 << 16 || identity === ids - 1) {
      await writeAll(file, concatBytes(chunks));
      chunks.length = 0;
      pending = 0;
    }
  }
  return position;
}

/** What {@linkcode writeUnits} renders from. */
export interface UnitSource {
  /** The model pack. */
  pack: ModelPack;
  /** The dataset's plan. */
  plan: DatasetPlan;
  /** The identity bank. */
  identities: Float32Array[];
  /** Images per generator call. */
  batchSize?: number;
  /** Attribute edit of every image. */
  edit?: DatasetEdit;
  /** Cancels between units and batches. */
  signal?: AbortSignal;
}

/**
 * Renders `units` (in increasing order) and writes each with `writer`,
 * journaling its record; units in a row render as one stream, batched across
 * their identities (the bytes do not depend on the batching). `onImage` is
 * called after each image.
 */
export async function writeUnits(
  source: UnitSource,
  units: readonly number[],
  writer: UnitWriter,
  journal: ProgressJournal,
  onImage: () => void,
): Promise<void> {
  const { pack, plan, identities, signal } = source;
  const common = { pack, identities, perId: plan.perId, seed: plan.seed, batchSize: source.batchSize, signal };
  for (let i = 0; i < units.length;) {
    let j = i + 1;
    while (j < units.length && units[j] === units[j - 1] + 1) j++;
    signal?.throwIfAborted();
    const start = unitRange(plan, units[i])[0];
    const samples = generateSamples({ ...common, edit: source.edit, start, end: unitRange(plan, units[j - 1])[1] });
    try {
      for (let k = i; k < j; k++) {
        signal?.throwIfAborted();
        const [first, last] = unitRange(plan, units[k]);
        await journal.appendUnit(await writer.write(units[k], take(samples, (last - first) * plan.perId, onImage)));
      }
    } finally {
      await samples.return(undefined);
    }
    i = j;
  }
}

/**
 * Yields the next `count` samples of `samples`, calling `onEach` after each
 * is taken (one unit's samples from a stream that spans several units).
 */
async function* take(
  samples: AsyncGenerator<DatasetSample>,
  count: number,
  onEach: () => void,
): AsyncGenerator<DatasetSample> {
  for (let k = 0; k < count; k++) {
    const next = await samples.next();
    if (next.done) throw new RangeError(`Cannot take ${count} samples: current stream ended after ${k}`);
    yield next.value;
    onEach();
  }
}
