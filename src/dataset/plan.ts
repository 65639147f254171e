/**
 * A dataset's plan: N identities x M images, the seed, the format and how
 * the identities group into units (an identity for folders and RecordIO, a
 * shard of S identities for zip and WebDataset), and the worker shares of a
 * sharded run. {@linkcode planDataset} checks every option once, at the
 * entry of `generateDataset` and `fetchDataset` (the CLI calls it too, to
 * fail before any slow work).
 *
 * @module
 */
import { checkCount } from "../_check.ts";
import { DEFAULTS } from "../defaults.ts";
import { checkSeed } from "../random.ts";
import { checkBatchSize } from "../render.ts";

/** Output formats: `folder`, `zip` or `webdataset` shards, or `recordio`. */
export type DatasetFormat = "folder" | "zip" | "webdataset" | "recordio";

/**
 * Every output format, in the order the CLI lists them.
 */
export const DATASET_FORMATS: readonly DatasetFormat[] = ["folder", "zip", "webdataset", "recordio"];

/**
 * Checks an output format name.
 *
 * @example A known format passes, any other is a RangeError
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFormat } from "./plan.ts";
 * assert.equal(checkFormat("recordio"), "recordio");
 * assert.throws(() => checkFormat("tfrecord"), /^RangeError: Cannot write format "tfrecord": current value is not one of folder/);
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

/**
 * One worker's share of a sharded run (`share` of `generateDataset`, the
 * CLI's `--shards k/K`): worker `index` (0-based) of `count` renders shards j
 * with j mod `count` = `index`, into an output folder of its own or one
 * shared by all workers.
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
 */
export interface WorkerShare {
  /** This worker, in `0..count-1`. */
  index: number;
  /** How many workers share the shards. */
  count: number;
}

/**
 * Reads a share written `k/K` (worker k of K). Throws a `RangeError` naming
 * the problem.
 *
 * @example A k/K share, and one that is not
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseShare } from "./plan.ts";
 * assert.deepEqual(parseShare("1/4"), { index: 1, count: 4 });
 * assert.throws(() => parseShare("4/4"), /Cannot use share "4\/4": current value is not k\/K/);
 * ```
 */
export function parseShare(text: string): WorkerShare {
  const match = /^\s*(\d{1,9})\s*\/\s*(\d{1,9})\s*$/.exec(text);
  if (!match || Number(match[2]) < 1 || Number(match[1]) >= Number(match[2])) {
    throw new RangeError(
      `Cannot use share ${JSON.stringify(text)}: current value is not k/K (worker k of K, 0 <= k < K)`,
    );
  }
  return { index: Number(match[1]), count: Number(match[2]) };
}

/**
 * Checks a share against the dataset's shard count: more workers than shards
 * would leave some with nothing to do, so it is refused.
 *
 * @example More workers than shards is refused
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkShare } from "./plan.ts";
 * assert.equal(checkShare({ index: 0, count: 10 }, 10).count, 10);
 * assert.throws(() => checkShare({ index: 0, count: 12 }, 10), /current dataset has 10 shards/);
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
      `Cannot split the shards among ${count} workers (\`share\` ${index}/${count}): current dataset has ` +
        `${shards} shards; use at most ${shards} workers or a smaller \`shardSize\``,
    );
  }
  return share;
}

/** What {@linkcode planDataset} checks: the options that shape a dataset and its run. */
export interface PlanOptions {
  /** Number of identities. */
  ids: number;
  /** Images per identity (at most 1,000). */
  perId: number;
  /** Dataset seed; default 0. */
  seed?: number;
  /** `folder` (default), `zip` or `webdataset` shards, or `recordio`. */
  format?: DatasetFormat;
  /** Identities per zip or tar shard; default 100. */
  shardSize?: number;
  /** Images per generator call; default 16. */
  batchSize?: number;
  /**
   * Replace a non-empty output folder that holds a dataset this library wrote
   * (a `manifest.jsonl` or progress journal); any other folder is refused.
   */
  overwrite?: boolean;
  /** Called with the names `overwrite` is about to remove from the output folder. */
  onOverwrite?: (names: string[]) => void;
  /**
   * Continue an interrupted run in `out` (a missing or empty folder starts a
   * new one). The run there must have the same spec (ids, perId, seed,
   * format, shard size, threshold, pack, backend, bank), else a
   * `Vec2FaceError` (`resume-mismatch`).
   */
  resume?: boolean;
  /**
   * Render only this worker's share of the shards (`zip` and `webdataset`):
   * shards j with j mod `count` = `index`. See {@linkcode WorkerShare}.
   */
  share?: WorkerShare;
}

