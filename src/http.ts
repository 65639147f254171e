/**
 * An HTTP front to a model pack: single images as PNG and dataset shards as
 * zip, streamed while they render. A plain `(Request) => Promise<Response>`
 * handler, for `Deno.serve` or any server that speaks WHATWG `Request`.
 *
 * ```sh
 * curl -o shard.zip 'http://localhost:8000/v1/shards/0.zip?ids=1000&per_id=50&shard_size=10&seed=1'
 * ```
 *
 * Routes (GET, and HEAD: the same status and headers without the body;
 * OPTIONS: the CORS preflight, see {@linkcode HandlerOptions.cors}):
 * - `/v1/healthz`: `{"ok": true}`.
 * - `/v1/info`: the pack, the backend, the library version, the limits and
 *   the renders in flight (and the most at once so far).
 * - `/v1/render.png?identity=I&image=J[&per_id=M][&seed=S][&threshold=T]`:
 *   image J of identity I of the dataset (seed S, M images per identity), as PNG.
 * - `/v1/dataset.json?ids=N[&per_id=M][&shard_size=S][&seed=K][&threshold=T]`:
 *   the dataset's spec as this server renders it (pack, backend, version,
 *   threshold, shard count, each image index's sigma): what a client needs to
 *   write `manifest.jsonl`, and to check that several servers make the same bytes.
 * - `/v1/identities.npy?ids=N[&seed=K][&threshold=T]` and
 *   `/v1/identities.json?...`: the dataset's identity bank and its sidecar,
 *   the same bytes as `generateDataset` writes.
 * - `/v1/shards/{k}.zip?ids=N[&per_id=M][&shard_size=S][&seed=K][&threshold=T]`:
 *   shard k (identities `[k*S, min(N, (k+1)*S))`) of that dataset, the same
 *   bytes as the shards `generateDataset` writes.
 * - `/v1/shards/{k}.sha256?...` (the same parameters): the shard's sha256 and
 *   size, `{"shard", "etag", "sha256", "bytes"}`: remembered from a shard this
 *   handler has streamed to the end, else rendered (and hashed) to answer.
 * - `/`, `/preview.js`, `/v1/pack/{file}`, `/ort/{file}`: the preview page,
 *   which renders faces in the browser (see `http_preview.ts`).
 *
 * A shard streams while it renders, so its digest is known only at its end:
 * a client hashes what it received and then asks `.sha256` (the same handler
 * remembers the digests of its last 4,096 shards, so that costs no
 * rendering). A shard whose digest is already known is served with
 * `Repr-Digest: sha-256=:BASE64:` and `Content-Length`.
 *
 * Defaults: `per_id` 50, `shard_size` 100, `seed` 0, `threshold` the pack's.
 * Errors are JSON `{"error": message, "status": n}`, and are decided before
 * the first byte: a shard renders its first entry before it is answered, so a
 * render that cannot start is a 500, not a 200 that breaks off. A 500 names
 * only the error's class (its message may hold the server's file paths); a
 * 4xx its cause. Paths a message echoes are cut at 200 characters.
 *
 * Every answer carries CORS headers (any origin by default, see
 * {@linkcode HandlerOptions.cors}); {@linkcode HandlerOptions.log} gets one
 * structured line per request (`cli.ts serve` writes them to stderr as JSON).
 *
 * @module
 */
import { bankSidecarText, encodeBank, sampledBankInfo } from "./bank.ts";
import { Vec2FaceError } from "./errors.ts";
import type { ModelPack } from "./model_pack.ts";
import { sigmaForImage } from "./perturb.ts";
import type { SampleResult } from "./sample.ts";
import { estimateSampling } from "./sample_price.ts";
import { InThreadRenderer, type Renderer, type ShardReader } from "./_renderer.ts";
import { WorkerRenderer } from "./_render_pool.ts";
import { DEFAULTS, VERSION } from "./defaults.ts";
import { checkCount, checkInteger } from "./_check.ts";
import { Sha256, sha256 } from "./_hash.ts";
import { ortFile, packFile, previewPage, previewScript } from "./http_preview.ts";

/** The library version reported by `/v1/info` (from `deno.json`). */
export { VERSION };

/** Limits of {@linkcode createHandler}. */
export interface HandlerLimits {
  /** Most images one request may render (a shard's identities times `per_id`); default 2000. Over it: 413. */
  maxImages?: number;
  /** Most renders in flight at once (a shard holds its slot until its stream ends); default 2. Over it: 429. */
  maxConcurrent?: number;
  /** Largest identity count (`ids`, `identity + 1`) a request may need sampled; default 10,000. Over it: 400. */
  maxIdentities?: number;
  /**
   * Resident memory of the process, in bytes, above which no new render starts
   * (429 until it is lower again); default none. Renders in flight go on.
   */
  maxRss?: number;
  /**
   * Milliseconds a shard's reader may take no bytes before the shard is
   * cancelled, its slot freed and its connection dropped; default 30,000. A
   * client that asks and never reads would otherwise hold a slot while its
   * socket stays open.
   */
  idleTimeoutMs?: number;
  /**
   * Most candidates a new identity bank may be expected to draw (estimated from
   * a pilot of the prior before sampling starts); default 50,000 (10,000
   * identities at the pack's threshold take about 10,300). Over it, or where
   * acceptance would collapse before the count: 422 at once, with the estimate.
   */
  maxCandidates?: number;
}

