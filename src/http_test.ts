import assert from "node:assert/strict";
import { unzipSync } from "fflate";
import { join } from "node:path";
import { generateSamples } from "./dataset.ts";
import { generateDataset } from "./dataset/generate.ts";
import { createHandler, HttpError, VERSION } from "./http.ts";
import { decodeImage, encodeJpeg } from "./image/codec.ts";
import { drawMask } from "./mask.ts";
import { FIXTURE_PACK, loadPack, type ModelPack } from "./model_pack.ts";
import { sha256 } from "./_hash.ts";
import { perturbVector, sigmaForImage } from "./perturb.ts";
import { Random, STREAM_TAGS } from "./random.ts";
import { renderBatch } from "./render.ts";
import { sample } from "./sample.ts";
import { ZipShardStream } from "./shard.ts";

const get = (handler: (request: Request) => Promise<Response>, path: string, init?: RequestInit) =>
  handler(new Request(`http://x${path}`, init));

async function bytesOf(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}

async function expectError(response: Response, status: number, pattern: RegExp): Promise<void> {
  assert.equal(response.headers.get("content-type"), "application/json");
  const body = await response.json();
  assert.equal(response.status, status, body.error);
  assert.equal(body.status, status);
  assert.match(body.error, pattern);
}

/** The pack, with every generator call counted. */
function counting(pack: ModelPack): { pack: ModelPack; calls: () => number } {
  let calls = 0;
  const wrapped = Object.create(pack) as ModelPack;
  Object.defineProperty(wrapped, "session", {
    value: async (role: "generator") => {
      const session = await pack.session(role);
      return {
        inputNames: session.inputNames,
        run: (feeds: Parameters<typeof session.run>[0]) => (calls++, session.run(feeds)),
      };
    },
  });
  return { pack: wrapped, calls: () => calls };
}

/** The shard as the dataset code makes it: generateSamples through ZipShardStream. */
async function referenceShard(
  pack: ModelPack,
  spec: { ids: number; perId: number; seed: number; start: number; end: number },
): Promise<Uint8Array> {
  const { vectors } = await sample(spec.ids, {
    prior: pack.prior,
    threshold: pack.manifest.separationThreshold,
    seed: spec.seed,
  });
  const samples = generateSamples({ pack, identities: vectors, ...spec });
  const entries = ReadableStream.from(samples).pipeThrough(
    new TransformStream({ transform: (s, c) => c.enqueue({ path: s.path, bytes: s.bytes }) }),
  );
  return bytesOf(new Response(entries.pipeThrough(new ZipShardStream())));
}

Deno.test("healthz and info", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack });
  const health = await get(handler, "/v1/healthz");
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { ok: true });
  const info = await (await get(handler, "/v1/info")).json();
  assert.deepEqual(info, {
    pack: {
      name: "fixture",
      sha256: pack.sha256,
      fixture: true,
      separationThreshold: pack.manifest.separationThreshold,
      vectorSize: 512,
      imageSize: 112,
    },
    backend: "native",
    version: VERSION,
    limits: {
      maxImages: 2000,
      maxConcurrent: 2,
      maxIdentities: 10_000,
      maxRss: null,
      batchSize: 16,
      idleTimeoutMs: 30_000,
      maxCandidates: 50_000,
    },
    renders: { inFlight: 0, peak: 0, refused: 0, stalled: 0 },
    workers: 0,
  });
});

Deno.test("404, 405 and 400 naming the parameter", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack });
  await expectError(await get(handler, "/v1/nope"), 404, /\/v1\/nope/);
  await expectError(await get(handler, "/v2/healthz"), 404, /not a route/);
  const post = await get(handler, "/v1/healthz", { method: "POST" });
  assert.equal(post.headers.get("allow"), "GET, HEAD, OPTIONS");
  await expectError(post, 405, /Cannot POST/);
  await expectError(await get(handler, "/v1/shards/0.zip", { method: "DELETE" }), 405, /DELETE/);
  const bad: [string, RegExp][] = [
    ["/v1/shards/0.zip", /parameter ids: current value is missing/],
    ["/v1/shards/0.zip?ids=0", /parameter ids as "0"/],
    ["/v1/shards/0.zip?ids=2.5", /parameter ids as "2.5"/],
    ["/v1/shards/0.zip?ids=10001", /parameter ids as "10001".*1\.\.10000/],
    ["/v1/shards/0.zip?ids=4&per_id=x", /parameter per_id as "x"/],
    ["/v1/shards/0.zip?ids=4&per_id=1001", /parameter per_id/],
    ["/v1/shards/0.zip?ids=4&shard_size=0", /parameter shard_size/],
    ["/v1/shards/0.zip?ids=4&seed=-1", /parameter seed as "-1"/],
    ["/v1/shards/0.zip?ids=4&threshold=1.5", /parameter threshold as "1.5"/],
    ["/v1/shards/0.zip?ids=4&threshold=abc", /parameter threshold/],
    ["/v1/shards/2.zip?ids=4&shard_size=2", /shard "2": current value is not an integer in 0\.\.1/],
    ["/v1/shards/x.zip?ids=4", /shard "x"/],
    ["/v1/shards/0.zip?ids=4&perid=2", /parameter perid/],
    ["/v1/shards/0.zip?ids=4&ids=5", /parameter ids twice/],
    ["/v1/render.png?image=0", /parameter identity: current value is missing/],
    ["/v1/render.png?identity=0", /parameter image: current value is missing/],
    ["/v1/render.png?identity=10000&image=0", /parameter identity as "10000"/],
    ["/v1/render.png?identity=0&image=4&per_id=4", /parameter image as "4".*0\.\.3/],
  ];
  for (const [path, pattern] of bad) await expectError(await get(handler, path), 400, pattern);
  // Limits are counts, checked by _check.ts's checkCount: the message names the option and its range.
  assert.throws(
    () => createHandler({ pack, limits: { maxConcurrent: 0 } }),
    /Cannot use render limit `limits.maxConcurrent` 0: current value is not an integer in 1\.\./,
  );
  assert.throws(() => new HttpError(200, "fine"), RangeError);
});

