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
 * Every file is written under a temporary name and renamed when complete (a
 * `folder` identity's whole folder, as `.partial-{identity:06d}`), and
 * `manifest.jsonl` comes last, so an interrupted run never looks complete.
 * While it runs, `progress.jsonl` journals each completed unit (an identity
 * for folders and RecordIO, a shard otherwise) with its sha256; `resume`
 * checks the spec, keeps the units whose files still match, redoes the rest,
 * and the finished output is byte-identical to an uninterrupted run.
 *
 * @module
 */
import { sha256 } from "../_hash.ts";
import type { Backend } from "../_backend.ts";
import { writeAtomic } from "../_fs.ts";
import { type BankInfo, checkBankRows, encodeBank } from "../bank.ts";
import type { DatasetEdit } from "../dataset.ts";
import type { RunSpec } from "../journal.ts";
import type { ModelPack } from "../model_pack.ts";
import type { Progress } from "../progress.ts";
import { checkVectors } from "../vectors.ts";
import { identityBank, readBankInfo } from "./bank_files.ts";
import { FILES } from "./layout.ts";
import { type DatasetPlan, planDataset, type PlanOptions, type WorkerShare } from "./plan.ts";
import { checkBankPrice } from "./bank_price.ts";
import { checkRenderedHere } from "./render_check.ts";
import { DatasetRun } from "./run.ts";
import { generateShare, releaseMergeLock, takeMergeLock } from "./share.ts";
import { openWriter, type UnitWriter, writeUnits } from "./writers.ts";

/** Progress of {@linkcode generateDataset}. */
export interface GenerateProgress extends Progress {
  /** Stage of the run. */
  stage: "sample" | "render";
  /** Done so far (identities sampled, or images rendered or kept). */
  done: number;
  /** Total for the stage. */
  total: number;
}

/** Options for {@linkcode generateDataset}: the plan's (ids, perId, seed, format, ...) and these. */
export interface GenerateOptions extends PlanOptions {
  /** The model pack. */
  pack: ModelPack;
  /** Output folder. */
  out: string;
  /** Separation threshold; default the pack's. */
  threshold?: number;
  /** Identity vectors to use instead of sampling (at least `ids` of them). */
  bank?: Float32Array[];
  /** Edit every image towards attribute targets (see `DatasetEdit`; up to `budget` renders per image). */
  edit?: DatasetEdit;
  /** Where the identities came from (any JSON value): written as `sources.json`, before the manifest. */
  sources?: unknown;
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
  /**
   * Whether `out` now holds the whole dataset with its `manifest.jsonl`:
   * always after a whole run; after a share, when it was the last part and
   * merged them all. For a share, `images`, `kept` and `shards` count its share.
   */
  complete: boolean;
}

/**
 * Samples (or takes) identities, renders `ids x perId` images and writes them;
 * with `resume`, continues an interrupted run in `out`.
 *
 * @example A WebDataset shard, then a resume that finds it complete
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateDataset } from "./generate.ts";
 * import { FIXTURE_PACK, loadPack } from "../model_pack.ts";
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * const out = await Deno.makeTempDir();
 * const result = await generateDataset({ pack, out, ids: 2, perId: 2, seed: 3, format: "webdataset" });
 * assert.deepEqual([result.images, result.shards], [4, 1]);
 * const again = await generateDataset({ pack, out, ids: 2, perId: 2, seed: 3, format: "webdataset", resume: true });
 * assert.equal(again.kept, 4); // already complete: nothing to redo
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function generateDataset(options: GenerateOptions): Promise<GenerateResult> {
  const { pack, out, signal } = options;
  const plan = planDataset(options);
  const spec = runSpec(options, plan);
  // Priced before anything is written: a bank beyond memory, or one whose sampling would collapse, is refused now.
  if (!options.bank && !options.resume) checkBankPrice(pack.prior, spec.threshold, plan.ids);
  if (plan.share) return await generateShareAndMerge(options, spec, plan, plan.share);
  const run = await DatasetRun.open(out, spec, {
    ...options,
    // A complete dataset must have been made on this backend before anything is reported or redone.
    verifyComplete: () => checkRenderedHere(out, { pack, seed: plan.seed, perId: plan.perId, edit: options.edit }),
  });
  const total = plan.ids * plan.perId;
  const result = (kept: number, bank: BankInfo) => ({
    images: total,
    kept,
    shards: plan.shards,
    backend: pack.backend,
    bank,
    complete: true,
  });
  if (!run) {
    await writeSources(options);
    return result(total, await readBankInfo(out));
  }
  let writer: UnitWriter | undefined;
  let done = 0;
  const report = () => options.onProgress?.({ stage: "render", done, total });
  try {
    const { identities, bank } = await identityBank(bankOptions(options), run.journal, spec);
    writer = await openWriter(out, plan, pack.manifest.imageSize);
    // Which journaled units still hold: their files' sha256 match (RecordIO: a prefix of train.rec).
    const missing: number[] = [];
    const kept = [];
    for (let unit = 0; unit < plan.unitCount; unit++) {
      signal?.throwIfAborted();
      const record = missing.length > 0 && writer.contiguous ? undefined : await run.kept(unit, writer.verify);
      if (record) kept.push(record);
      else missing.push(unit);
    }
    await writer.begin();
    for (const record of kept) {
      await writer.keep(record);
      done += record.rows.length;
      report();
    }
    const keptImages = done;
    await writeUnits({ ...options, plan, identities }, missing, writer, run.journal, () => {
      done++;
      report();
    });
    signal?.throwIfAborted();
    await writer.finish();
    writer = undefined;
    await run.finish(sourcesFiles(options));
    return result(keptImages, bank);
  } catch (error) {
    writer?.close();
    run.close();
    throw error;
  }
}

/** The run's spec (everything its bytes depend on); checks the bank. */
function runSpec(options: GenerateOptions, plan: DatasetPlan): RunSpec {
  const { pack } = options;
  if (options.bank) {
    checkVectors(options.bank, pack.manifest.vectorSize, "bank");
    if (options.bank.length < plan.ids) {
      throw new RangeError(`Cannot take ${plan.ids} identities from the bank: current bank has ${options.bank.length}`);
    }
    checkBankRows(options.bank.slice(0, plan.ids));
  }
  return {
    version: 1,
    ids: plan.ids,
    perId: plan.perId,
    seed: plan.seed,
    format: plan.format,
    shardSize: plan.sharded ? plan.shardSize : null,
    threshold: options.threshold ?? pack.manifest.separationThreshold,
    pack: pack.sha256,
    backend: pack.backend,
    bank: options.bank ? sha256(encodeBank(options.bank.slice(0, plan.ids))) : "sampled",
    ...(options.edit ? { edit: JSON.stringify(options.edit) } : {}),
  };
}

/** This worker's share; the last worker to finish merges every part (a resume without a share). */
async function generateShareAndMerge(
  options: GenerateOptions,
  spec: RunSpec,
  plan: DatasetPlan,
  share: WorkerShare,
): Promise<GenerateResult> {
  const part = await generateShare({ ...options, bankOptions: bankOptions(options) }, spec, plan, share);
  if (part.complete || !await takeMergeLock(options.out, share)) return part;
  try {
    const merged = await generateDataset({ ...options, share: undefined, resume: true, overwrite: false });
    return { ...part, complete: merged.complete };
  } finally {
    await releaseMergeLock(options.out);
  }
}

/** The options {@linkcode identityBank} takes from a run's. */
function bankOptions(options: GenerateOptions) {
  const { pack, out, bank, signal, onProgress } = options;
  return {
    pack,
    out,
    bank,
    signal,
    onSample: (done: number, total: number) => onProgress?.({ stage: "sample", done, total }),
  };
}

/** `sources.json`, when the run has sources. */
export function sourcesFiles(options: { sources?: unknown }): { name: string; text: string }[] {
  if (options.sources === undefined) return [];
  return [{ name: FILES.sources, text: JSON.stringify(options.sources, null, 1) + "\n" }];
}

/** Writes `sources.json` now (a run found complete). */
async function writeSources(options: GenerateOptions): Promise<void> {
  for (const { name, text } of sourcesFiles(options)) await writeAtomic(`${options.out}/${name}`, text);
}
