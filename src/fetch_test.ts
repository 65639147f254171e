import { readTree } from "./_test_tree.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Vec2FaceError } from "./errors.ts";
import { fetchDataset, type FetchOptions } from "./fetch.ts";
import { generateDataset } from "./dataset/generate.ts";
import { createHandler } from "./http.ts";
import { FIXTURE_PACK, loadPack, type ModelPack } from "./model_pack.ts";

type Handler = (request: Request) => Promise<Response>;

function assertSameTree(actual: Map<string, Uint8Array>, expected: Map<string, Uint8Array>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [path, bytes] of expected) {
    const other = actual.get(path)!;
    assert.ok(other.length === bytes.length && other.every((byte, k) => byte === bytes[k]), `${path} differs`);
  }
}

/** A client that sends `http://NAME/...` to handler NAME, in this process. */
function routed(handlers: Record<string, Handler>): NonNullable<FetchOptions["fetch"]> {
  return (request) => {
    const handler = handlers[new URL(request.url).host];
    if (!handler) return Promise.reject(new TypeError(`connection refused: ${request.url}`));
    return handler(request);
  };
}

/** The reference: one local generate --format zip. */
async function reference(pack: ModelPack, directory: string, spec: typeof SPEC): Promise<Map<string, Uint8Array>> {
  const out = join(directory, "local");
  await generateDataset({ pack, out, format: "zip", ...spec });
  return await readTree(out);
}

const SPEC = { ids: 7, perId: 3, shardSize: 2, seed: 6 };

