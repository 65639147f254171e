/**
 * The HTTP handler's CPU work in a pool of Web Workers, so that the main
 * thread answers `/v1/healthz`, 429s and cached routes in milliseconds while
 * shards render (measured in `bench/serve_bench.ts --healthz`). Each worker
 * loads the handler's pack (same location, sha256 and backend) and runs the
 * same code as {@linkcode InThreadRenderer}: output bytes are identical.
 * Internal: exported by no entry point.
 *
 * @module
 */
import type { PngJob, Renderer, SampleJob, ShardJob, ShardReader } from "./_renderer.ts";
import type { WireError } from "./_render_worker.ts";
import { Vec2FaceError } from "./errors.ts";
import type { ModelPack } from "./model_pack.ts";
import type { SampleResult } from "./sample.ts";
import type { SamplingPilot } from "./sample_price.ts";

/** An error of a worker, as this thread throws it: the same class where it matters (codes, aborts). */
function unwire(error: WireError): Error {
  if (error.name === "Vec2FaceError" && error.code) {
    return new Vec2FaceError(error.code as ConstructorParameters<typeof Vec2FaceError>[0], error.message);
  }
  if (error.name === "AbortError") return new DOMException(error.message, "AbortError");
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  return rebuilt;
}

interface Waiter {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** One worker: its start-up, the jobs it holds, and what waits on its answers. */
class PoolWorker {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  /** Jobs and open shards on this worker. */
  busy = 0;
  /** Answers awaited, by job id: results, shard pieces. */
  readonly waiting = new Map<number, Waiter>();
  /** Shard cancellations awaited, by job id. */
  readonly cancelling = new Map<number, () => void>();
  /** Set when the worker failed to start or died: the pool replaces it. */
  failed = false;

  constructor(pack: ModelPack, threads: number | undefined) {
    this.worker = new Worker(new URL("./_render_worker.ts", import.meta.url).href, { type: "module" });
    let started: () => void, refused: (error: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      started = resolve;
      refused = reject;
    });
    this.ready.catch(() => {});
    this.worker.onmessage = (event: MessageEvent) => {
      const message = event.data;
      if (message.type === "ready") return started();
      if (message.type === "failed") {
        this.failed = true;
        return refused(unwire(message.error));
      }
      if (message.type === "cancelled") {
        this.cancelling.get(message.id)?.();
        this.cancelling.delete(message.id);
        return;
      }
      const waiter = this.waiting.get(message.id);
      if (!waiter) return;
      this.waiting.delete(message.id);
      if (message.type === "error") {
        const error = unwire(message.error);
        // An unexpected failure (a runtime that did not load, a session that broke) may stay in this worker's
        // onnxruntime for good: the pool replaces the worker, so the failure does not outlive its cause.
        if (!(error instanceof Vec2FaceError) && error.name !== "AbortError") this.failed = true;
        waiter.reject(error);
      } else waiter.resolve(message.type === "piece" ? message.bytes : message.value);
    };
    this.worker.onerror = (event: ErrorEvent) => {
      // A worker that throws outside a job (a crash) fails what it held; the pool starts another.
      event.preventDefault();
      this.failed = true;
      const error = new Error(`Cannot render: current render worker stopped (${event.message})`);
      refused(error);
      for (const waiter of this.waiting.values()) waiter.reject(error);
      for (const done of this.cancelling.values()) done();
      this.waiting.clear();
      this.cancelling.clear();
      this.worker.terminate();
    };
    this.worker.postMessage({
      type: "init",
      location: pack.location,
      device: pack.backend,
      sha256: pack.sha256,
      threads,
    });
  }

  /** Posts a message and waits for the answer to job `id`. */
  ask(id: number, message: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage(message);
    });
  }
}

/**
 * The pool: `size` workers, each job on the least busy one. A worker that
 * failed (to start, or later) is replaced at the next job, so a failure does
 * not outlive its cause.
 *
 * @example Two workers render what this thread renders
 * ```ts
 * import assert from "node:assert/strict";
 * import { WorkerRenderer } from "./_render_pool.ts";
 * import { InThreadRenderer } from "./_renderer.ts";
 * import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * await using pool = new WorkerRenderer(pack, 2);
 * const bank = await pool.sample({ count: 2, seed: 1, threshold: 0.5 });
 * const job = { vector: bank.vectors[1], identity: 1, image: 0, perId: 2, seed: 1 };
 * assert.deepEqual(await pool.png(job), await new InThreadRenderer(pack).png(job));
 * ```
 */
