/**
 * Writes a dataset quality report (see `evaluate.ts`) to a folder:
 * `report.json` (every number), `report.md` (a table and the plots),
 * `similarity.png` (genuine and impostor cosines), `fidelity.png` (cosine to
 * the identity vectors, when the bank is present), `pose.png` (yaw and
 * pitch, when the pack has a pose model), `age.png` (when it has the
 * attribute heads) and `contact_sheet.png` (identities x images). Other
 * files in the folder are left alone.
 *
 * @module
 */
import { join } from "node:path";
import {
  EDIT_UNITS,
  type EditReport,
  type EvalReport,
  type Evaluation,
  type JudgeReport,
  type PairReport,
} from "./evaluate.ts";
import { encodePng } from "./image/codec.ts";
import { type Color, histogramPlot, imageGrid } from "./image/plot.ts";
import { writeAtomic } from "./_fs.ts";

/**
 * Colours of the report's plots.
 */
export const REPORT_COLORS: Readonly<
  Record<"genuine" | "impostor" | "fidelity" | "threshold" | "yaw" | "pitch" | "age", Color>
> = {
  genuine: [46, 160, 67],
  impostor: [214, 39, 40],
  fidelity: [31, 119, 180],
  threshold: [60, 60, 60],
  yaw: [31, 119, 180],
  pitch: [255, 127, 14],
  age: [148, 103, 189],
};

/**
 * The names of the files a report consists of.
 */
export const REPORT_FILES = {
  json: "report.json",
  markdown: "report.md",
  similarity: "similarity.png",
  fidelity: "fidelity.png",
  pose: "pose.png",
  age: "age.png",
  sheet: "contact_sheet.png",
} as const;

/**
 * The PNGs a report's Markdown links to, by what they show (each only when it
 * was written).
 */
export interface ReportImages {
  /** Genuine and impostor cosines. */
  similarity?: string;
  /** Cosine to the identity vectors. */
  fidelity?: string;
  /** Yaw and pitch. */
  pose?: string;
  /** Age. */
  age?: string;
  /** Contact sheet. */
  sheet?: string;
}

const fixed = (value: number, digits = 3) => value.toFixed(digits);
const percent = (value: number) => `${(100 * value).toFixed(2)} %`;
const count = (value: number) => value.toLocaleString("en-US");

// One column per model: the pack's identity model (which the generator trains against) and the
// independent judge, each with its own reading of real faces (LFW pairs) as the reference row.
function identityTable(report: EvalReport): string[] {
  const { judges, fidelity } = report;
  const title = (judge: JudgeReport) =>
    judge.independent ? `${judge.name} (independent judge)` : `${judge.name} (the pack's model, trained against)`;
  const cell = (value: string | null | undefined) => value ?? "-";
  const pairCell = (scores: PairReport | null) => scores && `${fixed(scores.mean)} +- ${fixed(scores.std)}`;
  const sampled = (scores: PairReport | null) =>
    !scores
      ? ""
      : scores.exhaustive
      ? `all ${count(scores.count)} pairs`
      : `${count(scores.count)} pairs sampled of ${count(scores.available)} (seed ${report.options.seed})`;
  const row = (metric: string, values: (string | null | undefined)[], how: string) =>
    `| ${metric} | ${values.map(cell).join(" | ")} | ${how} |`;
  const lines = [
    `| metric | ${judges.map(title).join(" | ")} | how |`,
    `| --- | ${judges.map(() => "---").join(" | ")} | --- |`,
  ];
  if (fidelity) {
    lines.push(row(
      "identity fidelity",
      judges.map((judge) =>
        judge.independent ? null : `${fixed(fidelity.mean)} +- ${fixed(fidelity.std)} (5th pct ${fixed(fidelity.p5)})`
      ),
      `cos(embed(image), its identity vector), ${
        count(fidelity.count)
      } images; the vectors live in the pack model's space`,
    ));
  }
  lines.push(
    row(
      "genuine cosine",
      judges.map((j) => pairCell(j.genuine)),
      `images of one identity, ${sampled(judges[0].genuine)}`,
    ),
    row(
      "impostor cosine",
      judges.map((j) => pairCell(j.impostor)),
      `images of different identities, ${sampled(judges[0].impostor)}`,
    ),
    row(
      "EER",
      judges.map((j) => j.eer && `${percent(j.eer.rate)} at cosine ${fixed(j.eer.threshold)}`),
      "exact threshold sweep over the pairs above",
    ),
    row(
      "unique identities at the model's LFW FAR-1e-3 cosine",
      judges.map((j) => {
        const unique = j.reference && j.uniqueIdentities.find((u) => u.threshold === j.reference!.far1e3);
        return unique && `${percent(unique.ratio)} (cos ${fixed(unique.threshold)})`;
      }),
      "no earlier identity centre (mean unit feature) above the cosine at which 1e-3 of real different people pass",
    ),
    row(
      "unique identities at 0.4",
      judges.map((j) => {
        const unique = j.uniqueIdentities.find((u) => u.threshold === 0.4);
        return unique && `${percent(unique.ratio)} (${count(unique.unique)} of ${count(unique.total)})`;
      }),
      "Vec2Face's measure (cosine 0.4, set for ArcFace)",
    ),
    row(
      "Frechet distance to real faces",
      judges.map((j) => j.frechetDistance === null ? null : fixed(j.frechetDistance, 4)),
      "unit-length features of the dataset against the real faces given",
    ),
    row(
      "real faces (LFW pairs): accuracy",
      judges.map((j) => j.reference && `${percent(j.reference.accuracy)} (AUC ${fixed(j.reference.auc, 4)})`),
      "the model itself on LFW `pairs.txt`, 10-fold, our alignment: the reference",
    ),
    row(
      "real faces (LFW pairs): genuine / impostor / EER",
      judges.map((j) =>
        j.reference &&
        `${fixed(j.reference.genuineMean)} / ${fixed(j.reference.impostorMean)} / ${percent(j.reference.eer)}`
      ),
      "what the rows above read on photos of real people",
    ),
  );
  for (const unique of report.uniqueIdentities) {
    if (judges[0].uniqueIdentities.some((u) => u.threshold === unique.threshold)) continue;
    lines.push(row(
      `unique identities at ${unique.threshold}`,
      judges.map((j) =>
        j.independent ? null : `${percent(unique.ratio)} (${count(unique.unique)} of ${count(unique.total)})`
      ),
      "as asked (uniqueThresholds)",
    ));
  }
  if (!judges.some((judge) => judge.independent)) {
    lines.push("", "No independent judge read this dataset: the numbers above are the pack's own model's only.");
  }
  return lines;
}

