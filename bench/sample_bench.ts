// Identity sampling: the fast exact sampler against the brute-force greedy loop, in the same run.
//
//   deno run -A bench/sample_bench.ts [--prior FILE.npy] [--counts 10000,100000,300000] [--threshold T]
//     [--baseline-max 20000] [--engine auto] [--batch-size 512] [--seed 1] [--capped] [--cap-factor 3]
//     [--curve-every 25000]
//
// Default prior and threshold: the default pack's; with --prior the threshold defaults to 0.476.
// The brute force runs for counts up to --baseline-max; above, its time is extrapolated from the time
// at --baseline-max by the N^2 law (marked "~", "extrap."). Where both ran, the banks are compared bit
// for bit. With --capped, above --baseline-max the brute force runs too (same seed, same candidates),
// stopped at --cap-factor times the fast time: if it has not reached the count by then, the fast
// sampler is measured more than that many times faster; the extrapolation is then from the time at
// which this run reached --baseline-max, and the prefix it kept is compared bit for bit. After each
// count, its acceptance curve: a row per --curve-every identities (0: none).
import { parseArgs } from "node:util";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { drawFromPrior, parsePrior, type Prior } from "../src/prior.ts";
import { Random, STREAM_TAGS } from "../src/random.ts";
import { sample, type SampleEngine } from "../src/sample.ts";
import { norm } from "../src/vectors.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    prior: { type: "string" },
    counts: { type: "string", default: "10000,100000" },
    threshold: { type: "string" },
    "baseline-max": { type: "string", default: "20000" },
    engine: { type: "string", default: "auto" },
    "batch-size": { type: "string", default: "512" },
    seed: { type: "string", default: "1" },
    capped: { type: "boolean", default: false },
    "cap-factor": { type: "string", default: "3" },
    "curve-every": { type: "string", default: "25000" },
  },
});

let prior: Prior;
let threshold: number;
let priorName: string;
if (values.prior) {
  prior = parsePrior(await Deno.readFile(values.prior));
  threshold = Number(values.threshold ?? 0.476);
  priorName = values.prior;
} else {
  await using pack = await loadPack(DEFAULT_PACK, { device: "wasm" });
  prior = pack.prior;
  threshold = Number(values.threshold ?? pack.manifest.separationThreshold);
  priorName = `default pack ${pack.manifest.name}${pack.manifest.fixture ? " (synthetic prior)" : ""}`;
}
const counts = values.counts.split(",").map(Number);
const baselineMax = Number(values["baseline-max"]);
const seed = Number(values.seed);
const engine = values.engine as SampleEngine;
const batchSize = Number(values["batch-size"]);
const capFactor = Number(values["cap-factor"]);
const curveEvery = Number(values["curve-every"]);

/**
 * The old sampler: every candidate against every kept vector, one pair at a time (a candidate stops
 * at its first conflict). Stops early, incomplete, at `deadline` (a `performance.now()` time);
 * `onProgress` is called every 1,000 candidates, as `sample`'s.
 */
function bruteForce(
  n: number,
  deadline = Infinity,
  onProgress?: (accepted: number, candidates: number) => void,
): { vectors: Float32Array[]; candidates: number; complete: boolean } {
  const dim = prior.dim;
  const unitVectors = new Float32Array(n * dim);
  const vectors: Float32Array[] = [];
  let candidates = 0;
  while (vectors.length < n) {
    if (performance.now() >= deadline) return { vectors, candidates, complete: false };
    const candidate = drawFromPrior(prior, Random.from(seed, STREAM_TAGS.candidate, candidates));
    candidates++;
    const length = norm(candidate);
    if (!(length > 0 && length < Infinity)) continue;
    const unit = candidate.map((value) => value / length);
    let worst = -1;
    for (let k = 0; k < vectors.length && worst < threshold; k++) {
      let dot = 0;
      const offset = k * dim;
      for (let i = 0; i < dim; i++) dot += unit[i] * unitVectors[offset + i];
      if (dot > worst) worst = dot;
    }
    if (worst < threshold) {
      unitVectors.set(unit, vectors.length * dim);
      vectors.push(candidate);
    }
    if (candidates % 1000 === 0) onProgress?.(vectors.length, candidates);
    if (candidates > 100 * n + 100_000) throw new Error(`brute force: no ${n} identities at threshold ${threshold}`);
  }
  return { vectors, candidates, complete: true };
}