/** Options of {@linkcode createHandler}. */
export interface HandlerOptions {
  /** The model pack that renders. The handler does not dispose it. */
  pack: ModelPack;
  /** Request limits. */
  limits?: HandlerLimits;
  /** Images per generator call for shards; default 16. Output does not depend on it. */
  batchSize?: number;
  /**
   * Cross-origin reads (CORS): the origins whose pages may read the responses,
   * or `"*"` for any (the default). Every response carries
   * `Access-Control-Allow-Origin` (with a list: the request's `Origin` when
   * listed, and `Vary: Origin`); `OPTIONS` on a route is the preflight answer.
   */
  cors?: { origins: string[] | "*" };
  /**
   * The request log: called once per request, when its body is done (read to
   * the end, failed or cancelled), with `{method, route, status, bytes, ms}`
   * (`route` the route's name such as `/v1/shards/{k}.zip`, null for no route;
   * `bytes` the body's bytes sent), `cancelled: true` for a body the client
   * left, and `error` (class and message) for a 500 or a body that failed.
   * Default: no log.
   */
  log?: (line: Record<string, unknown>) => void;
  /**
   * Web Workers that sample and render, each with its own copy of the pack
   * (same location, sha256 and backend), so that this thread stays free to
   * answer (`/v1/healthz`, 429s, cached routes) while shards render; default
   * 0: the work runs in this thread. Output bytes are the same either way.
   * `cli.ts serve` uses one per render slot.
   */
  workers?: number;
}

/**
 * The request handler of {@linkcode createHandler}: a function of a
 * `Request`, which owns its workers. `dispose()` cancels every render in
 * flight (their streams error, which drops their connections), answers 503
 * to new renders, and stops the workers.
 *
 * @example A handler with two render workers, disposed at the end of its scope
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHandler } from "./http.ts";
 * import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * await using handler = createHandler({ pack, workers: 2 });
 * const info = await (await handler(new Request("http://localhost/v1/info"))).json();
 * assert.equal(info.workers, 2);
 * ```
 */
export interface Handler {
  (request: Request): Promise<Response>;
  /** Cancels the renders in flight and stops the workers; settles when they have stopped. */
  dispose(): Promise<void>;
  /** Same as `dispose()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * An error with an HTTP status, answered as JSON `{"error": message, "status": n}`.
 *
 * @example A 429 that asks the client to retry in a second
 * ```ts
 * import assert from "node:assert/strict";
 * import { HttpError } from "./http.ts";
 * const error = new HttpError(429, "Cannot start a render: current renders in flight are 2 of 2", {
 *   headers: { "retry-after": "1" },
 * });
 * assert.equal(error.status, 429);
 * assert.ok(error instanceof Error);
 * assert.deepEqual(error.headers, { "retry-after": "1" });
 * assert.throws(() => new HttpError(200, "fine"), RangeError);
 * ```
 */
export class HttpError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** Extra response headers (e.g. `retry-after`, `allow`). */
  readonly headers: Record<string, string>;

  /** Creates an error with a status (400..599) and a one-line message. */
  constructor(status: number, message: string, options?: ErrorOptions & { headers?: Record<string, string> }) {
    super(message, options);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(
        `Cannot create an HTTP error as status ${status}: current value is not an integer in 400..599`,
      );
    }
    this.name = "HttpError";
    this.status = status;
    this.headers = options?.headers ?? {};
  }
}

function checkLimit(value: unknown, name: string, fallback: number): number {
  return value === undefined ? fallback : checkCount(value, name);
}

/** A bank being sampled or sampled: its result, and the requests waiting on it while it runs. */
interface BankEntry {
  count: number;
  result: Promise<SampleResult>;
  /** Requests waiting on it; when the last one leaves before the end, sampling is cancelled. */
  waiters: number;
  abort: AbortController;
  settled: boolean;
}

/**
 * Sampled identity banks by (seed, threshold), least recently used dropped
 * first; each keeps its longest list. Sampling runs on the renderer, is
 * priced before it starts (a count whose acceptance would collapse, or that
 * needs more than `maxCandidates` candidates by the pilot's estimate, is a
 * 422 at once), and is cancelled when every request waiting on it has left.
 */
class BankCache {
  #entries = new Map<string, BankEntry>();
  #exact = new Map<string, BankEntry>();
  #renderer: Renderer;
  #size: number;
  #maxCandidates: number;

  constructor(renderer: Renderer, size: number, maxCandidates: number) {
    this.#renderer = renderer;
    this.#size = size;
    this.#maxCandidates = maxCandidates;
  }

  /** At least `count` identities of the bank; `sample` is prefix-stable, so a longer list serves a shorter ask. */
  async get(seed: number, threshold: number, count: number, signal?: AbortSignal): Promise<Float32Array[]> {
    return (await this.#longest(seed, threshold, count, signal)).vectors;
  }

  /**
   * The result of `sample(count)` itself (its candidates and max cosine are
   * the bank sidecar's): the longest list when it has exactly `count`, else
   * sampled for this count.
   */
  async exact(seed: number, threshold: number, count: number, signal?: AbortSignal): Promise<SampleResult> {
    const entry = this.#entries.get(`${seed}|${threshold}`);
    if (!entry || entry.count <= count) return await this.#longest(seed, threshold, count, signal);
    const key = `${seed}|${threshold}|${count}`;
    return await this.#wait(this.#exact, key, count, seed, threshold, signal);
  }

  #longest(seed: number, threshold: number, count: number, signal?: AbortSignal): Promise<SampleResult> {
    return this.#wait(this.#entries, `${seed}|${threshold}`, count, seed, threshold, signal);
  }

