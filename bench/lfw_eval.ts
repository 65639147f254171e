/**
 * LFW verification accuracy of the face pipeline (detect, 68 landmarks,
 * 5-point alignment, identity features), standard 10-fold protocol: for each
 * fold the cosine threshold is the one with the best accuracy on the other
 * nine folds, and accuracy is measured on the held-out fold. Also prints the
 * quality report's numbers on the same 6,000 pairs (3,000 genuine, 3,000
 * impostor), computed with the report's own functions (`src/metrics.ts`:
 * `unitVectors`, `summarize`, `equalErrorRate`), so that a dataset's report
 * can be read against real faces.
 *
 * ```sh
 * npx -y deno@2.9.6 run -A bench/lfw_eval.ts --data /work/shared/data/lfw \
 *   --models /tmp/fp/package/model [--device native|wasm] [--limit-folds N]
 * ```
 *
 * `--data` holds `pairs.txt` and `images/<Name>/<Name>_NNNN.jpg`; `--models`
 * holds faceplugin's `fr_detect.onnx`, `fr_landmark.onnx`, `fr_feature.onnx`.
 * Images with no detected face are aligned from landmarks predicted on a
 * centred box instead (see `fallbackBox` in `_centre_face.ts`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { createSession, type Device, type OnnxSession } from "../src/_backend.ts";
import { makeBatchDynamic } from "../src/_onnx_batch.ts";
import { loadPack } from "../src/model_pack.ts";
import { decodeImage, type RgbImage } from "../src/image/codec.ts";
import type { BorderMode } from "../src/image/transform.ts";
import { alignFaces } from "../src/estimators/align_faces.ts";
import { embed } from "../src/estimators/embed.ts";
import { loadJudge } from "../src/estimators/judge.ts";
import { equalErrorRate, summarize, unitVectors } from "../src/metrics.ts";
import type { EstimatorRole, SessionProvider } from "../src/estimators/types.ts";
import { alignFromCentredBox, FACE_PICKS, type FacePick, pickFace } from "./_centre_face.ts";

/** One LFW pair: two image keys and whether they show the same person. */
interface Pair {
  first: string;
  second: string;
  same: boolean;
  fold: number;
}

const { values: args } = parseArgs({
  options: {
    data: { type: "string" },
    models: { type: "string" },
    pack: { type: "string" },
    device: { type: "string", default: "native" },
    threads: { type: "string", default: String(Math.max(1, navigator.hardwareConcurrency ?? 1)) },
    "limit-folds": { type: "string", default: "10" },
    "batch-size": { type: "string", default: "16" },
    padding: { type: "string" },
    "pad-mode": { type: "string" },
    confidence: { type: "string" },
    "crop-scale": { type: "string" },
    pick: { type: "string", default: "centre" },
    "landmark-passes": { type: "string" },
    judge: { type: "boolean", default: false },
  },
});
if (!args.data) {
  console.error("usage: lfw_eval.ts --data DIR [--models DIR | --pack DIR] [--device native|wasm] [--limit-folds N]");
  Deno.exit(2);
}
const dataDir = args.data, modelDir = args.models;
const foldLimit = Number(args["limit-folds"]);
const batchSize = Number(args["batch-size"]);
const threads = Number(args.threads);
const detectOptions = {
  padding: args.padding === undefined ? undefined : Number(args.padding),
  padMode: args["pad-mode"] as BorderMode | undefined,
  confidenceThreshold: args.confidence === undefined ? undefined : Number(args.confidence),
  landmarkCropScale: args["crop-scale"] === undefined ? undefined : Number(args["crop-scale"]),
  landmarkPasses: args["landmark-passes"] === undefined ? undefined : Number(args["landmark-passes"]),
};

function parsePairs(text: string, folds: number): Pair[] {
  const lines = text.trim().split("\n").map((line) => line.trim().split(/\s+/));
  const [foldCount, perFold] = lines[0].map(Number);
  const key = (name: string, number: string) => `${name}/${name}_${number.padStart(4, "0")}`;
  const pairs: Pair[] = [];
  for (let fold = 0; fold < Math.min(folds, foldCount); fold++) {
    for (let i = 0; i < 2 * perFold; i++) {
      const f = lines[1 + fold * 2 * perFold + i];
      pairs.push(
        f.length === 3
          ? { first: key(f[0], f[1]), second: key(f[0], f[2]), same: true, fold }
          : { first: key(f[0], f[1]), second: key(f[2], f[3]), same: false, fold },
      );
    }
  }
  return pairs;
}

// Models: the pack's (default: the bundled one, pulled into the cache), or raw
// faceplugin files from --models, with fr_feature made batch-dynamic.
type PhotoRole = Exclude<EstimatorRole, "pose" | "attributes">;
const files: Record<PhotoRole, string> = {
  detector: "fr_detect.onnx",
  landmarks: "fr_landmark.onnx",
  identity: "fr_feature.onnx",
};
let pack: SessionProvider;
const identityBatched = true;
if (modelDir) {
  const sessions = new Map<EstimatorRole, OnnxSession>();
  for (const role of Object.keys(files) as PhotoRole[]) {
    let bytes: Uint8Array = await Deno.readFile(join(modelDir, files[role]));
    if (role === "identity") bytes = makeBatchDynamic(bytes).model;
    sessions.set(role, await createSession(bytes, { device: args.device as Device, threads }));
  }
  pack = { session: (role) => Promise.resolve(sessions.get(role)!) };
} else {
  pack = await loadPack(args.pack, { device: args.device as Device, threads });
}

