/**
 * The progress journal of a dataset run, `progress.jsonl` in the output
 * folder: what a resumed run (`resume`) trusts. Line 1 is the run's spec (created
 * under a temporary name and renamed, so a journal always has one); then one
 * line per completed step: the identity bank's sha256, and each unit (an
 * identity group or a shard) with its manifest rows and sha256. A line is
 * appended only after the files it describes are complete, so a kill at any
 * moment leaves at worst a torn last line, which {@linkcode ProgressJournal.open}
 * drops. A later line for the same unit replaces an earlier one. Memory stays
 * flat: units are read back from the file by offset.
 *
 * @module
 */
import { concatBytes, readAt, writeAll, writeAtomic } from "./_fs.ts";
import type { EditAttribute } from "./edit.ts";
import { Vec2FaceError } from "./errors.ts";

/**
 * Everything a run's bytes depend on; a resumed run must match it exactly.
 */
export interface RunSpec {
  /** Journal format version. */
  version: 1;
  /** Number of identities. */
  ids: number;
  /** Images per identity. */
  perId: number;
  /** Dataset seed. */
  seed: number;
  /** Output format. */
  format: string;
  /** Identities per shard (`null` for formats without shards). */
  shardSize: number | null;
  /** Separation threshold. */
  threshold: number;
  /** sha256 of the pack's manifest. */
  pack: string;
  /** The backend that renders (another one rounds differently). */
  backend: string;
  /** `"sampled"`, or the sha256 of the given bank's first `ids` vectors as `.npy`. */
  bank: string;
  /** Attribute edit of every image (JSON of targets, budget, minIdentity); absent without one. */
  edit?: string;
}

/**
 * One row of `manifest.jsonl`.
 */
export interface ManifestRow {
  /** Identity index. */
  identity: number;
  /** Image index within the identity. */
  image: number;
  /** Noise sigma used. */
  sigma: number;
  /** Where the image is: a path, or `CONTAINER#MEMBER`. */
  file: string;
  /** sha256 of the JPEG bytes. */
  sha256: string;
  /** The head pose the image was rendered at; only with packs that declare a pose range (`manifest.pose`). */
  pose?: { yaw: number; pitch: number };
  /** What the image's attribute edit reached; only in datasets made with `edit` (other rows have no such key). */
  edit?: ManifestEdit;
}

/**
 * What one edited image reached, as its manifest row records it (`generate`
 * with `edit`). Numbers are rounded to 4 decimals.
 */
export interface ManifestEdit {
  /** The targets searched for, as numbers: gender as the probability of female (`female` 1, `male` 0). */
  targets: Partial<Record<EditAttribute, number>>;
  /** `reached` when every target was within `edit`'s tolerance and identity at least `minIdentity`. */
  status: "reached" | "unreached";
  /**
   * What the search's estimators read on the final face (rendered, before JPEG encoding), for each target
   * (gender as the probability of female); with a yaw target, also `landmarkYaw` (yaw read from the landmarks)
   * when the pack has a landmark model.
   */
  measured: Partial<Record<EditAttribute | "landmarkYaw", number>>;
  /** Identity cosine between the edited and the unedited face (the pack's identity model). */
  identity: number;
  /** Generator calls the image's edit used (the unedited render included). */
  calls: number;
}

/**
 * A completed unit: its manifest rows and what verifies its files.
 */
export interface UnitRecord {
  /** Unit index (identity for folder and RecordIO runs, shard otherwise). */
  unit: number;
  /** Manifest rows of the unit, in order. */
  rows: ManifestRow[];
  /** The unit's file (shards). */
  file?: string;
  /** sha256 of the unit's file (shards) or byte range (RecordIO). */
  sha256?: string;
  /** Start of the unit's byte range in `train.rec` (RecordIO). */
  offset?: number;
  /** Size of the unit's file or byte range. */
  bytes?: number;
  /** Size of each image record (RecordIO). */
  sizes?: number[];
}

/**
 * The identity bank files' sha256, journaled once they are written.
 */
export interface BankRecord {
  /** sha256 of `identities.npy`. */
  npy: string;
  /** sha256 of `identities.json`. */
  json: string;
}

/** The spec's options, in the order differences are listed. */
const OPTIONS: readonly Exclude<keyof RunSpec, "version">[] = [
  "ids",
  "perId",
  "seed",
  "format",
  "shardSize",
  "threshold",
  "pack",
  "backend",
  "bank",
  "edit",
];