Deno.test("413 when a shard has more images than maxImages", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack, limits: { maxImages: 10 } });
  await expectError(await get(handler, "/v1/shards/0.zip?ids=4&per_id=4&shard_size=4"), 413, /16 images.*10/);
  // The last shard is smaller: 1 identity x 4 images fits.
  const last = await get(handler, "/v1/shards/1.zip?ids=5&per_id=4&shard_size=4");
  assert.equal(last.status, 200);
  assert.deepEqual(Object.keys(unzipSync(await bytesOf(last))), [
    "000004/000.jpg",
    "000004/001.jpg",
    "000004/002.jpg",
    "000004/003.jpg",
  ]);
});

Deno.test("a shard is byte for byte the zip of generateSamples; ETag gives 304", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack, batchSize: 4 });
  const path = "/v1/shards/1.zip?ids=5&per_id=3&shard_size=2&seed=5";
  const response = await get(handler, path);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/zip");
  const etag = response.headers.get("etag")!;
  assert.match(etag, /^"[0-9a-f]{64}"$/);
  const zip = await bytesOf(response);
  const expected = await referenceShard(pack, { ids: 5, perId: 3, seed: 5, start: 2, end: 4 });
  const entries = unzipSync(zip);
  const expectedEntries = unzipSync(expected);
  assert.deepEqual(Object.keys(entries), [
    "000002/000.jpg",
    "000002/001.jpg",
    "000002/002.jpg",
    "000003/000.jpg",
    "000003/001.jpg",
    "000003/002.jpg",
  ]);
  for (const name of Object.keys(expectedEntries)) assert.deepEqual(entries[name], expectedEntries[name], name);
  assert.deepEqual(zip, expected);

  const cached = await get(handler, path, { headers: { "if-none-match": `W/"other", ${etag}` } });
  assert.equal(cached.status, 304);
  assert.equal(cached.headers.get("etag"), etag);
  assert.equal(cached.body, null);
  // Every parameter is in the tag: same dataset, other shard or seed or threshold, other tag.
  for (
    const other of [
      "/v1/shards/0.zip?ids=5&per_id=3&shard_size=2&seed=5",
      path.replace("seed=5", "seed=6"),
      `${path}&threshold=0.5`,
    ]
  ) {
    const response = await get(handler, other, { headers: { "if-none-match": etag } });
    assert.equal(response.status, 200, other);
    assert.notEqual(response.headers.get("etag"), etag);
    await response.body!.cancel();
  }
  // Default threshold spelled out: same spec, same tag.
  const spelled = await get(handler, `${path}&threshold=${pack.manifest.separationThreshold}`, {
    headers: { "if-none-match": etag },
  });
  assert.equal(spelled.status, 304);
});