Deno.test("three handlers: the fetched folder is byte-identical to a local generate --format zip", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const directory = await Deno.makeTempDir();
  try {
    const expected = await reference(pack, directory, SPEC);
    const handlers = { a: createHandler({ pack }), b: createHandler({ pack }), c: createHandler({ pack }) };
    const out = join(directory, "fetched");
    const progress: number[] = [];
    const result = await fetchDataset({
      ...SPEC,
      from: ["http://a", "http://b/", "http://c"],
      out,
      fetch: routed(handlers),
      onProgress: (p) => progress.push(p.done),
    });
    assertSameTree(await readTree(out), expected);
    assert.equal(result.shards, 4);
    assert.equal(result.images, 21);
    assert.equal(result.retries, 0);
    assert.equal(result.backend, "native");
    assert.equal(result.handlers.reduce((sum, handler) => sum + handler.shards, 0), 4);
    assert.deepEqual(progress, [0, 1, 2, 3, 4]);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("corrupt, truncated and failing shards are tried again elsewhere; a dead handler is left out", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const directory = await Deno.makeTempDir();
  try {
    const expected = await reference(pack, directory, SPEC);
    const good = createHandler({ pack });
    const flaky = createHandler({ pack });
    // Every shard ends up at flaky: broken fails them all and is left out, gone never answers.
    let corrupted = 0;
    let truncated = 0;
    let busy = 0;
    const handlers: Record<string, Handler> = {
      good,
      // Flips a byte of shard 1 the first time, cuts shard 2 short the first time, is busy for shard 3 once.
      flaky: async (request) => {
        const path = new URL(request.url).pathname;
        if (path === "/v1/shards/3.zip" && busy++ === 0) {
          return Response.json({ error: "busy", status: 429 }, { status: 429, headers: { "retry-after": "0" } });
        }
        const response = await flaky(request);
        if (path === "/v1/shards/1.zip" && corrupted++ === 0) {
          const bytes = new Uint8Array(await response.arrayBuffer());
          bytes[100] ^= 1;
          return new Response(bytes, { headers: response.headers });
        }
        if (path === "/v1/shards/2.zip" && truncated++ === 0) {
          const reader = response.body!.getReader();
          const body = new ReadableStream({
            async pull(controller) {
              const { value } = await reader.read();
              controller.enqueue(value);
              controller.error(new Error("connection reset"));
              await reader.cancel();
            },
          });
          return new Response(body, { headers: response.headers });
        }
        return response;
      },
      // Answers the spec, then fails every shard with 500: left out after 3 failures in a row.
      broken: (request) => {
        const path = new URL(request.url).pathname;
        if (path.startsWith("/v1/shards/")) {
          return Promise.resolve(Response.json({ error: "disk full", status: 500 }, { status: 500 }));
        }
        return good(request);
      },
    };
    const warnings: string[] = [];
    const out = join(directory, "fetched");
    const result = await fetchDataset({
      ...SPEC,
      from: ["http://flaky", "http://broken", "http://gone"],
      out,
      retryDelay: 1,
      perHandler: 1,
      fetch: routed(handlers),
      onWarning: (line) => warnings.push(line),
    });
    assertSameTree(await readTree(out), expected);
    const byUrl = Object.fromEntries(result.handlers.map((handler) => [new URL(handler.url).host, handler]));
    assert.ok(byUrl.gone.dropped && byUrl.broken.dropped && !byUrl.flaky.dropped, JSON.stringify(result.handlers));
    assert.equal(byUrl.broken.shards, 0);
    assert.equal(byUrl.flaky.shards, 4);
    assert.ok(result.retries >= 4, `${result.retries} retries`);
    assert.deepEqual([corrupted, truncated, busy], [2, 2, 2]);
    assert.ok(warnings.some((line) => /left out http:\/\/gone.*connection refused/.test(line)), warnings.join("\n"));
    assert.ok(warnings.some((line) => /left out http:\/\/broken after 3 failures/.test(line)), warnings.join("\n"));
    assert.ok(
      warnings.some((line) => /shard 1 from http:\/\/flaky .*is not the shard/.test(line)),
      warnings.join("\n"),
    );
    assert.ok(warnings.some((line) => /shard 2 from http:\/\/flaky .*broke off/.test(line)), warnings.join("\n"));
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("handlers on another backend are refused; 4xx from the spec is one line; a shard out of tries fails", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const directory = await Deno.makeTempDir();
  try {
    const good = createHandler({ pack, limits: { maxImages: 6 } });
    const other: Handler = async (request) => {
      const response = await good(request);
      if (new URL(request.url).pathname !== "/v1/dataset.json") return response;
      return Response.json({ ...(await response.json()), backend: "wasm" });
    };
    const always500: Handler = (request) =>
      new URL(request.url).pathname.startsWith("/v1/shards/")
        ? Promise.resolve(new Response("no", { status: 502 }))
        : good(request);
    const fetch = routed({ good, other, always500 });
    const out = join(directory, "out");
    await assert.rejects(
      fetchDataset({ ...SPEC, from: ["http://good", "http://other"], out, fetch }),
      (error: Error) =>
        error instanceof Vec2FaceError && error.code === "fetch-failed" &&
        /http:\/\/other and http:\/\/good together: current backend differs \("wasm" against "native"\)/.test(
          error.message,
        ),
    );
    await assert.rejects(
      fetchDataset({ ...SPEC, perId: 4, from: ["http://good"], out, fetch, overwrite: true }),
      /Cannot fetch the dataset: GET http:\/\/good\/v1\/dataset\.json\?.*: 413: Cannot render shards of 2 ids x 4 per_id/,
    );
    await assert.rejects(
      fetchDataset({ ...SPEC, from: ["http://always500"], out, fetch, overwrite: true, retries: 1, retryDelay: 1 }),
      /Cannot fetch shard \d: 2 tries failed \(last from http:\/\/always500: GET .*: 502/,
    );
    const left = await readTree(out);
    assert.ok(!left.has("manifest.jsonl"), "nothing complete-looking after a failure");
    await assert.rejects(fetchDataset({ ...SPEC, from: ["ftp://x"], out }), /protocol is ftp:/);
    await assert.rejects(fetchDataset({ ...SPEC, from: [], out }), /not a list of URLs/);
    await assert.rejects(fetchDataset({ ...SPEC, from: ["http://good"], out, fetch }), /not empty/);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("an interrupted fetch resumes: kept shards are not fetched again; the result is byte-identical", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const directory = await Deno.makeTempDir();
  try {
    const expected = await reference(pack, directory, SPEC);
    const handler = createHandler({ pack });
    const requested: string[] = [];
    const fetch = routed({
      a: (request) => {
        requested.push(new URL(request.url).pathname);
        return handler(request);
      },
    });
    const out = join(directory, "fetched");
    const controller = new AbortController();
    await assert.rejects(
      fetchDataset({
        ...SPEC,
        from: ["http://a"],
        out,
        fetch,
        perHandler: 1,
        signal: controller.signal,
        onProgress: (p) => p.done === 2 && controller.abort(new Error("stopped")),
      }),
      /stopped/,
    );
    assert.ok((await readTree(out)).has("progress.jsonl"));
    requested.length = 0;
    const result = await fetchDataset({ ...SPEC, from: ["http://a"], out, fetch, resume: true });
    assert.equal(result.kept, 2);
    assert.deepEqual(requested.filter((path) => path.endsWith(".zip")).sort(), [
      "/v1/shards/2.zip",
      "/v1/shards/3.zip",
    ]);
    assertSameTree(await readTree(out), expected);
    const again = await fetchDataset({ ...SPEC, from: ["http://a"], out, fetch, resume: true });
    assert.equal(again.kept, 4, "complete: nothing to do");
    // generate --resume accepts the fetched folder as its own complete run (same spec and backend).
    const local = await generateDataset({ pack, out, format: "zip", ...SPEC, resume: true });
    assert.equal(local.kept, 21);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
