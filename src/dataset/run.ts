/**
 * The lifecycle of a dataset run in its output folder, shared by
 * `generateDataset` and `fetchDataset`: {@linkcode DatasetRun.open} prepares
 * the folder (a new run; with `resume`, the journal of an interrupted run,
 * the parts of a shared run to merge, or a complete dataset of the same spec,
 * checked file by file), {@linkcode DatasetRun.kept} tells which journaled
 * units still hold, and {@linkcode DatasetRun.finish} writes the last files
 * and `manifest.jsonl` last of all, so an interrupted run never looks
 * complete.
 *
 * @module
 */
import { join } from "node:path";
import { LineSink, writeAtomic } from "../_fs.ts";
import { sha256File } from "../_hash.ts";
import { openDataset, readDataset } from "../read_dataset.ts";
import type { BankInfo } from "../bank.ts";
import { Vec2FaceError } from "../errors.ts";
import {
  type ManifestRow,
  ProgressJournal,
  readJournalSpec,
  type RunSpec,
  specDifferences,
  type UnitRecord,
} from "../journal.ts";
import { FILES, manifestFile, PART_JOURNAL, partial, PARTIAL_FOLDER } from "./layout.ts";
import type { DatasetFormat } from "./plan.ts";

/** The output folder's info (undefined when missing); refuses a path that is a file. */
export async function statFolder(out: string): Promise<Deno.FileInfo | undefined> {
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

/**
 * Refuses an output path that is a file, or a non-empty folder unless
 * `overwrite`; creates the folder. `overwrite` empties only a folder this
 * library wrote (a `manifest.jsonl` or a progress journal in it), and first
 * hands `onOverwrite` the names it removes; any other non-empty folder is
 * refused, so a mistyped path never deletes someone's files.
 *
 * @example A non-empty folder is refused; overwriting needs a dataset there
 * ```ts
 * import assert from "node:assert/strict";
 * import { prepareOutput } from "./run.ts";
 * const out = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${out}/old.txt`, "x");
 * await assert.rejects(prepareOutput(out, false), /the folder is not empty \(1 entries\); use `overwrite`/);
 * await assert.rejects(prepareOutput(out, true), /holds no manifest\.jsonl or progress journal .*: old\.txt/);
 * assert.equal((await Array.fromAsync(Deno.readDir(out))).length, 1);
 * await Deno.writeTextFile(`${out}/manifest.jsonl`, "");
 * const removed: string[] = [];
 * await prepareOutput(out, true, (names) => removed.push(...names));
 * assert.deepEqual(removed, ["manifest.jsonl", "old.txt"]);
 * assert.equal((await Array.fromAsync(Deno.readDir(out))).length, 0);
 * await Deno.remove(out);
 * ```
 */
export async function prepareOutput(
  out: string,
  overwrite: boolean,
  onOverwrite?: (names: string[]) => void,
): Promise<void> {
  const info = await statFolder(out);
  if (info) {
    const names = (await Array.fromAsync(Deno.readDir(out))).map((entry) => entry.name).sort();
    if (names.length > 0 && !overwrite) {
      throw new Vec2FaceError(
        "output-exists",
        `Cannot write a dataset to ${out}: the folder is not empty (${names.length} entries); use \`overwrite\` to replace it`,
      );
    }
    if (names.length > 0) {
      const ours = names.some((name) =>
        name === FILES.manifest || name === FILES.journal || name === partial(FILES.journal) ||
        PART_JOURNAL.test(name) || name === EDIT_LOG
      );
      if (!ours) {
        throw new Vec2FaceError(
          "output-exists",
          `Cannot overwrite ${out}: current folder holds no ${FILES.manifest} or progress journal (not a dataset ` +
            `this library wrote), so nothing is removed: ${
              listNames(names)
            }; remove it yourself or choose another folder`,
        );
      }
      onOverwrite?.(names);
      await Deno.remove(out, { recursive: true });
    }
  }
  await Deno.mkdir(out, { recursive: true });
}

/** The log `cli.ts edit` writes into its output folder, which `overwrite` may then replace. */
const EDIT_LOG = "edits.jsonl";

/**
 * Up to 8 names, then how many more: a folder's entries in one line of a message.
 *
 * @example Ten names
 * ```ts
 * import assert from "node:assert/strict";
 * import { listNames } from "./run.ts";
 * assert.equal(listNames(["a", "b"]), "a, b");
 * assert.equal(listNames([..."abcdefghij"]), "a, b, c, d, e, f, g, h and 2 more");
 * ```
 */
export function listNames(names: string[]): string {
  const shown = names.slice(0, 8).join(", ");
  return names.length > 8 ? `${shown} and ${names.length - 8} more` : shown;
}

/** Options of {@linkcode DatasetRun.open}. */
export interface OpenRunOptions {
  /** Continue an interrupted run (or accept a complete one of the same spec). */
  resume?: boolean;
  /** Replace a non-empty folder this library wrote (a manifest or journal in it); others are refused. */
  overwrite?: boolean;
  /** Called with the names `overwrite` is about to remove from the folder. */
  onOverwrite?: (names: string[]) => void;
  /**
   * With `resume`, called when the folder holds a complete dataset of this
   * spec, before its files are read back or any is redone: a check the spec
   * cannot make (e.g. that this backend rendered it) throws to stop the run.
   */
  verifyComplete?: () => Promise<void>;
}

/** The journaled run in an output folder. */
export class DatasetRun {
  /** The output folder. */
  readonly out: string;
  /** The journal (`progress.jsonl`). */
  readonly journal: ProgressJournal;

  private constructor(out: string, journal: ProgressJournal) {
    this.out = out;
    this.journal = journal;
  }

  /** The run's spec. */
  get spec(): RunSpec {
    return this.journal.spec;
  }

  /**
   * Prepares `out` for a run of `spec`: a new journal in an empty (or, with
   * `overwrite`, emptied) folder; with `resume`, the journal of an interrupted
   * run of the same spec, or a merge of the parts of a shared run. Resolves to
   * `undefined` when, with `resume`, `out` already holds the complete dataset
   * of `spec` (checked: bank sidecar, every manifest row's file, and every
   * image's sha256; a complete dataset with images that differ gets a journal
   * of the units that still match, and the rest is redone). Throws a
   * `Vec2FaceError` (`resume-mismatch`, `output-exists`) naming the options
   * that differ.
   *
   * @example A new run, then a resume of the complete folder
   * ```ts
   * import assert from "node:assert/strict";
   * import { DatasetRun } from "./run.ts";
   * const out = await Deno.makeTempDir();
   * const spec = {
   *   version: 1 as const, ids: 1, perId: 1, seed: 0, format: "folder", shardSize: null,
   *   threshold: 0.4, pack: "ab12", backend: "wasm", bank: "sampled",
   * };
   * const run = (await DatasetRun.open(out, spec))!;
   * await Deno.writeTextFile(`${out}/identities.json`, JSON.stringify({ packSha256: "ab12", seed: 0, count: 1, threshold: 0.4 }));
   * await Deno.mkdir(`${out}/000000`);
   * await Deno.writeFile(`${out}/000000/000.jpg`, new Uint8Array());
   * const sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; // of no bytes
   * await run.journal.appendUnit({ unit: 0, rows: [{ identity: 0, image: 0, sigma: 0, file: "000000/000.jpg", sha256 }] });
   * await run.finish();
   * assert.equal(await DatasetRun.open(out, spec, { resume: true }), undefined);
   * await assert.rejects(DatasetRun.open(out, { ...spec, seed: 1 }, { resume: true }), /complete and differs \(seed 0\)/);
   * await Deno.remove(out, { recursive: true });
   * ```
   */
  static async open(out: string, spec: RunSpec, options: OpenRunOptions = {}): Promise<DatasetRun | undefined> {
    let journal: ProgressJournal | undefined;
    if (options.resume) {
      const state = await resumeState(out, spec, options.verifyComplete);
      if (state === "complete") return undefined;
      journal = state;
    } else {
      await prepareOutput(out, options.overwrite ?? false, options.onOverwrite);
    }
    if (!journal) {
      await Deno.mkdir(out, { recursive: true });
      journal = await ProgressJournal.create(join(out, FILES.journal), spec);
    }
    return new DatasetRun(out, journal);
  }

  /**
   * The journal record of `unit` when `verify` (its files still match) says
   * so; `undefined` when it must be done again.
   */
  async kept(unit: number, verify: (record: UnitRecord) => Promise<boolean>): Promise<UnitRecord | undefined> {
    const record = await this.journal.unit(unit);
    return record && await verify(record) ? record : undefined;
  }

  /**
   * Completes the run: `files` (name and text, e.g. `sources.json`) written,
   * then `manifest.jsonl` from the journal's units in order (written under a
   * temporary name, renamed last), and the journal and any part journals
   * removed. Closes the journal.
   */
  async finish(files: { name: string; text: string }[] = []): Promise<void> {
    const manifestPath = join(this.out, FILES.manifest);
    try {
      const { ids, shardSize } = this.spec;
      const unitCount = Math.ceil(ids / (shardSize ?? 1));
      const manifest = await Deno.open(partial(manifestPath), { write: true, create: true, truncate: true });
      const sink = new LineSink(manifest);
      try {
        for (let unit = 0; unit < unitCount; unit++) {
          const record = await this.journal.unit(unit);
          if (!record) throw new RangeError(`Cannot finish ${this.out}: current journal has no unit ${unit}`);
          for (const row of record.rows) await sink.write(JSON.stringify(row) + "\n");
        }
        await sink.close();
      } catch (error) {
        sink.abandon();
        throw error;
      }
      for (const { name, text } of files) await writeAtomic(join(this.out, name), text);
    } finally {
      this.journal.close();
    }
    await removeParts(this.out);
    await Deno.rename(partial(manifestPath), manifestPath);
    await Deno.remove(join(this.out, FILES.journal));
  }

  /** Closes the journal (after a failure; the run resumes from it). */
  close(): void {
    this.journal.close();
  }
}

/** The state of `out` for a resumed run: a journal to go on from, nothing (start anew), or a complete dataset. */
async function resumeState(
  out: string,
  spec: RunSpec,
  verifyComplete?: () => Promise<void>,
): Promise<ProgressJournal | undefined | "complete"> {
  if (!await statFolder(out)) return undefined;
  const names = (await Array.fromAsync(Deno.readDir(out))).map((entry) => entry.name);
  if (names.includes(FILES.journal)) return await continueJournal(out, spec, names);
  const parts = names.filter((name) => PART_JOURNAL.test(name));
  if (parts.length > 0 && !names.includes(FILES.manifest)) return await mergeParts(out, spec, names, parts);
  // Killed while the journal was being created: nothing else was written.
  if (names.every((name) => name === partial(FILES.journal))) {
    for (const name of names) await Deno.remove(join(out, name));
    return undefined;
  }
  if (names.includes(FILES.manifest)) {
    await checkComplete(out, spec);
    await verifyComplete?.();
    return await repairJournal(out, spec);
  }
  throw new Vec2FaceError(
    "output-exists",
    `Cannot resume ${out}: current folder holds no ${FILES.journal} (not an interrupted vec2face run); ` +
      "use `overwrite` to start over",
  );
}

/**
 * Reads back every image of the complete dataset in `out` against its
 * manifest's sha256: `"complete"` when all match; otherwise a new journal of
 * `spec` holding the units whose images all match (shards: the shard's file
 * and sha256 as it is; RecordIO: none, `train.rec` is one file), with the
 * manifest removed, so the run redoes the rest (and makes the bank again) and
 * ends byte-identical to the original.
 */
async function repairJournal(out: string, spec: RunSpec): Promise<ProgressJournal | "complete"> {
  const bad = new Set<number>();
  const shardSize = spec.shardSize ?? 1;
  let unreadable = false;
  try {
    for await (const { item, problem } of readDataset(await openDataset(out))) {
      if (problem !== undefined) bad.add(Math.floor(item.identity / shardSize));
    }
  } catch {
    unreadable = true; // e.g. a shard that is no longer an archive: everything is redone
  }
  if (bad.size === 0 && !unreadable) return "complete";
  const text = await Deno.readTextFile(join(out, FILES.manifest));
  const units = new Map<number, ManifestRow[]>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const row = JSON.parse(line) as ManifestRow;
    const unit = Math.floor(row.identity / shardSize);
    if (!units.has(unit)) units.set(unit, []);
    units.get(unit)!.push(row);
  }
  await Deno.remove(join(out, FILES.manifest));
  const journal = await ProgressJournal.create(join(out, FILES.journal), spec);
  try {
    if (unreadable || spec.format === "recordio") return journal;
    for (const [unit, rows] of units) {
      if (bad.has(unit)) continue;
      const file = rows[0].file.split("#")[0];
      if (spec.format === "folder") await journal.appendUnit({ unit, rows });
      else {
        const { size } = await Deno.stat(join(out, file));
        await journal.appendUnit({ unit, rows, file, sha256: await sha256File(join(out, file)), bytes: size });
      }
    }
  } catch (error) {
    journal.close();
    throw error;
  }
  return journal;
}