// What the edits reached, from the manifest rows: a sentence, then one table row per attribute target.
function editSection(edits: EditReport, images: number): string[] {
  const { status, identity, calls } = edits;
  const lines = [
    "## Edits",
    "",
    `${count(edits.images)} of ${count(images)} images edited: ${count(status.reached)} reached, ` +
    `${count(status.unreached)} unreached (the search's own tolerances); identity cosine to the unedited face ` +
    `${fixed(identity.mean)} mean (min ${fixed(identity.min)}); ${fixed(calls.mean, 1)} generator calls per image ` +
    `(max ${count(calls.max)}, ${count(calls.total)} in all). Measured by the search on each final face before ` +
    "JPEG encoding, as the manifest rows record it.",
    "",
    "| attribute | target | measured | within tolerance |",
    "| --- | --- | --- | --- |",
  ];
  for (const { attribute, target, measured, tolerance, withinTolerance } of edits.targets) {
    const unit = EDIT_UNITS[attribute] === "" ? "" : ` ${EDIT_UNITS[attribute]}`;
    const digits = attribute === "gender" || attribute === "quality" ? 3 : 1;
    lines.push(
      `| ${attribute} | ${target}${unit} | ${fixed(measured.mean, digits)} +- ${fixed(measured.std, digits)}${unit} ` +
        `(range ${fixed(measured.min, digits)}..${fixed(measured.max, digits)}, ${count(measured.count)} images) | ` +
        `${percent(withinTolerance)} within ${tolerance}${unit} of the target |`,
    );
  }
  return lines;
}

/**
 * The report as Markdown: what was evaluated, a table of the metrics with
 * how each was measured, a table of the pose spread and the attributes (when
 * measured), what the edits reached (an edited dataset), the plots that
 * exist (`images` names them) and the metrics that are absent, with the
 * reason.
 *
 * @example Markdown of a small hand-made report
 * ```ts
 * import assert from "node:assert/strict";
 * import { reportMarkdown } from "./report.ts";
 * import type { EvalReport } from "./evaluate.ts";
 * const summary = { count: 2, mean: 0.5, std: 0.1, min: 0.4, p5: 0.41, median: 0.5, max: 0.6 };
 * const histogram = { min: -0.5, max: 1, counts: [2] };
 * const report: EvalReport = {
 *   version: 1,
 *   dataset: { path: "out", layout: "folder", identities: 2, images: 4, embedded: 4, aligned: 0, noFace: 0,
 *     unreadable: 0, problems: [], imagesPerIdentity: { min: 2, mean: 2, max: 2 } },
 *   model: { pack: "fixture", packSha256: "ab", identitySha256: null, backend: "wasm" },
 *   options: { pairs: 1000, seed: 0 },
 *   fidelity: null,
 *   genuine: { ...summary, available: 2, exhaustive: true, histogram },
 *   impostor: { ...summary, mean: 0.01, available: 4, exhaustive: true, histogram },
 *   eer: { rate: 0.25, threshold: 0.3 },
 *   uniqueIdentities: [{ threshold: 0.4, unique: 2, total: 2, ratio: 1 }],
 *   spread: null, attributes: null, realism: null, absent: { fidelity: "no bank" }, seconds: 1, imagesPerSecond: 4,
 *   judges: [{ name: "fr_feature", independent: false, backend: "wasm", genuine: { ...summary, available: 2,
 *     exhaustive: true, histogram }, impostor: { ...summary, mean: 0.01, available: 4, exhaustive: true, histogram },
 *     eer: { rate: 0.25, threshold: 0.3 }, uniqueIdentities: [{ threshold: 0.4, unique: 2, total: 2, ratio: 1 }],
 *     frechetDistance: null, reference: null }],
 * };
 * const markdown = reportMarkdown(report, { similarity: "similarity.png" });
 * assert.ok(markdown.includes("| EER | 25.00 %"));
 * assert.ok(markdown.includes("![genuine and impostor"));
 * ```
 */
