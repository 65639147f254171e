// Acceptance curve of identity sampling: how many identities a prior reaches at a threshold, and how fast, with
// a line every few seconds (to a file too, so that a run killed by a time limit still shows where it got).
//
//   deno run -A bench/sample_curve.ts --threshold 0.4 [--n 300000] [--seed 1] [--prior FILE.npy]
//     [--every 10] [--max-seconds 1500] [--log FILE]
//
// Default prior: the default pack's. Ends when the count is reached, when sampling stalls (the stall error, which
// gives the count reached and a threshold that would fit, is printed) or at --max-seconds (aborted; the last line
// says where it was). Each line: seconds, identities kept, candidates drawn, acceptance over all candidates and
// since the line before.
import { parseArgs } from "node:util";
import { Vec2FaceError } from "../src/errors.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { parsePrior, type Prior } from "../src/prior.ts";
import { sample } from "../src/sample.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    threshold: { type: "string" },
    n: { type: "string", default: "300000" },
    seed: { type: "string", default: "1" },
    prior: { type: "string" },
    every: { type: "string", default: "10" },
    "max-seconds": { type: "string", default: "1500" },
    log: { type: "string" },
  },
});
if (values.threshold === undefined) {
  console.error("usage: sample_curve.ts --threshold T [--n N] [--seed K] [--prior FILE.npy] [--every S] [--log FILE]");
  Deno.exit(2);
}
const threshold = Number(values.threshold), n = Number(values.n), seed = Number(values.seed);
const every = Number(values.every) * 1000, maxSeconds = Number(values["max-seconds"]);

let prior: Prior;
let priorName: string;
if (values.prior) {
  prior = parsePrior(await Deno.readFile(values.prior));
  priorName = values.prior;
} else {
  await using pack = await loadPack(DEFAULT_PACK, { device: "wasm" });
  prior = pack.prior;
  priorName = `default pack ${pack.manifest.name}`;
}

const log = values.log ? await Deno.open(values.log, { write: true, create: true, truncate: true }) : undefined;
const encoder = new TextEncoder();
function say(line: string): void {
  console.log(line);
  log?.writeSync(encoder.encode(line + "\n"));
}

const percent = (part: number, whole: number) => (whole > 0 ? `${(100 * part / whole).toFixed(2)} %` : "-");
say(`prior ${priorName} (dim ${prior.dim}), threshold ${threshold}, n ${n}, seed ${seed}, max ${maxSeconds} s`);
say("| seconds | kept | candidates | acceptance (all) | acceptance (since last line) |");
say("|---|---|---|---|---|");
const started = performance.now();
let last = { time: started, accepted: 0, candidates: 0 };
let latest = { accepted: 0, candidates: 0 };
const row = (now: number) =>
  `| ${((now - started) / 1000).toFixed(0)} | ${latest.accepted} | ${latest.candidates} | ${
    percent(latest.accepted, latest.candidates)
  } | ${percent(latest.accepted - last.accepted, latest.candidates - last.candidates)} |`;
const controller = new AbortController();
const timer = setTimeout(() => controller.abort(), maxSeconds * 1000);
try {
  const result = await sample(n, {
    prior,
    threshold,
    seed,
    signal: controller.signal,
    onProgress: ({ done: accepted, candidates }) => {
      latest = { accepted, candidates };
      const now = performance.now();
      if (now - last.time >= every) {
        say(row(now));
        last = { time: now, ...latest };
      }
    },
  });
  say(row(performance.now()));
  say(
    `reached ${result.vectors.length} identities from ${result.candidates} candidates in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s (engine ${result.engine}, max pairwise cosine ${result.maxCosine.toFixed(4)})`,
  );
} catch (error) {
  say(row(performance.now()));
  if (controller.signal.aborted) {
    say(`stopped at ${maxSeconds} s: ${latest.accepted} identities kept from ${latest.candidates} candidates`);
  } else if (error instanceof Vec2FaceError && error.code === "sampling-stalled") {
    say(`stalled after ${((performance.now() - started) / 1000).toFixed(1)} s: ${error.message}`);
  } else {
    throw error;
  }
} finally {
  clearTimeout(timer);
  log?.close();
}
