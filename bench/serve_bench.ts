// Scale benches of issue 6, on the default pack (vec2face-small) unless --pack says otherwise.
//
//   deno run -A bench/serve_bench.ts [--ids 200,2000] [--per-id 10] [--format zip] [--device native]
//       [--pack DIR] [--trials 5] [--skip-rss] [--skip-ttfb] [--same-bank]
//
// (a) Peak RSS of `cli.ts generate` for each --ids (x --per-id images), each in its own process: the child
//     runs the CLI's main() and prints VmHWM from /proc/self/status as it exits. Target: the largest differs
//     from the smallest by < 20 %. --same-bank gives every run one pre-sampled bank (--bank), which leaves
//     sampling (its engine: js under 1,024 identities, onnxruntime above) out and compares the streams only.
// (b) Time to first byte (first body byte) of a shard from a `cli.ts serve` process over loopback, with the
//     dataset's bank cached in the server (any shard after the first of a dataset; `fetch` has every handler
//     sample the bank first) and with a new seed (the bank is sampled first), against the time to render the
//     shard's first batch (renderBatch of its first 16 images; and generateSamples to its first JPEG) in this
//     process while the server is idle. Target: <= 1.2x.
import { parseArgs } from "node:util";
import { join } from "node:path";
import { checkDevice } from "../src/_backend.ts";
import { generateSamples, sampleInput } from "../src/dataset.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { renderBatch } from "../src/render.ts";
import { sample } from "../src/sample.ts";
import { startServe } from "./_serve.ts";

function peakRssKib(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)![1]);
}

if (Deno.args[0] === "--child") {
  // A child: run the CLI, then report this process's peak resident memory.
  const { main } = await import("../cli.ts");
  const started = performance.now();
  const code = await main(Deno.args.slice(1));
  console.log(JSON.stringify({ code, peakRssKib: peakRssKib(), seconds: (performance.now() - started) / 1000 }));
  Deno.exit(code);
}

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    ids: { type: "string", default: "200,2000" },
    "per-id": { type: "string", default: "10" },
    format: { type: "string", default: "zip" },
    device: { type: "string", default: "native" },
    pack: { type: "string" },
    trials: { type: "string", default: "5" },
    "skip-rss": { type: "boolean", default: false },
    "skip-ttfb": { type: "boolean", default: false },
    "same-bank": { type: "boolean", default: false },
  },
});
const device = checkDevice(values.device);
const packPath = values.pack ?? new URL(DEFAULT_PACK).pathname;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

if (!values["skip-rss"]) {
  const counts = values.ids.split(",").map(Number);
  const rows: { ids: number; images: number; peak: number; seconds: number }[] = [];
  const directory = await Deno.makeTempDir();
  const bank = join(directory, "bank.npy");
  try {
    if (values["same-bank"]) {
      // One bank of the largest count for every run (--bank; a smaller run takes its first ids): sampling,
      // whose engine and bank grow with the count, is then out of the comparison, and only the stream is left.
      const sampled = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLI, "sample", "--n", String(Math.max(...counts)), "--out", bank, "--pack", packPath],
        stderr: "inherit",
      }).output();
      if (!sampled.success) throw new Error("cli.ts sample failed");
    }
    for (const ids of counts) {
      const args = [
        "generate",
        "--ids",
        String(ids),
        "--per-id",
        values["per-id"],
        "--format",
        values.format,
        "--device",
        device,
        "--pack",
        packPath,
        "--out",
        join(directory, `ids-${ids}`),
        ...(values["same-bank"] ? ["--bank", bank] : []),
      ];
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(import.meta.url).pathname, "--child", ...args],
        stdout: "piped",
        stderr: "inherit",
        env: { NO_COLOR: "1" },
      }).output();
      const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
      const report = JSON.parse(lines[lines.length - 1]);
      if (report.code !== 0) throw new Error(`generate --ids ${ids} failed (${report.code})`);
      rows.push({ ids, images: ids * Number(values["per-id"]), peak: report.peakRssKib, seconds: report.seconds });
      await Deno.remove(join(directory, `ids-${ids}`), { recursive: true });
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
  console.log(
    `\n(a) peak RSS of cli.ts generate --format ${values.format} --device ${device}` +
      `${values["same-bank"] ? " --bank (one bank for all)" : ""} (${packPath})\n`,
  );
  console.log("| ids    | images  | peak RSS (VmHWM) | time    | vs smallest |");
  console.log("| ------ | ------- | ---------------- | ------- | ----------- |");
  for (const row of rows) {
    const change = 100 * (row.peak - rows[0].peak) / rows[0].peak;
    console.log(
      `| ${String(row.ids).padEnd(6)} | ${String(row.images).padEnd(7)} | ${
        `${(row.peak / 1024).toFixed(1)} MiB`.padEnd(16)
      } | ${`${row.seconds.toFixed(1)} s`.padEnd(7)} | ${
        `${change >= 0 ? "+" : ""}${change.toFixed(1)} %`.padEnd(11)
      } |`,
    );
  }
}