  /** Waits on the entry of `key` (started when it is missing or shorter than `count`) until it ends or `signal` aborts. */
  async #wait(
    map: Map<string, BankEntry>,
    key: string,
    count: number,
    seed: number,
    threshold: number,
    signal?: AbortSignal,
  ): Promise<SampleResult> {
    signal?.throwIfAborted();
    let entry = map.get(key);
    map.delete(key);
    if (!entry || entry.count < count) {
      await this.#price(threshold, count, signal);
      entry = map.get(key) ?? entry;
      map.delete(key);
    }
    if (!entry || entry.count < count) {
      const abort = new AbortController();
      const created: BankEntry = {
        count,
        abort,
        waiters: 0,
        settled: false,
        result: this.#renderer.sample({ count, seed, threshold }, abort.signal),
      };
      created.result.then(() => created.settled = true, () => {
        created.settled = true;
        if (map.get(key) === created) map.delete(key);
      });
      entry = created;
    }
    map.set(key, entry);
    while (map.size > this.#size) map.delete(map.keys().next().value!);
    const held = entry;
    held.waiters++;
    try {
      return await abortable(held.result, signal);
    } finally {
      held.waiters--;
      if (held.waiters === 0 && !held.settled) {
        // Nobody waits for it any more: stop sampling (within one batch of candidates), forget it.
        held.abort.abort(signal?.reason);
        if (map.get(key) === held) map.delete(key);
      }
    }
  }

  /** Refuses up front (422) a count the prior cannot give at this threshold, or only at a price over the limit. */
  async #price(threshold: number, count: number, signal?: AbortSignal): Promise<void> {
    // Small banks cost little whatever the threshold (at worst a stall after 10,000 candidates): no pilot for them.
    if (count <= 100) return;
    const pilot = await abortable(this.#renderer.pilot(), signal);
    const estimate = estimateSampling(pilot, threshold, count);
    if (estimate.collapseAt !== null) {
      throw new HttpError(
        422,
        `Cannot sample ${count} identities at threshold ${threshold}: current estimate is that acceptance falls ` +
          `under 1 % after about ${estimate.collapseAt} identities; raise the threshold or ask for fewer`,
      );
    }
    if (estimate.candidates > this.#maxCandidates) {
      throw new HttpError(
        422,
        `Cannot sample ${count} identities at threshold ${threshold}: current estimate is ${estimate.candidates} ` +
          `candidates, over the limit of ${this.#maxCandidates}; raise the threshold or ask for fewer`,
      );
    }
  }
}

/** `promise`, or the abort reason as soon as `signal` aborts. */
function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const leave = () => reject(signal.reason);
    signal.addEventListener("abort", leave, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", leave));
  });
}

/** The sha256 and size of a shard, by ETag (the whole spec), least recently used dropped first. */
interface ShardDigest {
  /** sha256 of the zip, hex. */
  sha256: string;
  /** Size of the zip. */
  bytes: number;
}

class DigestCache {
  #entries = new Map<string, ShardDigest>();
  #size: number;

  constructor(size: number) {
    this.#size = size;
  }

  get(etag: string): ShardDigest | undefined {
    const digest = this.#entries.get(etag);
    if (digest) {
      this.#entries.delete(etag);
      this.#entries.set(etag, digest);
    }
    return digest;
  }

  set(etag: string, digest: ShardDigest): void {
    this.#entries.delete(etag);
    this.#entries.set(etag, digest);
    while (this.#entries.size > this.#size) this.#entries.delete(this.#entries.keys().next().value!);
  }
}

/** `Repr-Digest` (RFC 9530) of a hex sha256. */
function reprDigest(sha256: string): string {
  const bytes = sha256.match(/../g)!.map((pair) => parseInt(pair, 16));
  return `sha-256=:${btoa(String.fromCharCode(...bytes))}:`;
}

/** Reads the query: rejects unknown and repeated parameters. */
function readQuery(url: URL, allowed: readonly string[]): Map<string, string> {
  const query = new Map<string, string>();
  for (const [name, value] of url.searchParams) {
    if (!allowed.includes(name)) {
      throw new HttpError(400, `Cannot use parameter ${name}: current route takes only ${allowed.join(", ")}`);
    }
    if (query.has(name)) throw new HttpError(400, `Cannot use parameter ${name} twice: current value is repeated`);
    query.set(name, value);
  }
  return query;
}

function integer(query: Map<string, string>, name: string, min: number, max: number, fallback?: number): number {
  const raw = query.get(name);
  if (raw === undefined) {
    if (fallback === undefined) throw new HttpError(400, `Cannot read parameter ${name}: current value is missing`);
    return fallback;
  }
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!(Number.isSafeInteger(value) && value >= min && value <= max)) {
    throw new HttpError(
      400,
      `Cannot read parameter ${name} as ${JSON.stringify(raw)}: current value is not an integer in ${min}..${max}`,
    );
  }
  return value;
}

function threshold(query: Map<string, string>, fallback: number): number {
  const raw = query.get("threshold");
  if (raw === undefined) return fallback;
  const value = /^-?(\d+\.?\d*|\.\d+)$/.test(raw) ? Number(raw) : NaN;
  if (!(value > -1 && value <= 1)) {
    throw new HttpError(
      400,
      `Cannot read parameter threshold as ${JSON.stringify(raw)}: current value is not a number in (-1, 1]`,
    );
  }
  return value;
}

function etagOf(spec: string): string {
  return `"${sha256(spec)}"`;
}

/**
 * The conditional request of every route that sends an `ETag`: 304 with the
 * tag, and nothing else run, when `If-None-Match` names it (or is `*`); else
 * what `send` answers (which carries the tag).
 */
async function conditional(
  request: Request,
  etag: string,
  send: () => Response | Promise<Response>,
): Promise<Response> {
  const header = request.headers.get("if-none-match");
  const named = header !== null && header.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed.replace(/^W\//, "") === etag;
  });
  if (named) return new Response(null, { status: 304, headers: { etag } });
  return await send();
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers: { "cache-control": "no-store", ...headers } });
}