Deno.test("render.png is image J of identity I: pixels of renderBatch, and the dataset's JPEG", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack });
  const [seed, identity, image, perId] = [2, 1, 3, 4];
  const response = await get(
    handler,
    `/v1/render.png?seed=${seed}&identity=${identity}&image=${image}&per_id=${perId}`,
  );
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "image/png");
  const decoded = await decodeImage(await bytesOf(response));

  const { vectors } = await sample(identity + 1, {
    prior: pack.prior,
    threshold: pack.manifest.separationThreshold,
    seed,
  });
  const sigma = sigmaForImage(image, perId, pack.manifest.sigmas, pack.manifest.shares);
  const vector = perturbVector(vectors[identity], sigma, Random.from(seed, STREAM_TAGS.perturb, identity, image));
  const mask = drawMask(Random.from(seed, STREAM_TAGS.mask, identity, image), pack.layout);
  const [expected] = await renderBatch(pack, [vector], [mask]);
  assert.equal(decoded.width, 112);
  assert.deepEqual(decoded.data, expected.data);

  // The same image as the dataset's (rendered there in a batch with others): its JPEG is byte-identical.
  const samples = await Array.fromAsync(
    generateSamples({ pack, identities: vectors, perId, seed, start: identity, end: identity + 1 }),
  );
  assert.deepEqual(await encodeJpeg(decoded, 90), samples[image].bytes);

  const etag = response.headers.get("etag")!;
  const again = await get(handler, `/v1/render.png?identity=${identity}&image=${image}&per_id=${perId}&seed=${seed}`, {
    headers: { "if-none-match": etag },
  });
  assert.equal(again.status, 304);
});

Deno.test("429 with retry-after while maxConcurrent shards stream; the slot frees when the body ends", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack, limits: { maxConcurrent: 1 } });
  const first = await get(handler, "/v1/shards/0.zip?ids=2&per_id=2&shard_size=2");
  assert.equal(first.status, 200);
  const busy = await get(handler, "/v1/shards/0.zip?ids=2&per_id=2&shard_size=1");
  assert.equal(busy.headers.get("retry-after"), "1");
  await expectError(busy, 429, /1 of 1/);
  await expectError(await get(handler, "/v1/render.png?identity=0&image=0"), 429, /in flight/);
  assert.equal((await get(handler, "/v1/healthz")).status, 200);
  assert.equal(Object.keys(unzipSync(await bytesOf(first))).length, 4);
  const next = await get(handler, "/v1/render.png?identity=0&image=0");
  assert.equal(next.status, 200);
  await next.body!.cancel();
});