/** The journal of an interrupted run of `spec`; half-written files and any manifest go. */
async function continueJournal(out: string, spec: RunSpec, names: string[]): Promise<ProgressJournal> {
  const journal = await ProgressJournal.open(join(out, FILES.journal));
  const { wanted, found } = specDifferences(spec, journal.spec);
  if (wanted.length > 0) {
    journal.close();
    throw new Vec2FaceError(
      "resume-mismatch",
      `Cannot resume ${out} with ${wanted.join(", ")}: current run there was started with ${
        found.join(", ")
      } (pass the same options, or use \`overwrite\` to start over)`,
    );
  }
  // Until it is finished again, the run must not look complete; half-written files go (train.rec.tmp is
  // checked record by record instead).
  for (const name of names) {
    if (name === FILES.manifest || (name.endsWith(".tmp") && name !== partial(FILES.rec))) {
      await Deno.remove(join(out, name));
    } else if (PARTIAL_FOLDER.test(name)) {
      await Deno.remove(join(out, name), { recursive: true });
    }
  }
  return journal;
}

/**
 * Checks that the complete dataset in `out` is the one `spec` asks for: the
 * bank sidecar's pack, seed, count and threshold (and the bank's sha256 when
 * it was given), and every manifest row's file (format, shard size, images
 * per identity).
 */
