/**
 * The dataset quality report's numbers: embeds every image of a dataset with
 * a pack's identity model (aligned 112x112 images directly, other photos
 * after `alignFaces`) and measures identity fidelity, genuine and impostor
 * similarity, the EER between them, Vec2Face's unique-identity ratio, the
 * spread of head pose (with the pack's `pose` model), of age, gender and
 * quality (with its `attributes` heads) and, with real faces, the Frechet
 * distance. `report.ts` writes it out.
 *
 * @module
 */
import { decodeBank } from "./bank.ts";
import { EDIT_ATTRIBUTES, type EditAttribute } from "./edit.ts";
import { Vec2FaceError } from "./errors.ts";
import { alignFaces } from "./estimators/align_faces.ts";
import { ALIGNED_SIZE } from "./estimators/align.ts";
import { attributesOfFeatures, type FaceAttributes } from "./estimators/attributes.ts";
import { embed } from "./estimators/embed.ts";
import { calibrationOf, type Judge, type JudgeCalibration } from "./estimators/judge.ts";
import { estimatePose, type Pose } from "./estimators/pose.ts";
import { decodeImage, type RgbImage } from "./image/codec.ts";
import {
  type EqualErrorRate,
  equalErrorRate,
  frechetDistance,
  gaussianStats,
  genuineScores,
  type Histogram,
  histogram,
  impostorScores,
  summarize,
  type Summary,
  type UniqueIdentities,
  uniqueIdentities,
  unitCentres,
  unitVectors,
} from "./metrics.ts";
import type { ModelPack } from "./model_pack.ts";
import { checkSeed } from "./random.ts";
import { checkBatches, checkCount } from "./_check.ts";
import { type DatasetIndex, type DatasetItem, type DatasetLayout, openDataset, readDataset } from "./read_dataset.ts";
import { cosineSimilarity } from "./vectors.ts";
import type { Progress } from "./progress.ts";

/**
 * Cosine range and bins of the report's histograms (0.02 wide).
 */
export const HISTOGRAM_RANGE: { min: number; max: number; bins: number } = { min: -0.5, max: 1, bins: 75 };

/**
 * Degree range and bins of the yaw and pitch histograms (5 degrees wide);
 * angles outside it count in the edge bins.
 */
export const POSE_HISTOGRAM_RANGE: { min: number; max: number; bins: number } = { min: -90, max: 90, bins: 36 };

/**
 * Year range and bins of the age histogram (5 years wide); ages outside it
 * count in the edge bins.
 */
export const AGE_HISTOGRAM_RANGE: { min: number; max: number; bins: number } = { min: 0, max: 100, bins: 20 };

/**
 * Metrics that need a model the pack may lack, and why they are absent then:
 * yaw/pitch spread needs the `pose` model, age, gender and quality the
 * `attributes` heads (a pack that has them gives them).
 */
export const ABSENT_METRICS: Readonly<Record<"spread" | "age" | "gender" | "quality", string>> = {
  spread: "yaw/pitch std and histograms need a pose model: the pack declares none (files.pose)",
  age: "age histogram needs the attribute heads: the pack declares none (files.attributes)",
  gender: "gender balance needs the attribute heads: the pack declares none (files.attributes)",
  quality: "quality needs the attribute heads: the pack declares none (files.attributes)",
};

/**
 * How near its target an edited image must be to count in the edit report's
 * share within tolerance: yaw and pitch in degrees, age in years, gender in
 * probability of female (0.5: the gender head reads the target's side),
 * quality in feature-norm ratio. Looser than the search's own
 * (`EDIT_TOLERANCES`), so that the share says how many images are near the
 * target, also among those the search did not count as reached.
 *
 * @example A yaw of 19 degrees is near a target of 25, one of 17 is not
 * ```ts
 * import assert from "node:assert/strict";
 * import { EDIT_REPORT_TOLERANCES } from "./evaluate.ts";
 * assert.ok(Math.abs(19 - 25) <= EDIT_REPORT_TOLERANCES.yaw);
 * assert.ok(Math.abs(17 - 25) > EDIT_REPORT_TOLERANCES.yaw);
 * ```
 */
export const EDIT_REPORT_TOLERANCES: Readonly<Record<EditAttribute, number>> = {
  yaw: 7,
  pitch: 7,
  age: 5,
  gender: 0.5,
  quality: 0.1,
};

/**
 * The unit of each edit attribute's targets and measurements, as the report
 * and `eval` write it after a number (quality, a ratio, has none).
 *
 * @example A yaw target and an age target in words
 * ```ts
 * import assert from "node:assert/strict";
 * import { EDIT_UNITS } from "./evaluate.ts";
 * assert.equal(`25 ${EDIT_UNITS.yaw}`, "25 deg");
 * assert.equal(`40 ${EDIT_UNITS.age}`, "40 years");
 * assert.equal(EDIT_UNITS.quality, "");
 * ```
 */
export const EDIT_UNITS: Readonly<Record<EditAttribute, string>> = {
  yaw: "deg",
  pitch: "deg",
  age: "years",
  gender: "P(female)",
  quality: "",
};

/**
 * Progress of {@linkcode evaluateDataset}: images read and embedded, faces
 * whose pose or attributes are read.
 */