function errorResponse(error: unknown): Response {
  if (error instanceof HttpError) {
    return json({ error: error.message, status: error.status }, error.status, error.headers);
  }
  if (error instanceof Vec2FaceError && error.code === "sampling-stalled") {
    return json({ error: error.message, status: 422 }, 422);
  }
  if (error instanceof DOMException && error.name === "AbortError") {
    // The client left (nobody reads this), or the handler is being disposed.
    return json({ error: "Cannot answer the request: current render was cancelled", status: 503 }, 503);
  }
  // A 500's own message may name files of the server (module and model paths): only its class is answered.
  return json({ error: internalMessage(error), status: 500 }, 500);
}

/** The class of an unexpected error, as a 500 names it (never its message, which may hold server paths). */
function errorClass(error: unknown): string {
  const name = error instanceof Error ? error.name : typeof error;
  return /^[A-Za-z_$][\w$]{0,63}$/.test(name) ? name : "Error";
}

function internalMessage(error: unknown): string {
  return `Cannot answer the request: current render failed with ${errorClass(error)} (see the server's log)`;
}

/** A request's text as an error message echoes it: at most 200 characters, then "...". */
function clip(text: string, length = 200): string {
  return text.length > length ? `${text.slice(0, length)}...` : text;
}

/**
 * The concurrent-render limit of one handler: every rendering route runs in a
 * slot, taken before it renders and freed when it is done. None free (or the
 * process over `maxRss`): 429 with `retry-after`. Closed (the handler
 * disposed): 503, and every render in flight is cancelled.
 */
class RenderSlots {
  /** Renders in flight. */
  inFlight = 0;
  /** The most in flight at once so far. */
  peak = 0;
  /** Renders refused (429) so far. */
  refused = 0;
  /** Streams cancelled because their reader stalled past the idle timeout. */
  stalled = 0;
  readonly max: number;
  readonly maxRss: number | undefined;
  readonly idleTimeoutMs: number;
  /** Aborted when the handler is disposed: cancels every render in flight. */
  readonly #closing = new AbortController();
  /** The renders in flight, settled when each has stopped. */
  readonly #live = new Set<Promise<unknown>>();

  constructor(max: number, maxRss: number | undefined, idleTimeoutMs: number) {
    this.max = max;
    this.maxRss = maxRss;
    this.idleTimeoutMs = idleTimeoutMs;
  }

  /** Runs `work` in a slot, freed when it settles; its signal aborts when the request's does, or at close. */
  async run<T>(request: Request, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const release = this.#acquire();
    const signal = AbortSignal.any([request.signal, this.#closing.signal]);
    const running = Promise.resolve().then(() => work(signal));
    this.#track(running);
    try {
      return await running;
    } finally {
      release();
    }
  }

  /**
   * Opens a shard in a slot and answers its zip as a stream, hashed as it goes
   * (`onDigest` at its end). The slot is freed when opening fails, or when the
   * stream ends, fails, is cancelled (after the shard's own cancel is done, so
   * no render outlives it), stalls (no read for `idleTimeoutMs` after a piece
   * was offered: the reader is cancelled and the stream errors, which drops
   * the connection) or the handler closes.
   */
  async stream(
    request: Request,
    open: (signal: AbortSignal) => Promise<ShardReader>,
    onDigest: (digest: ShardDigest) => void,
  ): Promise<ReadableStream<Uint8Array>> {
    const release = this.#acquire();
    const signal = AbortSignal.any([request.signal, this.#closing.signal]);
    let reader: ShardReader | undefined;
    // The first piece is read before the stream is answered, so that a render
    // that fails at its start (no generator session, a failing first batch) is
    // an error status rather than a 200 whose body breaks off.
    let first: Uint8Array | null;
    let ended!: () => void;
    this.#track(new Promise<void>((resolve) => ended = resolve));
    try {
      reader = await open(signal);
      first = await abortable(reader.read(), signal);
    } catch (error) {
      await reader?.cancel(error);
      release();
      ended();
      throw error;
    }
    const hash = new Sha256();
    let size = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped: Promise<void> | undefined;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const stop = (reason: unknown): Promise<void> =>
      stopped ??= (async () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onClose);
        try {
          await reader.cancel(reason);
        } finally {
          release();
          ended();
        }
      })();
    const fail = (reason: unknown) => {
      void stop(reason).then(() => {
        try {
          controller.error(reason);
        } catch {
          // Already closed or errored.
        }
      });
    };
    const onClose = () => fail(this.#closing.signal.aborted ? this.#closing.signal.reason : request.signal.reason);
    signal.addEventListener("abort", onClose, { once: true });
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        this.stalled++;
        fail(new DOMException(`The reader took no bytes for ${this.idleTimeoutMs} ms`, "TimeoutError"));
      }, this.idleTimeoutMs);
    };
    return new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
        arm();
      },
      async pull(controller) {
        clearTimeout(timer);
        if (stopped) return;
        let piece: Uint8Array | null;
        try {
          piece = first ?? await reader.read();
          first = null;
        } catch (error) {
          await stop(error);
          throw error;
        }
        if (stopped) return;
        if (piece === null) {
          await stop(undefined);
          onDigest({ sha256: hash.digest(), bytes: size });
          controller.close();
          return;
        }
        hash.update(piece);
        size += piece.length;
        controller.enqueue(piece);
        arm();
      },
      async cancel(reason) {
        await stop(reason ?? new DOMException("The response was cancelled", "AbortError"));
      },
    }, { highWaterMark: 0 });
  }

  /**
   * Closes the slots: no render starts any more (503), every render in flight
   * is cancelled; settles when they have all stopped.
   */
  async close(): Promise<void> {
    this.#closing.abort(new DOMException("The server is shutting down", "AbortError"));
    while (this.#live.size > 0) await Promise.allSettled([...this.#live]);
  }

  #track(work: Promise<unknown>): void {
    const settled = work.then(() => {}, () => {}).finally(() => this.#live.delete(settled));
    this.#live.add(settled);
  }

  /** Takes a slot; the returned function frees it (once). */
  #acquire(): () => void {
    if (this.#closing.signal.aborted) {
      throw new HttpError(503, "Cannot start a render: current server is shutting down");
    }
    if (this.inFlight >= this.max) {
      this.refused++;
      throw new HttpError(429, `Cannot start a render: current renders in flight are ${this.inFlight} of ${this.max}`, {
        headers: { "retry-after": "1" },
      });
    }
    if (this.maxRss !== undefined) {
      const rss = Deno.memoryUsage().rss;
      if (rss > this.maxRss) {
        this.refused++;
        throw new HttpError(
          429,
          `Cannot start a render: current memory use is ${Math.round(rss / 2 ** 20)} MiB, over the limit of ` +
            `${Math.round(this.maxRss / 2 ** 20)} MiB`,
          { headers: { "retry-after": "1" } },
        );
      }
    }
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    let held = true;
    return () => {
      if (held) this.inFlight--;
      held = false;
    };
  }
}

