/**
 * Acceptance tests of many machines on one: `cli.ts serve` processes on
 * loopback, `cli.ts fetch` from them, `cli.ts generate --shards` workers; all
 * against one local `generate`. Fixture pack, native backend, seconds each.
 */
import { readTree } from "./src/_test_tree.ts";
import assert from "node:assert/strict";
import { join } from "node:path";

const CLI = new URL("./cli.ts", import.meta.url).pathname;
const FIXTURE = new URL("./models/fixture/", import.meta.url).pathname;
const COMMON = ["--pack", FIXTURE, "--device", "native"];

function assertSameTree(actual: Map<string, Uint8Array>, expected: Map<string, Uint8Array>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [path, bytes] of expected) {
    const other = actual.get(path)!;
    assert.ok(other.length === bytes.length && other.every((byte, k) => byte === bytes[k]), `${path} differs`);
  }
}

async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

/** A `cli.ts serve --port 0` process; resolves once it prints its address. */
class Server implements AsyncDisposable {
  readonly url: string;
  readonly process: Deno.ChildProcess;
  readonly stderr: Promise<string>;

  private constructor(url: string, process: Deno.ChildProcess, stderr: Promise<string>) {
    this.url = url;
    this.process = process;
    this.stderr = stderr;
  }

  static async start(...args: string[]): Promise<Server> {
    const process = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "serve", "--port", "0", ...COMMON, ...args],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const stderr = new Response(process.stderr).text();
    const lines = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const deadline = setTimeout(() => lines.cancel(), 60_000);
    try {
      while (!/listening on (\S+)\//.test(text)) {
        const { done, value } = await lines.read();
        if (done) {
          process.kill();
          await process.status;
          throw new Error(`serve exited before listening: ${await stderr}`);
        }
        text += value;
      }
    } finally {
      clearTimeout(deadline);
    }
    lines.cancel().catch(() => {});
    return new Server(/listening on (\S+)\//.exec(text)![1], process, stderr);
  }

  /** A line of /proc/PID/status, in KiB (VmRSS, VmHWM). */
  async memory(field: "VmRSS" | "VmHWM"): Promise<number> {
    const status = await Deno.readTextFile(`/proc/${this.process.pid}/status`);
    return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)![1]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.process.kill("SIGTERM");
    } catch { /* exited */ }
    const status = await this.process.status;
    await this.stderr;
    assert.ok(status.success || status.signal === "SIGTERM", `serve exit: ${JSON.stringify(status)}`);
  }
}