function identical(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length && a.every((vector, i) => vector.every((value, k) => Object.is(value, b[i][k])));
}

const percent = (part: number, whole: number) => (whole > 0 ? `${(100 * part / whole).toFixed(1)} %` : "-");
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

console.log(`prior: ${priorName} (dim ${prior.dim}), seed ${seed}, engine ${engine}, batch ${batchSize}`);
const rows: string[][] = [];
const baselineSeconds = new Map<number, number>();
for (const count of counts) {
  // Acceptance over the last 10,000 candidates, from the progress reports (every 1,000 candidates).
  const history: number[] = [0];
  // The acceptance curve: a point at the first report at or past each multiple of --curve-every.
  const curve: { accepted: number; candidates: number; seconds: number; bruteSeconds?: number }[] = [];
  let peakRss = Deno.memoryUsage().rss;
  const started = performance.now();
  const result = await sample(count, {
    prior,
    threshold,
    seed,
    engine,
    batchSize,
    onProgress: ({ done: accepted, candidates }) => {
      if (candidates % 1000 === 0) history[candidates / 1000] = accepted;
      peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
      const mark = curveEvery * (Math.floor((curve.at(-1)?.accepted ?? 0) / curveEvery) + 1);
      if (curveEvery > 0 && accepted >= mark && accepted < count) {
        curve.push({ accepted, candidates, seconds: (performance.now() - started) / 1000 });
      }
    },
  });
  const fastSeconds = (performance.now() - started) / 1000;
  peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
  const last = Math.floor(result.candidates / 1000);
  const back = Math.min(10, last);
  const acceptance = back > 0 ? (history[last] - history[last - back]) / (1000 * back) : count / result.candidates;

  curve.push({ accepted: count, candidates: result.candidates, seconds: fastSeconds });

  let baseline: string;
  let seconds: number;
  let speedUp: string | undefined;
  let same = "-";
  if (values.capped && count > baselineMax) {
    // Same seed, same candidates: the brute force must pass through the fast run's states.
    const cap = capFactor * fastSeconds;
    console.log(
      `fast ${count}: ${fastSeconds.toFixed(1)} s, ${result.candidates} candidates; brute force capped at ${
        cap.toFixed(0)
      } s`,
    );
    let atMax: [number, number] | undefined; // identities, seconds: the first progress point past --baseline-max
    let mismatches = 0;
    let bruteRss = Deno.memoryUsage().rss;
    const atCandidates = new Map(curve.map((point) => [point.candidates, point]));
    const begun = performance.now();
    const brute = bruteForce(count, begun + cap * 1000, (accepted, candidates) => {
      const now = (performance.now() - begun) / 1000;
      if (history[candidates / 1000] !== accepted) mismatches++;
      if (accepted >= baselineMax && atMax === undefined) atMax = [accepted, now];
      const point = atCandidates.get(candidates);
      if (point) point.bruteSeconds = now;
      bruteRss = Math.max(bruteRss, Deno.memoryUsage().rss);
    });
    const bruteSeconds = (performance.now() - begun) / 1000;
    const reached = brute.vectors.length;
    const prefix = identical(brute.vectors, result.vectors.slice(0, reached)) && mismatches === 0;
    same = `${prefix ? "yes" : "NO"} (${brute.complete ? "all" : `first ${reached}`})`;
    if (brute.complete) {
      seconds = bruteSeconds;
      baseline = seconds.toFixed(1);
      curve[curve.length - 1].bruteSeconds = seconds;
    } else {
      // The N^2 law, from this run's time at about --baseline-max, else from where the cap stopped it.
      const [from, time] = atMax ?? [reached, bruteSeconds];
      seconds = time * (count / from) ** 2;
      const furthest = bruteSeconds * (count / reached) ** 2;
      baseline = `> ${bruteSeconds.toFixed(0)} (cap; ${reached} reached), ~${
        seconds.toFixed(0)
      } (extrap. from ${from})`;
      speedUp = `> ${(bruteSeconds / fastSeconds).toFixed(1)}x measured, ~${
        (seconds / fastSeconds).toFixed(1)
      }x extrap.`;
      console.log(
        `capped brute force at ${count}: ${reached} identities from ${brute.candidates} candidates in ${
          bruteSeconds.toFixed(1)
        } s (cap ${capFactor} x ${fastSeconds.toFixed(1)} s), not ${count}: the fast sampler is measured more than ${
          (bruteSeconds / fastSeconds).toFixed(1)
        }x faster. Full brute force extrapolated (N^2): ~${seconds.toFixed(0)} s from its ${
          time.toFixed(1)
        } s at ${from}, ~${furthest.toFixed(0)} s from its ${bruteSeconds.toFixed(1)} s at ${reached}.`,
      );
    }
    console.log(
      `capped brute force at ${count}: same candidates and prefix as the fast run: ${
        prefix ? "yes" : `NO (${mismatches} of ${Math.floor(brute.candidates / 1000)} progress points differ)`
      }; peak RSS of the process through it ${mib(bruteRss)}`,
    );
  } else if (count <= baselineMax) {
    const begun = performance.now();
    const brute = bruteForce(count);
    seconds = (performance.now() - begun) / 1000;
    baselineSeconds.set(count, seconds);
    baseline = seconds.toFixed(1);
    same = identical(brute.vectors, result.vectors) && brute.candidates === result.candidates ? "yes" : "NO";
  } else {
    if (!baselineSeconds.has(baselineMax)) {
      const begun = performance.now();
      bruteForce(baselineMax);
      baselineSeconds.set(baselineMax, (performance.now() - begun) / 1000);
    }
    seconds = baselineSeconds.get(baselineMax)! * (count / baselineMax) ** 2;
    baseline = `~${seconds.toFixed(0)} (extrap. from ${baselineMax})`;
  }
  rows.push([
    String(count),
    String(threshold),
    result.engine,
    fastSeconds.toFixed(1),
    baseline,
    speedUp ?? `${(seconds / fastSeconds).toFixed(1)}x`,
    String(result.candidates),
    `${(100 * acceptance).toFixed(1)} %`,
    String(result.exactChecks),
    mib(peakRss),
    same,
  ]);
  console.log(`done ${count}: ${fastSeconds.toFixed(1)} s fast, ${baseline} s brute force`);
  if (curve.length > 1) {
    console.log(
      `\nAcceptance curve, ${count} at ${threshold} (fast run; brute force s: when it got to the same point)`,
    );
    console.log(
      "| accepted | candidates | fast s | acceptance since previous row | acceptance (last 10K) | brute force s |",
    );
    console.log("|---|---|---|---|---|---|");
    curve.forEach((point, i) => {
      const previous = curve[i - 1] ?? { accepted: 0, candidates: 0 };
      const last = Math.floor(point.candidates / 1000), back = Math.min(10, last);
      const recent = back > 0 ? percent(history[last] - history[last - back], 1000 * back) : "-";
      console.log(
        `| ${point.accepted} | ${point.candidates} | ${point.seconds.toFixed(1)} | ${
          percent(point.accepted - previous.accepted, point.candidates - previous.candidates)
        } | ${recent} | ${point.bruteSeconds?.toFixed(1) ?? "-"} |`,
      );
    });
    console.log("");
  }
}
const header = [
  "count",
  "threshold",
  "engine",
  "fast s",
  "brute force s",
  "speed-up",
  "candidates",
  "acceptance (last 10K)",
  "exact checks",
  "peak RSS",
  "same bank",
];
console.log(`| ${header.join(" | ")} |\n|${header.map(() => "---").join("|")}|`);
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