Deno.test("cancelling a shard's body stops rendering and frees the slot", async () => {
  await using loaded = await loadPack(FIXTURE_PACK, { device: "native" });
  const { pack, calls } = counting(loaded);
  const handler = createHandler({ pack, limits: { maxConcurrent: 1 }, batchSize: 8 });
  // 4 identities x 8 images in batches of 8: 4 generator calls when read to the end.
  const response = await get(handler, "/v1/shards/0.zip?ids=4&per_id=8&shard_size=4&seed=3");
  const reader = response.body!.getReader();
  const { value } = await reader.read();
  assert.ok(value && value.length > 0);
  await reader.cancel();
  const atCancel = calls();
  assert.ok(atCancel >= 1 && atCancel <= 2, `${atCancel} generator calls before cancelling`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(calls(), atCancel, "rendering went on after the cancel");
  const next = await get(handler, "/v1/healthz");
  assert.equal(next.status, 200);
  const slot = await get(handler, "/v1/render.png?identity=0&image=0&per_id=1");
  assert.equal(slot.status, 200, "the slot was not freed");
  await slot.body!.cancel();
});

Deno.test("a client that disconnects from Deno.serve mid-shard stops rendering", async () => {
  await using loaded = await loadPack(FIXTURE_PACK, { device: "native" });
  const { pack, calls } = counting(loaded);
  const handler = createHandler({ pack, limits: { maxConcurrent: 1 }, batchSize: 8 });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, handler);
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const abort = new AbortController();
    const response = await fetch(`${base}/v1/shards/0.zip?ids=4&per_id=8&shard_size=4&seed=4`, {
      signal: abort.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    abort.abort();
    await reader.closed.catch(() => {});
    // The server sees the disconnect, cancels the body and frees the slot; poll for it.
    let status = 429;
    for (let tries = 0; tries < 50 && status === 429; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const probe = await fetch(`${base}/v1/render.png?identity=0&image=0&per_id=1&seed=4`);
      status = probe.status;
      await probe.body?.cancel();
    }
    assert.equal(status, 200, "the slot was not freed after the disconnect");
    const after = calls();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(calls(), after, "rendering went on after the disconnect");
    assert.ok(after < 64, `${after} generator calls (a full shard is 64, plus 1 for the probe)`);
  } finally {
    await server.shutdown();
  }
});

Deno.test("served over loopback with Deno.serve", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, handler);
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const health = await fetch(`${base}/v1/healthz`);
    assert.deepEqual(await health.json(), { ok: true });
    const path = "/v1/shards/0.zip?ids=3&per_id=2&shard_size=2&seed=9";
    const remote = await fetch(`${base}${path}`);
    assert.equal(remote.status, 200);
    assert.equal(remote.headers.get("content-type"), "application/zip");
    const zip = await bytesOf(remote);
    assert.deepEqual(zip, await referenceShard(pack, { ids: 3, perId: 2, seed: 9, start: 0, end: 2 }));
    const missing = await fetch(`${base}/v1/missing`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

Deno.test("dataset.json, identities.npy and .json: the spec and the bank files generateDataset writes", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack, limits: { maxImages: 20 } });
  const out = await Deno.makeTempDir();
  try {
    await generateDataset({ pack, out, ids: 5, perId: 3, seed: 7, format: "zip", shardSize: 2 });
    const spec = await (await get(handler, "/v1/dataset.json?ids=5&per_id=3&shard_size=2&seed=7")).json();
    assert.deepEqual(spec, {
      version: VERSION,
      pack: { name: "fixture", sha256: pack.sha256, priorSha256: pack.manifest.files.prior.sha256 },
      backend: "native",
      ids: 5,
      perId: 3,
      shardSize: 2,
      seed: 7,
      threshold: pack.manifest.separationThreshold,
      shards: 3,
      sigmas: [0, 1, 2].map((image) => sigmaForImage(image, 3, pack.manifest.sigmas, pack.manifest.shares)),
    });
    const rows = (await Deno.readTextFile(join(out, "manifest.jsonl"))).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(rows.slice(0, 3).map((row) => row.sigma), spec.sigmas);
    await expectError(await get(handler, "/v1/dataset.json?ids=5&per_id=11&shard_size=2"), 413, /22 images.*20/);
    await expectError(await get(handler, "/v1/dataset.json?ids=5&page=2"), 400, /parameter page/);

    // The larger bank is sampled first: the 5-identity files still hold sample(5)'s own count and max cosine.
    assert.equal((await get(handler, "/v1/shards/4.zip?ids=9&per_id=1&shard_size=2&seed=7")).status, 200);
    const npy = await get(handler, "/v1/identities.npy?ids=5&seed=7");
    assert.equal(npy.status, 200);
    assert.deepEqual(await bytesOf(npy), await Deno.readFile(join(out, "identities.npy")));
    const sidecar = await get(handler, "/v1/identities.json?ids=5&seed=7");
    assert.equal(await sidecar.text(), await Deno.readTextFile(join(out, "identities.json")));
    const etag = sidecar.headers.get("etag")!;
    assert.equal(
      (await get(handler, "/v1/identities.json?seed=7&ids=5", { headers: { "if-none-match": etag } })).status,
      304,
    );
    await expectError(await get(handler, "/v1/identities.npy?ids=5&per_id=3"), 400, /parameter per_id/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("shards/{k}.sha256: remembered from a streamed shard, else rendered; Repr-Digest once known", async () => {
  await using loaded = await loadPack(FIXTURE_PACK, { device: "native" });
  const { pack, calls } = counting(loaded);
  const handler = createHandler({ pack, batchSize: 4 });
  const query = "?ids=5&per_id=3&shard_size=2&seed=5";
  const first = await get(handler, `/v1/shards/1.zip${query}`);
  assert.equal(first.headers.get("repr-digest"), null, "unknown before the first render");
  const zip = await bytesOf(first);
  const hex = sha256(zip);
  const before = calls();
  const digest = await get(handler, `/v1/shards/1.sha256${query}`);
  assert.deepEqual(await digest.json(), { shard: 1, etag: first.headers.get("etag"), sha256: hex, bytes: zip.length });
  assert.equal(calls(), before, "a remembered digest renders nothing");
  const b64 = btoa(String.fromCharCode(...hex.match(/../g)!.map((pair) => parseInt(pair, 16))));
  assert.equal(digest.headers.get("repr-digest"), `sha-256=:${b64}:`);
  const second = await get(handler, `/v1/shards/1.zip${query}`);
  assert.equal(second.headers.get("repr-digest"), `sha-256=:${b64}:`);
  assert.equal(second.headers.get("content-length"), String(zip.length));
  assert.deepEqual(await bytesOf(second), zip);

  // Another handler never streamed it: it renders the shard to answer, and gives the same digest.
  const other = createHandler({ pack: loaded });
  const fresh = await (await get(other, `/v1/shards/1.sha256${query}`)).json();
  assert.equal(fresh.sha256, hex);
  await expectError(await get(other, `/v1/shards/3.sha256${query}`), 400, /shard "3"/);
});

Deno.test("maxRss: no new render starts above it (429 naming the memory use)", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack, limits: { maxRss: 1 } });
  await expectError(
    await get(handler, "/v1/shards/0.zip?ids=1&per_id=1"),
    429,
    /memory use is \d+ MiB, over the limit/,
  );
  assert.equal((await get(handler, "/v1/healthz")).status, 200);
  const info = await (await get(handler, "/v1/info")).json();
  assert.deepEqual(info.renders, { inFlight: 0, peak: 0, refused: 1, stalled: 0 });
  assert.equal(info.limits.maxRss, 1);
});

