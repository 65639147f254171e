/**
 * Pulls a dataset's zip shards from several HTTP handlers
 * ({@linkcode createHandler}, e.g. `cli.ts serve` processes or edge
 * deployments) in parallel, and writes what `generateDataset` writes for
 * `format: "zip"`: `identities.npy` and `.json`, `shard-{k:05d}.zip` and
 * `manifest.jsonl`, byte for byte (the handlers run the same pack on the same
 * backend; this is checked).
 *
 * How it checks what it gets:
 * - every handler's `/v1/dataset.json` for the spec must be the same (pack,
 *   backend, version, threshold, shard count); a handler that cannot be
 *   reached is left out, one that differs is an error;
 * - `identities.npy` and `.json` come from one handler; every other one must
 *   give the same `identities.json` (candidate count and max cosine of the
 *   bank it sampled), which also has it sample the bank before its shards;
 * - each shard is hashed while it downloads and compared with the sha256 its
 *   handler reports (`Repr-Digest` when it knows it up front, else
 *   `/v1/shards/{k}.sha256` after the body, which the handler remembers from
 *   streaming it); its entries must be the shard's images in order.
 *
 * A failed shard (network error, 5xx, truncated body, wrong digest) is tried
 * again up to `retries` times, on another handler when there is one, with
 * exponential back-off; 429 (busy) waits for `Retry-After` and is not counted
 * as a failure. A handler that fails 3 times in a row is left out while
 * others remain; the run fails when a shard runs out of tries. Progress is journaled in
 * `progress.jsonl` as `generate` does, so `resume` continues an interrupted
 * fetch.
 *
 * @module
 */
import { join } from "node:path";
import { checkCount, checkInteger, checkThreshold } from "./_check.ts";
import { readAt, writeAtomic } from "./_fs.ts";
import { sha256, sha256File, Sha256Stream } from "./_hash.ts";
import { decodeBank } from "./bank.ts";
import { DEFAULTS } from "./defaults.ts";
import { Vec2FaceError } from "./errors.ts";
import type { ManifestRow, RunSpec } from "./journal.ts";
import { FILES, partial, samplePath, shardName } from "./dataset/layout.ts";
import { type DatasetPlan, planDataset } from "./dataset/plan.ts";
import { DatasetRun } from "./dataset/run.ts";
import type { Progress } from "./progress.ts";

/** Options of {@linkcode fetchDataset}. */
export interface FetchOptions {
  /** Base URLs of the handlers (`http://host:port`; the routes are under `/v1/`). */
  from: string[];
  /** Output folder. */
  out: string;
  /** Number of identities. */
  ids: number;
  /** Images per identity. */
  perId: number;
  /** Identities per shard; default 100. */
  shardSize?: number;
  /** Dataset seed; default 0. */
  seed?: number;
  /** Separation threshold; default the handlers' pack's. */
  threshold?: number;
  /** Tries of a shard after its first failure; default 4. */
  retries?: number;
  /** Requests in flight per handler; default the handler's `maxConcurrent` (`/v1/info`). */
  perHandler?: number;
  /** First back-off after a failure, in ms, doubled at each further failure; default 500. */
  retryDelay?: number;
  /**
   * Replace a non-empty output folder that holds a dataset this library wrote
   * (a `manifest.jsonl` or progress journal); any other folder is refused.
   */
  overwrite?: boolean;
  /** Called with the names `overwrite` is about to remove from the output folder. */
  onOverwrite?: (names: string[]) => void;
  /** Continue an interrupted fetch in `out`: shards whose files match the journal are kept. */
  resume?: boolean;
  /** Cancels the fetch. */
  signal?: AbortSignal;
  /** The HTTP client; default `globalThis.fetch` (tests pass a handler here). */
  fetch?: (request: Request) => Promise<Response>;
  /** Called when a shard is done (fetched or kept). */
  onProgress?: (progress: FetchProgress) => void;
  /** Called with one line for each retry and each handler left out. */
  onWarning?: (message: string) => void;
}

/** Progress of {@linkcode fetchDataset}: shards done, and bytes downloaded. */
export interface FetchProgress extends Progress {
  /** Shards done (fetched or kept). */
  done: number;
  /** Shards in the dataset. */
  total: number;
  /** Bytes of shards downloaded so far. */
  bytes: number;
}