export function reportMarkdown(report: EvalReport, images: ReportImages = {}): string {
  const { dataset, model, eer, realism, spread, attributes } = report;
  const lines: string[] = [];
  lines.push(`# Dataset quality report: ${dataset.path}`, "");
  lines.push(
    `${count(dataset.images)} images of ${count(dataset.identities)} identities (${dataset.layout}); ` +
      `${count(dataset.embedded)} embedded` +
      (dataset.aligned > 0 ? ` (${count(dataset.aligned)} after face alignment)` : "") +
      (dataset.noFace > 0 ? `, ${count(dataset.noFace)} without a face` : "") +
      (dataset.unreadable > 0 ? `, ${count(dataset.unreadable)} unreadable` : "") +
      `. Pack \`${model.pack}\` (${model.packSha256.slice(0, 12)}) on ${model.backend}. ` +
      `${fixed(report.seconds, 1)} s, ${fixed(report.imagesPerSecond, 1)} images/s.`,
    "",
  );
  lines.push(...identityTable(report), "");
  if (realism) {
    lines.push(
      `Real faces for the Frechet distances: ${count(realism.real.embedded)} of ${realism.real.path}.`,
      "",
    );
  }
  if (spread || attributes) {
    lines.push("## Spread and attributes", "", "| measure | value | how |", "| --- | --- | --- |");
    if (spread) {
      const how = `the pack's pose model (fr_pose) on each aligned face, calibrated to the photo's pose; ${
        count(spread.yaw.count)
      } faces, ${fixed(spread.seconds, 1)} s (${fixed(spread.imagesPerSecond, 1)} faces/s)`;
      for (const [name, angle] of [["yaw", spread.yaw], ["pitch", spread.pitch]] as const) {
        lines.push(
          `| ${name} | ${fixed(angle.mean, 1)} +- ${fixed(angle.std, 1)} deg (5th pct ${fixed(angle.p5, 1)}, ` +
            `range ${fixed(angle.min, 1)}..${fixed(angle.max, 1)}) | ${name === "yaw" ? how : "as yaw, same pass"} |`,
        );
      }
    }
    if (attributes) {
      const { age, gender, quality } = attributes;
      lines.push(
        `| age | ${fixed(age.mean, 1)} +- ${fixed(age.std, 1)} years (5th pct ${fixed(age.p5, 1)}, ` +
          `median ${fixed(age.median, 1)}) | the pack's age head on the identity features, ${count(age.count)} faces |`,
        `| gender balance | ${percent(gender.femaleShare)} female (mean P(female) ${
          fixed(gender.meanFemaleProbability)
        }) | the pack's gender head on the identity features; female when P(female) >= 0.5 |`,
        `| quality | ${fixed(quality.mean)} (5th pct ${fixed(quality.p5)}) | identity feature norm over the mean ` +
          `norm of real faces (about 1 for a clear photo, lower when degraded) |`,
      );
    }
    lines.push("");
  }
  if (report.edits) lines.push(...editSection(report.edits, dataset.images), "");
  if (images.similarity) {
    lines.push(
      `![genuine and impostor cosines](${images.similarity})`,
      "",
      "Genuine (green) and impostor (red) cosines, each as shares of its pairs" +
        (eer ? `; dashed: the EER threshold ${fixed(eer.threshold)}.` : "."),
      "",
    );
  }
  if (images.fidelity) {
    lines.push(`![identity fidelity](${images.fidelity})`, "", "Cosine of each image to its identity vector.", "");
  }
  if (images.pose) {
    lines.push(
      `![yaw and pitch](${images.pose})`,
      "",
      "Yaw (blue) and pitch (orange) in degrees, each as shares of the faces (outside the axis: in the edge bins).",
      "",
    );
  }
  if (images.age) {
    lines.push(`![age](${images.age})`, "", "Apparent age in years, as shares of the faces.", "");
  }
  if (images.sheet) {
    lines.push(`![contact sheet](${images.sheet})`, "", "Contact sheet: one identity per row.", "");
  }
  const absent = Object.entries(report.absent);
  if (absent.length > 0) {
    lines.push("Not measured:", "");
    for (const [metric, reason] of absent) lines.push(`- ${metric}: ${reason}`);
    lines.push("");
  }
  if (dataset.problems.length > 0) {
    lines.push("Problems (first 20):", "");
    for (const problem of dataset.problems) lines.push(`- ${problem}`);
    lines.push("");
  }
  return lines.join("\n");
}