Deno.test("three cli.ts serve processes + cli.ts fetch: byte-identical to one local generate --format zip", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const spec = ["--ids", "9", "--per-id", "3", "--shard-size", "2", "--seed", "11"];
    const [local, ...servers] = await Promise.all([
      cli(["generate", ...spec, ...COMMON, "--format", "zip", "--out", join(directory, "local")]),
      Server.start(),
      Server.start(),
      Server.start("--max-concurrent", "1"),
    ]) as [Awaited<ReturnType<typeof cli>>, Server, Server, Server];
    await using _a = servers[0];
    await using _b = servers[1];
    await using _c = servers[2];
    assert.equal(local.code, 0, local.stderr);
    const out = join(directory, "fetched");
    const from = servers.flatMap((server) => ["--from", server.url]);
    const fetched = await cli(["fetch", ...from, ...spec, "--out", out]);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.match(
      fetched.stderr,
      /fetched 5 shards .* of 27 images to .* from \d handlers .* 0 retries, backend native/,
    );
    assertSameTree(await readTree(out), await readTree(join(directory, "local")));
    // Every server rendered at least one shard: the work was spread.
    for (const server of servers) {
      assert.match(fetched.stderr, new RegExp(`${server.url}: [1-5] shards, 0 failures`));
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("50 concurrent shard requests against one serve: at most --max-concurrent render, the rest get 429 JSON", async () => {
  await using server = await Server.start("--max-concurrent", "2", "--max-rss", "2048");
  // Warm up with 2 concurrent shards (the most that render at once), twice: each render worker makes its
  // sessions on its first shard (~95 MiB each), and the first round may land on one worker. Then measure.
  const start = await server.memory("VmHWM");
  for (const seed of [2, 3]) {
    const warm = await Promise.all(
      [0, 1].map((k) => fetch(`${server.url}/v1/shards/${k}.zip?ids=100&per_id=10&shard_size=2&seed=${seed}`)),
    );
    for (const response of warm) {
      assert.equal(response.status, 200);
      await response.arrayBuffer();
    }
  }
  const before = await server.memory("VmHWM");
  const started = performance.now();
  const responses = await Promise.all(
    Array.from(
      { length: 50 },
      (_, k) => fetch(`${server.url}/v1/shards/${k}.zip?ids=100&per_id=10&shard_size=2&seed=1`),
    ),
  );
  const statuses = responses.map((response) => response.status);
  const busy = responses.filter((response) => response.status === 429);
  for (const response of busy) {
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.equal(response.headers.get("retry-after"), "1");
    const body = await response.json();
    assert.equal(body.status, 429);
    assert.match(body.error, /Cannot start a render: current renders in flight are 2 of 2/);
  }
  const served = responses.filter((response) => response.status === 200);
  for (const response of served) assert.equal((await response.arrayBuffer()).byteLength > 1000, true);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(served.length + busy.length, 50, `statuses ${statuses}`);
  assert.ok(busy.length >= 25, `only ${busy.length} of 50 got 429`);
  const info = await (await fetch(`${server.url}/v1/info`)).json();
  assert.equal(info.renders.peak, 2, "never more than --max-concurrent renders at once");
  assert.equal(info.renders.inFlight, 0);
  assert.equal(info.renders.refused, busy.length);
  // Memory: the refused requests cost next to nothing; the peak stays within a few slots' worth and the limit.
  const peak = await server.memory("VmHWM");
  const growth = (peak - before) / 1024;
  console.log(
    `  50 requests in ${seconds.toFixed(2)} s: ${served.length} served, ${busy.length} got 429; peak RSS ` +
      `${(start / 1024).toFixed(0)} MiB idle, ${(before / 1024).toFixed(0)} MiB after 2 concurrent shards, ` +
      `${(peak / 1024).toFixed(0)} MiB after the 50 (+${growth.toFixed(0)} MiB)`,
  );
  assert.ok(growth < 48, `peak RSS grew by ${growth.toFixed(0)} MiB over 2 concurrent shards`);
  assert.ok(peak / 1024 < 2048, "under --max-rss");
  // The request log: one JSON line per request on stderr.
  await server[Symbol.asyncDispose]();
  const log = (await server.stderr).split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
  for (const line of log) assert.deepEqual(Object.keys(line).slice(0, 4), ["time", "method", "route", "status"]);
  const refused = log.filter((line) => line.status === 429);
  assert.equal(refused.length, busy.length);
  assert.ok(refused.every((line) => line.route === "/v1/shards/{k}.zip" && line.bytes > 0));
  const zips = log.filter((line) => line.status === 200 && line.route === "/v1/shards/{k}.zip");
  assert.ok(zips.length >= served.length && zips.every((line) => line.bytes > 1000 && line.ms > 0));
});

Deno.test("generate --shards K with JOB_COMPLETION_INDEX: three workers in one folder give the local dataset", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const spec = ["--ids", "8", "--per-id", "2", "--shard-size", "2", "--seed", "3", "--format", "webdataset"];
    const out = join(directory, "shared");
    const [local, ...workers] = await Promise.all([
      cli(["generate", ...spec, ...COMMON, "--out", join(directory, "local")]),
      ...[0, 1, 2].map((index) =>
        cli(["generate", ...spec, ...COMMON, "--out", out, "--shards", "3"], { JOB_COMPLETION_INDEX: String(index) })
      ),
    ]);
    assert.equal(local.code, 0, local.stderr);
    for (const [index, worker] of workers.entries()) {
      assert.equal(worker.code, 0, worker.stderr);
      assert.match(worker.stderr, new RegExp(`wrote part ${index}/3: \\d+ images in [12] shards?`));
    }
    assert.equal(workers.filter((worker) => /merged into manifest\.jsonl/.test(worker.stderr)).length >= 1, true);
    assertSameTree(await readTree(out), await readTree(join(directory, "local")));

    const bad = await cli(["generate", ...spec, ...COMMON, "--out", out, "--shards", "3"], {
      JOB_COMPLETION_INDEX: "3",
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: Cannot use JOB_COMPLETION_INDEX "3" with --shards 3: current value is not/m);
    const many = await cli(["generate", ...spec, ...COMMON, "--out", out, "--shards", "0/5"]);
    assert.match(many.stderr, /^error: Cannot split the shards among 5 workers .*current dataset has 4 shards/m);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("SIGTERM with a client that never reads: serve exits within --shutdown-timeout", async () => {
  await using server = await Server.start("--shutdown-timeout", "1", "--max-concurrent", "1");
  // A raw socket that asks for a large shard and never reads a byte of it.
  const { hostname: host, port } = new URL(server.url);
  const socket = await Deno.connect({ hostname: host, port: Number(port) });
  try {
    await socket.write(
      new TextEncoder().encode(
        `GET /v1/shards/0.zip?ids=200&per_id=10&shard_size=200 HTTP/1.1\r\nhost: ${host}\r\n\r\n`,
      ),
    );
    // Wait until it renders (holds the slot).
    for (let tries = 0; tries < 100; tries++) {
      const info = await (await fetch(`${server.url}/v1/info`)).json();
      if (info.renders.inFlight === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const started = performance.now();
    server.process.kill("SIGTERM");
    const status = await server.process.status;
    const seconds = (performance.now() - started) / 1000;
    console.log(`  exited ${seconds.toFixed(2)} s after SIGTERM (deadline 1 s), code ${status.code}`);
    assert.ok(seconds < 4, `serve took ${seconds.toFixed(1)} s to exit`);
    assert.equal(status.code, 0);
    assert.match(await server.stderr, /shutting down: responses in flight get 1 s/);
  } finally {
    socket.close();
  }
});

Deno.test("a raw socket that asks for a shard and never reads loses its slot after --idle-timeout", async () => {
  await using server = await Server.start("--idle-timeout", "1", "--max-concurrent", "1");
  const { hostname, port } = new URL(server.url);
  const socket = await Deno.connect({ hostname, port: Number(port) });
  try {
    // 2,000 images: more than the loopback socket buffers hold, so the server's writes stall.
    await socket.write(
      new TextEncoder().encode(
        `GET /v1/shards/0.zip?ids=400&per_id=10&shard_size=200 HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`,
      ),
    );
    const started = performance.now();
    let info = await (await fetch(`${server.url}/v1/info`)).json();
    while (info.renders.peak === 0 || info.renders.inFlight > 0) {
      assert.ok(performance.now() - started < 30_000, "the stalled socket still holds the slot after 30 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
      info = await (await fetch(`${server.url}/v1/info`)).json();
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`  slot free ${seconds.toFixed(1)} s after the request (stalled: ${info.renders.stalled})`);
    assert.equal(info.renders.stalled, 1);
    const next = await fetch(`${server.url}/v1/render.png?identity=0&image=0`);
    assert.equal(next.status, 200);
    await next.arrayBuffer();
  } finally {
    socket.close();
  }
});

Deno.test("a client that hangs up while its bank samples frees the slot at once", async () => {
  await using server = await Server.start("--max-concurrent", "1");
  const { hostname, port } = new URL(server.url);
  const socket = await Deno.connect({ hostname, port: Number(port) });
  // 3,000 identities of a new seed: seconds of sampling.
  await socket.write(
    new TextEncoder().encode(`GET /v1/identities.npy?ids=3000&seed=77 HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`),
  );
  let info = await (await fetch(`${server.url}/v1/info`)).json();
  while (info.renders.inFlight === 0) info = await (await fetch(`${server.url}/v1/info`)).json();
  socket.close();
  const closed = performance.now();
  while (info.renders.inFlight > 0) {
    assert.ok(performance.now() - closed < 2000, "the slot is still held 2 s after the client hung up");
    await new Promise((resolve) => setTimeout(resolve, 20));
    info = await (await fetch(`${server.url}/v1/info`)).json();
  }
  console.log(`  slot free ${(performance.now() - closed).toFixed(0)} ms after the client hung up`);
});