function describe(key: (typeof OPTIONS)[number], value: unknown): string {
  if (key === "pack") return `\`pack\` (manifest sha256 ${String(value).slice(0, 12)})`;
  if (key === "shardSize" && value === null) return "no shards";
  if (key === "bank") return value === "sampled" ? "no `bank`" : `\`bank\` (sha256 ${String(value).slice(0, 12)})`;
  if (key === "edit") return value === undefined ? "no `edit`" : `\`edit\` ${value}`;
  return `\`${key}\` ${value}`;
}

/**
 * How `wanted` differs from `found`, as options (names in backticks, e.g.
 * `` `perId` 6 ``); empty when they match.
 *
 * @example Two specs that differ in images per identity
 * ```ts
 * import assert from "node:assert/strict";
 * import { type RunSpec, specDifferences } from "./journal.ts";
 * const a: RunSpec = {
 *   version: 1, ids: 10, perId: 5, seed: 0, format: "folder", shardSize: null,
 *   threshold: 0.4, pack: "ab12", backend: "wasm", bank: "sampled",
 * };
 * const { wanted, found } = specDifferences({ ...a, perId: 6 }, a);
 * assert.deepEqual([wanted, found], [["`perId` 6"], ["`perId` 5"]]);
 * ```
 */
export function specDifferences(wanted: RunSpec, found: RunSpec): { wanted: string[]; found: string[] } {
  const result = { wanted: [] as string[], found: [] as string[] };
  if (wanted.version !== found.version) {
    result.wanted.push(`journal version ${wanted.version}`);
    result.found.push(`journal version ${found.version}`);
  }
  for (const key of OPTIONS) {
    if (wanted[key] !== found[key]) {
      result.wanted.push(describe(key, wanted[key]));
      result.found.push(describe(key, found[key]));
    }
  }
  return result;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Complete lines (ending in a newline) of a file, with their offsets. */
async function* lines(file: Deno.FsFile): AsyncGenerator<{ offset: number; bytes: Uint8Array }> {
  const buffer = new Uint8Array(1 << 16);
  let pending: Uint8Array[] = [];
  let offset = 0;
  for (let n = await file.read(buffer); n !== null; n = await file.read(buffer)) {
    const chunk = buffer.subarray(0, n);
    let from = 0;
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, from)) {
      pending.push(chunk.slice(from, newline));
      const bytes = pending.length === 1 ? pending[0] : concatBytes(pending);
      yield { offset, bytes };
      offset += bytes.length + 1;
      pending = [];
      from = newline + 1;
    }
    if (from < chunk.length) pending.push(chunk.slice(from));
  }
}

function parseLine(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(decoder.decode(bytes));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The run spec on line 1 of a journal, reading nothing after it (another
 * process may be appending to the file); `undefined` when line 1 is not a spec
 * or not complete yet.
 *
 * @example A journal's spec, read while another process may append
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProgressJournal, readJournalSpec } from "./journal.ts";
 * const directory = await Deno.makeTempDir();
 * const spec = {
 *   version: 1 as const, ids: 3, perId: 1, seed: 0, format: "zip", shardSize: 1,
 *   threshold: 0.4, pack: "ab12", backend: "wasm", bank: "sampled",
 * };
 * (await ProgressJournal.create(`${directory}/part.jsonl`, spec)).close();
 * assert.equal((await readJournalSpec(`${directory}/part.jsonl`))?.ids, 3);
 * await Deno.remove(directory, { recursive: true });
 * ```
 */
export async function readJournalSpec(path: string): Promise<RunSpec | undefined> {
  using file = await Deno.open(path, { read: true });
  for await (const { bytes } of lines(file)) {
    const spec = parseLine(bytes)?.spec;
    return typeof spec === "object" && spec !== null ? spec as RunSpec : undefined;
  }
  return undefined;
}

/**
 * An open progress journal (read and append).
 *
 * @example Create, append a unit, reopen
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProgressJournal } from "./journal.ts";
 * const directory = await Deno.makeTempDir();
 * const spec = {
 *   version: 1 as const, ids: 1, perId: 1, seed: 0, format: "folder", shardSize: null,
 *   threshold: 0.4, pack: "ab12", backend: "wasm", bank: "sampled",
 * };
 * const journal = await ProgressJournal.create(`${directory}/progress.jsonl`, spec);
 * await journal.appendUnit({ unit: 0, rows: [] });
 * journal.close();
 * const reopened = await ProgressJournal.open(`${directory}/progress.jsonl`);
 * assert.equal(reopened.spec.ids, 1);
 * assert.equal((await reopened.unit(0))?.unit, 0);
 * reopened.close();
 * await Deno.remove(directory, { recursive: true });
 * ```
 */