/**
 * Checks that `out` can hold a report (a folder, or nothing yet) before any
 * slow work; throws a `TypeError` when it is a file.
 *
 * @example A file cannot hold a report
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkReportFolder } from "./report.ts";
 * const file = await Deno.makeTempFile();
 * await assert.rejects(checkReportFolder(file), { name: "TypeError", message: /current path is a file, not a folder$/ });
 * await Deno.remove(file);
 * ```
 */
export async function checkReportFolder(out: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(out);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isDirectory) {
    throw new TypeError(`Cannot write a report to ${out}: current path is a file, not a folder`);
  }
}

/**
 * Writes an evaluation to `out` (created if missing): the PNGs first, then
 * `report.md` and `report.json` last, each under a temporary name renamed
 * when complete. Returns the paths written.
 *
 * @example Report on a generated four-image dataset
 * ```ts
 * import assert from "node:assert/strict";
 * import { evaluateDataset } from "./evaluate.ts";
 * import { generateDataset } from "./dataset/generate.ts";
 * import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
 * import { writeReport } from "./report.ts";
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * const data = await Deno.makeTempDir(), out = await Deno.makeTempDir();
 * await generateDataset({ pack, out: data, ids: 2, perId: 2, overwrite: true });
 * const written = await writeReport(out, await evaluateDataset(data, { pack }));
 * assert.equal(written.length, 5);
 * assert.equal(JSON.parse(await Deno.readTextFile(`${out}/report.json`)).version, 1);
 * await Deno.remove(data, { recursive: true });
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function writeReport(out: string, evaluation: Evaluation): Promise<string[]> {
  await checkReportFolder(out);
  await Deno.mkdir(out, { recursive: true });
  const { report, sheet } = evaluation;
  const written: string[] = [];
  const images: ReportImages = {};
  const write = async (name: string, bytes: Uint8Array) => {
    await writeAtomic(join(out, name), bytes);
    written.push(join(out, name));
  };
  const series = [
    report.genuine && { counts: report.genuine.histogram.counts, color: REPORT_COLORS.genuine },
    report.impostor && { counts: report.impostor.histogram.counts, color: REPORT_COLORS.impostor },
  ].filter((one) => one !== null);
  const range = report.genuine?.histogram ?? report.impostor?.histogram;
  if (range && series.length > 0) {
    const markers = report.eer ? [{ value: report.eer.threshold, color: REPORT_COLORS.threshold }] : [];
    await write(
      REPORT_FILES.similarity,
      encodePng(histogramPlot(series, { min: range.min, max: range.max, markers })),
    );
    images.similarity = REPORT_FILES.similarity;
  }
  if (report.fidelity) {
    const { histogram } = report.fidelity;
    const plot = histogramPlot([{ counts: histogram.counts, color: REPORT_COLORS.fidelity }], histogram);
    await write(REPORT_FILES.fidelity, encodePng(plot));
    images.fidelity = REPORT_FILES.fidelity;
  }
  if (report.spread) {
    const { yaw, pitch } = report.spread;
    const plot = histogramPlot(
      [{ counts: yaw.histogram.counts, color: REPORT_COLORS.yaw }, {
        counts: pitch.histogram.counts,
        color: REPORT_COLORS.pitch,
      }],
      yaw.histogram,
    );
    await write(REPORT_FILES.pose, encodePng(plot));
    images.pose = REPORT_FILES.pose;
  }
  if (report.attributes) {
    const { histogram } = report.attributes.age;
    const plot = histogramPlot([{ counts: histogram.counts, color: REPORT_COLORS.age }], histogram);
    await write(REPORT_FILES.age, encodePng(plot));
    images.age = REPORT_FILES.age;
  }
  if (sheet.length > 0) {
    await write(REPORT_FILES.sheet, encodePng(imageGrid(sheet)));
    images.sheet = REPORT_FILES.sheet;
  }
  await write(REPORT_FILES.markdown, new TextEncoder().encode(reportMarkdown(report, images)));
  await write(REPORT_FILES.json, new TextEncoder().encode(JSON.stringify(report, null, 2) + "\n"));
  return written;
}
