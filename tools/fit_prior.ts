// Fits an identity prior (prior.npy: mean + PCA of identity features, see
// src/prior.ts) from real faces, and prints how well separated its draws are.
// For pack authors; face photos and their features stay outside the repo.
//
//   deno run -A tools/fit_prior.ts --images DIR [--per-folder] --out prior.npy [--device native]
//   deno run -A tools/fit_prior.ts --features FILE.npy [--groups FILE.json] --out prior.npy
//
// --images DIR     photos (.jpg/.jpeg/.png, any depth): the best face of each is
//                  aligned and embedded with the pack's identity model; photos
//                  without a face are skipped and counted.
// --per-folder     one identity per parent folder (e.g. LFW's person folders):
//                  the prior is fitted on the folders' average features, as in
//                  Vec2Face, rather than on every photo.
// --features FILE  features already embedded (`cli.ts embed` output, [count, dim]).
// --groups FILE    JSON: one group label (number or string) per feature, or the
//                  sidecar of `cli.ts embed` ({"files": [...]}), grouped by each
//                  file's parent folder.
// --save-features FILE.npy   also write the embedded features and their sidecar
//                  (for a later --features run); keep it out of the repo.
// --draws N        prior draws (and at most N real vectors) for the cosine
//                  statistics; default 2000. --seed K seeds them; default 0.
// --pack DIR, --device D, --threads T   as for cli.ts.
import { parseArgs } from "node:util";
import { dirname } from "node:path";
import { checkDevice } from "../src/_backend.ts";
import { decodeBank, encodeBank } from "../src/bank.ts";
import { embedPhotos, findImages } from "../src/estimators/embed_photos.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { drawFromPrior, encodePrior, fitPrior, identityCentres } from "../src/prior.ts";
import { Random } from "../src/random.ts";
import { norm } from "../src/vectors.ts";

const USAGE = "usage: fit_prior.ts (--features FILE.npy [--groups FILE.json] | --images DIR [--per-folder]) " +
  "--out prior.npy [--device D] [--pack DIR] [--threads T] [--save-features FILE.npy] [--draws N] [--seed K]";
// Cosines reported as shares of pairs above: 0.476 is the bundled pack's
// separationThreshold (the identity model's cosine at FAR 1e-5); 0.3 and 0.41
// are lower thresholds, for comparison.
const COSINE_THRESHOLDS = [0.3, 0.41, 0.476];

function fail(message: string): never {
  console.error(message);
  console.error(USAGE);
  Deno.exit(2);
}

function positiveInteger(value: string, flag: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1) fail(`Cannot use ${flag} ${value}: current value is not a positive integer`);
  return number;
}

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    features: { type: "string" },
    groups: { type: "string" },
    images: { type: "string" },
    "per-folder": { type: "boolean", default: false },
    out: { type: "string" },
    device: { type: "string", default: "auto" },
    pack: { type: "string" },
    threads: { type: "string" },
    "save-features": { type: "string" },
    draws: { type: "string", default: "2000" },
    seed: { type: "string", default: "0" },
  },
});
if (!values.out) fail("Cannot fit a prior without --out: current value is missing");
if (!values.features === !values.images) fail("Cannot fit a prior: give exactly one of --features and --images");
if (values.groups && !values.features) fail("Cannot use --groups without --features: use --per-folder with --images");
if (values["per-folder"] && !values.images) fail("Cannot use --per-folder without --images: use --groups");
if (values["save-features"] && !values.images) fail("Cannot use --save-features without --images");
const drawCount = positiveInteger(values.draws, "--draws");
const seed = /^\d+$/.test(values.seed) ? Number(values.seed) : fail(`Cannot use --seed ${values.seed}`);

// Labels (folder names, strings or numbers) to group ids, by first appearance.
function groupIds(labels: readonly unknown[]): number[] {
  const ids = new Map<string, number>();
  return labels.map((label) => {
    const key = JSON.stringify(label);
    if (!ids.has(key)) ids.set(key, ids.size);
    return ids.get(key)!;
  });
}