export interface EvaluateProgress extends Progress {
  /**
   * `dataset`: images of the evaluated dataset read (and handed to the
   * identity model); `pose`: of them, faces whose pose is estimated, in the
   * same pass (`total` is the images listed less those found unreadable or
   * faceless so far, exact at the end); `attributes`: faces whose age, gender
   * and quality are read from their features, after that pass; `real`: the
   * real faces of `--real`, last.
   */
  stage: "dataset" | "pose" | "attributes" | "real";
  /** Images done. */
  done: number;
  /** Images in all. */
  total: number;
}

/**
 * Options of {@linkcode embedDataset}.
 */
export interface EmbedDatasetOptions {
  /** The pack whose identity (and detector, landmark) models run. */
  pack: ModelPack;
  /** Faces per identity-model run; default 32. */
  batchSize?: number;
  /** Keeps the aligned face of the items it returns true for (the contact sheet). */
  keep?: (item: DatasetItem) => boolean;
  /** Also estimates the head pose of every embedded face with the pack's `pose` model, batch by batch. */
  pose?: boolean;
  /** Also reads every embedded face with this independent judge, batch by batch (see `estimators/judge.ts`). */
  judge?: Judge;
  /** Cancels between images. */
  signal?: AbortSignal;
  /**
   * Called as images are done (stage `dataset`: images read of those listed)
   * and, with `pose`, as poses are done (stage `pose`: faces done, of the
   * images listed less those found unreadable or faceless so far).
   */
  onProgress?: (progress: EvaluateProgress) => void;
}

/**
 * A dataset's identity features, as {@linkcode embedDataset} made them.
 */
export interface EmbeddedDataset {
  /** One raw feature per embedded image. */
  features: Float32Array[];
  /** The items of `features`, in the same order. */
  items: DatasetItem[];
  /** With the `pose` option, the head pose of each embedded face, in the same order; else empty. */
  poses: Pose[];
  /** With the `judge` option, the judge's descriptor of each embedded face, in the same order; else empty. */
  judgeFeatures: Float32Array[];
  /** Seconds spent estimating poses. */
  poseSeconds: number;
  /** Of them, the images that were not 112x112 and went through face alignment. */
  aligned: number;
  /** Images in which no face was found. */
  noFace: string[];
  /** Images that could not be read or decoded, with the reason. */
  unreadable: { file: string; reason: string }[];
  /** The aligned faces `keep` asked for. */
  kept: { item: DatasetItem; face: RgbImage }[];
}

/**
 * Embeds one batch of aligned faces into `result` (then, as asked, their
 * poses and the judge's reading of them).
 */
async function embedBatch(
  faces: readonly { item: DatasetItem; face: RgbImage }[],
  result: EmbeddedDataset,
  options: EmbedDatasetOptions & { batchSize: number; total: number },
): Promise<void> {
  const { pack, batchSize, signal } = options;
  const images = faces.map((face) => face.face);
  const features = await embed(images, { pack, batchSize, signal });
  if (options.pose) {
    const started = performance.now();
    const poses = await estimatePose(images, { pack, signal });
    result.poseSeconds += (performance.now() - started) / 1000;
    result.poses.push(...poses);
  }
  if (options.judge) result.judgeFeatures.push(...await options.judge.embed(images, { batchSize, signal }));
  result.features.push(...features);
  result.items.push(...faces.map((face) => face.item));
  if (options.pose) {
    options.onProgress?.({
      stage: "pose",
      done: result.poses.length,
      total: options.total - result.noFace.length - result.unreadable.length,
    });
  }
}