// Which face of an image with several: LFW labels the one in the middle.
const pick = args.pick as FacePick;
if (!FACE_PICKS.includes(pick)) {
  console.error(`Cannot pick faces by ${pick}: current value is not centre, score or largest`);
  Deno.exit(2);
}

const pairs = parsePairs(await Deno.readTextFile(join(dataDir, "pairs.txt")), foldLimit);
const keys = [...new Set(pairs.flatMap((p) => [p.first, p.second]))];
const features = new Map<string, Float32Array>();
const missed: string[] = [];
let multiple = 0;

const started = performance.now();
let alignMs = 0, embedMs = 0, judgeMs = 0;
// The independent judge reads the same aligned faces (--judge).
const judge = args.judge ? await loadJudge({ device: args.device as Device, threads }) : undefined;
const judgeFeatures = new Map<string, Float32Array>();
for (let start = 0; start < keys.length; start += batchSize) {
  const batchKeys = keys.slice(start, start + batchSize);
  const t0 = performance.now();
  const aligned: RgbImage[] = [];
  for (const key of batchKeys) {
    const image = await decodeImage(await Deno.readFile(join(dataDir, "images", `${key}.jpg`)));
    const faces = await alignFaces(image, { pack, ...detectOptions });
    if (faces.length > 1) multiple++;
    if (faces.length > 0) {
      aligned.push(pickFace(faces, image, pick).image);
      continue;
    }
    missed.push(key);
    aligned.push(await alignFromCentredBox(image, pack, detectOptions));
  }
  const t1 = performance.now();
  const vectors = await embed(aligned, { pack, batchSize });
  embedMs += performance.now() - t1;
  if (judge) {
    const t2 = performance.now();
    const descriptors = await judge.embed(aligned, { batchSize });
    judgeMs += performance.now() - t2;
    batchKeys.forEach((key, i) => judgeFeatures.set(key, descriptors[i]));
  }
  alignMs += t1 - t0;
  batchKeys.forEach((key, i) => features.set(key, vectors[i]));
  if ((start / batchSize) % 50 === 0) {
    const done = start + batchKeys.length;
    console.error(`${done}/${keys.length} images, ${(done / ((performance.now() - started) / 1000)).toFixed(1)}/s`);
  }
}
const seconds = (performance.now() - started) / 1000;

/** LFW verification numbers of one model's features: 10-fold accuracy, AUC, genuine/impostor, EER, FAR thresholds. */
function verification(features: Map<string, Float32Array>) {
  // Cosines as the quality report scores them (src/metrics.ts): unit-length features, dot product in float64.
  const unitList = unitVectors(keys.map((key) => features.get(key)!));
  const unit = new Map(keys.map((key, i) => [key, unitList[i]]));
  const scores = pairs.map((p) => dot(unit.get(p.first)!, unit.get(p.second)!));
  const accuracyAt = (indices: number[], threshold: number) => {
    let correct = 0;
    for (const i of indices) if ((scores[i] >= threshold) === pairs[i].same) correct++;
    return correct / indices.length;
  };
  // Best threshold on some pairs: every midpoint between consecutive scores.
  const bestThreshold = (indices: number[]) => {
    const sorted = indices.map((i) => scores[i]).sort((a, b) => a - b);
    const candidates = [sorted[0] - 1e-6, ...sorted.slice(1).map((s, i) => (s + sorted[i]) / 2), sorted.at(-1)! + 1e-6];
    let best = candidates[0], bestAccuracy = -1;
    for (const threshold of candidates) {
      const accuracy = accuracyAt(indices, threshold);
      if (accuracy > bestAccuracy) [best, bestAccuracy] = [threshold, accuracy];
    }
    return best;
  };
  const foldCount = Math.max(...pairs.map((p) => p.fold)) + 1;
  const accuracies: number[] = [], thresholds: number[] = [];
  for (let fold = 0; fold < foldCount; fold++) {
    const test = pairs.flatMap((p, i) => (p.fold === fold ? [i] : []));
    // With a single fold there is nothing to hold out: the threshold is fitted on it (optimistic).
    const train = foldCount > 1 ? pairs.flatMap((p, i) => (p.fold !== fold ? [i] : [])) : test;
    const threshold = bestThreshold(train);
    thresholds.push(threshold);
    accuracies.push(accuracyAt(test, threshold));
  }
  const genuineScores = scores.filter((_, i) => pairs[i].same);
  const impostorScores = scores.filter((_, i) => !pairs[i].same);
  // False-accept thresholds over every cross-identity pair of the images (29.6M for all 10 folds).
  const person = keys.map((key) => key.split("/")[0]);
  const far = crossIdentityQuantiles(unitList, person, [1e-3, 1e-4]);
  return {
    foldCount,
    accuracies,
    accuracy: meanStd(accuracies),
    thresholdMean: meanStd(thresholds)[0],
    auc: rocAuc(genuineScores, impostorScores),
    // Genuine (same person) and impostor (different people) pairs of pairs.txt, with the report's metric functions.
    genuine: summarize(genuineScores),
    impostor: summarize(impostorScores),
    eer: equalErrorRate(genuineScores, impostorScores),
    far,
  };
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function meanStd(values: number[]): [number, number] {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return [mean, Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length)];
}

