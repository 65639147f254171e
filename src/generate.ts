/**
 * Writes a dataset to disk: identity bank, images as a folder tree or zip
 * shards, and `manifest.jsonl`. Every file is written under a temporary name
 * and renamed when complete; `manifest.jsonl` comes last, so an interrupted
 * run never looks complete.
 *
 * @module
 */
import { join } from "node:path";
import { type BankInfo, saveBank } from "./bank.ts";
import type { Backend } from "./_backend.ts";
import { checkCount, generateSamples, type Sample } from "./dataset.ts";
import { Vec2FaceError } from "./errors.ts";
import type { ModelPack } from "./model_pack.ts";
import { checkSeed } from "./random.ts";
import { sample } from "./sample.ts";
import { ZipShardStream } from "./shard.ts";
import { checkVectors } from "./vectors.ts";

/** Output formats. */
export type DatasetFormat = "folder" | "zip";

/** Progress of {@linkcode generateDataset}. */
export interface GenerateProgress {
  /** Stage of the run. */
  stage: "sample" | "render";
  /** Done so far (identities sampled, or images rendered). */
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
  /** `folder` (default) or `zip` shards. */
  format?: DatasetFormat;
  /** Identities per zip shard; default 100. */
  shardSize?: number;
  /** Images per generator call; default 16. */
  batchSize?: number;
  /** Separation threshold; default the pack's. */
  threshold?: number;
  /** Identity vectors to use instead of sampling (at least `ids` of them). */
  bank?: Float32Array[];
  /** Replace a non-empty output folder. */
  overwrite?: boolean;
  /** Cancels the run. */
  signal?: AbortSignal;
  /** Progress callback. */
  onProgress?: (progress: GenerateProgress) => void;
}

/** What {@linkcode generateDataset} wrote. */
export interface GenerateResult {
  /** Images written. */
  images: number;
  /** Zip shards written (0 for folders). */
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

/** A manifest row. */
function manifestRow(sample: Sample, shard?: string): string {
  const { identity, image, sigma, path, sha256 } = sample;
  return JSON.stringify({ identity, image, sigma, file: shard ? `${shard}#${path}` : path, sha256 });
}

/**
 * Samples (or takes) identities, renders `ids x perId` images and writes them.
 *
 * @example
 * ```ts
 * import { generateDataset } from "./generate.ts";
 * import { loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const out = await Deno.makeTempDir();
 * const result = await generateDataset({ pack, out, ids: 2, perId: 2, seed: 3 });
 * console.assert(result.images === 4);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function generateDataset(options: GenerateOptions): Promise<GenerateResult> {
  const { pack, out } = options;
  const ids = checkCount(options.ids, "identity count (--ids)");
  const perId = checkCount(options.perId, "images per identity (--per-id)", 1000);
  const seed = checkSeed(options.seed ?? 0);
  const format = options.format ?? "folder";
  if (format !== "folder" && format !== "zip") {
    throw new RangeError(`Cannot write format ${JSON.stringify(format)}: current value is not folder or zip`);
  }
  const shardSize = checkCount(options.shardSize ?? 100, "shard size (--shard-size)");
  const threshold = options.threshold ?? pack.manifest.separationThreshold;
  if (options.bank) {
    checkVectors(options.bank, pack.manifest.vectorSize, "bank");
    if (options.bank.length < ids) {
      throw new RangeError(`Cannot take ${ids} identities from the bank: current bank has ${options.bank.length}`);
    }
  }
  await prepareOutput(out, options.overwrite ?? false);

  let identities: Float32Array[];
  let bank: BankInfo;
  const priorSha256 = pack.manifest.files.prior.sha256;
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
  await saveBank(join(out, "identities.npy"), identities, bank);

  // Rows stream to a temporary file, renamed last: memory stays flat with dataset size.
  const manifestPath = join(out, "manifest.jsonl");
  const manifest = await Deno.open(`${manifestPath}.tmp`, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  const addRow = async (row: string) => {
    const bytes = encoder.encode(row + "\n");
    for (let written = 0; written < bytes.length;) written += await manifest.write(bytes.subarray(written));
  };
  let done = 0;
  const total = ids * perId;
  const report = () => options.onProgress?.({ stage: "render", done, total });
  const common = { pack, identities, perId, seed, batchSize: options.batchSize, signal: options.signal };
  let shards = 0;
  try {
    if (format === "folder") {
      const made = new Set<number>();
      for await (const sample of generateSamples(common)) {
        if (!made.has(sample.identity)) {
          await Deno.mkdir(join(out, sample.path.split("/")[0]), { recursive: true });
          made.add(sample.identity);
        }
        await writeAtomic(join(out, sample.path), sample.bytes);
        await addRow(manifestRow(sample));
        done++;
        report();
      }
    } else {
      for (let start = 0; start < ids; start += shardSize) {
        const name = `shard-${String(shards).padStart(5, "0")}.zip`;
        const samples = generateSamples({ ...common, start, end: Math.min(ids, start + shardSize) });
        const entries = ReadableStream.from((async function* () {
          for await (const sample of samples) {
            await addRow(manifestRow(sample, name));
            done++;
            report();
            yield { path: sample.path, bytes: sample.bytes };
          }
        })());
        await writeAtomic(join(out, name), entries.pipeThrough(new ZipShardStream()));
        shards++;
      }
    }
  } finally {
    manifest.close();
  }
  await Deno.rename(`${manifestPath}.tmp`, manifestPath);
  return { images: done, shards, backend: pack.backend, bank };
}