/**
 * Embeds every image of a dataset: 112x112 images are taken as aligned
 * faces, anything else goes through `alignFaces` (the best face; none found
 * is listed in `noFace`). Unreadable images are listed, not fatal. The
 * identity model (then, with `pose`, the pose model on the same faces) runs
 * in batches while the next batch is read and decoded, so that no image is
 * read, decoded or aligned twice.
 *
 * @example Embed a one-image dataset with the fixture pack
 * ```ts
 * import assert from "node:assert/strict";
 * import { embedDataset } from "./evaluate.ts";
 * import { encodePng } from "./image/codec.ts";
 * import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
 * import { openDataset } from "./read_dataset.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/ann`);
 * await Deno.writeFile(`${root}/ann/1.png`, encodePng({ width: 112, height: 112, data: new Uint8Array(112 * 112 * 3) }));
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * const { features, aligned } = await embedDataset(await openDataset(root), { pack });
 * assert.equal(features.length, 1);
 * assert.equal(features[0].length, 512);
 * assert.equal(aligned, 0);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function embedDataset(index: DatasetIndex, options: EmbedDatasetOptions): Promise<EmbeddedDataset> {
  const { pack, signal } = options;
  const batchSize = checkBatches(options.batchSize ?? 32, "embed faces");
  const result: EmbeddedDataset = {
    features: [],
    items: [],
    poses: [],
    judgeFeatures: [],
    poseSeconds: 0,
    aligned: 0,
    noFace: [],
    unreadable: [],
    kept: [],
  };
  const total = index.items.length;
  let done = 0;
  let batch: { item: DatasetItem; face: RgbImage }[] = [];
  let running: Promise<void> = Promise.resolve();
  // Starts embedding the pending faces once the batch before has finished: one batch embeds while the next
  // one is read and decoded.
  const flush = async () => {
    await running;
    const faces = batch;
    batch = [];
    running = embedBatch(faces, result, { ...options, batchSize, total });
    // A failure surfaces at the next await of `running`, not as an unhandled rejection.
    running.catch(() => {});
  };
  for await (const { item, bytes, problem } of readDataset(index, { signal })) {
    done++;
    if (!bytes) {
      result.unreadable.push({ file: item.file, reason: problem ?? "unreadable" });
      options.onProgress?.({ stage: "dataset", done, total });
      continue;
    }
    let image: RgbImage;
    try {
      image = await decodeImage(bytes);
    } catch (error) {
      result.unreadable.push({ file: item.file, reason: (error as Error).message });
      options.onProgress?.({ stage: "dataset", done, total });
      continue;
    }
    let face = image;
    if (image.width !== ALIGNED_SIZE || image.height !== ALIGNED_SIZE) {
      const faces = await alignFaces(image, { pack, maxFaces: 1, signal });
      if (faces.length === 0) {
        result.noFace.push(item.file);
        options.onProgress?.({ stage: "dataset", done, total });
        continue;
      }
      face = faces[0].image;
      result.aligned++;
    }
    if (options.keep?.(item)) result.kept.push({ item, face });
    batch.push({ item, face });
    if (batch.length >= batchSize) await flush();
    options.onProgress?.({ stage: "dataset", done, total });
  }
  if (batch.length > 0) await flush();
  await running;
  return result;
}

/**
 * Options of {@linkcode evaluateDataset}.
 */
export interface EvaluateOptions {
  /** The pack whose identity model judges (and whose detector and landmarks align photos). */
  pack: ModelPack;
  /** Real faces for the Frechet distance: a dataset or ImageFolder, a folder of photos, or features `.npy`. */
  real?: string;
  /** At most this many genuine and impostor pairs each (more are sampled); default 1,000,000. */
  pairs?: number;
  /** Seed of the sampled pairs; default 0. */
  seed?: number;
  /** Cosines for the unique-identity ratio; default `[0.4]` (Vec2Face's). */
  uniqueThresholds?: number[];
  /** Identities (rows) and images (columns) of the contact sheet; default 8 x 8. */
  sheet?: { identities?: number; images?: number };
  /** Faces per identity-model run; default 32. */
  batchSize?: number;
  /**
   * The independent judge (`loadJudge()`): every identity metric is then also
   * read by it, side by side with the pack's own identity model.
   */
  judge?: Judge;
  /** Cancels between images. */
  signal?: AbortSignal;
  /** Called as images are done. */
  onProgress?: (progress: EvaluateProgress) => void;
}

/**
 * The identity metrics of a dataset as one face-recognition model reads them,
 * with that model's own reading of real faces (LFW pairs) beside them.
 */
export interface JudgeReport {
  /** The model: `fr_feature` style name of the pack's identity model, or the judge's. */
  name: string;
  /** True for a model no training in this project uses; false for the pack's own (the generator trains against it). */
  independent: boolean;
  /** Backend that ran it. */
  backend: string;
  /** Pairs of images of one identity. */
  genuine: PairReport | null;
  /** Pairs of images of different identities. */
  impostor: PairReport | null;
  /** Equal error rate between genuine and impostor scores. */
  eer: EqualErrorRate | null;
  /** Unique-identity ratio at the model's FAR-1e-3 cosine on LFW (when calibrated) and at 0.4. */
  uniqueIdentities: UniqueIdentities[];
  /** Frechet distance to the real faces in this model's space, with `real`. */
  frechetDistance: number | null;
  /** The model on real faces (LFW `pairs.txt`), when calibrated; the reference row. */
  reference: JudgeCalibration | null;
}

/**
 * Pair scores in the report: summary, how many pairs, how they were chosen.
 */
export interface PairReport extends Summary {
  /** Pairs that exist (`count` of them were scored). */
  available: number;
  /** True when every pair was scored; false when `count` pairs were sampled with replacement. */
  exhaustive: boolean;
  /** Distribution over {@linkcode HISTOGRAM_RANGE}. */
  histogram: Histogram;
}

/**
 * A measure over the evaluated faces: its summary and its distribution.
 */
export interface DistributionReport extends Summary {
  /** Counts per bin (values outside the range count in the edge bins). */
  histogram: Histogram;
}

/**
 * Head-pose spread of the evaluated faces (the pack's `pose` model), and what
 * estimating it cost.
 */
export interface SpreadReport {
  /** Yaw in degrees (positive turns the face to the image's left), over {@linkcode POSE_HISTOGRAM_RANGE}. */
  yaw: DistributionReport;
  /** Pitch in degrees (positive looks up), over {@linkcode POSE_HISTOGRAM_RANGE}. */
  pitch: DistributionReport;
  /** Seconds spent in pose estimation (crops and model runs). */
  seconds: number;
  /** Faces whose pose was estimated per second of that time. */
  imagesPerSecond: number;
}

