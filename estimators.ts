/**
 * The face estimators of a model pack, on any photo or generated face:
 * identity features ({@linkcode embed}, {@linkcode embedPhotos},
 * {@linkcode referenceIdentities}), face detection ({@linkcode findFaces}),
 * 68 landmarks ({@linkcode findLandmarks}), alignment to the 112x112 ArcFace
 * crop ({@linkcode alignFaces}), head pose ({@linkcode estimatePose}), age,
 * gender and quality ({@linkcode estimateAttributes}), and the independent
 * judge ({@linkcode loadJudge}), a second face-recognition model that nothing
 * in this project trains against. Each takes the loaded pack as `pack`, whose
 * sessions run on a {@linkcode Backend}. `render` and `edit` (main entry
 * point) take and report their measures as {@linkcode HeadPose},
 * {@linkcode EditAttribute} and {@linkcode MeasuredAttributes}.
 *
 * @example Detect, align, embed and read the pose of a generated face
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack, render } from "./mod.ts";
 * import { alignFaces, cosineSimilarity, embed, estimatePose, findFaces } from "./estimators.ts";
 * await using pack = await loadPack({ device: "wasm" });
 * const [face] = await render([pack.prior.mean], { pack, seed: 1 });
 * const [box] = await findFaces(face, { pack });
 * assert.ok(box.score > 0.9);
 * const [aligned] = await alignFaces(face, { pack });
 * const [a, b] = await embed([face, aligned.image], { pack });
 * assert.equal(a.length, 512);
 * assert.ok(cosineSimilarity(a, b) > 0.5);
 * const [pose] = await estimatePose([face], { pack });
 * assert.ok(Math.abs(pose.yaw) < 90);
 * ```
 *
 * @module
 */
export type { Detection, EstimatorRole, FaceBox, Point, SessionProvider } from "./src/estimators/types.ts";
export type { BorderMode } from "./src/image/transform.ts";
export type { Backend } from "./src/_backend.ts";
export type { HeadPose } from "./src/render.ts";
export type { EditAttribute, MeasuredAttributes } from "./src/edit.ts";
export { embed, type EmbedOptions } from "./src/estimators/embed.ts";
export { cosineSimilarity } from "./src/vectors.ts";
export {
  type EmbeddedPhotos,
  embedPhotos,
  type EmbedPhotosOptions,
  findImages,
} from "./src/estimators/embed_photos.ts";
export { type ReferenceIdentities, referenceIdentities, type ReferenceOptions } from "./src/reference.ts";
export { type DetectOptions, findFaces, type FindFacesOptions } from "./src/estimators/detect.ts";
export {
  findLandmarks,
  type FindLandmarksOptions,
  type LandmarkOptions,
  landmarks68To5,
} from "./src/estimators/landmarks.ts";
export { type AlignedFace, alignFaces, type AlignFacesOptions } from "./src/estimators/align_faces.ts";
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
export {
  calibrationOf,
  Judge,
  JUDGE_CALIBRATION,
  type JudgeCalibration,
  type JudgeEmbedOptions,
  loadJudge,
  type LoadJudgeOptions,
  type PullJudgeOptions,
} from "./src/estimators/judge.ts";