/** What the routes of one handler share: its pack, limits, caches and render slots. */
interface Server {
  readonly pack: ModelPack;
  /** The pack's separation threshold: the default `threshold`. */
  readonly threshold: number;
  readonly maxImages: number;
  readonly maxIdentities: number;
  readonly maxCandidates: number;
  readonly batchSize: number;
  /** Sampled banks (8 seeds). */
  readonly banks: BankCache;
  /** Digests of the shards streamed to their end (4,096). */
  readonly digests: DigestCache;
  readonly slots: RenderSlots;
  /** Where sampling and rendering run: this thread or a pool of workers. */
  readonly renderer: Renderer;
  /** The responses whose body streams while it renders (the request log counts their bytes as they go). */
  readonly streamed: WeakSet<Response>;
  /** The origins that may read responses: any, or these. */
  readonly origins: "*" | ReadonlySet<string>;
}

/** A route: a request with this method whose path matches the pattern goes to `handle`, with the match. */
interface Route {
  readonly method: string;
  /** The route as the request log names it, e.g. `/v1/shards/{k}.zip`. */
  readonly name: string;
  readonly pattern: RegExp;
  readonly handle: (server: Server, request: Request, url: URL, match: RegExpExecArray) => Response | Promise<Response>;
}

/** The parameters of a dataset (shards, `dataset.json`). */
const DATASET_PARAMETERS = ["ids", "per_id", "shard_size", "seed", "threshold"] as const;

/** `GET /v1/healthz`. */
function healthz(): Response {
  return json({ ok: true });
}

/** `GET /v1/info`: the pack, the backend, the version, the limits and the renders. */
function info(server: Server): Response {
  const { pack, slots } = server;
  const { name, fixture, separationThreshold, vectorSize, imageSize } = pack.manifest;
  return json({
    pack: { name, sha256: pack.sha256, fixture: fixture ?? false, separationThreshold, vectorSize, imageSize },
    backend: pack.backend,
    version: VERSION,
    limits: {
      maxImages: server.maxImages,
      maxConcurrent: slots.max,
      maxIdentities: server.maxIdentities,
      maxRss: slots.maxRss ?? null,
      batchSize: server.batchSize,
      idleTimeoutMs: slots.idleTimeoutMs,
      maxCandidates: server.maxCandidates,
    },
    renders: {
      inFlight: slots.inFlight,
      peak: slots.peak,
      refused: slots.refused,
      stalled: slots.stalled,
    },
    workers: server.renderer.workers,
  });
}

/** `GET /v1/render.png`: one image of the dataset, as PNG. */
async function renderPng(server: Server, request: Request, url: URL): Promise<Response> {
  const { pack, maxIdentities } = server;
  const query = readQuery(url, ["identity", "image", "per_id", "seed", "threshold"]);
  const identity = integer(query, "identity", 0, maxIdentities - 1);
  const perId = integer(query, "per_id", 1, DEFAULTS.maxPerId, 50);
  const image = integer(query, "image", 0, perId - 1);
  const seed = integer(query, "seed", 0, Number.MAX_SAFE_INTEGER, DEFAULTS.seed);
  const t = threshold(query, server.threshold);
  const etag = etagOf(
    `vec2face-render/${VERSION} pack=${pack.sha256} backend=${pack.backend} identity=${identity} ` +
      `image=${image} per_id=${perId} seed=${seed} threshold=${t}`,
  );
  return await conditional(request, etag, () =>
    server.slots.run(request, async (signal) => {
      const bank = await server.banks.get(seed, t, identity + 1, signal);
      const png = await server.renderer.png({ vector: bank[identity], identity, image, perId, seed }, signal);
      return new Response(png as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "image/png", etag },
      });
    }));
}

/** The dataset a query names, with its shard count. */
function readDataset(server: Server, query: Map<string, string>) {
  const { maxIdentities } = server;
  const ids = integer(query, "ids", 1, maxIdentities);
  const perId = integer(query, "per_id", 1, DEFAULTS.maxPerId, 50);
  const shardSize = integer(query, "shard_size", 1, maxIdentities, DEFAULTS.shardSize);
  const seed = integer(query, "seed", 0, Number.MAX_SAFE_INTEGER, DEFAULTS.seed);
  const t = threshold(query, server.threshold);
  return { ids, perId, shardSize, seed, threshold: t, shards: Math.ceil(ids / shardSize) };
}