/**
 * Age, gender and quality of the evaluated faces, read by the pack's
 * attribute heads from the identity features the other metrics use.
 */
export interface AttributesReport {
  /** Apparent age in years, over {@linkcode AGE_HISTOGRAM_RANGE}. */
  age: DistributionReport;
  /** Gender balance. */
  gender: {
    /** Faces read. */
    count: number;
    /** Share of faces with a female probability of at least 0.5. */
    femaleShare: number;
    /** Mean female probability. */
    meanFemaleProbability: number;
  };
  /** Feature norm over the mean norm of real faces: about 1 for a clear photo, lower when degraded. */
  quality: Summary;
  /** Seconds spent in the heads. */
  seconds: number;
}

/**
 * One attribute target of an edited dataset, and what its images reached.
 */
export interface EditTargetReport {
  /** The attribute. */
  attribute: EditAttribute;
  /** Its target (gender as the probability of female). */
  target: number;
  /** The values measured on the edited images (their manifest rows), in the attribute's unit. */
  measured: Summary;
  /** {@linkcode EDIT_REPORT_TOLERANCES}' value for the attribute. */
  tolerance: number;
  /** Share of the images with |measured - target| <= `tolerance`. */
  withinTolerance: number;
}

/**
 * What the edits of an edited dataset reached (`generate` with `edit`), read
 * from its manifest rows: the search's own measurements, not the report's
 * re-reading of the JPEG images.
 */
export interface EditReport {
  /** Images whose manifest row records an edit. */
  images: number;
  /** Per attribute and target value, in `EDIT_ATTRIBUTES` order. */
  targets: EditTargetReport[];
  /** Images whose edit was reached (every target within `edit`'s tolerance, identity kept) and not. */
  status: { reached: number; unreached: number };
  /** Identity cosine between each edited face and its unedited face. */
  identity: { mean: number; min: number };
  /** Generator calls per image. */
  calls: { mean: number; max: number; total: number };
}

/**
 * The quality report of a dataset (`report.json`).
 */
export interface EvalReport {
  /** Report format version. */
  version: 1;
  /** The dataset. */
  dataset: {
    /** Folder as given. */
    path: string;
    /** Layout found. */
    layout: DatasetLayout;
    /** Identities listed. */
    identities: number;
    /** Images listed. */
    images: number;
    /** Images embedded. */
    embedded: number;
    /** Of them, photos that went through face alignment (not 112x112). */
    aligned: number;
    /** Images without a face. */
    noFace: number;
    /** Images that could not be read or decoded. */
    unreadable: number;
    /** The first problems (unreadable or faceless images), at most 20. */
    problems: string[];
    /** Embedded images per identity. */
    imagesPerIdentity: { min: number; mean: number; max: number };
  };
  /** The judge. */
  model: { pack: string; packSha256: string; identitySha256: string | null; backend: string };
  /** Options that change the numbers. */
  options: { pairs: number; seed: number };
  /** cos(embed(image), its identity vector), when the bank is present. */
  fidelity: (Summary & { histogram: Histogram; bankPackSha256: string | null }) | null;
  /** Pairs of images of one identity. */
  genuine: PairReport | null;
  /** Pairs of images of different identities. */
  impostor: PairReport | null;
  /** Equal error rate between genuine and impostor scores. */
  eer: EqualErrorRate | null;
  /** Vec2Face's unique-identity ratio at each threshold. */
  uniqueIdentities: UniqueIdentities[];
  /** Yaw/pitch spread, when the pack has a pose model (else see `absent.spread`). */
  spread: SpreadReport | null;
  /** Age, gender balance and quality, when the pack has the attribute heads (else see `absent`). */
  attributes: AttributesReport | null;
  /** What the attribute edits reached, from the manifest rows; only for an edited dataset (`generate` with `edit`). */
  edits?: EditReport;
  /** Frechet distance to real faces (unit-length identity features), with `real`. */
  realism: {
    frechetDistance: number;
    real: { path: string; images: number; embedded: number; noFace: number; unreadable: number };
  } | null;
  /**
   * Every identity metric by each model, side by side: the pack's identity
   * model first, then the independent judge when one was given.
   */
  judges: JudgeReport[];
  /** Metrics not given, and why. */
  absent: Record<string, string>;
  /** Wall time of the evaluation. */
  seconds: number;
  /** Images read per second. */
  imagesPerSecond: number;
}

/**
 * A report and the faces of its contact sheet.
 */
export interface Evaluation {
  /** The numbers. */
  report: EvalReport;
  /** Contact sheet: one row of aligned faces per identity. */
  sheet: RgbImage[][];
}

function distribution(
  values: readonly number[],
  range: { min: number; max: number; bins: number },
): DistributionReport {
  return { ...summarize(values), histogram: histogram(values, range) };
}