/** Area under the ROC curve: the chance that a genuine pair scores above an impostor pair (ties count half). */
function rocAuc(genuine: number[], impostor: number[]): number {
  const all = [...genuine.map((s) => [s, 1]), ...impostor.map((s) => [s, 0])].sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j][0] === all[i][0]) j++;
    const rank = (i + j + 1) / 2; // mean 1-based rank of the tie group
    for (let k = i; k < j; k++) if (all[k][1] === 1) rankSum += rank;
    i = j;
  }
  return (rankSum - (genuine.length * (genuine.length + 1)) / 2) / (genuine.length * impostor.length);
}

/** Cosines above which each share of all cross-identity pairs falls, from a 1e-5-wide histogram. */
function crossIdentityQuantiles(unitList: Float32Array[], person: string[], shares: number[]) {
  const bins = 200_000, counts = new Float64Array(bins);
  let total = 0;
  for (let i = 0; i < unitList.length; i++) {
    for (let j = i + 1; j < unitList.length; j++) {
      if (person[i] === person[j]) continue;
      const s = dot(unitList[i], unitList[j]);
      counts[Math.min(bins - 1, Math.max(0, Math.floor(((s + 1) / 2) * bins)))]++;
      total++;
    }
  }
  return {
    pairs: total,
    thresholds: shares.map((share) => {
      let above = 0, bin = bins - 1;
      for (; bin > 0 && above + counts[bin] <= share * total; bin--) above += counts[bin];
      return { far: share, cosine: (bin + 1) / bins * 2 - 1 };
    }),
  };
}

function printVerification(name: string, result: ReturnType<typeof verification>): void {
  const [accMean, accStd] = result.accuracy;
  console.log(`--- ${name}`);
  console.log(`pairs ${pairs.length} in ${result.foldCount} folds, images ${keys.length}`);
  console.log(
    `accuracy ${(accMean * 100).toFixed(2)} % +- ${(accStd * 100).toFixed(2)} (threshold mean ${
      result.thresholdMean.toFixed(4)
    }), AUC ${result.auc.toFixed(4)}`,
  );
  console.log(`per fold ${result.accuracies.map((a) => (a * 100).toFixed(2)).join(" ")}`);
  const scoreLine = (what: string, summary: typeof result.genuine) =>
    `${what} ${summary.count} pairs: cosine mean ${summary.mean.toFixed(4)} +- ${summary.std.toFixed(4)} (p5 ${
      summary.p5.toFixed(4)
    }, median ${summary.median.toFixed(4)})`;
  console.log(scoreLine("genuine", result.genuine));
  console.log(scoreLine("impostor", result.impostor));
  console.log(
    `EER ${(100 * result.eer.rate).toFixed(2)} % at cosine ${result.eer.threshold.toFixed(4)} (all pairs, no folds)`,
  );
  console.log(
    `FAR thresholds over ${result.far.pairs} cross-identity pairs: ${
      result.far.thresholds.map((t) => `${t.far}: cosine ${t.cosine.toFixed(4)}`).join(", ")
    }`,
  );
  console.log(`json ${JSON.stringify({ name, ...result, accuracies: undefined })}`);
}

console.log(
  `device ${(await pack.session("identity")).backend}, ${threads} threads, fr_feature batch ${
    identityBatched ? batchSize : 1
  }`,
);
console.log(`settings ${JSON.stringify({ ...detectOptions, pick })}`);
console.log(
  `no face detected: ${missed.length} images (aligned from landmarks on a centred box of half the side)${
    missed.length ? ": " + missed.slice(0, 10).join(", ") + (missed.length > 10 ? ", ..." : "") : ""
  }`,
);
console.log(`more than one face: ${multiple} images (the one picked by ${pick} used)`);
console.log(
  `speed ${(keys.length / seconds).toFixed(1)} images/s (${seconds.toFixed(1)} s: decode+detect+landmarks+align ${
    (alignMs / keys.length).toFixed(1)
  } ms/image, embed ${(embedMs / keys.length).toFixed(1)} ms/image${
    judge ? `, judge ${(judgeMs / keys.length).toFixed(1)} ms/image` : ""
  })`,
);
printVerification("fr_feature (the pack's identity model; the generator trains against it)", verification(features));
if (judge) {
  printVerification(`judge ${judge.name} (independent: no training here uses it)`, verification(judgeFeatures));
  await judge.dispose();
}
for (const role of Object.keys(files) as PhotoRole[]) await (await pack.session(role)).dispose();