/** `GET /v1/dataset.json`: the dataset's spec; a shard over `maxImages` is refused here too (413). */
function datasetJson(server: Server, _request: Request, url: URL): Response {
  const { pack, maxImages } = server;
  const spec = readDataset(server, readQuery(url, DATASET_PARAMETERS));
  const largest = Math.min(spec.ids, spec.shardSize) * spec.perId;
  if (largest > maxImages) {
    throw new HttpError(
      413,
      `Cannot render shards of ${Math.min(spec.ids, spec.shardSize)} ids x ${spec.perId} per_id: ` +
        `current ${largest} images exceed the limit of ${maxImages}; lower shard_size or per_id`,
    );
  }
  const { sigmas, shares } = pack.manifest;
  return json({
    version: VERSION,
    pack: { name: pack.manifest.name, sha256: pack.sha256, priorSha256: pack.manifest.files.prior.sha256 },
    backend: pack.backend,
    ids: spec.ids,
    perId: spec.perId,
    shardSize: spec.shardSize,
    seed: spec.seed,
    threshold: spec.threshold,
    shards: spec.shards,
    sigmas: Array.from({ length: spec.perId }, (_, image) => sigmaForImage(image, spec.perId, sigmas, shares)),
  });
}

/** `GET /v1/identities.{npy,json}`: the identity bank and its sidecar. */
async function identities(server: Server, request: Request, url: URL, match: RegExpExecArray): Promise<Response> {
  const { pack } = server;
  const query = readQuery(url, ["ids", "seed", "threshold"]);
  const ids = integer(query, "ids", 1, server.maxIdentities);
  const seed = integer(query, "seed", 0, Number.MAX_SAFE_INTEGER, DEFAULTS.seed);
  const t = threshold(query, server.threshold);
  const extension = match[1];
  const etag = etagOf(
    `vec2face-identities/${VERSION} pack=${pack.sha256} ids=${ids} seed=${seed} threshold=${t} ${extension}`,
  );
  return await conditional(request, etag, () =>
    server.slots.run(request, async (signal) => {
      const sampled = await server.banks.exact(seed, t, ids, signal);
      if (extension === "npy") {
        return new Response(encodeBank(sampled.vectors) as Uint8Array<ArrayBuffer>, {
          headers: { "content-type": "application/octet-stream", etag },
        });
      }
      const info = sampledBankInfo(pack.sha256, pack.manifest.files.prior.sha256, { threshold: t, seed }, sampled);
      return new Response(bankSidecarText(info), { headers: { "content-type": "application/json", etag } });
    }));
}

/** Shard `name` of the dataset a request names: its identities and ETag; over `maxImages`: 413. */
function readShard(server: Server, url: URL, name: string) {
  const { pack, maxImages } = server;
  const spec = readDataset(server, readQuery(url, DATASET_PARAMETERS));
  const k = /^\d{1,16}$/.test(name) ? Number(name) : NaN;
  if (!(Number.isSafeInteger(k) && k < spec.shards)) {
    throw new HttpError(
      400,
      `Cannot read shard ${JSON.stringify(name)}: current value is not an integer in 0..${spec.shards - 1} ` +
        `(${spec.ids} ids in shards of ${spec.shardSize})`,
    );
  }
  const start = k * spec.shardSize;
  const end = Math.min(spec.ids, start + spec.shardSize);
  const count = end - start;
  const images = count * spec.perId;
  if (images > maxImages) {
    throw new HttpError(
      413,
      `Cannot render shard ${k} as ${count} ids x ${spec.perId} per_id: ` +
        `current ${images} images exceed the limit of ${maxImages}; lower shard_size or per_id`,
    );
  }
  const etag = etagOf(
    `vec2face-shard/${VERSION} pack=${pack.sha256} backend=${pack.backend} ids=${spec.ids} per_id=${spec.perId} ` +
      `shard_size=${spec.shardSize} seed=${spec.seed} threshold=${spec.threshold} shard=${k}`,
  );
  return { ...spec, k, start, end, etag };
}

/** Starts rendering a shard in a slot: its zip bytes as they come; its digest is remembered at its end. */
function startShard(
  server: Server,
  request: Request,
  shard: ReturnType<typeof readShard>,
): Promise<ReadableStream<Uint8Array>> {
  const { batchSize } = server;
  const { perId, seed, start, end, etag } = shard;
  return server.slots.stream(request, async (signal) => {
    // sample() is prefix-stable: the first `end` identities of sample(ids) are sample(end).
    const identities = await server.banks.get(seed, shard.threshold, end, signal);
    return server.renderer.shard({ vectors: identities.slice(start, end), start, perId, seed, batchSize });
  }, (digest) => server.digests.set(etag, digest));
}

/** A response whose body streams, noted as such. */
function streamed(server: Server, body: ReadableStream<Uint8Array>, init: ResponseInit): Response {
  const response = new Response(body, init);
  server.streamed.add(response);
  return response;
}

/** `GET /v1/shards/{k}.zip`: the shard, streamed while it renders. */
async function shardZip(server: Server, request: Request, url: URL, match: RegExpExecArray): Promise<Response> {
  const shard = readShard(server, url, match[1]);
  const { etag } = shard;
  return await conditional(request, etag, async () => {
    const known = server.digests.get(etag);
    const body = await startShard(server, request, shard);
    return streamed(server, body, {
      headers: {
        "content-type": "application/zip",
        "content-disposition": `attachment; filename="shard-${String(shard.k).padStart(5, "0")}.zip"`,
        etag,
        ...(known ? { "repr-digest": reprDigest(known.sha256), "content-length": String(known.bytes) } : {}),
      },
    });
  });
}