export class ProgressJournal {
  /** The run's spec (line 1). */
  readonly spec: RunSpec;
  /** The bank's sha256, once journaled. */
  bank: BankRecord | undefined;
  #file: Deno.FsFile;
  #size: number;
  #units = new Map<number, [number, number]>();
  #appending: Promise<unknown> = Promise.resolve();

  private constructor(file: Deno.FsFile, spec: RunSpec, size: number) {
    this.#file = file;
    this.spec = spec;
    this.#size = size;
  }

  /** Starts a journal at `path` holding only `spec` (written to `path.tmp`, then renamed). */
  static async create(path: string, spec: RunSpec): Promise<ProgressJournal> {
    const line = encoder.encode(JSON.stringify({ spec }) + "\n");
    await writeAtomic(path, line);
    return new ProgressJournal(await Deno.open(path, { read: true, append: true }), spec, line.length);
  }

  /**
   * Opens an existing journal; a torn or unreadable tail is cut off. Throws a
   * `Vec2FaceError` (`resume-mismatch`) when line 1 is not a run spec. With
   * `readOnly` (another process's journal, which may still grow) the file is
   * only read: a torn tail is ignored, not cut, and nothing can be appended.
   */
  static async open(path: string, options: { readOnly?: boolean } = {}): Promise<ProgressJournal> {
    const readOnly = options.readOnly ?? false;
    const file = await Deno.open(path, readOnly ? { read: true } : { read: true, append: true });
    let journal: ProgressJournal | undefined;
    try {
      let end = 0;
      for await (const { offset, bytes } of lines(file)) {
        const value = parseLine(bytes);
        if (!journal) {
          const spec = value?.spec as RunSpec | undefined;
          if (typeof spec !== "object" || spec === null) break;
          journal = new ProgressJournal(file, spec, 0);
        } else if (typeof value?.unit === "number" && Array.isArray(value.rows)) {
          journal.#units.set(value.unit, [offset, bytes.length]);
        } else if (typeof value?.bank === "object" && value.bank !== null) {
          journal.bank = value.bank as BankRecord;
        } else {
          break;
        }
        end = offset + bytes.length + 1;
      }
      if (!journal) {
        throw new Vec2FaceError(
          "resume-mismatch",
          `Cannot resume from ${path}: current file does not start with a run spec (not a vec2face progress journal)`,
        );
      }
      if (!readOnly) await file.truncate(end);
      journal.#size = end;
      return journal;
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /** Journals the identity bank's files. */
  async appendBank(bank: BankRecord): Promise<void> {
    await this.#append({ bank });
    this.bank = bank;
  }

  /** Journals a completed unit (replacing any earlier line for it). */
  async appendUnit(record: UnitRecord): Promise<void> {
    const [offset, length] = await this.#append(record);
    this.#units.set(record.unit, [offset, length]);
  }

  /** The units journaled so far, in increasing order. */
  units(): number[] {
    return [...this.#units.keys()].sort((a, b) => a - b);
  }

  /** The last journaled line of unit `unit`, if any. */
  async unit(unit: number): Promise<UnitRecord | undefined> {
    const place = this.#units.get(unit);
    if (!place) return undefined;
    return JSON.parse(decoder.decode(await readAt(this.#file, place[0], place[1], "the journal"))) as UnitRecord;
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }

  /** Appends one line; concurrent calls are written one after the other (the offsets stay right). */
  #append(value: unknown): Promise<[number, number]> {
    const line = encoder.encode(JSON.stringify(value) + "\n");
    const appended = this.#appending.then(async (): Promise<[number, number]> => {
      const offset = this.#size;
      await writeAll(this.#file, line);
      this.#size += line.length;
      return [offset, line.length - 1];
    });
    this.#appending = appended.catch(() => {});
    return appended;
  }
}