async function embedFolder(directory: string): Promise<{ features: Float32Array[]; files: string[] }> {
  const paths = await findImages(directory);
  if (paths.length === 0) fail(`Cannot fit a prior on ${directory}: no .jpg/.jpeg/.png files found`);
  const device = checkDevice(values.device);
  const threads = values.threads === undefined ? undefined : positiveInteger(values.threads, "--threads");
  await using pack = await loadPack(values.pack ?? DEFAULT_PACK, { device, threads, onPull: console.error });
  console.error(`embedding ${paths.length} photos with pack "${pack.manifest.name}" on ${pack.backend}`);
  const started = performance.now();
  const { features, files, noFace } = await embedPhotos(paths, {
    pack,
    onProgress: (done, total) => {
      if (done % 1000 !== 0) return;
      console.error(`  ${done}/${total} photos, ${(done / ((performance.now() - started) / 1000)).toFixed(1)}/s`);
    },
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `photos: ${paths.length}, embedded ${features.length}, skipped ${noFace.length} without a face ` +
      `(${seconds.toFixed(0)} s, ${(paths.length / seconds).toFixed(1)} photos/s)`,
  );
  if (values["save-features"]) {
    const path = values["save-features"];
    await Deno.writeFile(path, encodeBank(features));
    const sidecar = path.replace(/\.npy$/, "") + ".json";
    await Deno.writeTextFile(sidecar, JSON.stringify({ packSha256: pack.sha256, files, noFace }, null, 2) + "\n");
    console.log(`saved features to ${path} (+ ${sidecar})`);
  }
  return { features, files };
}

async function readFeatures(): Promise<{ features: Float32Array[]; groups?: number[] }> {
  const features = decodeBank(await Deno.readFile(values.features!));
  if (!values.groups) return { features };
  const parsed = JSON.parse(await Deno.readTextFile(values.groups));
  const labels = Array.isArray(parsed)
    ? parsed
    : Array.isArray(parsed?.files)
    ? parsed.files.map((file: string) => dirname(file))
    : fail(`Cannot read ${values.groups} as groups: current value is neither an array nor {"files": [...]}`);
  if (labels.length !== features.length) {
    fail(`Cannot use ${values.groups} as groups: current length is ${labels.length} for ${features.length} features`);
  }
  return { features, groups: groupIds(labels) };
}

// Pairwise cosines of the vectors: mean, std, and the share above each threshold.
function cosineStatistics(vectors: Float32Array[]): { mean: number; std: number; above: number[] } {
  const dim = vectors[0].length;
  const unit = vectors.map((vector) => {
    const length = norm(vector) || 1;
    return Float64Array.from(vector, (value) => value / length);
  });
  let pairs = 0, sum = 0, sumSquares = 0;
  const above = COSINE_THRESHOLDS.map(() => 0);
  for (let a = 0; a < unit.length; a++) {
    const first = unit[a];
    for (let b = a + 1; b < unit.length; b++) {
      const second = unit[b];
      let cosine = 0;
      for (let k = 0; k < dim; k++) cosine += first[k] * second[k];
      pairs++;
      sum += cosine;
      sumSquares += cosine * cosine;
      COSINE_THRESHOLDS.forEach((threshold, t) => {
        if (cosine > threshold) above[t]++;
      });
    }
  }
  const mean = sum / pairs;
  return { mean, std: Math.sqrt(Math.max(0, sumSquares / pairs - mean * mean)), above: above.map((n) => n / pairs) };
}

function printCosines(label: string, vectors: Float32Array[]): void {
  const { mean, std, above } = cosineStatistics(vectors);
  const shares = COSINE_THRESHOLDS.map((threshold, t) => `P(cos > ${threshold}) = ${above[t].toExponential(2)}`);
  console.log(
    `${label} (${vectors.length}): pairwise cosine ${mean.toFixed(4)} +- ${std.toFixed(4)}; ${shares.join(", ")}`,
  );
}

// At most `count` vectors, a seeded random subset when there are more.
function subset(vectors: Float32Array[], count: number, random: Random): Float32Array[] {
  const copy = [...vectors];
  for (let i = 0; i < Math.min(count, copy.length - 1); i++) {
    const j = i + random.int(copy.length - i);
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, count);
}

const mean = (numbers: number[]) => numbers.reduce((a, b) => a + b, 0) / numbers.length;

let features: Float32Array[];
let groups: number[] | undefined;
if (values.images) {
  const embedded = await embedFolder(values.images);
  features = embedded.features;
  if (values["per-folder"]) groups = groupIds(embedded.files.map((file) => dirname(file)));
} else {
  ({ features, groups } = await readFeatures());
}

const fitStarted = performance.now();
const prior = fitPrior(features, { groups });
const fitSeconds = (performance.now() - fitStarted) / 1000;
await Deno.writeFile(`${values.out}.tmp`, encodePrior(prior));
await Deno.rename(`${values.out}.tmp`, values.out);

const centres = groups ? identityCentres(features, groups) : undefined;
const fitted = centres ?? features;
console.log(
  `features: ${features.length} of ${prior.dim} values` + (centres ? `; centres: ${centres.length} groups` : "") +
    `; fitted on ${fitted.length} vectors in ${fitSeconds.toFixed(2)} s; wrote ${values.out}`,
);
const eigenvalues = Array.from(prior.eigenvalues);
const total = eigenvalues.reduce((a, b) => a + b, 0);
const sumSquares = eigenvalues.reduce((a, b) => a + b * b, 0);
console.log(`top-10 eigenvalues: ${eigenvalues.slice(0, 10).map((value) => value.toPrecision(4)).join(", ")}`);
console.log(
  `sum of eigenvalues: ${total.toPrecision(5)}; effective dimension (sum)^2 / sum of squares: ${
    (total * total / sumSquares).toFixed(1)
  }; top-10 share ${(eigenvalues.slice(0, 10).reduce((a, b) => a + b, 0) / total * 100).toFixed(1)} %`,
);
const random = Random.from(seed);
const draws = Array.from({ length: drawCount }, () => drawFromPrior(prior, random));
console.log(
  `mean norm: features ${mean(features.map(norm)).toFixed(3)}` +
    (centres ? `, centres ${mean(centres.map(norm)).toFixed(3)}` : "") +
    `, prior mean ${norm(prior.mean).toFixed(3)}, prior draws ${mean(draws.map(norm)).toFixed(3)}`,
);
printCosines("prior draws", draws);
const realSample = subset(fitted, drawCount, Random.from(seed, 1));
printCosines(
  `real ${centres ? "centres" : "features"}${realSample.length < fitted.length ? " (random subset)" : ""}`,
  realSample,
);
