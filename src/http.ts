/**
 * An HTTP front to a model pack: single images as PNG and dataset shards as
 * zip, streamed while they render. A plain `(Request) => Promise<Response>`
 * handler, for `Deno.serve` or any server that speaks WHATWG `Request`.
 *
 * ```sh
 * curl -o shard.zip 'http://localhost:8000/v1/shards/0.zip?ids=1000&per_id=50&shard_size=10&seed=1'
 * ```
 *
 * Routes (GET only):
 * - `/v1/healthz`: `{"ok": true}`.
 * - `/v1/info`: the pack, the backend and the library version.
 * - `/v1/render.png?identity=I&image=J[&per_id=M][&seed=S][&threshold=T]`:
 *   image J of identity I of the dataset (seed S, M images per identity), as PNG.
 * - `/v1/shards/{k}.zip?ids=N[&per_id=M][&shard_size=S][&seed=K][&threshold=T]`:
 *   shard k (identities `[k*S, min(N, (k+1)*S))`) of that dataset, the same
 *   bytes as the shards `generateDataset` writes.
 *
 * Defaults: `per_id` 50, `shard_size` 100, `seed` 0, `threshold` the pack's.
 * Errors are JSON `{"error": message, "status": n}`.
 *
 * @module
 */
import { generateSamples, renderSample, type Sample } from "./dataset.ts";
import { Vec2FaceError } from "./errors.ts";
import { encodePng } from "./image/codec.ts";
import { type ModelPack, sha256Hex } from "./model_pack.ts";
import { sample } from "./sample.ts";
import { type ShardEntry, ZipShardStream } from "./shard.ts";

/**
 * The library version reported by `/v1/info` (as in `deno.json`).
 *
 * @example
 * ```ts
 * import { VERSION } from "./http.ts";
 * console.assert(/^\d+\.\d+\.\d+/.test(VERSION));
 * ```
 */
export const VERSION = "0.1.0";

/** Limits of {@linkcode createHandler}. */
export interface HandlerLimits {
  /** Most images one request may render (a shard's identities times `per_id`); default 2000. Over it: 413. */
  maxImages?: number;
  /** Most renders in flight at once (a shard holds its slot until its stream ends); default 2. Over it: 429. */
  maxConcurrent?: number;
  /** Largest identity count (`ids`, `identity + 1`) a request may need sampled; default 10,000. Over it: 400. */
  maxIdentities?: number;
}

/** Options of {@linkcode createHandler}. */
export interface HandlerOptions {
  /** The model pack that renders. The handler does not dispose it. */
  pack: ModelPack;
  /** Request limits. */
  limits?: HandlerLimits;
  /** Images per generator call for shards; default 16. Output does not depend on it. */
  batchSize?: number;
}

/**
 * An error with an HTTP status, answered as JSON `{"error": message, "status": n}`.
 *
 * @example
 * ```ts
 * import { HttpError } from "./http.ts";
 * const error = new HttpError(404, "Cannot find /v2: current path is not a route");
 * console.assert(error.status === 404 && error instanceof Error);
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
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new RangeError(`Cannot serve with ${name} as ${value}: current value is not a positive integer`);
  }
  return value as number;
}

/** Sampled identity banks by (seed, threshold), least recently used dropped first; each keeps its longest list. */
class BankCache {
  #entries = new Map<string, { count: number; vectors: Promise<Float32Array[]> }>();
  #pack: ModelPack;
  #size: number;

  constructor(pack: ModelPack, size: number) {
    this.#pack = pack;
    this.#size = size;
  }

