// The event loop of `cli.ts serve` under load (issue 22.2): /v1/healthz latency
// while two 2,000-image shards render, and how fast 30 concurrent shard
// requests get their 429s, with the render workers (the default: one per slot)
// and without (--workers 0, everything on the thread that answers).
// Targets: healthz p99 <= 50 ms; every 429 within 1 s.
//
//   deno run -A bench/serve_latency.ts [--device native] [--pack DIR] [--per-id 10] [--workers 2,0]
import { parseArgs } from "node:util";
import { startServe } from "./_serve.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    device: { type: "string", default: "native" },
    pack: { type: "string" },
    "per-id": { type: "string", default: "10" },
    workers: { type: "string", default: "2,0" },
  },
});
const perId = Number(values["per-id"]);
const ids = Math.floor(2000 / perId);

function start(workers: string): Promise<{ url: string; process: Deno.ChildProcess }> {
  return startServe([
    "--device",
    values.device!,
    "--workers",
    workers,
    ...(values.pack ? ["--pack", values.pack] : []),
  ]);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

const rows: string[] = [];
for (const workers of values.workers!.split(",")) {
  const { url, process } = await start(workers);
  // Warm: the bank of the dataset, and each worker's sessions.
  const query = `ids=${2 * ids}&per_id=${perId}&shard_size=${ids}&seed=1`;
  await (await fetch(`${url}/v1/identities.npy?ids=${2 * ids}&seed=1`)).arrayBuffer();
  const started = performance.now();
  const shards = [0, 1].map(async (k) => {
    const response = await fetch(`${url}/v1/shards/${k}.zip?${query}`);
    const bytes = (await response.arrayBuffer()).byteLength;
    return { status: response.status, bytes, seconds: (performance.now() - started) / 1000 };
  });
  let rendering = true;
  void Promise.all(shards).then(() => rendering = false);
  // Wait until both render, then measure.
  while ((await (await fetch(`${url}/v1/info`)).json()).renders.inFlight < 2) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const refusals = await Promise.all(Array.from({ length: 30 }, async (_, k) => {
    const sent = performance.now();
    const response = await fetch(`${url}/v1/shards/${k % 2}.zip?${query.replace("seed=1", "seed=2")}`);
    await response.arrayBuffer();
    return { status: response.status, ms: performance.now() - sent };
  }));
  const healthz: number[] = [];
  while (rendering) {
    const sent = performance.now();
    await (await fetch(`${url}/v1/healthz`)).arrayBuffer();
    healthz.push(performance.now() - sent);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const done = await Promise.all(shards);
  process.kill("SIGTERM");
  await process.status;
  const images = 2 * ids * perId;
  const seconds = Math.max(...done.map((shard) => shard.seconds));
  const refused = refusals.filter((r) => r.status === 429);
  rows.push(
    `| ${workers} | ${done.map((d) => d.status).join(", ")} | ${(images / seconds).toFixed(1)} | ${healthz.length} | ` +
      `${percentile(healthz, 0.5).toFixed(1)} | ${percentile(healthz, 0.99).toFixed(1)} | ` +
      `${Math.max(...healthz).toFixed(1)} | ${refused.length}/30 | ${
        Math.max(...refused.map((r) => r.ms)).toFixed(0)
      } |`,
  );
}
console.log(
  `\n2 shards of ${ids} ids x ${perId} images rendering at once, device ${values.device} (${Deno.build.os}, ${navigator.hardwareConcurrency} cores)\n`,
);
console.log(
  "| workers | shard statuses | images/s | healthz probes | p50 ms | p99 ms | max ms | 429s | slowest 429 ms |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