/** What {@linkcode fetchDataset} did. */
export interface FetchResult {
  /** Shards in the dataset. */
  shards: number;
  /** Images in the dataset. */
  images: number;
  /** Shards kept from an interrupted fetch. */
  kept: number;
  /** Bytes of shards downloaded. */
  bytes: number;
  /** Failed tries that were tried again. */
  retries: number;
  /** The backend every handler renders on. */
  backend: string;
  /** sha256 of the pack's manifest. */
  packSha256: string;
  /** Per handler: shards it delivered, failed tries, whether it was left out. */
  handlers: { url: string; shards: number; failures: number; dropped: boolean }[];
}

/** `/v1/dataset.json` of a handler. */
interface DatasetSpec {
  version: string;
  pack: { name: string; sha256: string; priorSha256: string };
  backend: string;
  ids: number;
  perId: number;
  shardSize: number;
  seed: number;
  threshold: number;
  shards: number;
  sigmas: number[];
}

interface Handler {
  url: string;
  concurrency: number;
  shards: number;
  failures: number;
  streak: number;
  dropped: boolean;
}

/** A failure of one try: worth another try (network, 5xx, digest) or not (4xx: the request itself is wrong). */
class TryError extends Error {
  constructor(message: string, readonly retry: boolean, readonly wait?: number) {
    super(message);
  }
}

const BUSY_LIMIT = 10_000;

function checkUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`Cannot fetch from ${JSON.stringify(value)}: current value is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`Cannot fetch from ${value}: current protocol is ${url.protocol}, not http: or https:`);
  }
  return url.href.replace(/\/+$/, "");
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", stop, { once: true });
  });
}

/** The JSON error of a failed response, or its status line. */
async function responseError(response: Response, what: string): Promise<TryError> {
  let message = `${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (typeof body?.error === "string") message = `${response.status}: ${body.error}`;
  } catch { /* not JSON */ }
  const busy = response.status === 429 || response.status === 503;
  const seconds = Number(response.headers.get("retry-after"));
  const retry = busy || response.status >= 500 || response.status === 408;
  return new TryError(`${what}: ${message}`, retry, busy ? (seconds >= 0 ? seconds * 1000 : 1000) : undefined);
}

/** GET `url` as JSON; any failure is a {@linkcode TryError}. */
async function getJson<T>(client: (request: Request) => Promise<Response>, url: string, signal: AbortSignal) {
  const bytes = await getBytes(client, url, signal);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch {
    throw new TryError(`GET ${url}: current body is not JSON`, true);
  }
}

/** GET `url`: an ok response, or a `TryError` (retryable when the request itself failed). */
async function getResponse(
  client: (request: Request) => Promise<Response>,
  url: string,
  signal: AbortSignal,
): Promise<Response> {
  let response: Response;
  try {
    response = await client(new Request(url, { signal }));
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new TryError(`GET ${url}: ${(error as Error).message}`, true);
  }
  if (!response.ok) throw await responseError(response, `GET ${url}`);
  return response;
}

async function getBytes(client: (request: Request) => Promise<Response>, url: string, signal: AbortSignal) {
  const response = await getResponse(client, url, signal);
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new TryError(`GET ${url}: body broke off: ${(error as Error).message}`, true);
  }
}