/**
 * What the edits of a dataset's images reached, from the edit records of
 * their manifest rows (`DatasetItem.edit`): per attribute and target, the
 * measured values' summary and the share within
 * {@linkcode EDIT_REPORT_TOLERANCES}; status counts, identity cosine and
 * generator calls. `undefined` when no item records an edit.
 *
 * @example Two images edited towards yaw 25
 * ```ts
 * import assert from "node:assert/strict";
 * import { editReport } from "./evaluate.ts";
 * const item = (yaw: number, status: "reached" | "unreached", identity: number, calls: number) => ({
 *   identity: 0, image: 0, file: "000000/000.jpg",
 *   edit: { targets: { yaw: 25 }, status, measured: { yaw }, identity, calls },
 * });
 * const report = editReport([item(24, "reached", 0.9, 10), item(10, "unreached", 0.7, 30)])!;
 * assert.equal(report.targets[0].attribute, "yaw");
 * assert.equal(report.targets[0].measured.mean, 17);
 * assert.equal(report.targets[0].withinTolerance, 0.5); // |24 - 25| <= 7, |10 - 25| > 7
 * assert.deepEqual(report.status, { reached: 1, unreached: 1 });
 * assert.deepEqual(report.calls, { mean: 20, max: 30, total: 40 });
 * assert.equal(editReport([{ identity: 0, image: 0, file: "a.jpg" }]), undefined);
 * ```
 */
export function editReport(items: readonly DatasetItem[]): EditReport | undefined {
  const edits = items.flatMap((item) => item.edit ? [item.edit] : []);
  if (edits.length === 0) return undefined;
  // Values measured per attribute and target (one target each in a `generate` run; several if datasets were merged).
  const measured = new Map<EditAttribute, Map<number, number[]>>();
  for (const edit of edits) {
    for (const [name, target] of Object.entries(edit.targets) as [EditAttribute, number][]) {
      const value = edit.measured[name];
      if (value === undefined) continue;
      const byTarget = measured.get(name) ?? new Map<number, number[]>();
      measured.set(name, byTarget);
      const values = byTarget.get(target) ?? [];
      byTarget.set(target, values);
      values.push(value);
    }
  }
  const targets: EditTargetReport[] = [];
  for (const attribute of EDIT_ATTRIBUTES) {
    const byTarget = measured.get(attribute);
    if (!byTarget) continue;
    const tolerance = EDIT_REPORT_TOLERANCES[attribute];
    for (const [target, values] of [...byTarget].sort((a, b) => a[0] - b[0])) {
      targets.push({
        attribute,
        target,
        measured: summarize(values),
        tolerance,
        withinTolerance: values.filter((value) => Math.abs(value - target) <= tolerance).length / values.length,
      });
    }
  }
  const identity = summarize(edits.map((edit) => edit.identity));
  const calls = summarize(edits.map((edit) => edit.calls));
  return {
    images: edits.length,
    targets,
    status: {
      reached: edits.filter((edit) => edit.status === "reached").length,
      unreached: edits.filter((edit) => edit.status === "unreached").length,
    },
    identity: { mean: identity.mean, min: identity.min },
    calls: { mean: calls.mean, max: calls.max, total: edits.reduce((sum, edit) => sum + edit.calls, 0) },
  };
}

/** Age, gender and quality of features, in chunks so that progress is told and a signal is heard. */
async function attributesReport(
  features: readonly Float32Array[],
  options: EvaluateOptions,
): Promise<AttributesReport> {
  const started = performance.now();
  const chunk = 1024;
  const values: FaceAttributes[] = [];
  for (let start = 0; start < features.length; start += chunk) {
    if (options.signal?.aborted) {
      throw new Vec2FaceError("aborted", "Cannot finish reading attributes: the signal was aborted", {
        cause: options.signal.reason,
      });
    }
    values.push(...await attributesOfFeatures(features.slice(start, start + chunk), { pack: options.pack }));
    options.onProgress?.({ stage: "attributes", done: values.length, total: features.length });
  }
  const female = values.map((value) => value.female);
  return {
    age: distribution(values.map((value) => value.age), AGE_HISTOGRAM_RANGE),
    gender: {
      count: female.length,
      femaleShare: female.filter((p) => p >= 0.5).length / female.length,
      meanFemaleProbability: summarize(female).mean,
    },
    quality: summarize(values.map((value) => value.quality)),
    seconds: (performance.now() - started) / 1000,
  };
}

/** Genuine, impostor, EER and unique identities of one model's features. */
function identityMetrics(
  features: readonly Float32Array[],
  labels: readonly number[],
  options: { pairs: number; seed: number; thresholds: readonly number[] },
): Pick<JudgeReport, "genuine" | "impostor" | "eer" | "uniqueIdentities"> {
  const pairReport = (scores: ReturnType<typeof genuineScores>): PairReport | null =>
    scores.scores.length === 0 ? null : {
      ...summarize(scores.scores),
      available: scores.available,
      exhaustive: scores.exhaustive,
      histogram: histogram(scores.scores, HISTOGRAM_RANGE),
    };
  const genuineRaw = genuineScores(features, labels, options);
  const impostorRaw = impostorScores(features, labels, options);
  const genuine = pairReport(genuineRaw), impostor = pairReport(impostorRaw);
  const centres = unitCentres(features, labels);
  return {
    genuine,
    impostor,
    eer: genuine && impostor ? equalErrorRate(genuineRaw.scores, impostorRaw.scores) : null,
    uniqueIdentities: options.thresholds.map((threshold) => uniqueIdentities(centres, threshold)),
  };
}