Deno.test("a client that disconnects mid-shard: rendering stops within one batch of the disconnect", async () => {
  await using loaded = await loadPack(FIXTURE_PACK, { device: "native" });
  const { pack, calls } = counting(loaded);
  const handler = createHandler({ pack, batchSize: 8 });
  // Forwards the body as it is read (no read-ahead) and notes the generator calls when Deno.serve cancels it.
  let atCancel: number | undefined;
  const watched = async (request: Request): Promise<Response> => {
    const response = await handler(request);
    if (!response.body || !new URL(request.url).pathname.endsWith(".zip")) return response;
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel(reason) {
        atCancel = calls();
        return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
    return new Response(body, { headers: response.headers });
  };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, watched);
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    // 1 identity x 1000 images: 125 batches of 8.
    const abort = new AbortController();
    const response = await fetch(`${base}/v1/shards/0.zip?ids=1&per_id=1000&shard_size=1&seed=2`, {
      signal: abort.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the server goes on into the socket buffers
    const atDisconnect = calls();
    abort.abort();
    await reader.closed.catch(() => {});
    let inFlight = 1;
    for (let tries = 0; tries < 100 && inFlight > 0; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      inFlight = (await (await fetch(`${base}/v1/info`)).json()).renders.inFlight;
    }
    assert.equal(inFlight, 0, "the render slot was not freed after the disconnect");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = calls();
    console.log(
      `  generator calls (batches of 8): ${atDisconnect} when the client left, ${atCancel} when the server saw it ` +
        `(its next write failed), ${after} in all (of 125)`,
    );
    assert.notEqual(atCancel, undefined, "Deno.serve cancelled the body");
    // The batch in progress when the cancel arrives finishes; no other starts.
    assert.equal(after, atCancel, "a generator call started after the cancel");
    // The disconnect reaches the server at its next failing write: within a couple of batches on loopback.
    assert.ok(after - atDisconnect <= 3, `${after - atDisconnect} generator calls after the disconnect`);
  } finally {
    await server.shutdown();
  }
});

/** The pack, with every generator call failing. */
function failing(pack: ModelPack): ModelPack {
  const wrapped = Object.create(pack) as ModelPack;
  Object.defineProperty(wrapped, "session", {
    value: async (role: "generator") => {
      const session = await pack.session(role);
      return { inputNames: session.inputNames, run: () => Promise.reject(new Error("generator failed")) };
    },
  });
  return wrapped;
}

Deno.test("routes: 405 with Allow for a known path and another method, 404 for any other path", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack });
  const known = [
    "/v1/healthz",
    "/v1/info",
    "/v1/render.png",
    "/v1/dataset.json",
    "/v1/identities.npy",
    "/v1/identities.json",
    "/v1/shards/0.zip",
    "/v1/shards/x.sha256",
  ];
  for (const path of known) {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const response = await get(handler, path, { method });
      assert.equal(response.headers.get("allow"), "GET, HEAD, OPTIONS", `${method} ${path}`);
      await expectError(
        response,
        405,
        new RegExp(`^Cannot ${method} ${path.replaceAll(".", "\\.")}: .* not one of GET, HEAD, OPTIONS$`),
      );
    }
    const options = await get(handler, path, { method: "OPTIONS" });
    assert.equal(options.status, 204, path);
    assert.equal(options.headers.get("allow"), "GET, HEAD, OPTIONS");
  }
  for (const path of ["/v1/shards/a/b.zip", "/v1/identities.txt", "/v1/healthz/", "/v1/shards/0.tar", "/v1/"]) {
    for (const method of ["GET", "POST", "OPTIONS"]) {
      const response = await get(handler, path, { method });
      assert.equal(response.headers.get("allow"), null);
      await expectError(response, 404, /current path is not a route of this server/);
    }
    const head = await get(handler, path, { method: "HEAD" });
    assert.equal(head.status, 404);
    assert.equal(head.headers.get("content-type"), "application/json");
    assert.equal(head.body, null);
  }
  // The shard's name is whatever is between the folder and the extension.
  await expectError(await get(handler, "/v1/shards/.zip?ids=1"), 400, /shard "": /);
  await expectError(await get(handler, "/v1/shards/0.zip.sha256?ids=1"), 400, /shard "0\.zip": /);
});

