/**
 * vec2face: synthetic face-recognition datasets with the Vec2Face method
 * (Wu et al., ICLR 2025), in Deno. A generator maps 512-d identity vectors to
 * 112x112 faces; identities are sampled well apart, images of one identity vary
 * by noise on its vector and random token masks.
 *
 * This entry point is the workflow: load a pack ({@linkcode loadPack}),
 * sample identities ({@linkcode sample}), vary and render them
 * ({@linkcode perturb}, {@linkcode render}, {@linkcode edit}), generate, fetch,
 * open and read datasets ({@linkcode generateDataset}, {@linkcode fetchDataset},
 * {@linkcode openDataset}, {@linkcode readDataset}), render any one dataset
 * image again ({@linkcode renderDatasetImage}), evaluate them
 * ({@linkcode evaluateDataset}, {@linkcode writeReport}) and fit a prior to
 * real faces ({@linkcode fitPrior}). Long calls report `{ done, total, stage? }`
 * ({@linkcode Progress}) to `onProgress`. More in the subpaths:
 * `@vec2face/vec2face/formats` (zip, tar and RecordIO streams and readers,
 * image codecs, bank files; the dataset's item, format, plan and progress
 * types, the pack manifest), `/metrics` (identity metrics, the evaluation
 * report's parts, evaluation and sampling progress), `/estimators` (embed,
 * align, detect, landmarks, pose, attributes, the independent judge; head pose
 * and measured attribute types), `/http` (the render server) and `/cli`.
 *
 * @example Render two faces of one new identity
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack, perturb, render, sample } from "./mod.ts";
 * await using pack = await loadPack({ device: "wasm" });
 * const { vectors } = await sample(1, { prior: pack.prior, threshold: pack.manifest.separationThreshold, seed: 1 });
 * const variations = perturb([vectors[0], vectors[0]], { sigmas: pack.manifest.sigmas, seed: 1 });
 * const faces = await render(variations, { pack, seed: 1 });
 * assert.equal(faces.length, 2);
 * assert.equal(faces[0].width, 112);
 * ```
 *
 * @example Generate a dataset, read it back, and render its image 2 of identity 0 again
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateDataset, loadPack, openDataset, readDataset, renderDatasetImage } from "./mod.ts";
 * import { encodeJpeg } from "./formats.ts";
 * await using pack = await loadPack({ device: "wasm" });
 * const out = await Deno.makeTempDir();
 * const bank = [pack.prior.mean];
 * const stages = new Set<string | undefined>();
 * await generateDataset({ pack, out, ids: 1, perId: 3, seed: 7, bank, onProgress: (p) => stages.add(p.stage) });
 * assert.ok(stages.has("render"));
 * const face = await renderDatasetImage({ pack, identities: bank, perId: 3, seed: 7, identity: 0, image: 2 });
 * const index = await openDataset(out);
 * const images = await Array.fromAsync(readDataset(index));
 * assert.equal(images.length, 3);
 * assert.deepEqual(await encodeJpeg(face, 90), images[2].bytes); // the dataset's file, byte for byte
 * await Deno.remove(out, { recursive: true });
 * ```
 *
 * @module
 */
export { Vec2FaceError, type Vec2FaceErrorCode } from "./src/errors.ts";
export type { Progress } from "./src/progress.ts";
export type { Device } from "./src/_backend.ts";
export { DEFAULT_PACK, FIXTURE_PACK, loadPack, type LoadPackOptions, ModelPack } from "./src/model_pack.ts";
export { fitPrior, type Prior } from "./src/prior.ts";
export { sample, type SampleOptions, type SampleResult } from "./src/sample.ts";
export { perturb, type PerturbOptions } from "./src/perturb.ts";
export { render, type RenderOptions } from "./src/render.ts";
export type { RgbImage } from "./src/image/codec.ts";
export { renderDatasetImage, type RenderDatasetImageOptions } from "./src/dataset.ts";
export { edit, type EditOptions, type EditResult, type EditTargets } from "./src/edit.ts";
export { generateDataset, type GenerateOptions, type GenerateResult } from "./src/dataset/generate.ts";
export { fetchDataset, type FetchOptions, type FetchResult } from "./src/fetch.ts";
export { type DatasetIndex, openDataset, readDataset } from "./src/read_dataset.ts";
export { evaluateDataset, type EvaluateOptions, type Evaluation } from "./src/evaluate.ts";
export { writeReport } from "./src/report.ts";
export { type Judge, loadJudge, type LoadJudgeOptions } from "./src/estimators/judge.ts";