// Vec2Face's unique-identity cosine (ArcFace), read beside each model's own FAR-1e-3 line.
const VEC2FACE_UNIQUE_COSINE = 0.4;

const NO_REAL_FACES = "no real faces given (--real DIR)";

function uniqueAtCalibration(
  features: readonly Float32Array[],
  labels: readonly number[],
  calibration: JudgeCalibration | null,
): UniqueIdentities[] {
  const centres = unitCentres(features, labels);
  return calibratedThresholds(calibration).map((threshold) => uniqueIdentities(centres, threshold));
}

/** The model's own FAR-1e-3 cosine on LFW (when calibrated), then Vec2Face's 0.4. */
function calibratedThresholds(calibration: JudgeCalibration | null): number[] {
  return calibration ? [calibration.far1e3, VEC2FACE_UNIQUE_COSINE] : [VEC2FACE_UNIQUE_COSINE];
}

/** The independent judge's reading of the dataset (and of the real faces, when they were images). */
function judgeReport(
  judge: Judge,
  features: Float32Array[],
  labels: readonly number[],
  real: Awaited<ReturnType<typeof realFeatures>> | undefined,
  options: { pairs: number; seed: number },
): JudgeReport {
  // One pass over the identity centres: the unique-identity thresholds are the judge's own.
  const metrics = identityMetrics(features, labels, {
    ...options,
    thresholds: calibratedThresholds(judge.calibration),
  });
  const realJudged = real?.judgeFeatures ?? [];
  return {
    name: judge.name,
    independent: judge.independent,
    backend: judge.backend,
    ...metrics,
    frechetDistance: realJudged.length >= 2 && features.length >= 2
      ? frechetDistance(gaussianStats(unitVectors(features)), gaussianStats(unitVectors(realJudged)))
      : null,
    reference: judge.calibration,
  };
}

/**
 * Features of `--real`: a features `.npy` as is (the pack's model only), else everything embedded from a
 * dataset or folder (and read by the judge, when there is one).
 */
async function realFeatures(
  path: string,
  options: EvaluateOptions,
): Promise<
  { features: Float32Array[]; judgeFeatures: Float32Array[]; images: number; noFace: number; unreadable: number }
> {
  if (path.endsWith(".npy")) {
    const features = decodeBank(await Deno.readFile(path), { name: path });
    return { features, judgeFeatures: [], images: features.length, noFace: 0, unreadable: 0 };
  }
  const index = await openDataset(path);
  const embedded = await embedDataset(index, {
    pack: options.pack,
    batchSize: options.batchSize,
    judge: options.judge,
    signal: options.signal,
    onProgress: (progress) => options.onProgress?.({ ...progress, stage: "real" }),
  });
  return {
    features: embedded.features,
    judgeFeatures: embedded.judgeFeatures,
    images: index.items.length,
    noFace: embedded.noFace.length,
    unreadable: embedded.unreadable.length,
  };
}

/** The options of {@linkcode evaluateDataset} that are numbers, checked, with their defaults. */
function checkEvaluateOptions(options: EvaluateOptions) {
  const pairs = checkCount(options.pairs ?? 1_000_000, "pair count `pairs`");
  const seed = checkSeed(options.seed ?? 0);
  const sheet = {
    identities: checkCount(options.sheet?.identities ?? 8, "contact sheet identities `sheet.identities`"),
    images: checkCount(options.sheet?.images ?? 8, "contact sheet images `sheet.images`"),
  };
  const thresholds = options.uniqueThresholds ?? [VEC2FACE_UNIQUE_COSINE];
  for (const threshold of thresholds) {
    if (!(threshold >= -1 && threshold <= 1)) {
      throw new RangeError(`Cannot count unique identities at cosine ${threshold}: current value is not in -1..1`);
    }
  }
  return { pairs, seed, sheet, thresholds };
}

/** Fails now, before the long part, when `real` names no path. */
async function checkRealPath(real: string | undefined): Promise<void> {
  if (real === undefined) return;
  const info = await Deno.stat(real).catch(() => undefined);
  if (!info) throw new TypeError(`Cannot read real faces at ${real}: current path does not exist`);
}

/** Which items the contact sheet keeps: the first images of the first identities, in dataset order. */
function sheetSelector(sheet: { identities: number; images: number }): (item: DatasetItem) => boolean {
  const sheetRows = new Map<number, number>();
  return (item: DatasetItem) => {
    if (!sheetRows.has(item.identity)) {
      if (sheetRows.size >= sheet.identities) return false;
      sheetRows.set(item.identity, 0);
    }
    const taken = sheetRows.get(item.identity)!;
    if (taken >= sheet.images) return false;
    sheetRows.set(item.identity, taken + 1);
    return true;
  };
}

/**
 * The embedding pass of an evaluation (with pose when the pack has a pose
 * model); a dataset with no embeddable image is a `RangeError`.
 */