/** `GET /v1/shards/{k}.sha256`: the shard's digest, remembered or rendered (and hashed) to answer. */
async function shardDigest(server: Server, request: Request, url: URL, match: RegExpExecArray): Promise<Response> {
  const shard = readShard(server, url, match[1]);
  const { etag } = shard;
  let digest = server.digests.get(etag);
  if (!digest) {
    // Not streamed here lately: render it to hash it (the stream stores the digest at its end).
    // A client that leaves aborts the request's signal, which stops the render (see RenderSlots.stream).
    const reader = (await startShard(server, request, shard)).getReader();
    while (!(await reader.read()).done);
    digest = server.digests.get(etag)!;
  }
  return json({ shard: shard.k, etag, sha256: digest.sha256, bytes: digest.bytes }, 200, {
    "repr-digest": reprDigest(digest.sha256),
  });
}

/** Every route, matched once per request by {@linkcode dispatch}. */
const ROUTES: readonly Route[] = [
  { method: "GET", name: "/v1/healthz", pattern: /^\/v1\/healthz$/, handle: healthz },
  { method: "GET", name: "/v1/info", pattern: /^\/v1\/info$/, handle: info },
  { method: "GET", name: "/v1/render.png", pattern: /^\/v1\/render\.png$/, handle: renderPng },
  { method: "GET", name: "/v1/dataset.json", pattern: /^\/v1\/dataset\.json$/, handle: datasetJson },
  { method: "GET", name: "/v1/identities.{npy,json}", pattern: /^\/v1\/identities\.(npy|json)$/, handle: identities },
  { method: "GET", name: "/v1/shards/{k}.zip", pattern: /^\/v1\/shards\/([^/]*)\.zip$/, handle: shardZip },
  { method: "GET", name: "/v1/shards/{k}.sha256", pattern: /^\/v1\/shards\/([^/]*)\.sha256$/, handle: shardDigest },
  { method: "GET", name: "/", pattern: /^\/$/, handle: previewPage },
  { method: "GET", name: "/preview.js", pattern: /^\/preview\.js$/, handle: previewScript },
  { method: "GET", name: "/v1/pack/{file}", pattern: /^\/v1\/pack\/([^/]+)$/, handle: packFile },
  { method: "GET", name: "/ort/{file}", pattern: /^\/ort\/([^/]+)$/, handle: ortFile },
];

/**
 * Answers a request from {@linkcode ROUTES}: the route of its method and path
 * (HEAD: the GET route's status and headers, its body cancelled); `OPTIONS`
 * on a route: 204 with `Allow` and the CORS preflight's headers; 405 with
 * `Allow` for a path that only other methods take; 404 for any other path.
 * Every error is answered as JSON; every answer carries the CORS headers.
 */
