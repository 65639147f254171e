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
 * centred box instead (see `fallbackBox`).
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
import { alignFace } from "../src/estimators/align.ts";
import { type AlignedFace, alignFaces } from "../src/estimators/align_faces.ts";
import { embed } from "../src/estimators/embed.ts";
import { equalErrorRate, summarize, unitVectors } from "../src/metrics.ts";
import { landmarks68To5, predictLandmarks } from "../src/estimators/landmarks.ts";
import type { EstimatorRole, FaceBox, SessionProvider } from "../src/estimators/types.ts";

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

// The detector found nothing: LFW crops are centred on the face, so take a
// centred square box of half the image side as the face box for landmarks.
function fallbackBox(image: RgbImage): FaceBox {
  const side = Math.min(image.width, image.height) * 0.5;
  const cx = image.width / 2, cy = image.height / 2;
  return { x1: cx - side / 2, y1: cy - side / 2, x2: cx + side / 2, y2: cy + side / 2 };
}

// Which face of an image with several: LFW labels the one in the middle.
const pick = args.pick;
if (pick !== "centre" && pick !== "score" && pick !== "largest") {
  console.error(`Cannot pick faces by ${pick}: current value is not centre, score or largest`);
  Deno.exit(2);
}
function pickFace(faces: AlignedFace[], image: RgbImage): AlignedFace {
  const cost = (face: AlignedFace) => {
    const { x1, y1, x2, y2 } = face.box;
    if (pick === "largest") return -(x2 - x1) * (y2 - y1);
    if (pick === "centre") return Math.hypot((x1 + x2 - image.width) / 2, (y1 + y2 - image.height) / 2);
    return -face.score;
  };
  return faces.reduce((best, face) => (cost(face) < cost(best) ? face : best));
}

const pairs = parsePairs(await Deno.readTextFile(join(dataDir, "pairs.txt")), foldLimit);
const keys = [...new Set(pairs.flatMap((p) => [p.first, p.second]))];
const features = new Map<string, Float32Array>();
const missed: string[] = [];
let multiple = 0;

const started = performance.now();
let alignMs = 0, embedMs = 0;
for (let start = 0; start < keys.length; start += batchSize) {
  const batchKeys = keys.slice(start, start + batchSize);
  const t0 = performance.now();
  const aligned: RgbImage[] = [];
  for (const key of batchKeys) {
    const image = await decodeImage(await Deno.readFile(join(dataDir, "images", `${key}.jpg`)));
    const faces = await alignFaces(image, { pack, ...detectOptions });
    if (faces.length > 1) multiple++;
    if (faces.length > 0) {
      aligned.push(pickFace(faces, image).image);
      continue;
    }
    missed.push(key);
    const points = await predictLandmarks(await pack.session("landmarks"), image, fallbackBox(image), {
      passes: detectOptions.landmarkPasses,
    });
    aligned.push(alignFace(image, landmarks68To5(points)));
  }
  const t1 = performance.now();
  const vectors = await embed(aligned, { pack, batchSize });
  embedMs += performance.now() - t1;
  alignMs += t1 - t0;
  batchKeys.forEach((key, i) => features.set(key, vectors[i]));
  if ((start / batchSize) % 50 === 0) {
    const done = start + batchKeys.length;
    console.error(`${done}/${keys.length} images, ${(done / ((performance.now() - started) / 1000)).toFixed(1)}/s`);
  }
}
const seconds = (performance.now() - started) / 1000;

// Cosines as the quality report scores them (src/metrics.ts): unit-length features, dot product in float64.
const unitList = unitVectors(keys.map((key) => features.get(key)!));
const unit = new Map(keys.map((key, i) => [key, unitList[i]]));
const scores = pairs.map((p) => {
  const a = unit.get(p.first)!, b = unit.get(p.second)!;
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
});

function accuracyAt(indices: number[], threshold: number): number {
  let correct = 0;
  for (const i of indices) if ((scores[i] >= threshold) === pairs[i].same) correct++;
  return correct / indices.length;
}

// Best threshold on some pairs: every midpoint between consecutive scores.
function bestThreshold(indices: number[]): number {
  const sorted = indices.map((i) => scores[i]).sort((a, b) => a - b);
  const candidates = [sorted[0] - 1e-6, ...sorted.slice(1).map((s, i) => (s + sorted[i]) / 2), sorted.at(-1)! + 1e-6];
  let best = candidates[0], bestAccuracy = -1;
  for (const threshold of candidates) {
    const accuracy = accuracyAt(indices, threshold);
    if (accuracy > bestAccuracy) [best, bestAccuracy] = [threshold, accuracy];
  }
  return best;
}

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

const meanStd = (values: number[]) => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return [mean, Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length)];
};
const [accMean, accStd] = meanStd(accuracies);
// Genuine (same person) and impostor (different people) pairs of pairs.txt, with the report's metric functions.
const genuine = summarize(scores.filter((_, i) => pairs[i].same));
const impostor = summarize(scores.filter((_, i) => !pairs[i].same));
const eer = equalErrorRate(scores.filter((_, i) => pairs[i].same), scores.filter((_, i) => !pairs[i].same));
const [thrMean] = meanStd(thresholds);

console.log(
  `device ${(await pack.session("identity")).backend}, ${threads} threads, fr_feature batch ${
    identityBatched ? batchSize : 1
  }`,
);
console.log(`settings ${JSON.stringify({ ...detectOptions, pick })}`);
console.log(`pairs ${pairs.length} in ${foldCount} folds, images ${keys.length}`);
console.log(
  `accuracy ${(accMean * 100).toFixed(2)} % +- ${(accStd * 100).toFixed(2)} (threshold mean ${thrMean.toFixed(4)})`,
);
console.log(`per fold ${accuracies.map((a) => (a * 100).toFixed(2)).join(" ")}`);
console.log(
  `no face detected: ${missed.length} images (aligned from landmarks on a centred box of half the side)${
    missed.length ? ": " + missed.slice(0, 10).join(", ") + (missed.length > 10 ? ", ..." : "") : ""
  }`,
);
console.log(`more than one face: ${multiple} images (the one picked by ${pick} used)`);
const scoreLine = (name: string, summary: typeof genuine) =>
  `${name} ${summary.count} pairs: cosine mean ${summary.mean.toFixed(4)} +- ${summary.std.toFixed(4)} (p5 ${
    summary.p5.toFixed(4)
  }, median ${summary.median.toFixed(4)})`;
console.log(scoreLine("genuine", genuine));
console.log(scoreLine("impostor", impostor));
console.log(`EER ${(100 * eer.rate).toFixed(2)} % at cosine ${eer.threshold.toFixed(4)} (all pairs, no folds)`);
console.log(
  `speed ${(keys.length / seconds).toFixed(1)} images/s (${seconds.toFixed(1)} s: decode+detect+landmarks+align ${
    (alignMs / keys.length).toFixed(1)
  } ms/image, embed ${(embedMs / keys.length).toFixed(1)} ms/image)`,
);
for (const role of Object.keys(files) as PhotoRole[]) await (await pack.session(role)).dispose();
