// Identity sampling: the fast exact sampler against the brute-force greedy loop, in the same run.
//
//   deno run -A bench/sample_bench.ts [--prior FILE.npy] [--counts 10000,100000,300000] [--threshold T]
//     [--baseline-max 20000] [--engine auto] [--batch-size 512] [--seed 1]
//
// Default prior and threshold: the default pack's (its prior is synthetic, eigenvalues ~ 1/i);
// with --prior the threshold defaults to 0.476. The brute force runs for counts up to
// --baseline-max; above, its time is extrapolated from the time at --baseline-max by the N^2 law
// (marked "~", "extrap."). Where both ran, the banks are compared bit for bit.
import { parseArgs } from "node:util";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { drawFromPrior, parsePrior, type Prior } from "../src/prior.ts";
import { Random, Stream } from "../src/random.ts";
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

/** The old sampler: every candidate against every kept vector, one pair at a time. */
function bruteForce(n: number): { vectors: Float32Array[]; candidates: number } {
  const dim = prior.dim;
  const unitVectors = new Float32Array(n * dim);
  const vectors: Float32Array[] = [];
  let candidates = 0;
  while (vectors.length < n) {
    const candidate = drawFromPrior(prior, Random.from(seed, Stream.candidate, candidates));
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
    if (candidates > 100 * n + 100_000) throw new Error(`brute force: no ${n} identities at threshold ${threshold}`);
  }
  return { vectors, candidates };
}

function identical(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length && a.every((vector, i) => vector.every((value, k) => Object.is(value, b[i][k])));
}

console.log(`prior: ${priorName} (dim ${prior.dim}), seed ${seed}, engine ${engine}, batch ${batchSize}`);
const rows: string[][] = [];
const baselineSeconds = new Map<number, number>();
for (const count of counts) {
  // Acceptance over the last 10,000 candidates, from the progress reports (every 1,000 candidates).
  const history: number[] = [0];
  let peakRss = Deno.memoryUsage().rss;
  const started = performance.now();
  const result = await sample(count, {
    prior,
    threshold,
    seed,
    engine,
    batchSize,
    onProgress: ({ accepted, candidates }) => {
      if (candidates % 1000 === 0) history[candidates / 1000] = accepted;
      peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
    },
  });
  const fastSeconds = (performance.now() - started) / 1000;
  peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
  const last = Math.floor(result.candidates / 1000);
  const back = Math.min(10, last);
  const acceptance = back > 0 ? (history[last] - history[last - back]) / (1000 * back) : count / result.candidates;

  let baseline: string;
  let seconds: number;
  let same = "-";
  if (count <= baselineMax) {
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
    `${(seconds / fastSeconds).toFixed(1)}x`,
    String(result.candidates),
    `${(100 * acceptance).toFixed(1)} %`,
    String(result.exactChecks),
    `${(peakRss / 2 ** 20).toFixed(0)} MiB`,
    same,
  ]);
  console.log(`done ${count}: ${fastSeconds.toFixed(1)} s fast, ${baseline} s brute force`);
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