Deno.test("If-None-Match: 304 on every route that sends an ETag, before a render slot is taken", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack, limits: { maxConcurrent: 1 } });
  const paths = [
    "/v1/render.png?identity=1&image=0&per_id=2",
    "/v1/identities.npy?ids=3",
    "/v1/identities.json?ids=3",
    "/v1/shards/1.zip?ids=3&per_id=2&shard_size=2",
  ];
  const etags = new Map<string, string>();
  for (const path of paths) {
    const response = await get(handler, path);
    assert.equal(response.status, 200, path);
    etags.set(path, response.headers.get("etag")!);
    await response.body!.cancel();
  }
  // Every render slot taken: a 304 renders nothing, so it needs none.
  const held = await get(handler, "/v1/shards/0.zip?ids=3&per_id=2&shard_size=2");
  assert.equal(held.status, 200);
  for (const path of paths) {
    const etag = etags.get(path)!;
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const response = await get(handler, path, { headers: { "if-none-match": header } });
      assert.equal(response.status, 304, `${path} ${header}`);
      assert.equal(response.headers.get("etag"), etag);
      assert.equal(response.body, null);
    }
    const other = await get(handler, path, { headers: { "if-none-match": '"other"' } });
    assert.equal(other.headers.get("retry-after"), "1");
    await expectError(other, 429, /1 of 1/);
  }
  await held.body!.cancel();
  // .sha256 sends no ETag header (the tag is in its body): If-None-Match does not apply.
  const digest = await get(handler, "/v1/shards/1.sha256?ids=3&per_id=2&shard_size=2", {
    headers: { "if-none-match": "*" },
  });
  assert.equal(digest.status, 200);
  assert.equal(digest.headers.get("etag"), null);
  assert.equal((await digest.json()).etag, etags.get(paths[3]));
});

Deno.test("render slots: 429 on every rendering route when full; freed at the end, on cancel and on failure", async () => {
  await using loaded = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack: loaded, limits: { maxConcurrent: 1 } });
  const renders = async (h = handler) => (await (await get(h, "/v1/info")).json()).renders;
  const rendering = [
    "/v1/render.png?identity=0&image=0&per_id=1",
    "/v1/identities.npy?ids=2",
    "/v1/identities.json?ids=2",
    "/v1/shards/0.zip?ids=2&per_id=1",
    "/v1/shards/0.sha256?ids=2&per_id=1",
  ];
  const held = await get(handler, "/v1/shards/0.zip?ids=2&per_id=2&shard_size=1");
  assert.deepEqual(await renders(), { inFlight: 1, peak: 1, refused: 0, stalled: 0 });
  for (const path of rendering) {
    const response = await get(handler, path);
    assert.equal(response.headers.get("retry-after"), "1", path);
    await expectError(response, 429, /Cannot start a render: current renders in flight are 1 of 1/);
  }
  // The routes that render nothing answer meanwhile.
  assert.equal((await get(handler, "/v1/healthz")).status, 200);
  assert.equal((await get(handler, "/v1/dataset.json?ids=2")).status, 200);
  assert.deepEqual(await renders(), { inFlight: 1, peak: 1, refused: 5, stalled: 0 });
  await bytesOf(held);
  assert.deepEqual(await renders(), { inFlight: 0, peak: 1, refused: 5, stalled: 0 });
  const cancelled = await get(handler, "/v1/shards/0.zip?ids=2&per_id=4&shard_size=2");
  const reader = cancelled.body!.getReader();
  await reader.read();
  assert.equal((await renders()).inFlight, 1);
  await reader.cancel();
  assert.equal((await renders()).inFlight, 0);
  for (const path of rendering) {
    const response = await get(handler, path);
    assert.equal(response.status, 200, path);
    await bytesOf(response);
    assert.equal((await renders()).inFlight, 0, path);
  }

  // A render that fails frees its slot: a 500 for an image, a bank, a digest, and a shard whose first batch
  // fails (decided before the first byte); the 500 names the error's class, not its message.
  const broken = createHandler({ pack: failing(loaded), limits: { maxConcurrent: 1 } });
  const failed = /^Cannot answer the request: current render failed with Error \(see the server's log\)$/;
  await expectError(await get(broken, rendering[0]), 500, failed);
  assert.equal((await renders(broken)).inFlight, 0);
  await expectError(await get(broken, rendering[4]), 500, failed);
  assert.equal((await renders(broken)).inFlight, 0);
  await expectError(await get(broken, rendering[3]), 500, failed);
  assert.deepEqual(await renders(broken), { inFlight: 0, peak: 1, refused: 0, stalled: 0 });
  // A bank samples without the generator: it renders in a slot all the same, and frees it.
  assert.equal((await get(broken, rendering[1])).status, 200);
  assert.equal((await renders(broken)).inFlight, 0);
});