/** A checked dataset plan. */
export interface DatasetPlan {
  /** Number of identities. */
  ids: number;
  /** Images per identity. */
  perId: number;
  /** Dataset seed. */
  seed: number;
  /** Output format. */
  format: DatasetFormat;
  /** Identities per shard. */
  shardSize: number;
  /** Whether the format writes shards (zip, WebDataset). */
  sharded: boolean;
  /** Identities per unit: the shard size, or 1. */
  unitSize: number;
  /** Units in the dataset. */
  unitCount: number;
  /** Shards in the dataset (0 for folders and RecordIO). */
  shards: number;
  /** The checked share, if any. */
  share?: WorkerShare;
}

/**
 * Checks a dataset's options (every one, with a message that names it) and
 * returns its plan.
 *
 * @example A zip plan, and options that are refused
 * ```ts
 * import assert from "node:assert/strict";
 * import { planDataset } from "./plan.ts";
 * const plan = planDataset({ ids: 250, perId: 2, format: "zip" });
 * assert.equal(plan.shards, 3);
 * assert.throws(() => planDataset({ ids: 2, perId: 1001 }), /images per identity `perId` 1001/);
 * assert.throws(() => planDataset({ ids: 2, perId: 1, resume: true, overwrite: true }), /`resume` and `overwrite`/);
 * ```
 */
export function planDataset(options: PlanOptions): DatasetPlan {
  const ids = checkCount(options.ids, "identity count `ids`");
  const perId = checkCount(options.perId, "images per identity `perId`", DEFAULTS.maxPerId);
  const seed = checkSeed(options.seed ?? DEFAULTS.seed);
  const format = checkFormat(options.format ?? "folder");
  const shardSize = checkCount(options.shardSize ?? DEFAULTS.shardSize, "shard size `shardSize`");
  checkBatchSize(options.batchSize ?? DEFAULTS.batchSize);
  if (options.resume && options.overwrite) {
    throw new RangeError("Cannot use `resume` and `overwrite` together: current options ask for both");
  }
  const sharded = format === "zip" || format === "webdataset";
  const unitSize = sharded ? shardSize : 1;
  const unitCount = Math.ceil(ids / unitSize);
  const plan: DatasetPlan = { ids, perId, seed, format, shardSize, sharded, unitSize, unitCount, shards: 0 };
  if (sharded) plan.shards = unitCount;
  if (options.share !== undefined) {
    if (!sharded) {
      throw new RangeError(
        `Cannot use \`share\` with format ${format}: current format has no shards (use zip or webdataset)`,
      );
    }
    if (options.overwrite) {
      throw new RangeError(
        "Cannot use `share` with `overwrite`: current folder may hold other workers' shards " +
          "(a share always continues its own part; remove the folder to start over)",
      );
    }
    plan.share = checkShare(options.share, unitCount);
  }
  return plan;
}

/**
 * The identities `[first, end)` of unit `unit`.
 *
 * @example The last shard holds the rest
 * ```ts
 * import assert from "node:assert/strict";
 * import { planDataset, unitRange } from "./plan.ts";
 * assert.deepEqual(unitRange(planDataset({ ids: 25, perId: 1, format: "zip", shardSize: 10 }), 2), [20, 25]);
 * ```
 */
export function unitRange(plan: DatasetPlan, unit: number): [number, number] {
  return [unit * plan.unitSize, Math.min(plan.ids, (unit + 1) * plan.unitSize)];
}
