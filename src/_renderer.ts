/**
 * The CPU work of the HTTP handler (sampling banks, rendering PNGs and shard
 * zips, the sampling pilot) behind one interface, so that it can run in this
 * thread ({@linkcode InThreadRenderer}) or in a pool of Web Workers
 * (`_render_pool.ts`, which runs an `InThreadRenderer` in each worker).
 * Internal: exported by no entry point.
 *
 * @module
 */
import { generateSamples, renderDatasetImage } from "./dataset.ts";
import { encodePng } from "./image/codec.ts";
import type { ModelPack } from "./model_pack.ts";
import { sample, type SampleResult } from "./sample.ts";
import { type SamplingPilot, samplingPilot } from "./sample_price.ts";
import { ZipShardWriter } from "./shard.ts";
import { concatBytes } from "./_fs.ts";

/** A bank to sample: `sample(count, { prior: pack.prior, threshold, seed })`. */
export interface SampleJob {
  count: number;
  seed: number;
  threshold: number;
}

/** One dataset image: image `image` of identity `identity`, whose vector is `vector`. */
export interface PngJob {
  vector: Float32Array;
  identity: number;
  image: number;
  perId: number;
  seed: number;
}

/** The images of identities `[start, start + vectors.length)` of a dataset, as one zip. */
export interface ShardJob {
  /** The identities' vectors, `vectors[i]` of identity `start + i`. */
  vectors: Float32Array[];
  start: number;
  perId: number;
  seed: number;
  batchSize: number;
}

/** A shard's zip, read a piece at a time: nothing renders ahead of what was read. */
export interface ShardReader {
  /** The next bytes of the zip (one entry, or the end), or null after the end. */
  read(): Promise<Uint8Array | null>;
  /** Stops rendering: settles once the generator call in progress is done and the generator closed. */
  cancel(reason?: unknown): Promise<void>;
}

/** Where the handler's CPU work runs. */
export interface Renderer {
  /** Web Workers doing the work; 0 for this thread. */
  readonly workers: number;
  /** Samples a bank. */
  sample(job: SampleJob, signal?: AbortSignal): Promise<SampleResult>;
  /** Renders one image as PNG bytes. */
  png(job: PngJob, signal?: AbortSignal): Promise<Uint8Array>;
  /** The sampling pilot of the pack's prior (computed once). */
  pilot(): Promise<SamplingPilot>;
  /** Opens a shard; it renders as it is read. */
  shard(job: ShardJob): ShardReader;
  /** Frees what the renderer owns (not the pack it was given). */
  dispose(): Promise<void>;
}

/** The pieces of a shard's zip as {@linkcode ShardReader} hands them out. */
function shardReader(pack: ModelPack, job: ShardJob): ShardReader {
  const abort = new AbortController();
  const { vectors, start, perId, seed, batchSize } = job;
  // A sparse bank: generateSamples reads identities[start..end) only.
  const identities: Float32Array[] = new Array(start + vectors.length);
  vectors.forEach((vector, i) => identities[start + i] = vector);
  const samples = generateSamples({
    pack,
    identities,
    perId,
    seed,
    start,
    end: start + vectors.length,
    batchSize,
    signal: abort.signal,
  });
  const zip = new ZipShardWriter();
  let step: Promise<unknown> = Promise.resolve();
  let stopped: Promise<void> | undefined;
  let ended = false;
  const stop = (reason: unknown): Promise<void> =>
    stopped ??= (async () => {
      abort.abort(reason);
      await step;
      await samples.return(undefined).catch(() => {});
    })();
  return {
    async read() {
      if (ended) return null;
      try {
        const next = samples.next();
        step = next.catch(() => {});
        const result = await next;
        const pieces = result.done ? zip.end() : zip.add({ path: result.value.path, bytes: result.value.bytes });
        if (result.done) ended = true;
        return pieces.length === 1 ? pieces[0] : concatBytes(pieces);
      } catch (error) {
        await stop(error);
        throw error;
      }
    },
    cancel(reason) {
      ended = true;
      return stop(reason ?? new DOMException("The shard was cancelled", "AbortError"));
    },
  };
}

/**
 * The work done in the calling thread, on the given pack.
 *
 * @example Sample a bank and render one of its images
 * ```ts
 * import assert from "node:assert/strict";
 * import { InThreadRenderer } from "./_renderer.ts";
 * import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * const renderer = new InThreadRenderer(pack);
 * const bank = await renderer.sample({ count: 2, seed: 1, threshold: 0.5 });
 * const png = await renderer.png({ vector: bank.vectors[1], identity: 1, image: 0, perId: 2, seed: 1 });
 * assert.deepEqual([...png.subarray(1, 4)], [80, 78, 71]); // "PNG"
 * ```
 */
export class InThreadRenderer implements Renderer {
  readonly workers = 0;
  readonly #pack: ModelPack;
  #pilot?: Promise<SamplingPilot>;

  /** Works on `pack` (not disposed by {@linkcode dispose}). */
  constructor(pack: ModelPack) {
    this.#pack = pack;
  }

  sample(job: SampleJob, signal?: AbortSignal): Promise<SampleResult> {
    return sample(job.count, { prior: this.#pack.prior, threshold: job.threshold, seed: job.seed, signal });
  }

  async png(job: PngJob, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    const identities: Float32Array[] = new Array(job.identity + 1);
    identities[job.identity] = job.vector;
    const face = await renderDatasetImage({ pack: this.#pack, identities, ...job });
    signal?.throwIfAborted();
    return encodePng(face);
  }

  pilot(): Promise<SamplingPilot> {
    this.#pilot ??= Promise.resolve().then(() => samplingPilot(this.#pack.prior));
    return this.#pilot;
  }

  shard(job: ShardJob): ShardReader {
    return shardReader(this.#pack, job);
  }

  dispose(): Promise<void> {
    return Promise.resolve();
  }
}