/** `Repr-Digest: sha-256=:BASE64:` as hex, if present. */
function digestHeader(response: Response): string | undefined {
  const match = /sha-256=:([A-Za-z0-9+/=]+):/.exec(response.headers.get("repr-digest") ?? "");
  if (!match) return undefined;
  return Array.from(atob(match[1]), (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
}

/**
 * The entries of a STOREd zip (as `ZipShardStream` writes them), each with the
 * sha256 of its bytes, read through the central directory one entry at a time.
 *
 * @example One entry of a shard
 * ```ts
 * import assert from "node:assert/strict";
 * import { zipEntries } from "./fetch.ts";
 * import { ZipShardStream } from "./shard.ts";
 * const entries = ReadableStream.from([{ path: "000000/000.jpg", bytes: new Uint8Array([1, 2, 3]) }]);
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, entries.pipeThrough(new ZipShardStream()));
 * const [entry] = await zipEntries(path);
 * assert.deepEqual([entry.path, entry.bytes, entry.sha256.slice(0, 8)], ["000000/000.jpg", 3, "039058c6"]);
 * await Deno.remove(path);
 * ```
 */
export async function zipEntries(path: string): Promise<{ path: string; bytes: number; sha256: string }[]> {
  using file = await Deno.open(path);
  const size = (await file.stat()).size;
  const tail = await readAt(file, Math.max(0, size - 22 - 65535), Math.min(size, 22 + 65535), path);
  const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = -1;
  for (let at = tail.length - 22; at >= 0; at--) {
    if (view(tail).getUint32(at, true) === 0x06054b50) {
      end = at;
      break;
    }
  }
  if (end < 0) throw new RangeError(`Cannot read ${path} as a zip: current file has no end of central directory`);
  const count = view(tail).getUint16(end + 10, true);
  const directorySize = view(tail).getUint32(end + 12, true);
  const directoryOffset = view(tail).getUint32(end + 16, true);
  if (count === 0xffff || directoryOffset === 0xffffffff) {
    throw new RangeError(`Cannot read ${path}: current zip is zip64 (over 65,535 entries or 4 GiB)`);
  }
  const directory = await readAt(file, directoryOffset, directorySize, path);
  const entries: { path: string; bytes: number; sha256: string }[] = [];
  for (let at = 0, k = 0; k < count; k++) {
    const d = view(directory);
    if (d.getUint32(at, true) !== 0x02014b50) {
      throw new RangeError(`Cannot read ${path}: current central directory entry ${k} has a bad signature`);
    }
    const method = d.getUint16(at + 10, true);
    const stored = d.getUint32(at + 20, true);
    const nameLength = d.getUint16(at + 28, true);
    const extraLength = d.getUint16(at + 30, true);
    const commentLength = d.getUint16(at + 32, true);
    const local = d.getUint32(at + 42, true);
    const name = new TextDecoder().decode(directory.subarray(at + 46, at + 46 + nameLength));
    if (method !== 0) throw new RangeError(`Cannot read ${path}#${name}: current entry is compressed, not STOREd`);
    const header = view(await readAt(file, local, 30, path));
    if (header.getUint32(0, true) !== 0x04034b50) {
      throw new RangeError(`Cannot read ${path}#${name}: current local header has a bad signature`);
    }
    const data = local + 30 + header.getUint16(26, true) + header.getUint16(28, true);
    const bytes = await readAt(file, data, stored, path);
    entries.push({ path: name, bytes: stored, sha256: sha256(bytes) });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** A queue of shard indices that workers wait on; a shard is done, or back in the queue after a failure. */
class ShardQueue {
  #queued: number[] = [];
  #avoid = new Map<number, string>();
  #open: number;
  #waiters: (() => void)[] = [];

  constructor(units: number[]) {
    this.#queued = [...units];
    this.#open = units.length;
  }

  /** The next shard for `handler` (one it did not just fail, unless it is the only one left), or none when all are done. */
  async take(handler: string, alone: () => boolean, signal: AbortSignal): Promise<number | undefined> {
    while (true) {
      signal.throwIfAborted();
      if (this.#open === 0) return undefined;
      const at = this.#queued.findIndex((unit) => this.#avoid.get(unit) !== handler || alone());
      if (at >= 0) return this.#queued.splice(at, 1)[0];
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.#waiters.push(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
  }

  /** Puts a failed shard back, to be taken by another handler first. */
  retry(unit: number, handler: string): void {
    this.#avoid.set(unit, handler);
    this.#queued.push(unit);
    this.#wake();
  }

  done(): void {
    this.#open--;
    this.#wake();
  }

  /** Wakes every waiting worker (a handler was dropped: the shards it avoided are anyone's). */
  wake(): void {
    this.#wake();
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

/**
 * Fetches a dataset's zip shards from handlers in parallel and writes the
 * output folder `generateDataset({format: "zip"})` writes.
 *
 * @example Two handlers in this process (no network)
 * ```ts
 * import assert from "node:assert/strict";
 * import { fetchDataset } from "./fetch.ts";
 * import { createHandler } from "./http.ts";
 * import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * const handlers = new Map([["http://a", createHandler({ pack })], ["http://b", createHandler({ pack })]]);
 * const out = await Deno.makeTempDir();
 * const result = await fetchDataset({
 *   from: [...handlers.keys()],
 *   out,
 *   ids: 3,
 *   perId: 2,
 *   shardSize: 1,
 *   overwrite: true,
 *   fetch: (request) => handlers.get(new URL(request.url).origin)!(request),
 * });
 * assert.deepEqual([result.shards, result.images], [3, 6]);
 * assert.equal((await Deno.readTextFile(`${out}/manifest.jsonl`)).trim().split("\n").length, 6);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function fetchDataset(options: FetchOptions): Promise<FetchResult> {
  const context = fetchContext(options);
  const spec = await surveyHandlers(context);
  const run = await DatasetRun.open(options.out, runSpec(context.plan, spec), options);
  if (!run) return summary(context, spec, spec.shards);
  let kept: number;
  try {
    await fetchBank(context, spec, run);
    kept = await fetchShards(context, spec, run);
  } catch (error) {
    run.close();
    throw fatal(error);
  }
  await run.finish();
  return summary(context, spec, kept);
}

/** What the stages of a fetch share: the checked options, the client, the handlers and the counters. */
interface FetchContext {
  options: FetchOptions;
  plan: DatasetPlan;
  urls: string[];
  retries: number;
  retryDelay: number;
  perHandler: number | undefined;
  client: (request: Request) => Promise<Response>;
  warn: (message: string) => void;
  /** Aborts every request when one worker fails. */
  stop: AbortController;
  signal: AbortSignal;
  /** The dataset's query string (`ids`, `per_id`, `shard_size`, `seed`, `threshold`). */
  query: URLSearchParams;
  handlers: Handler[];
  bytes: number;
  retried: number;
}

/** Checks the options (every one, once) and sets up the client and the abort signal. */
function fetchContext(options: FetchOptions): FetchContext {
  if (!Array.isArray(options.from) || options.from.length === 0) {
    throw new TypeError(`Cannot fetch a dataset from ${options.from}: current value is not a list of URLs`);
  }
  const urls = [...new Set(options.from.map(checkUrl))];
  const plan = planDataset({ ...options, format: "zip", share: undefined });
  const retries = checkInteger(options.retries ?? DEFAULTS.retries, "`retries`", 0);
  const perHandler = options.perHandler === undefined
    ? undefined
    : checkCount(options.perHandler, "requests per handler `perHandler`");
  const retryDelay = options.retryDelay ?? DEFAULTS.retryDelay;
  if (!(retryDelay >= 0)) {
    throw new RangeError(`Cannot fetch with \`retryDelay\` ${retryDelay}: current value is below 0`);
  }
  if (options.threshold !== undefined) checkThreshold(options.threshold, "fetch");
  const stop = new AbortController();
  const query = new URLSearchParams({
    ids: String(plan.ids),
    per_id: String(plan.perId),
    shard_size: String(plan.shardSize),
  });
  query.set("seed", String(plan.seed));
  if (options.threshold !== undefined) query.set("threshold", String(options.threshold));
  return {
    options,
    plan,
    urls,
    retries,
    retryDelay,
    perHandler,
    client: options.fetch ?? ((request: Request) => fetch(request)),
    warn: options.onWarning ?? (() => {}),
    stop,
    signal: options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal,
    query,
    handlers: [],
    bytes: 0,
    retried: 0,
  };
}

/** Every handler's view of the dataset; unreachable ones are left out, differing ones are an error. */
async function surveyHandlers(context: FetchContext): Promise<DatasetSpec> {
  const { client, signal, query, handlers } = context;
  let spec: DatasetSpec | undefined;
  let specFrom = "";
  for (const url of context.urls) {
    let found: DatasetSpec;
    let info: { limits?: { maxConcurrent?: number } };
    try {
      found = await withRetries(context, () => getJson<DatasetSpec>(client, `${url}/v1/dataset.json?${query}`, signal));
      info = await withRetries(context, () => getJson(client, `${url}/v1/info`, signal));
    } catch (error) {
      if (!(error instanceof TryError) || !error.retry) throw fatal(error);
      context.warn(`left out ${url}: ${error.message}`);
      handlers.push({ url, concurrency: 0, shards: 0, failures: 1, streak: 0, dropped: true });
      continue;
    }
    if (spec === undefined) {
      spec = found;
      specFrom = url;
    } else {
      checkSameSpec(spec, specFrom, found, url);
    }
    const concurrency = context.perHandler ?? Math.max(1, Number(info.limits?.maxConcurrent) || 1);
    handlers.push({ url, concurrency, shards: 0, failures: 0, streak: 0, dropped: false });
  }
  if (!spec) {
    throw new Vec2FaceError("fetch-failed", `Cannot fetch a dataset: no handler answered (${context.urls.join(", ")})`);
  }
  return spec;
}

/** Throws unless two handlers' dataset specs are the same. */
function checkSameSpec(spec: DatasetSpec, specFrom: string, found: DatasetSpec, url: string): void {
  const field = (Object.keys(spec) as (keyof DatasetSpec)[]).find((key) =>
    JSON.stringify(found[key]) !== JSON.stringify(spec[key])
  );
  if (field !== undefined) {
    throw new Vec2FaceError(
      "fetch-failed",
      `Cannot fetch from ${url} and ${specFrom} together: current ${field} differs ` +
        `(${JSON.stringify(found[field])} against ${JSON.stringify(spec[field])}); every handler must serve the ` +
        `same pack on the same backend`,
    );
  }
}

/** The run spec of the fetched dataset (a sampled bank, zip shards, the handlers' pack and backend). */
function runSpec(plan: DatasetPlan, spec: DatasetSpec): RunSpec {
  const { ids, perId, seed, shardSize } = plan;
  return {
    version: 1,
    ids,
    perId,
    seed,
    format: "zip",
    shardSize,
    threshold: spec.threshold,
    pack: spec.pack.sha256,
    backend: spec.backend,
    bank: "sampled",
  };
}

/** The handlers not left out. */
function live(context: FetchContext): Handler[] {
  return context.handlers.filter((handler) => !handler.dropped);
}

/** The identity bank: one handler's files, checked against every other one's; kept when the journal's match. */
async function fetchBank(context: FetchContext, spec: DatasetSpec, run: DatasetRun): Promise<void> {
  const { client, signal, plan } = context;
  const npyPath = join(run.out, FILES.bankNpy);
  const jsonPath = join(run.out, FILES.bankJson);
  const { bank } = run.journal;
  if (bank && await sha256File(npyPath) === bank.npy && await sha256File(jsonPath) === bank.json) return;
  const bankQuery = new URLSearchParams({
    ids: String(plan.ids),
    seed: String(plan.seed),
    threshold: String(spec.threshold),
  });
  const [first, ...others] = live(context);
  const npy = await fromAny(context, first, (url) => getBytes(client, `${url}/v1/identities.npy?${bankQuery}`, signal));
  const sidecar = await fromAny(
    context,
    first,
    (url) => getBytes(client, `${url}/v1/identities.json?${bankQuery}`, signal),
  );
  decodeBank(npy, { name: `identities.npy from ${first.url}` });
  const info = JSON.parse(new TextDecoder().decode(sidecar));
  if (info.count !== plan.ids || info.seed !== plan.seed || info.packSha256 !== spec.pack.sha256) {
    throw new Vec2FaceError(
      "fetch-failed",
      `Cannot use identities.json from ${first.url}: current count ${info.count}, seed ${info.seed}, pack ` +
        `${String(info.packSha256).slice(0, 12)} are not the dataset's`,
    );
  }
  // Every other handler samples the bank too (its shards need it) and must get the same sidecar: the same
  // candidate count and max cosine. That also warms their banks before the shards are asked for.
  const text = new TextDecoder().decode(sidecar);
  await Promise.all(others.map(async (handler) => {
    let theirs: Uint8Array;
    try {
      theirs = await withRetries(
        context,
        () => getBytes(client, `${handler.url}/v1/identities.json?${bankQuery}`, signal),
      );
    } catch (error) {
      if (!(error instanceof TryError) || !error.retry) throw error;
      handler.dropped = true;
      return context.warn(`left out ${handler.url}: ${error.message}`);
    }
    if (new TextDecoder().decode(theirs) !== text) {
      throw new Vec2FaceError(
        "fetch-failed",
        `Cannot fetch from ${handler.url} and ${first.url} together: current identity banks differ ` +
          `(identities.json)`,
      );
    }
  }));
  await writeAtomic(npyPath, npy);
  await writeAtomic(jsonPath, sidecar);
  await run.journal.appendBank({ npy: sha256(npy), json: sha256(sidecar) });
}

/**
 * The shards: kept when their files match the journal, else fetched by every
 * live handler's workers (`concurrency` each) from one queue; resolves to the
 * count kept.
 */
async function fetchShards(context: FetchContext, spec: DatasetSpec, run: DatasetRun): Promise<number> {
  const missing: number[] = [];
  let kept = 0;
  for (let unit = 0; unit < spec.shards; unit++) {
    const record = await run.kept(
      unit,
      async (record) => record.file !== undefined && await sha256File(join(run.out, record.file)) === record.sha256,
    );
    if (record) kept++;
    else missing.push(unit);
  }
  const progress = { done: kept, total: spec.shards };
  context.options.onProgress?.({ ...progress, bytes: context.bytes });
  const pool: ShardPool = { queue: new ShardQueue(missing), tries: new Map(), busy: new Map(), progress };
  let error: unknown;
  const workers = live(context).flatMap((handler) =>
    Array.from(
      { length: handler.concurrency },
      () =>
        shardWorker(context, spec, run, pool, handler).catch((failure) => {
          error ??= failure;
          context.stop.abort(failure);
        }),
    )
  );
  await Promise.all(workers);
  if (error !== undefined) throw error;
  context.signal.throwIfAborted();
  return kept;
}

/** What the shard workers share: the queue, the failed tries and busy answers per shard, and the progress. */
interface ShardPool {
  queue: ShardQueue;
  tries: Map<number, number>;
  busy: Map<number, number>;
  progress: { done: number; total: number };
}

/** One worker of `handler`: takes shards from the queue until none is left or the handler is left out. */
async function shardWorker(
  context: FetchContext,
  spec: DatasetSpec,
  run: DatasetRun,
  pool: ShardPool,
  handler: Handler,
): Promise<void> {
  const { signal, retries } = context;
  const { queue, tries, busy } = pool;
  while (!handler.dropped) {
    const unit = await queue.take(handler.url, () => live(context).length === 1, signal);
    if (unit === undefined) return;
    if (handler.dropped) return queue.retry(unit, handler.url);
    try {
      const size = await fetchShard(context, spec, run, handler, unit);
      handler.shards++;
      handler.streak = 0;
      context.bytes += size;
      pool.progress.done++;
      queue.done();
      context.options.onProgress?.({ ...pool.progress, bytes: context.bytes });
    } catch (failure) {
      if (signal.aborted) throw failure;
      if (!(failure instanceof TryError) || !failure.retry) throw failure;
      if (failure.wait !== undefined) {
        // Busy: not a failure of the shard; wait as told, and give it back.
        const count = (busy.get(unit) ?? 0) + 1;
        busy.set(unit, count);
        if (count > BUSY_LIMIT) {
          throw new Vec2FaceError("fetch-failed", `Cannot fetch shard ${unit}: ${count} busy answers in a row`);
        }
        queue.retry(unit, "");
        await sleep(failure.wait, signal);
        continue;
      }
      const count = (tries.get(unit) ?? 0) + 1;
      tries.set(unit, count);
      handler.failures++;
      handler.streak++;
      context.retried++;
      if (count > retries) {
        throw new Vec2FaceError(
          "fetch-failed",
          `Cannot fetch shard ${unit}: ${count} tries failed (last from ${handler.url}: ${failure.message})`,
        );
      }
      context.warn(`shard ${unit} from ${handler.url} failed (try ${count} of ${retries + 1}): ${failure.message}`);
      queue.retry(unit, handler.url);
      if (handler.streak >= 3 && live(context).length > 1) {
        // The last handler stays: the shards' own tries then decide.
        handler.dropped = true;
        queue.wake();
        context.warn(`left out ${handler.url} after ${handler.streak} failures in a row`);
        return;
      }
      await sleep(context.retryDelay * 2 ** (count - 1), signal);
    }
  }
}

/** Downloads shard `unit` from `handler` to its file, checked, and journals it; resolves to its size. */
async function fetchShard(
  context: FetchContext,
  spec: DatasetSpec,
  run: DatasetRun,
  handler: Handler,
  unit: number,
): Promise<number> {
  const { client, signal, query } = context;
  const name = shardName(unit, "zip");
  const temporary = partial(join(run.out, name));
  const url = `${handler.url}/v1/shards/${unit}.zip?${query}`;
  const response = await getResponse(client, url, signal);
  const hashing = new Sha256Stream();
  try {
    await Deno.writeFile(temporary, response.body!.pipeThrough(hashing));
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new TryError(`GET ${url}: body broke off after ${hashing.bytes} bytes: ${(error as Error).message}`, true);
  }
  const sha256 = hashing.digest();
  const size = hashing.bytes;
  let expected = digestHeader(response);
  let expectedSize = response.headers.has("content-length")
    ? Number(response.headers.get("content-length"))
    : undefined;
  if (expected === undefined) {
    const digest = await getJson<{ sha256: string; bytes: number }>(
      client,
      `${handler.url}/v1/shards/${unit}.sha256?${query}`,
      signal,
    );
    expected = digest.sha256;
    expectedSize = digest.bytes;
  }
  if (sha256 !== expected || (expectedSize !== undefined && size !== expectedSize)) {
    await Deno.remove(temporary).catch(() => {});
    throw new TryError(
      `GET ${url}: current body (${size} bytes, sha256 ${sha256.slice(0, 12)}) is not the shard ` +
        `(${expectedSize ?? "?"} bytes, sha256 ${String(expected).slice(0, 12)})`,
      true,
    );
  }
  const rows = await shardRows(context.plan, spec, temporary, name, unit);
  await Deno.rename(temporary, join(run.out, name));
  await run.journal.appendUnit({ unit, rows, file: name, sha256, bytes: size });
  return size;
}

/** The manifest rows of a downloaded shard; its entries must be its identities' images, in order. */
async function shardRows(
  plan: DatasetPlan,
  spec: DatasetSpec,
  path: string,
  name: string,
  unit: number,
): Promise<ManifestRow[]> {
  const entries = await zipEntries(path);
  const start = unit * plan.shardSize;
  const end = Math.min(plan.ids, start + plan.shardSize);
  const rows: ManifestRow[] = [];
  for (let identity = start, k = 0; identity < end; identity++) {
    for (let image = 0; image < plan.perId; image++, k++) {
      const file = samplePath(identity, image);
      if (entries[k]?.path !== file) {
        throw new TryError(`${name}: current entry ${k} is ${entries[k]?.path ?? "missing"}, not ${file}`, true);
      }
      rows.push({ identity, image, sigma: spec.sigmas[image], file: `${name}#${file}`, sha256: entries[k].sha256 });
    }
  }
  if (entries.length !== rows.length) {
    throw new TryError(`${name}: current zip has ${entries.length} entries, not ${rows.length}`, true);
  }
  return rows;
}

/** `task` with `retries` tries on failures worth trying again, with back-off. */
async function withRetries<T>(context: FetchContext, task: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await task();
    } catch (error) {
      if (!(error instanceof TryError) || !error.retry || attempt >= context.retries) throw error;
      await sleep(error.wait ?? context.retryDelay * 2 ** attempt, context.signal);
    }
  }
}

/** `task` on `preferred`, else on the other live handlers in turn, each with retries. */
async function fromAny<T>(context: FetchContext, preferred: Handler, task: (url: string) => Promise<T>): Promise<T> {
  const order = [preferred, ...live(context).filter((handler) => handler !== preferred)];
  let last: unknown;
  for (const handler of order) {
    try {
      return await withRetries(context, () => task(handler.url));
    } catch (error) {
      if (!(error instanceof TryError) || !error.retry) throw error;
      last = error;
      context.warn(`${error.message}; trying another handler`);
    }
  }
  throw last;
}

/** A `TryError` that ends the run becomes a one-line `Vec2FaceError`. */
function fatal(error: unknown): unknown {
  if (error instanceof TryError) return new Vec2FaceError("fetch-failed", `Cannot fetch the dataset: ${error.message}`);
  return error;
}

function summary(context: FetchContext, spec: DatasetSpec, kept: number): FetchResult {
  return {
    shards: spec.shards,
    images: spec.ids * spec.perId,
    kept,
    bytes: context.bytes,
    retries: context.retried,
    backend: spec.backend,
    packSha256: spec.pack.sha256,
    handlers: context.handlers.map(({ url, shards, failures, dropped }) => ({ url, shards, failures, dropped })),
  };
}