Deno.test("errors before the first byte: a shard whose session cannot be created is a 500 naming no path", async () => {
  await using loaded = await loadPack(FIXTURE_PACK, { device: "native" });
  const pack = Object.create(loaded) as ModelPack;
  const where = "/home/someone/project/node_modules/.deno/onnxruntime-node@1.20.0/bin/onnxruntime_binding.node";
  Object.defineProperty(pack, "session", {
    value: () => Promise.reject(new TypeError(`Cannot load ${where}: file not found`)),
  });
  const handler = createHandler({ pack, limits: { maxConcurrent: 1 } });
  for (const path of ["/v1/shards/0.zip?ids=2&per_id=2", "/v1/shards/0.sha256?ids=2&per_id=2"]) {
    const response = await get(handler, path);
    const text = await response.clone().text();
    assert.ok(!text.includes("node_modules") && !text.includes("/home/"), text);
    await expectError(response, 500, /^Cannot answer the request: current render failed with TypeError \(/);
  }
  assert.deepEqual((await (await get(handler, "/v1/info")).json()).renders, {
    inFlight: 0,
    peak: 1,
    refused: 0,
    stalled: 0,
  });
  // 4xx messages keep their cause; a long path is echoed cut at 200 characters.
  await expectError(await get(handler, "/v1/shards/0.zip?ids=0"), 400, /parameter ids as "0"/);
  const long = `/v1/${"a".repeat(5000)}`;
  const missing = await (await get(handler, long)).json();
  assert.equal(missing.status, 404);
  assert.equal(missing.error, `Cannot find ${long.slice(0, 200)}...: current path is not a route of this server`);
  const post = await (await get(handler, `/v1/shards/${"b".repeat(300)}.zip`, { method: "POST" })).json();
  assert.equal(post.status, 405);
  assert.ok(post.error.length < 300, post.error);
});

Deno.test("HEAD on every GET route: the GET's status and headers, no body", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack, limits: { maxConcurrent: 1 } });
  const renders = async () => (await (await get(handler, "/v1/info")).json()).renders;
  const paths = [
    "/v1/healthz",
    "/v1/dataset.json?ids=3&per_id=2",
    "/v1/render.png?identity=1&image=0&per_id=2",
    "/v1/identities.npy?ids=3",
    "/v1/identities.json?ids=3",
    "/v1/shards/1.zip?ids=3&per_id=2&shard_size=2",
    "/v1/shards/1.sha256?ids=3&per_id=2&shard_size=2",
    "/v1/shards/0.zip?ids=0",
    "/v1/render.png?identity=0",
  ];
  for (const path of paths) {
    const got = await get(handler, path);
    await got.body?.cancel(); // a shard holds its slot until then
    const headed = await get(handler, path, { method: "HEAD" });
    assert.equal(headed.status, got.status, path);
    assert.deepEqual([...headed.headers], [...got.headers], path);
    assert.equal(headed.body, null, path);
    assert.equal((await renders()).inFlight, 0, `a HEAD of ${path} holds no render slot`);
  }
  // Conditional and limited like a GET: 304 with the tag; 429 while the slot is held.
  const etag = (await get(handler, paths[2], { method: "HEAD" })).headers.get("etag")!;
  assert.equal((await get(handler, paths[2], { method: "HEAD", headers: { "if-none-match": etag } })).status, 304);
  const held = await get(handler, "/v1/shards/0.zip?ids=3&per_id=2&shard_size=2");
  const busy = await get(handler, paths[5], { method: "HEAD" });
  assert.equal(busy.status, 429);
  assert.equal(busy.headers.get("retry-after"), "1");
  assert.equal(busy.body, null);
  await held.body!.cancel();
});

Deno.test("CORS: any origin by default, a list when configured; OPTIONS is the preflight", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const open = createHandler({ pack });
  const expose = "ETag, Repr-Digest, Retry-After, Content-Disposition";
  for (const [path, status] of [["/v1/healthz", 200], ["/v1/nope", 404], ["/v1/dataset.json?ids=0", 400]] as const) {
    for (const method of ["GET", "HEAD"]) {
      const response = await get(open, path, { method, headers: { origin: "https://a.example" } });
      assert.equal(response.status, status);
      assert.equal(response.headers.get("access-control-allow-origin"), "*", `${method} ${path}`);
      assert.equal(response.headers.get("access-control-expose-headers"), expose);
      assert.equal(response.headers.get("vary"), null);
      await response.body?.cancel();
    }
  }
  const preflight = await get(open, "/v1/shards/0.zip", {
    method: "OPTIONS",
    headers: {
      origin: "https://a.example",
      "access-control-request-method": "GET",
      "access-control-request-headers": "if-none-match",
    },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.body, null);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
  assert.equal(preflight.headers.get("access-control-allow-methods"), "GET, HEAD");
  assert.equal(preflight.headers.get("access-control-allow-headers"), "If-None-Match");
  assert.equal(preflight.headers.get("allow"), "GET, HEAD, OPTIONS");
  await expectError(await get(open, "/v1/nope", { method: "OPTIONS" }), 404, /not a route/);

  const listed = createHandler({ pack, cors: { origins: ["https://a.example", "http://localhost:3000"] } });
  for (const [origin, allowed] of [["https://a.example", true], ["https://b.example", false], [null, false]] as const) {
    for (const method of ["GET", "HEAD", "OPTIONS"]) {
      const headers: Record<string, string> = origin ? { origin } : {};
      const response = await get(listed, "/v1/healthz", { method, headers });
      assert.equal(response.status, method === "OPTIONS" ? 204 : 200);
      assert.equal(response.headers.get("access-control-allow-origin"), allowed ? origin : null, `${method} ${origin}`);
      assert.equal(response.headers.get("vary"), "Origin");
      await response.body?.cancel();
    }
  }
  // A 304 and an error carry them too.
  const etag = (await get(listed, "/v1/identities.json?ids=2")).headers.get("etag")!;
  const cached = await get(listed, "/v1/identities.json?ids=2", {
    headers: { origin: "http://localhost:3000", "if-none-match": etag },
  });
  assert.equal(cached.status, 304);
  assert.equal(cached.headers.get("access-control-allow-origin"), "http://localhost:3000");
  assert.equal(cached.headers.get("vary"), "Origin");
  assert.throws(
    () => createHandler({ pack, cors: { origins: "https://a.example" as unknown as string[] } }),
    /Cannot use CORS origins `cors.origins` "https:\/\/a.example": current value is not "\*" or a list of origins/,
  );
});