  /** At least `count` identities of the bank; `sample` is prefix-stable, so a longer list serves a shorter ask. */
  get(seed: number, threshold: number, count: number): Promise<Float32Array[]> {
    const key = `${seed}|${threshold}`;
    let entry = this.#entries.get(key);
    this.#entries.delete(key);
    if (!entry || entry.count < count) {
      const vectors = sample(count, { prior: this.#pack.prior, threshold, seed }).then((result) => result.vectors);
      const created = { count, vectors };
      entry = created;
      vectors.catch(() => {
        if (this.#entries.get(key) === created) this.#entries.delete(key);
      });
    }
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#size) this.#entries.delete(this.#entries.keys().next().value!);
    return entry.vectors;
  }
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

/** True when `If-None-Match` names the tag (or is `*`). */
function matches(request: Request, etag: string): boolean {
  const header = request.headers.get("if-none-match");
  if (header === null) return false;
  return header.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed.replace(/^W\//, "") === etag;
  });
}

async function etagOf(spec: string): Promise<string> {
  return `"${await sha256Hex(new TextEncoder().encode(spec))}"`;
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
  const message = error instanceof Error ? error.message : String(error);
  return json({ error: message, status: 500 }, 500);
}

/**
 * The zip of the samples, written as they render. Cancelling it (a client that
 * went away) aborts the generator, waits for the generator call in progress,
 * closes the generator and only then calls `done`; so does a failure.
 */
function zipStream(
  samples: AsyncGenerator<Sample>,
  abort: AbortController,
  done: () => void,
): ReadableStream<Uint8Array> {
  let step: Promise<unknown> = Promise.resolve();
  let stopped: Promise<void> | undefined;
  const stop = (reason: unknown): Promise<void> =>
    stopped ??= (async () => {
      abort.abort(reason);
      await step;
      await samples.return(undefined).catch(() => {});
      done();
    })();
  const entries = new ReadableStream<ShardEntry>({
    async pull(controller) {
      const next = samples.next();
      step = next.catch(() => {});
      const { done, value } = await next;
      if (done) controller.close();
      else controller.enqueue({ path: value.path, bytes: value.bytes });
    },
    cancel: stop,
  }, { highWaterMark: 0 });
  const zip = entries.pipeThrough(new ZipShardStream()).getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await zip.read();
      } catch (error) {
        await stop(error);
        throw error;
      }
      if (result.done) {
        done();
        controller.close();
      } else {
        controller.enqueue(result.value);
      }
    },
    async cancel(reason) {
      const cause = reason ?? new DOMException("The response was cancelled", "AbortError");
      await Promise.all([zip.cancel(cause).catch(() => {}), stop(cause)]);
    },
  }, { highWaterMark: 0 });
}

