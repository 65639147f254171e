// The handler under hostile clients: readers that stall, clients that leave
// while a bank samples, banks priced out before they start, disposal with
// renders in flight, and the worker pool (same bytes, free main thread).
import assert from "node:assert/strict";
import process from "node:process";
import { createHandler } from "./http.ts";
import { FIXTURE_PACK, loadPack } from "./model_pack.ts";

const get = (handler: (request: Request) => Promise<Response>, path: string, init?: RequestInit) =>
  handler(new Request(`http://x${path}`, init));

async function renders(handler: (request: Request) => Promise<Response>) {
  return (await (await get(handler, "/v1/info")).json()).renders;
}

Deno.test("a reader that stops reading loses its slot after idleTimeoutMs; others are served", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  await using handler = createHandler({ pack, limits: { maxConcurrent: 1, idleTimeoutMs: 300 }, batchSize: 4 });
  const stalled = await get(handler, "/v1/shards/0.zip?ids=8&per_id=8&shard_size=8&seed=5");
  assert.equal(stalled.status, 200);
  const reader = stalled.body!.getReader();
  assert.ok((await reader.read()).value!.length > 0);
  // Never read again: the slot is held, then freed by the timeout.
  assert.equal((await get(handler, "/v1/render.png?identity=0&image=0")).status, 429);
  const started = performance.now();
  while ((await renders(handler)).inFlight > 0) {
    assert.ok(performance.now() - started < 5000, "slot still held 5 s after the reader stalled");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const freedAfter = performance.now() - started;
  assert.ok(freedAfter >= 200, `freed after ${freedAfter} ms, before the timeout`);
  assert.deepEqual(await renders(handler), { inFlight: 0, peak: 1, refused: 1, stalled: 1 });
  await assert.rejects(async () => {
    while (!(await reader.read()).done);
  }, /took no bytes for 300 ms/);
  const next = await get(handler, "/v1/render.png?identity=0&image=0");
  assert.equal(next.status, 200);
  await next.body!.cancel();
});

Deno.test("a client that leaves while its bank samples frees the slot at once, and sampling stops", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  await using handler = createHandler({ pack, limits: { maxConcurrent: 1 } });
  const abort = new AbortController();
  // 3,000 identities of a new seed take seconds to sample; leave after 300 ms.
  const pending = get(handler, "/v1/identities.npy?ids=3000&seed=77", { signal: abort.signal });
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await renders(handler)).inFlight, 1);
  const left = performance.now();
  abort.abort();
  const response = await pending;
  const ms = performance.now() - left;
  assert.equal(response.status, 503);
  await response.body?.cancel();
  assert.equal((await renders(handler)).inFlight, 0);
  // Within one batch of 512 candidates (~50 ms here).
  assert.ok(ms < 1000, `slot freed ${ms} ms after the client left`);
  // And the sampling itself stopped: the process is idle after it (past the
  // ~0.2 s that onnxruntime's threads spin after their last job).
  await new Promise((resolve) => setTimeout(resolve, 300));
  const before = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const used = process.cpuUsage(before);
  const cpuMs = (used.user + used.system) / 1000;
  assert.ok(cpuMs < 150, `${cpuMs} ms of CPU in the 500 ms after the client left`);
});

Deno.test("a bank the prior cannot give is refused up front with the estimate (422)", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  await using handler = createHandler({ pack });
  for (
    const [query, pattern] of [
      ["ids=10000&threshold=0.2", /acceptance falls under 1 % after about \d+ identities/],
      ["ids=10000&threshold=0.3", /current estimate is \d+ candidates, over the limit of 50000/],
    ] as const
  ) {
    const started = performance.now();
    const response = await get(handler, `/v1/identities.npy?${query}`);
    const body = await response.json();
    assert.equal(response.status, 422, body.error);
    assert.match(body.error, /^Cannot sample 10000 identities at threshold 0\.[23]: /);
    assert.match(body.error, pattern);
    assert.ok(performance.now() - started < 10_000, "the estimate took longer than sampling would");
  }
  // The pack's own threshold: priced (about 10,300 candidates) and sampled.
  const fine = await get(handler, "/v1/identities.json?ids=2000&seed=3");
  assert.equal(fine.status, 200);
  assert.equal((await fine.json()).count, 2000);
});

Deno.test("dispose cancels the renders in flight and answers 503 after", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const handler = createHandler({ pack, limits: { maxConcurrent: 1 }, batchSize: 4 });
  const response = await get(handler, "/v1/shards/0.zip?ids=8&per_id=8&shard_size=8&seed=5");
  const reader = response.body!.getReader();
  await reader.read();
  const started = performance.now();
  await handler.dispose();
  assert.ok(performance.now() - started < 2000);
  await assert.rejects(async () => {
    while (!(await reader.read()).done);
  }, /shutting down/);
  const after = await get(handler, "/v1/render.png?identity=0&image=0");
  assert.equal(after.status, 503);
  assert.match((await after.json()).error, /shutting down/);
  assert.equal((await get(handler, "/v1/healthz")).status, 200);
});

Deno.test("workers: shards, PNGs and banks are the bytes of this thread; the main thread stays free", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  await using inThread = createHandler({ pack, limits: { maxConcurrent: 2 } });
  await using pooled = createHandler({ pack, limits: { maxConcurrent: 2 }, workers: 2 });
  assert.equal((await (await get(pooled, "/v1/info")).json()).workers, 2);
  for (
    const path of [
      "/v1/shards/1.zip?ids=5&per_id=3&shard_size=2&seed=4",
      "/v1/render.png?identity=3&image=1&per_id=3&seed=4",
      "/v1/identities.npy?ids=5&seed=4",
    ]
  ) {
    const [a, b] = await Promise.all([get(inThread, path), get(pooled, path)]);
    assert.equal(b.status, 200, path);
    assert.deepEqual(new Uint8Array(await b.arrayBuffer()), new Uint8Array(await a.arrayBuffer()), path);
  }
  // While the workers render two shards, this thread answers health checks at once.
  const shards = [0, 1].map((k) => get(pooled, `/v1/shards/${k}.zip?ids=40&per_id=10&shard_size=20&seed=9`));
  const bodies = (await Promise.all(shards)).map((response) => response.arrayBuffer());
  let worst = 0;
  for (let i = 0; i < 10; i++) {
    const started = performance.now();
    assert.equal((await get(pooled, "/v1/healthz")).status, 200);
    worst = Math.max(worst, performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await Promise.all(bodies);
  assert.ok(worst < 250, `healthz took ${worst} ms while two shards rendered`);
});

Deno.test("a URL over 8,192 characters is a JSON 414", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  await using handler = createHandler({ pack });
  const response = await get(handler, `/v1/healthz?${"x".repeat(20_000)}`);
  assert.equal(response.status, 414);
  const body = await response.json();
  assert.match(body.error, /^Cannot read the request: current URL is \d+ characters, over the limit of 8192$/);
});
