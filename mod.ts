/**
 * vec2face: synthetic face-recognition datasets with the Vec2Face method
 * (Wu et al., ICLR 2025), in Deno. A generator maps 512-d identity vectors to
 * 112x112 faces; identities are sampled well apart, images of one identity vary
 * by noise on its vector and random token masks.
 *
 * @example Render two faces of one new identity
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack, perturb, render, sample } from "./mod.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const { vectors } = await sample(1, { prior: pack.prior, threshold: pack.manifest.separationThreshold, seed: 1 });
 * const variations = perturb([vectors[0], vectors[0]], { sigmas: pack.manifest.sigmas, seed: 1 });
 * const faces = await render(variations, { pack, seed: 1 });
 * assert.equal(faces.length, 2);
 * assert.equal(faces[0].width, 112);
 * ```
 *
 * @module
 */
export {
  type Backend,
  type Device,
  DEVICES,
  type FloatTensor,
  type OnnxSession,
  type TensorData,
} from "./src/_backend.ts";
export { Vec2FaceError, type Vec2FaceErrorCode } from "./src/errors.ts";
export {
  DEFAULT_PACK,
  type FileRole,
  FIXTURE_PACK,
  loadPack,
  type LoadPackOptions,
  ModelPack,
  type NpmSource,
  type PackFile,
  type PackManifest,
} from "./src/model_pack.ts";
export { sample, type SampleEngine, type SampleOptions, type SampleProgress, type SampleResult } from "./src/sample.ts";
export { perturb, type PerturbOptions, sigmaForImage, VEC2FACE_SHARES, VEC2FACE_SIGMAS } from "./src/perturb.ts";
export { type HeadPose, render, type RenderOptions } from "./src/render.ts";
export {
  edit,
  EDIT_ATTRIBUTES,
  EDIT_TOLERANCES,
  type EditAttribute,
  type EditOptions,
  type EditResult,
  type EditTargets,
  LANDMARK_YAW_SLACK,
  type MeasuredAttributes,
} from "./src/edit.ts";
export {
  estimateLandmarkYaw,
  estimatePose,
  expectedLandmarkYaw,
  type Pose,
  type PoseOptions,
} from "./src/estimators/pose.ts";
export {
  type AttributeOptions,
  attributesOfFeatures,
  estimateAttributes,
  type FaceAttributes,
} from "./src/estimators/attributes.ts";
export { drawMask, type MaskRatio, type TokenLayout, type TokenMask, VEC2FACE_LAYOUT } from "./src/mask.ts";
export { Random, Stream } from "./src/random.ts";
export { parsePrior, type Prior } from "./src/prior.ts";
export { type BankInfo, decodeBank, type DecodeBankOptions, encodeBank } from "./src/bank.ts";
export {
  type DatasetEdit,
  generateSamples,
  type GenerateSamplesOptions,
  type Sample,
  samplePath,
} from "./src/dataset.ts";
export { type ReferenceIdentities, referenceIdentities, type ReferenceOptions } from "./src/reference.ts";
export { checkFormat, DATASET_FORMATS, type DatasetFormat, parseShare, type WorkerShare } from "./src/dataset/plan.ts";
export {
  generateDataset,
  type GenerateOptions,
  type GenerateProgress,
  type GenerateResult,
} from "./src/dataset/generate.ts";
export { type ShardEntry, ZipShardStream, ZipShardWriter } from "./src/shard.ts";
export { fetchDataset, type FetchOptions, type FetchProgress, type FetchResult } from "./src/fetch.ts";
export {
  tarHeader,
  TarShardStream,
  webDatasetEntries,
  webDatasetKey,
  type WebDatasetSample,
} from "./src/webdataset.ts";
export {
  frameRecord,
  headerRecord,
  identityRecord,
  imageRecordIndex,
  IR_HEADER_SIZE,
  packRecord,
  propertyText,
  RECORDIO_MAGIC,
  type RecordIOEntry,
  RecordIOStream,
} from "./src/recordio.ts";
export { decodeImage, encodeJpeg, encodePng, type RgbImage } from "./src/image/codec.ts";
export { cosineSimilarity } from "./src/vectors.ts";
export { embed, type EmbedOptions } from "./src/estimators/embed.ts";
export { type AlignedFace, alignFaces, type AlignFacesOptions } from "./src/estimators/align_faces.ts";
export {
  type EmbeddedPhotos,
  embedPhotos,
  type EmbedPhotosOptions,
  findImages,
} from "./src/estimators/embed_photos.ts";
export type { DetectOptions } from "./src/estimators/detect.ts";
export type { BorderMode } from "./src/image/transform.ts";
export type { Detection, EstimatorRole, FaceBox, Point, SessionProvider } from "./src/estimators/types.ts";
export {
  type EqualErrorRate,
  equalErrorRate,
  frechetDistance,
  type GaussianStats,
  gaussianStats,
  genuineScores,
  type Histogram,
  histogram,
  impostorScores,
  type PairOptions,
  type PairScores,
  quantile,
  summarize,
  type Summary,
  type UniqueIdentities,
  uniqueIdentities,
  unitCentres,
  unitVectors,
} from "./src/metrics.ts";
export {
  type DatasetImage,
  type DatasetIndex,
  type DatasetItem,
  type DatasetLayout,
  openDataset,
  readDataset,
} from "./src/read_dataset.ts";
export {
  ABSENT_METRICS,
  AGE_HISTOGRAM_RANGE,
  type AttributesReport,
  type DistributionReport,
  embedDataset,
  type EmbedDatasetOptions,
  type EmbeddedDataset,
  type EvalReport,
  evaluateDataset,
  type EvaluateOptions,
  type EvaluateProgress,
  type Evaluation,
  HISTOGRAM_RANGE,
  type PairReport,
  POSE_HISTOGRAM_RANGE,
  type SpreadReport,
} from "./src/evaluate.ts";
export {
  checkReportFolder,
  REPORT_COLORS,
  REPORT_FILES,
  type ReportImages,
  reportMarkdown,
  writeReport,
} from "./src/report.ts";