const ROUTES = [/^\/v1\/healthz$/, /^\/v1\/info$/, /^\/v1\/render\.png$/, /^\/v1\/shards\/[^/]*\.zip$/];

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
 * import { createHandler } from "./http.ts";
 * import { loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const handler = createHandler({ pack, limits: { maxImages: 100 } });
 * const response = await handler(new Request("http://localhost/v1/render.png?identity=0&image=1&per_id=4"));
 * console.assert(response.status === 200 && response.headers.get("content-type") === "image/png");
 * ```
 */
export function createHandler(options: HandlerOptions): (request: Request) => Promise<Response> {
  const pack = options?.pack;
  if (!pack?.manifest || !pack.prior) {
    throw new TypeError(`Cannot create a handler as pack ${pack}: current value is not a ModelPack`);
  }
  const maxImages = checkLimit(options.limits?.maxImages, "limits.maxImages", 2000);
  const maxConcurrent = checkLimit(options.limits?.maxConcurrent, "limits.maxConcurrent", 2);
  const maxIdentities = checkLimit(options.limits?.maxIdentities, "limits.maxIdentities", 10_000);
  const batchSize = checkLimit(options.batchSize, "batchSize", 16);
  const banks = new BankCache(pack, 8);
  const packThreshold = pack.manifest.separationThreshold;
  let inFlight = 0;

  /** Takes a render slot; the returned function frees it (once). */
  const acquire = (): () => void => {
    if (inFlight >= maxConcurrent) {
      throw new HttpError(429, `Cannot start a render: current renders in flight are ${inFlight} of ${maxConcurrent}`, {
        headers: { "retry-after": "1" },
      });
    }
    inFlight++;
    let held = true;
    return () => {
      if (held) inFlight--;
      held = false;
    };
  };

  const info = (): Response => {
    const { name, fixture, separationThreshold, vectorSize, imageSize } = pack.manifest;
    return json({
      pack: { name, sha256: pack.sha256, fixture: fixture ?? false, separationThreshold, vectorSize, imageSize },
      backend: pack.backend,
      version: VERSION,
    });
  };

  const renderPng = async (request: Request, url: URL): Promise<Response> => {
    const query = readQuery(url, ["identity", "image", "per_id", "seed", "threshold"]);
    const identity = integer(query, "identity", 0, maxIdentities - 1);
    const perId = integer(query, "per_id", 1, 1000, 50);
    const image = integer(query, "image", 0, perId - 1);
    const seed = integer(query, "seed", 0, Number.MAX_SAFE_INTEGER, 0);
    const t = threshold(query, packThreshold);
    const spec = `vec2face-render/${VERSION} pack=${pack.sha256} backend=${pack.backend} identity=${identity} ` +
      `image=${image} per_id=${perId} seed=${seed} threshold=${t}`;
    const etag = await etagOf(spec);
    if (matches(request, etag)) return new Response(null, { status: 304, headers: { etag } });
    const release = acquire();
    try {
      const bank = await banks.get(seed, t, identity + 1);
      const face = await renderSample(pack, bank, perId, seed, identity, image);
      return new Response(encodePng(face) as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "image/png", etag },
      });
    } finally {
      release();
    }
  };

  const shard = async (request: Request, url: URL): Promise<Response> => {
    const query = readQuery(url, ["ids", "per_id", "shard_size", "seed", "threshold"]);
    const ids = integer(query, "ids", 1, maxIdentities);
    const perId = integer(query, "per_id", 1, 1000, 50);
    const shardSize = integer(query, "shard_size", 1, maxIdentities, 100);
    const seed = integer(query, "seed", 0, Number.MAX_SAFE_INTEGER, 0);
    const t = threshold(query, packThreshold);
    const shards = Math.ceil(ids / shardSize);
    const name = url.pathname.slice("/v1/shards/".length, -".zip".length);
    const k = /^\d{1,16}$/.test(name) ? Number(name) : NaN;
    if (!(Number.isSafeInteger(k) && k < shards)) {
      throw new HttpError(
        400,
        `Cannot read shard ${JSON.stringify(name)}: current value is not an integer in 0..${shards - 1} ` +
          `(${ids} ids in shards of ${shardSize})`,
      );
    }
    const start = k * shardSize;
    const end = Math.min(ids, start + shardSize);
    const count = end - start;
    const images = count * perId;
    if (images > maxImages) {
      throw new HttpError(
        413,
        `Cannot render shard ${k} as ${count} ids x ${perId} per_id: ` +
          `current ${images} images exceed the limit of ${maxImages}; lower shard_size or per_id`,
      );
    }
    const spec = `vec2face-shard/${VERSION} pack=${pack.sha256} backend=${pack.backend} ids=${ids} per_id=${perId} ` +
      `shard_size=${shardSize} seed=${seed} threshold=${t} shard=${k}`;
    const etag = await etagOf(spec);
    if (matches(request, etag)) return new Response(null, { status: 304, headers: { etag } });
    const release = acquire();
    let identities: Float32Array[];
    try {
      // sample() is prefix-stable: the first `end` identities of sample(ids) are sample(end).
      identities = await banks.get(seed, t, end);
    } catch (error) {
      release();
      throw error;
    }
    const abort = new AbortController();
    const samples = generateSamples({ pack, identities, perId, seed, start, end, batchSize, signal: abort.signal });
    return new Response(zipStream(samples, abort, release), {
      headers: {
        "content-type": "application/zip",
        "content-disposition": `attachment; filename="shard-${String(k).padStart(5, "0")}.zip"`,
        etag,
      },
    });
  };

  return async (request: Request): Promise<Response> => {
    try {
      const url = new URL(request.url);
      const path = url.pathname;
      if (!ROUTES.some((route) => route.test(path))) {
        throw new HttpError(404, `Cannot find ${path}: current path is not a route of this server`);
      }
      if (request.method !== "GET") {
        throw new HttpError(405, `Cannot ${request.method} ${path}: current method is not GET`, {
          headers: { allow: "GET" },
        });
      }
      if (path === "/v1/healthz") return json({ ok: true });
      if (path === "/v1/info") return info();
      if (path === "/v1/render.png") return await renderPng(request, url);
      return await shard(request, url);
    } catch (error) {
      return errorResponse(error);
    }
  };
}