Deno.test("log: one line per request when its body is done; bodies unchanged", async () => {
  await using loaded = await loadPack(FIXTURE_PACK, { device: "native" });
  const lines: Record<string, unknown>[] = [];
  const handler = createHandler({ pack: loaded, batchSize: 4, log: (line) => lines.push(line) });
  const plain = createHandler({ pack: loaded, batchSize: 4 });
  const last = () => {
    const { ms, ...rest } = lines.at(-1)!;
    assert.equal(typeof ms, "number");
    assert.ok((ms as number) >= 0);
    return rest;
  };
  const health = await get(handler, "/v1/healthz");
  const text = await health.text();
  assert.equal(text, await (await get(plain, "/v1/healthz")).text());
  assert.deepEqual(last(), { method: "GET", route: "/v1/healthz", status: 200, bytes: text.length });

  // A shard is logged when its body ends, with its bytes: the same bytes as without a log.
  const path = "/v1/shards/1.zip?ids=5&per_id=3&shard_size=2&seed=5";
  const shard = await get(handler, path);
  assert.equal(lines.length, 1, "not before the body ends");
  const zip = await bytesOf(shard);
  assert.deepEqual(zip, await bytesOf(await get(plain, path)));
  assert.deepEqual(last(), { method: "GET", route: "/v1/shards/{k}.zip", status: 200, bytes: zip.length });
  const png = await bytesOf(await get(handler, "/v1/render.png?identity=0&image=0&per_id=2"));
  assert.deepEqual(png, await bytesOf(await get(plain, "/v1/render.png?identity=0&image=0&per_id=2")));
  assert.deepEqual(last(), { method: "GET", route: "/v1/render.png", status: 200, bytes: png.length });

  const cancelled = await get(handler, "/v1/shards/0.zip?ids=2&per_id=8&shard_size=2&seed=1");
  const reader = cancelled.body!.getReader();
  const { value } = await reader.read();
  await reader.cancel();
  assert.deepEqual(last(), {
    method: "GET",
    route: "/v1/shards/{k}.zip",
    status: 200,
    bytes: value!.length,
    cancelled: true,
  });
  await get(handler, "/v1/shards/0.zip", { method: "HEAD" });
  assert.deepEqual(last(), { method: "HEAD", route: "/v1/shards/{k}.zip", status: 400, bytes: 0 });
  const missing = await get(handler, "/v1/nope");
  const missingBody = await missing.text();
  assert.deepEqual(last(), { method: "GET", route: null, status: 404, bytes: missingBody.length });
  assert.equal(lines.length, 6);

  // A 500: the response names the class, the log line the message too.
  const broken = createHandler({ pack: failing(loaded), log: (line) => lines.push(line) });
  await expectError(await get(broken, "/v1/render.png?identity=0&image=0&per_id=1"), 500, /failed with Error \(/);
  const { bytes, ...failed } = last();
  assert.equal(typeof bytes, "number");
  assert.deepEqual(failed, {
    method: "GET",
    route: "/v1/render.png",
    status: 500,
    error: "Error: generator failed",
  });
  // A logger that throws does not fail the request.
  const throwing = createHandler({
    pack: loaded,
    log: () => {
      throw new Error("log is full");
    },
  });
  assert.deepEqual(await (await get(throwing, "/v1/healthz")).json(), { ok: true });
  assert.throws(() => createHandler({ pack: loaded, log: 1 as never }), /request log `log` 1: current value is not/);
});