async function embedForReport(
  index: DatasetIndex,
  options: EvaluateOptions,
  keep: (item: DatasetItem) => boolean,
): Promise<{ embedded: EmbeddedDataset; hasPose: boolean; hasAttributes: boolean }> {
  const { pack } = options;
  const hasPose = pack.manifest.files.pose !== undefined;
  const hasAttributes = pack.manifest.files.attributes !== undefined;
  // Loaded (pulled on first use) before the long part: a model that cannot load fails now, and the
  // stages' seconds are the work alone.
  if (hasPose) await pack.session("pose");
  if (hasAttributes) await pack.session("attributes");
  const embedded = await embedDataset(index, {
    pack,
    batchSize: options.batchSize,
    keep,
    pose: hasPose,
    judge: options.judge,
    signal: options.signal,
    onProgress: options.onProgress,
  });
  if (embedded.features.length === 0) {
    throw new RangeError(
      `Cannot evaluate ${index.path}: current dataset has no embeddable image (${index.items.length} listed, ` +
        `${embedded.noFace.length} without a face, ${embedded.unreadable.length} unreadable)`,
    );
  }
  return { embedded, hasPose, hasAttributes };
}

/** cos(feature, its identity vector) when the bank matches the features; else why not, for `absent`. */
function fidelityReport(
  index: DatasetIndex,
  { features, items }: EmbeddedDataset,
): { fidelity: EvalReport["fidelity"]; absent?: string } {
  const bank = index.bank;
  if (bank && bank[0]?.length === features[0].length && items.every((item) => item.identity < bank.length)) {
    const cosines = features.map((feature, k) => cosineSimilarity(feature, bank[items[k].identity]));
    return {
      fidelity: {
        ...summarize(cosines),
        histogram: histogram(cosines, HISTOGRAM_RANGE),
        bankPackSha256: index.bankInfo?.packSha256 ?? null,
      },
    };
  }
  return {
    fidelity: null,
    absent: bank
      ? `the bank's vectors (${bank[0]?.length}-d, ${bank.length}) do not match the features (${
        features[0].length
      }-d) or the identities`
      : "no identity bank (identities.npy): the images' identity vectors are unknown",
  };
}

/** Yaw and pitch spread of the poses estimated in the embedding pass. */
function spreadReport({ poses, poseSeconds }: EmbeddedDataset): SpreadReport {
  return {
    yaw: distribution(poses.map((pose) => pose.yaw), POSE_HISTOGRAM_RANGE),
    pitch: distribution(poses.map((pose) => pose.pitch), POSE_HISTOGRAM_RANGE),
    seconds: poseSeconds,
    imagesPerSecond: poses.length / Math.max(poseSeconds, 1e-9),
  };
}

/**
 * The Frechet distance between the dataset's features and the real ones; why
 * not, for `absent`, when either side has fewer than two. Features of another
 * width are a `RangeError`.
 */
function realismReport(
  path: string,
  features: readonly Float32Array[],
  real: Awaited<ReturnType<typeof realFeatures>>,
): { realism: EvalReport["realism"]; absent?: string } {
  if (real.features.length < 2 || features.length < 2) {
    return {
      realism: null,
      absent: `needs two features on each side: current counts are ${features.length} and ${real.features.length}`,
    };
  }
  if (real.features[0].length !== features[0].length) {
    throw new RangeError(
      `Cannot compare real features of ${path} (${
        real.features[0].length
      }-d) with the dataset's: current features are ${features[0].length}-d`,
    );
  }
  return {
    realism: {
      frechetDistance: frechetDistance(gaussianStats(unitVectors(features)), gaussianStats(unitVectors(real.features))),
      real: {
        path,
        images: real.images,
        embedded: real.features.length,
        noFace: real.noFace,
        unreadable: real.unreadable,
      },
    },
  };
}

/** The `dataset` part of the report: what was listed, embedded and passed over. */
function datasetSummary(index: DatasetIndex, embedded: EmbeddedDataset, labels: readonly number[]) {
  const perIdentity = new Map<number, number>();
  for (const label of labels) perIdentity.set(label, (perIdentity.get(label) ?? 0) + 1);
  const counts = [...perIdentity.values()];
  return {
    path: index.path,
    layout: index.layout,
    identities: new Set(index.items.map((item) => item.identity)).size,
    images: index.items.length,
    embedded: embedded.features.length,
    aligned: embedded.aligned,
    noFace: embedded.noFace.length,
    unreadable: embedded.unreadable.length,
    problems: [
      ...embedded.unreadable.map(({ file, reason }) => `${file}: ${reason}`),
      ...embedded.noFace.map((file) => `${file}: no face found`),
    ].slice(0, 20),
    imagesPerIdentity: {
      min: counts.reduce((min, count) => Math.min(min, count), Infinity),
      mean: embedded.features.length / counts.length,
      max: counts.reduce((max, count) => Math.max(max, count), 0),
    },
  };
}

/** The pack's own identity model's row of `judges`: the report's identity metrics, and its calibration. */
function packJudgeReport(
  pack: ModelPack,
  features: readonly Float32Array[],
  labels: readonly number[],
  metrics: Pick<JudgeReport, "genuine" | "impostor" | "eer">,
  realism: EvalReport["realism"],
): JudgeReport {
  const identitySha = pack.manifest.files.identity?.sha256 ?? null;
  return {
    name: pack.manifest.files.identity?.npm?.path.split("/").pop()?.replace(/\.onnx$/, "") ?? "identity",
    independent: false,
    backend: pack.backend,
    genuine: metrics.genuine,
    impostor: metrics.impostor,
    eer: metrics.eer,
    // Vec2Face's 0.4 beside the model's own line on real faces.
    uniqueIdentities: uniqueAtCalibration(features, labels, calibrationOf(identitySha)),
    frechetDistance: realism?.frechetDistance ?? null,
    reference: calibrationOf(identitySha),
  };
}