export class WorkerRenderer implements Renderer {
  readonly workers: number;
  readonly #pack: ModelPack;
  readonly #pool: PoolWorker[] = [];
  readonly #threads: number | undefined;
  #nextId = 1;
  #pilot?: Promise<SamplingPilot>;
  #disposed = false;

  /** Starts `size` workers on `pack`'s location and backend. */
  constructor(pack: ModelPack, size: number) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`Cannot start a render pool of ${size} workers: current value is not a positive integer`);
    }
    this.workers = size;
    this.#pack = pack;
    // The cores shared out: each worker's native sessions default to every core, and 2 workers x 2 threads on
    // 2 cores rendered 101 images/s against 137 in one thread (bench/serve_latency.ts).
    // (wasm sessions keep their own default of 1 thread).
    this.#threads = pack.backend === "native"
      ? Math.max(1, Math.floor(navigator.hardwareConcurrency / size))
      : undefined;
    for (let i = 0; i < size; i++) this.#pool.push(new PoolWorker(pack, this.#threads));
  }

  /** The least busy worker (a failed one replaced first). */
  #pick(): PoolWorker {
    if (this.#disposed) throw new DOMException("Cannot render: current render pool is disposed", "AbortError");
    for (let i = 0; i < this.#pool.length; i++) {
      if (this.#pool[i].failed && this.#pool[i].busy === 0) {
        this.#pool[i].worker.terminate();
        this.#pool[i] = new PoolWorker(this.#pack, this.#threads);
      }
    }
    return this.#pool.reduce((best, next) => next.busy < best.busy ? next : best);
  }

  async #job(kind: "sample" | "png" | "pilot", job: unknown, signal?: AbortSignal): Promise<unknown> {
    signal?.throwIfAborted();
    const worker = this.#pick();
    worker.busy++;
    const id = this.#nextId++;
    // The job ends in the worker (an AbortError at its next check) before its promise settles here.
    const cancel = () => worker.worker.postMessage({ type: "cancel", id, shard: false });
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      await worker.ready;
      signal?.throwIfAborted();
      return await worker.ask(id, { type: "job", id, kind, job });
    } finally {
      signal?.removeEventListener("abort", cancel);
      worker.busy--;
    }
  }

  sample(job: SampleJob, signal?: AbortSignal): Promise<SampleResult> {
    return this.#job("sample", job, signal) as Promise<SampleResult>;
  }

  png(job: PngJob, signal?: AbortSignal): Promise<Uint8Array> {
    return this.#job("png", job, signal) as Promise<Uint8Array>;
  }

  pilot(): Promise<SamplingPilot> {
    this.#pilot ??= this.#job("pilot", null) as Promise<SamplingPilot>;
    this.#pilot.catch(() => this.#pilot = undefined);
    return this.#pilot;
  }

  shard(job: ShardJob): ShardReader {
    let worker: PoolWorker | undefined;
    let opened: Promise<PoolWorker> | undefined;
    let ended = false;
    const id = this.#nextId++;
    const finish = () => {
      if (worker && !ended) worker.busy--;
      ended = true;
    };
    const open = async (): Promise<PoolWorker> => {
      worker = this.#pick();
      worker.busy++;
      await worker.ready;
      worker.worker.postMessage({ type: "open", id, job });
      return worker;
    };
    return {
      read: async () => {
        if (ended) return null;
        try {
          const on = await (opened ??= open());
          const bytes = await on.ask(id, { type: "read", id }) as Uint8Array | null;
          if (bytes === null) finish();
          return bytes;
        } catch (error) {
          finish();
          throw error;
        }
      },
      cancel: async () => {
        if (ended || !opened) return finish();
        const on = await opened.catch(() => undefined);
        if (!on || on.failed) return finish();
        const done = new Promise<void>((resolve) => on.cancelling.set(id, resolve));
        on.worker.postMessage({ type: "cancel", id, shard: true });
        await done;
        finish();
      },
    };
  }

  /** Stops the workers (their packs are disposed); jobs in flight fail. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const worker of this.#pool) {
      const error = new DOMException("Cannot render: current render pool is disposed", "AbortError");
      for (const waiter of worker.waiting.values()) waiter.reject(error);
      for (const done of worker.cancelling.values()) done();
      worker.worker.terminate();
    }
    await Promise.resolve();
  }

  /** Same as {@linkcode dispose}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
