/**
 * Identity metrics over face features, and the parts of an evaluation report:
 * genuine and impostor pair scores ({@linkcode genuineScores},
 * {@linkcode impostorScores}), equal error rate, unique identities at a
 * threshold, Frechet distance between feature distributions, histograms and
 * summaries; {@linkcode embedDataset} (the features `evaluateDataset` reads),
 * the {@linkcode EvalReport} it returns and its Markdown
 * ({@linkcode reportMarkdown}), what an edited dataset's edits reached
 * ({@linkcode editReport}). `evaluateDataset` and `writeReport` are in the
 * main entry point; the progress `evaluateDataset` reports
 * ({@linkcode EvaluateProgress}) is here, as is that of `sample`
 * ({@linkcode SampleProgress}) and its cosine engine ({@linkcode SampleEngine}).
 *
 * @example Scores of two identities, their equal error rate and unique identities
 * ```ts
 * import assert from "node:assert/strict";
 * import { equalErrorRate, genuineScores, impostorScores, uniqueIdentities, unitCentres, unitVectors } from "./metrics.ts";
 * const features = unitVectors([[1, 0.1], [1, -0.1], [0.1, 1], [-0.1, 1]].map((x) => new Float32Array(x)));
 * const labels = [0, 0, 1, 1];
 * const genuine = genuineScores(features, labels);
 * const impostor = impostorScores(features, labels);
 * assert.equal(genuine.scores.length, 2);
 * assert.ok(Math.min(...genuine.scores) > Math.max(...impostor.scores));
 * assert.equal(equalErrorRate(genuine.scores, impostor.scores).rate, 0);
 * assert.equal(uniqueIdentities(unitCentres(features, labels), 0.4).unique, 2);
 * ```
 *
 * @module
 */
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
export { cosineSimilarity } from "./src/vectors.ts";
export {
  ABSENT_METRICS,
  AGE_HISTOGRAM_RANGE,
  type AttributesReport,
  type DistributionReport,
  EDIT_REPORT_TOLERANCES,
  EDIT_UNITS,
  type EditReport,
  editReport,
  type EditTargetReport,
  embedDataset,
  type EmbedDatasetOptions,
  type EmbeddedDataset,
  type EvalReport,
  type EvaluateProgress,
  HISTOGRAM_RANGE,
  type JudgeReport,
  type PairReport,
  POSE_HISTOGRAM_RANGE,
  type SpreadReport,
} from "./src/evaluate.ts";
export { checkReportFolder, REPORT_FILES, type ReportImages, reportMarkdown } from "./src/report.ts";
export type { SampleEngine, SampleProgress } from "./src/sample.ts";