if (!values["skip-ttfb"]) {
  // The server in a process of its own (`cli.ts serve`), as in use: the client here waits on the socket only.
  const batchSize = 16;
  const perId = Number(values["per-id"]);
  const { url: base, process: server } = await startServe([
    ...["--pack", packPath, "--device", device, "--batch-size", "16"],
  ]);
  const trials = Number(values.trials);
  const shard = 1; // identities 100..199
  const query = (seed: number) => `ids=2000&per_id=${perId}&shard_size=100&seed=${seed}`;
  const firstByte = async (seed: number) => {
    const started = performance.now();
    const response = await fetch(`${base}/v1/shards/${shard}.zip?${query(seed)}`);
    const reader = response.body!.getReader();
    await reader.read();
    const seconds = (performance.now() - started) / 1000;
    await reader.cancel();
    // Let the server stop and free its slot before the next trial.
    while ((await (await fetch(`${base}/v1/info`)).json()).renders.inFlight > 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return seconds;
  };
  const fresh: number[] = [];
  const cached: number[] = [];
  const batch: number[] = [];
  const firstJpeg: number[] = [];
  let backend = "";
  try {
    // Warm-up: the generator session, JPEG and the HTTP path.
    await (await fetch(`${base}/v1/shards/0.zip?${query(999)}`)).arrayBuffer();
    for (let trial = 0; trial < trials; trial++) {
      fresh.push(await firstByte(100 + trial));
      cached.push(await firstByte(100 + trial));
    }
    // The first batch, rendered here while the server is idle, with the same pack, device and inputs.
    await using pack = await loadPack(packPath, { device });
    backend = pack.backend;
    const threshold = pack.manifest.separationThreshold;
    for (let trial = -1; trial < trials; trial++) {
      const seed = 100 + Math.max(0, trial);
      const { vectors } = await sample(200, { prior: pack.prior, threshold, seed });
      const inputs = Array.from(
        { length: batchSize },
        (_, k) => sampleInput(pack, vectors, perId, seed, 100 + Math.floor(k / perId), k % perId),
      );
      let started = performance.now();
      await renderBatch(pack, inputs.map((input) => input.vector), inputs.map((input) => input.mask));
      const rendered = (performance.now() - started) / 1000;
      started = performance.now();
      const samples = generateSamples({ pack, identities: vectors, perId, seed, start: 100, end: 200, batchSize });
      await samples.next();
      const jpeg = (performance.now() - started) / 1000;
      await samples.return(undefined);
      if (trial < 0) continue; // warm-up
      batch.push(rendered);
      firstJpeg.push(jpeg);
    }
  } finally {
    server.kill("SIGTERM");
    await server.status;
  }
  const ms = (seconds: number) => `${(1000 * seconds).toFixed(1)} ms`;
  const b = median(batch);
  console.log(
    `\n(b) shard ${shard} of ids=2000, per_id=${perId}, shard_size=100, batch ${batchSize}, ${backend}, ` +
      `median of ${trials}\n`,
  );
  console.log("| measure                                           | median     | / first batch |");
  console.log("| ------------------------------------------------- | ---------- | ------------- |");
  const row = (name: string, value: number) =>
    console.log(`| ${name.padEnd(49)} | ${ms(value).padEnd(10)} | ${(value / b).toFixed(2).padEnd(13)} |`);
  row("render the first batch (renderBatch, 16 images)", b);
  row("generateSamples to its first JPEG", median(firstJpeg));
  row("TTFB, bank cached (the dataset's 2nd+ shard)", median(cached));
  row("TTFB, new seed (samples identities 0..199 first)", median(fresh));
}