/** Contact sheet rows (aligned faces kept by the embedding pass) in identity order of appearance. */
function contactSheet(kept: EmbeddedDataset["kept"]): RgbImage[][] {
  const rows = new Map<number, RgbImage[]>();
  for (const { item, face } of kept) {
    if (!rows.has(item.identity)) rows.set(item.identity, []);
    rows.get(item.identity)!.push(face);
  }
  return [...rows.values()];
}

/**
 * Evaluates a dataset (any layout {@linkcode openDataset} reads): embeds its
 * images with the pack's identity model, then measures identity fidelity
 * (with the bank), genuine and impostor cosines (all pairs, or `pairs`
 * sampled with `seed`), the EER between them, the unique-identity ratio of
 * the identity centres (mean unit features) at each threshold, with the
 * pack's `pose` model the yaw and pitch of every embedded face (estimated in
 * the embedding pass, on the same aligned faces), with its `attributes` heads
 * age, gender and quality (read from the same identity features) and, with
 * `real`, the Frechet distance between the unit-length features of the
 * dataset and of the real faces. What the pack cannot measure is listed in
 * `absent`. Reads `real` before the dataset, so that a bad path fails before
 * the long part.
 *
 * @example Four identities x three images from the fixture pack
 * ```ts
 * import assert from "node:assert/strict";
 * import { evaluateDataset } from "./evaluate.ts";
 * import { generateDataset } from "./dataset/generate.ts";
 * import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * const out = await Deno.makeTempDir();
 * await generateDataset({ pack, out, ids: 4, perId: 3, seed: 1, overwrite: true });
 * const { report, sheet } = await evaluateDataset(out, { pack, sheet: { identities: 2, images: 3 } });
 * assert.equal(report.genuine!.count, 4 * 3);
 * assert.equal(report.impostor!.count, 66 - 12);
 * assert.equal(report.fidelity!.count, 12);
 * assert.equal(sheet.length, 2);
 * assert.equal(sheet[0].length, 3);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function evaluateDataset(dataset: string | DatasetIndex, options: EvaluateOptions): Promise<Evaluation> {
  const started = performance.now();
  const { pack } = options;
  const { pairs, seed, sheet, thresholds } = checkEvaluateOptions(options);
  const index = typeof dataset === "string" ? await openDataset(dataset) : dataset;
  await checkRealPath(options.real);
  const { embedded, hasPose, hasAttributes } = await embedForReport(index, options, sheetSelector(sheet));
  const { features } = embedded;
  const labels = embedded.items.map((item) => item.identity);

  const absent: Record<string, string> = {};
  const fidelity = fidelityReport(index, embedded);
  const spread = hasPose ? spreadReport(embedded) : null;
  if (!hasPose) absent.spread = ABSENT_METRICS.spread;
  const attributes = hasAttributes ? await attributesReport(features, options) : null;
  if (!hasAttributes) {
    absent.age = ABSENT_METRICS.age;
    absent.gender = ABSENT_METRICS.gender;
    absent.quality = ABSENT_METRICS.quality;
  }
  if (fidelity.absent) absent.fidelity = fidelity.absent;
  const metrics = identityMetrics(features, labels, { pairs, seed, thresholds });
  if (!metrics.genuine) absent.genuine = "no identity has two embedded images";
  if (!metrics.impostor) absent.impostor = "fewer than two identities";
  if (!metrics.eer) absent.eer = "needs both genuine and impostor pairs";
  const edits = editReport(index.items);
  const real = options.real === undefined ? undefined : await realFeatures(options.real, options);
  const realism = real ? realismReport(options.real!, features, real) : { realism: null, absent: NO_REAL_FACES };
  if (realism.absent) absent.realism = realism.absent;

  const seconds = (performance.now() - started) / 1000;
  const report: EvalReport = {
    version: 1,
    dataset: datasetSummary(index, embedded, labels),
    model: {
      pack: pack.manifest.name,
      packSha256: pack.sha256,
      identitySha256: pack.manifest.files.identity?.sha256 ?? null,
      backend: pack.backend,
    },
    options: { pairs, seed },
    fidelity: fidelity.fidelity,
    genuine: metrics.genuine,
    impostor: metrics.impostor,
    eer: metrics.eer,
    uniqueIdentities: metrics.uniqueIdentities,
    spread,
    attributes,
    ...(edits ? { edits } : {}),
    realism: realism.realism,
    judges: [
      packJudgeReport(pack, features, labels, metrics, realism.realism),
      ...(options.judge ? [judgeReport(options.judge, embedded.judgeFeatures, labels, real, { pairs, seed })] : []),
    ],
    absent,
    seconds,
    imagesPerSecond: index.items.length / Math.max(seconds, 1e-9),
  };
  return { report, sheet: contactSheet(embedded.kept) };
}