async function dispatch(server: Server, request: Request, seen: Seen = {}): Promise<Response> {
  let response: Response;
  try {
    response = await answer(server, request, seen);
  } catch (error) {
    response = errorResponse(error);
    if (response.status === 500) {
      seen.error = `${errorClass(error)}: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  // HEAD is GET without the body: the same status and headers, errors included.
  if (request.method === "HEAD") {
    await response.body?.cancel();
    response = new Response(null, { status: response.status, headers: response.headers });
  }
  allowOrigin(server.origins, request, response.headers);
  return response;
}

/** What the request log learns of a request while it is answered. */
interface Seen {
  /** The route's name; none for a path that is no route. */
  route?: string;
  /** A 500's cause, class and message (the response names only the class). */
  error?: string;
}

/**
 * Answers a request and logs it: one line when its body is done (read to the
 * end, failed or cancelled), with the bytes sent. A body that is not streamed
 * is already in memory: it is read here, and answered as those bytes.
 */
async function logged(
  server: Server,
  request: Request,
  log: (line: Record<string, unknown>) => void,
): Promise<Response> {
  const started = performance.now();
  const seen: Seen = {};
  const response = await dispatch(server, request, seen);
  const write = (fields: Record<string, unknown>) => {
    try {
      log({
        method: clip(request.method, 20),
        route: seen.route ?? null,
        status: response.status,
        ...fields,
        ms: Math.round((performance.now() - started) * 10) / 10,
        ...(seen.error === undefined ? {} : { error: seen.error }),
      });
    } catch {
      // A logger that fails does not fail the request.
    }
  };
  if (response.body === null) {
    write({ bytes: 0 });
    return response;
  }
  const { status, headers } = response;
  if (!server.streamed.has(response)) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    write({ bytes: bytes.length });
    return new Response(bytes, { status, headers });
  }
  const reader = response.body.getReader();
  let bytes = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (error) {
        write({ bytes, error: `${errorClass(error)}: ${error instanceof Error ? error.message : String(error)}` });
        throw error;
      }
      if (result.done) {
        write({ bytes });
        controller.close();
      } else {
        bytes += result.value.length;
        controller.enqueue(result.value);
      }
    },
    async cancel(reason) {
      write({ bytes, cancelled: true });
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return new Response(body, { status, headers });
}

/** The headers a browser needs to read a response from another origin (CORS). */
function allowOrigin(origins: Server["origins"], request: Request, headers: Headers): void {
  let origin: string | null = "*";
  if (origins !== "*") {
    headers.append("vary", "Origin");
    origin = request.headers.get("origin");
    if (origin === null || !origins.has(origin)) return;
  }
  headers.set("access-control-allow-origin", origin);
  headers.set("access-control-expose-headers", "ETag, Repr-Digest, Retry-After, Content-Disposition");
}

/** The answer to `OPTIONS` on a route: the methods it takes, and the CORS preflight's headers. */
function preflight(allowed: Set<string>): Response {
  return new Response(null, {
    status: 204,
    headers: {
      allow: [...allowed].join(", "),
      "access-control-allow-methods": [...allowed].filter((method) => method !== "OPTIONS").join(", "),
      "access-control-allow-headers": "If-None-Match",
      "access-control-max-age": "600",
    },
  });
}

/** Longest request URL answered (the longest valid one is ~200 characters). */
const MAX_URL_LENGTH = 8192;

/** The route's answer to a request (HEAD: the GET route's); 404 and 405 thrown. */
async function answer(server: Server, request: Request, seen: Seen): Promise<Response> {
  // No route needs more; longer ones (up to the runtime's own ~90 KB limit, which answers a bare 400) get JSON.
  if (request.url.length > MAX_URL_LENGTH) {
    throw new HttpError(
      414,
      `Cannot read the request: current URL is ${request.url.length} characters, over the limit of ${MAX_URL_LENGTH}`,
    );
  }
  const url = new URL(request.url);
  const path = url.pathname;
  const allowed = new Set<string>();
  const method = request.method === "HEAD" ? "GET" : request.method;
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (match === null) continue;
    if (route.method === method) {
      seen.route = route.name;
      return await route.handle(server, request, url, match);
    }
    allowed.add(route.method);
    if (route.method === "GET") allowed.add("HEAD");
  }
  if (allowed.size === 0) {
    throw new HttpError(404, `Cannot find ${clip(path)}: current path is not a route of this server`);
  }
  allowed.add("OPTIONS");
  if (method === "OPTIONS") return preflight(allowed);
  throw new HttpError(
    405,
    `Cannot ${clip(request.method, 20)} ${clip(path)}: current method is not one of ${[...allowed].join(", ")}`,
    { headers: { allow: [...allowed].join(", ") } },
  );
}

/**
 * Creates the request handler over a loaded pack. Each handler has its own
 * concurrency slots and a cache of sampled banks (8 seeds).
 *
 * Shards stream: the zip is written while its images render, and cancelling
 * the response body stops rendering after the generator call in progress and
 * frees the slot (`Deno.serve` cancels the body when a client disconnects). `ETag`s hash the whole spec
 * (pack, backend, parameters, version), so `If-None-Match` gets a 304 without
 * rendering.
 *
 * @example Serve it with `Deno.serve(createHandler({ pack }))`, or call it
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHandler } from "./http.ts";
 * import { loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const handler = createHandler({ pack, limits: { maxImages: 100 } });
 * const response = await handler(new Request("http://localhost/v1/render.png?identity=0&image=1&per_id=4"));
 * assert.equal(response.status, 200);
 * assert.equal(response.headers.get("content-type"), "image/png");
 * const etag = response.headers.get("etag")!;
 * const again = await handler(
 *   new Request("http://localhost/v1/render.png?identity=0&image=1&per_id=4", { headers: { "if-none-match": etag } }),
 * );
 * assert.equal(again.status, 304);
 * ```
 */
export function createHandler(options: HandlerOptions): Handler {
  const pack = options?.pack;
  if (!pack?.manifest || !pack.prior) {
    throw new TypeError(`Cannot create a handler as pack ${pack}: current value is not a ModelPack`);
  }
  const maxImages = checkLimit(options.limits?.maxImages, "image limit `limits.maxImages`", 2000);
  const maxConcurrent = checkLimit(options.limits?.maxConcurrent, "render limit `limits.maxConcurrent`", 2);
  const maxIdentities = checkLimit(options.limits?.maxIdentities, "identity limit `limits.maxIdentities`", 10_000);
  const maxRss = options.limits?.maxRss === undefined
    ? undefined
    : checkCount(options.limits.maxRss, "memory limit in bytes `limits.maxRss`");
  const batchSize = checkLimit(options.batchSize, "batch size `batchSize`", DEFAULTS.batchSize);
  const idleTimeoutMs = checkLimit(options.limits?.idleTimeoutMs, "idle timeout `limits.idleTimeoutMs`", 30_000);
  const maxCandidates = checkLimit(options.limits?.maxCandidates, "candidate limit `limits.maxCandidates`", 50_000);
  const workers = checkInteger(options.workers ?? 0, "render workers `workers`", 0, 64);
  const cors = options.cors?.origins ?? "*";
  if (cors !== "*" && !(Array.isArray(cors) && cors.every((origin) => typeof origin === "string"))) {
    throw new TypeError(
      `Cannot use CORS origins \`cors.origins\` ${JSON.stringify(cors)}: current value is not "*" or a list of origins`,
    );
  }
  const log = options.log;
  if (log !== undefined && typeof log !== "function") {
    throw new TypeError(`Cannot use request log \`log\` ${log}: current value is not a function`);
  }
  const renderer: Renderer = workers > 0 ? new WorkerRenderer(pack, workers) : new InThreadRenderer(pack);
  const slots = new RenderSlots(maxConcurrent, maxRss, idleTimeoutMs);
  const server: Server = {
    pack,
    threshold: pack.manifest.separationThreshold,
    maxImages,
    maxIdentities,
    maxCandidates,
    batchSize,
    banks: new BankCache(renderer, 8, maxCandidates),
    digests: new DigestCache(4096),
    slots,
    renderer,
    origins: cors === "*" ? "*" : new Set(cors),
    streamed: new WeakSet(),
  };
  let disposed: Promise<void> | undefined;
  const dispose = () =>
    disposed ??= (async () => {
      await slots.close();
      await renderer.dispose();
    })();
  return Object.assign(
    (request: Request): Promise<Response> => log ? logged(server, request, log) : dispatch(server, request),
    { dispose, [Symbol.asyncDispose]: dispose },
  );
}
