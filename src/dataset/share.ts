/**
 * One worker's share of a sharded run (see {@linkcode WorkerShare}): its part
 * journal, its shards, and the merge lock taken by the worker that finishes
 * last (which then merges every part as a resume of the whole run).
 *
 * @module
 */
import { join } from "node:path";
import { writeAtomic } from "../_fs.ts";
import type { BankInfo } from "../bank.ts";
import { Vec2FaceError } from "../errors.ts";
import { ProgressJournal, type RunSpec } from "../journal.ts";
import { identityBank, type IdentityBankOptions, readBankInfo } from "./bank_files.ts";
import type { GenerateOptions, GenerateResult } from "./generate.ts";
import { FILES, PART_JOURNAL, partJournalName, SHARED_FILE } from "./layout.ts";
import { type DatasetPlan, unitRange, type WorkerShare } from "./plan.ts";
import { checkComplete, checkPartSpec, statFolder } from "./run.ts";
import { openWriter, writeUnits } from "./writers.ts";

/**
 * Renders one worker's share of a sharded run into its part journal; the
 * result is `complete` only when the folder was merged already (a restarted
 * worker after the last one finished).
 */
export async function generateShare(
  options: GenerateOptions & { bankOptions: IdentityBankOptions },
  spec: RunSpec,
  plan: DatasetPlan,
  share: WorkerShare,
): Promise<GenerateResult> {
  const { pack, out } = options;
  const units: number[] = [];
  for (let unit = share.index; unit < plan.unitCount; unit += share.count) units.push(unit);
  const images = (unit: number) => (unitRange(plan, unit)[1] - unitRange(plan, unit)[0]) * plan.perId;
  const total = units.reduce((sum, unit) => sum + images(unit), 0);
  const result = (kept: number, bank: BankInfo, complete: boolean): GenerateResult => ({
    images: total,
    kept,
    shards: units.length,
    backend: pack.backend,
    bank,
    complete,
  });

  const names = await checkSharedFolder(out, spec, share);
  if (names.includes(FILES.manifest)) {
    // Merged already (this worker restarted after the last one finished).
    await checkComplete(out, spec);
    return result(total, await readBankInfo(out), true);
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
    const made = await identityBank(options.bankOptions, journal, spec, `tmp-${share.index}-of-${share.count}`);
    bank = made.bank;
    const writer = await openWriter(out, plan, pack.manifest.imageSize);
    let rendered = 0;
    const report = () => options.onProgress?.({ stage: "render", done: rendered, total });
    const missing: number[] = [];
    for (const unit of units) {
      options.signal?.throwIfAborted();
      const record = await journal.unit(unit);
      if (record && await writer.verify(record)) {
        kept += record.rows.length;
        rendered += record.rows.length;
        report();
      } else {
        missing.push(unit);
      }
    }
    await writeUnits({ ...options, plan, identities: made.identities }, missing, writer, journal, () => {
      rendered++;
      report();
    });
  } finally {
    journal.close();
  }
  if (options.sources !== undefined) {
    await writeAtomic(join(out, FILES.sources), JSON.stringify(options.sources, null, 1) + "\n");
  }
  await Deno.rename(running, done);
  return result(kept, bank, false);
}

/** The names in a folder shared by workers; refuses a folder that holds anything but the parts of `spec`. */
async function checkSharedFolder(out: string, spec: RunSpec, share: WorkerShare): Promise<string[]> {
  const label = `part ${share.index}/${share.count} of the shards`;
  await statFolder(out);
  await Deno.mkdir(out, { recursive: true });
  const names = (await Array.fromAsync(Deno.readDir(out))).map((entry) => entry.name);
  if (names.includes(FILES.manifest)) return names;
  if (names.includes(FILES.journal)) {
    throw new Vec2FaceError(
      "output-exists",
      `Cannot render ${label} in ${out}: current folder holds a merge or a whole run in progress (${FILES.journal}); ` +
        "finish it with the same options and `resume`, without `share`",
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
  return names;
}

/**
 * After a part completes: when every part of its `count` is complete in the
 * folder, takes the merge lock (true: this worker merges); another worker
 * holding the lock merges instead.
 */
export async function takeMergeLock(out: string, share: WorkerShare): Promise<boolean> {
  const names = new Set((await Array.fromAsync(Deno.readDir(out))).map((entry) => entry.name));
  for (let index = 0; index < share.count; index++) {
    if (!names.has(partJournalName({ index, count: share.count }, true))) return false;
  }
  try {
    (await Deno.open(join(out, FILES.mergeLock), { write: true, createNew: true })).close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
}

/** Removes the merge lock. */
export async function releaseMergeLock(out: string): Promise<void> {
  await Deno.remove(join(out, FILES.mergeLock)).catch(() => {});
}