export async function checkComplete(out: string, spec: RunSpec): Promise<void> {
  const { ids, perId, format } = spec;
  const bank = JSON.parse(await Deno.readTextFile(join(out, FILES.bankJson))) as BankInfo;
  const problems: string[] = [];
  if (bank.packSha256 !== spec.pack) problems.push(`pack ${bank.packSha256.slice(0, 12)}`);
  if (bank.seed !== spec.seed) problems.push(`seed ${bank.seed}`);
  if (bank.count !== ids) problems.push(`${bank.count} identities`);
  if (bank.threshold !== spec.threshold) problems.push(`threshold ${bank.threshold}`);
  if (spec.bank !== "sampled" && await sha256File(join(out, FILES.bankNpy)) !== spec.bank) {
    problems.push("another bank");
  }
  const { rows, mismatch } = await checkManifestFiles(join(out, FILES.manifest), spec);
  if (rows !== ids * perId) problems.push(`${rows} manifest rows`);
  else if (mismatch) problems.push(mismatch);
  if (problems.length > 0) {
    throw new Vec2FaceError(
      "resume-mismatch",
      `Cannot resume ${out} as ${ids} x ${perId} images (${format}, seed ${spec.seed}): current dataset there is ` +
        `complete and differs (${problems.join(", ")}); use \`overwrite\` to make it again`,
    );
  }
}

/** The manifest's row count, and the first row whose file is not where `spec` puts it. */
async function checkManifestFiles(path: string, spec: RunSpec): Promise<{ rows: number; mismatch?: string }> {
  const { ids, perId, format } = spec;
  const shardSize = spec.shardSize ?? 1;
  let rows = 0;
  let mismatch: string | undefined;
  let line = "";
  const decoder = new TextDecoder();
  for await (const chunk of (await Deno.open(path)).readable) {
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
  return { rows, mismatch };
}

/** Throws unless a part journal's spec is `spec`. */
export async function checkPartSpec(out: string, name: string, spec: RunSpec, doing: string): Promise<void> {
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
    if (/\.tmp(-[\w]+)?$/.test(name) && name !== partial(FILES.rec)) await Deno.remove(join(out, name));
  }
  parts.sort((a, b) => Number(a.includes(".progress.")) - Number(b.includes(".progress.")) || (a < b ? -1 : 1));
  const journal = await ProgressJournal.create(join(out, FILES.journal), spec);
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
    if (PART_JOURNAL.test(entry.name) || entry.name === FILES.mergeLock) {
      await Deno.remove(join(out, entry.name)).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
  }
}
