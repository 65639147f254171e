/**
 * The `vec2face` command line: a thin layer over the library.
 *
 * ```sh
 * deno run -A cli.ts generate --ids 10 --per-id 5 --out out/
 * deno run -A cli.ts models pull
 * deno run -A cli.ts embed --align photos/ --out features.npy
 * deno run -A cli.ts prior fit --images lfw/ --per-folder --out prior.npy
 * deno run -A cli.ts eval out/ --real lfw/ --out report/
 * deno run -A cli.ts serve --port 8000 --host 0.0.0.0
 * deno run -A cli.ts fetch --from http://a:8000 --from http://b:8000 --ids 1000 --per-id 50 --out out/
 * ```
 *
 * @module
 */
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { checkDevice, type Device } from "./src/_backend.ts";
import { decodeBank, encodeBank, sampledBankInfo, saveBank } from "./src/bank.ts";
import { checkCount } from "./src/_check.ts";
import { writeAtomic } from "./src/_fs.ts";
import { DEFAULTS } from "./src/defaults.ts";
import { Vec2FaceError } from "./src/errors.ts";
import { fetchDataset } from "./src/fetch.ts";
import { createHandler } from "./src/http.ts";
import { EDIT_UNITS, type EditReport, type EvalReport, evaluateDataset, type JudgeReport } from "./src/evaluate.ts";
import { JUDGE_SOURCE, loadJudge, pullJudgeModel } from "./src/estimators/judge.ts";
import { generateDataset, type GenerateResult } from "./src/dataset/generate.ts";
import { type DatasetFormat, parseShare, planDataset, type WorkerShare } from "./src/dataset/plan.ts";
import { listNames, prepareOutput } from "./src/dataset/run.ts";
import { DEFAULT_PACK, loadPack, type ModelPack } from "./src/model_pack.ts";
import { encodePrior, fitPrior } from "./src/prior.ts";
import { groupIds, parseGroups, priorReport } from "./src/prior_fit.ts";
import { openDataset } from "./src/read_dataset.ts";
import { checkReportFolder, REPORT_FILES, writeReport } from "./src/report.ts";
import { checkSeed } from "./src/random.ts";
import { checkBatchSize } from "./src/render.ts";
import { sample } from "./src/sample.ts";
import { type EmbeddedPhotos, embedPhotos, findImages } from "./src/estimators/embed_photos.ts";
import { edit, type EditTargets } from "./src/edit.ts";
import { type ReferenceIdentities, referenceIdentities } from "./src/reference.ts";
import { encodePng } from "./src/image/codec.ts";
import type { Progress } from "./src/progress.ts";

const USAGE = `vec2face: synthetic face-recognition datasets (Vec2Face)

Usage:
  cli.ts generate --ids N --per-id M --out DIR [--format folder|zip|webdataset|recordio]
                  [--shard-size S] [--seed K] [--threshold T] [--bank FILE.npy] [--device D]
                  [--pack DIR] [--batch-size B] [--overwrite | --resume]
                  [--shards k/K | --shards K (k from JOB_COMPLETION_INDEX)]
                  [--from-images DIR] [--yaw DEG] [--pitch DEG] [--age YEARS] [--gender female|male]
                  [--quality Q] [--edit-budget CALLS] [--min-identity C]
  cli.ts edit     --bank FILE.npy --targets yaw=45,age=30,gender=female,... --out DIR [--first N]
                  [--budget CALLS] [--min-identity C] [--seed K] [--device D] [--pack DIR]
  cli.ts sample   --n N --out FILE.npy [--seed K] [--threshold T] [--half] [--pack DIR]
  cli.ts embed    --align DIR --out FILE.npy [--device D] [--pack DIR]
  cli.ts prior fit (--features FILE.npy [--groups FILE.json] | --images DIR [--per-folder])
                  --out prior.npy [--pack DIR] [--device D] [--threads T]
                  [--save-features FILE.npy] [--draws N] [--seed K]
  cli.ts eval     DATASET [--real DIR|FEATURES.npy] [--out report/] [--pack DIR] [--device D]
                  [--pairs N] [--seed K] [--no-judge]
                  (every identity metric by the pack's model and by the independent judge, face-api)
  cli.ts models   pull [--pack DIR]
  cli.ts serve    [--port P] [--host H] [--pack DIR] [--device D] [--batch-size B] [--max-images N]
                  [--max-concurrent C] [--max-identities N] [--max-rss MiB] [--idle-timeout S]
                  [--shutdown-timeout S] [--workers W]
  cli.ts fetch    --from URL [--from URL ...] --out DIR --ids N --per-id M [--shard-size S] [--seed K]
                  [--threshold T] [--retries R] [--per-handler C] [--overwrite | --resume]

Devices: auto (default), webgpu, wasm, native.`;

/** A CLI usage error: printed as one line, exit code 2. */
class UsageError extends Error {}

/**
 * The flag of each library option that the library's messages name (in
 * backticks, e.g. `` `perId` ``): the CLI prints the flag instead.
 */
const OPTION_FLAGS: Readonly<Record<string, string>> = Object.freeze({
  ids: "--ids",
  perId: "--per-id",
  seed: "--seed",
  format: "--format",
  shardSize: "--shard-size",
  threshold: "--threshold",
  pack: "--pack",
  backend: "--device",
  bank: "--bank",
  edit: "edit targets",
  batchSize: "--batch-size",
  overwrite: "--overwrite",
  resume: "--resume",
  share: "--shards",
  retries: "--retries",
  perHandler: "--per-handler",
});

/** A library message in CLI words: each option named in backticks becomes its flag. */
export function cliMessage(message: string): string {
  return message.replace(/`(\w+)`/g, (_whole, name: string) => OPTION_FLAGS[name] ?? name);
}

// Attribute targets of `generate` (one flag each) and `edit` (--targets name=value,...).
const TARGET_OPTIONS = {
  yaw: { type: "string" },
  pitch: { type: "string" },
  age: { type: "string" },
  gender: { type: "string" },
  quality: { type: "string" },
} as const;

function targetValue(name: string, value: string, flag: string): number | "female" | "male" {
  if (name === "gender") {
    if (value === "female" || value === "f") return "female";
    if (value === "male" || value === "m") return "male";
  }
  const number = float(value, flag)!;
  return number;
}

/** Targets from --yaw/--pitch/--age/--gender/--quality; undefined when none is given. */
function readTargets(values: Partial<Record<keyof typeof TARGET_OPTIONS, string>>): EditTargets | undefined {
  const targets: Record<string, number | string> = {};
  for (const name of Object.keys(TARGET_OPTIONS) as (keyof typeof TARGET_OPTIONS)[]) {
    const value = values[name];
    if (value !== undefined) targets[name] = targetValue(name, value, `--${name}`);
  }
  return Object.keys(targets).length > 0 ? targets as EditTargets : undefined;
}

/** `yaw=45,gender=female` -> targets. */
function parseTargets(text: string): EditTargets {
  const targets: Record<string, number | string> = {};
  for (const part of text.split(",")) {
    const [name, value, extra] = part.split("=").map((piece) => piece.trim());
    if (!name || value === undefined || extra !== undefined || !(name in TARGET_OPTIONS)) {
      throw new UsageError(
        `Cannot read target ${part} as name=value: current name is not one of ${
          Object.keys(TARGET_OPTIONS).join(", ")
        }`,
      );
    }
    targets[name] = targetValue(name, value, `--targets ${name}`);
  }
  return targets as EditTargets;
}

function integer(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim())) {
    throw new UsageError(`Cannot use ${flag} ${value}: current value is not an integer`);
  }
  return Number(value);
}

function float(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number)) {
    throw new UsageError(`Cannot use ${flag} ${value}: current value is not a number`);
  }
  return number;
}

function progressBar(label: string): (progress: Progress) => void {
  if (!Deno.stderr.isTerminal()) return () => {};
  const encoder = new TextEncoder();
  const started = performance.now();
  let last = 0;
  return ({ done, total }) => {
    const now = performance.now();
    if (done < total && now - last < 100) return;
    last = now;
    const width = 30;
    const filled = Math.round((width * done) / Math.max(1, total));
    const rate = done / Math.max(1e-3, (now - started) / 1000);
    const line = `\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} ${
      rate.toFixed(1)
    }/s`;
    Deno.stderr.writeSync(encoder.encode(line + (done >= total ? "\n" : "")));
  };
}

/** What --overwrite removes, as one line: the folder and up to 8 of its names. */
function overwriting(out: string, names: string[]): string {
  return `overwrite: removing ${out} (${names.length} entries: ${listNames(names)})`;
}

function say(message: string): void {
  console.error(message);
}

async function openPack(path: string | undefined, device: Device, threads?: number): Promise<ModelPack> {
  const pack = await loadPack(path ?? DEFAULT_PACK, { device, threads, onPull: say });
  if (pack.manifest.fixture) say(`note: pack "${pack.manifest.name}" is a test fixture (untrained weights)`);
  return pack;
}

async function commandGenerate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      ids: { type: "string" },
      "per-id": { type: "string" },
      out: { type: "string" },
      format: { type: "string", default: "folder" },
      "shard-size": { type: "string", default: String(DEFAULTS.shardSize) },
      seed: { type: "string", default: "0" },
      threshold: { type: "string" },
      bank: { type: "string" },
      device: { type: "string", default: "auto" },
      pack: { type: "string" },
      "batch-size": { type: "string", default: String(DEFAULTS.batchSize) },
      overwrite: { type: "boolean", default: false },
      resume: { type: "boolean", default: false },
      shards: { type: "string" },
      "from-images": { type: "string" },
      ...TARGET_OPTIONS,
      "edit-budget": { type: "string" },
      "min-identity": { type: "string" },
    },
  });
  // The CLI parses; the library checks, here before any slow work (model pull, sampling).
  if (values.ids === undefined) throw new UsageError("Cannot generate without --ids: current value is missing");
  if (values["per-id"] === undefined) {
    throw new UsageError("Cannot generate without --per-id: current value is missing");
  }
  if (!values.out) throw new UsageError("Cannot generate without --out: current value is missing");
  const device = checkDevice(values.device);
  const plan = {
    ids: integer(values.ids, "--ids")!,
    perId: integer(values["per-id"], "--per-id")!,
    shardSize: integer(values["shard-size"], "--shard-size"),
    seed: integer(values.seed, "--seed"),
    batchSize: integer(values["batch-size"], "--batch-size"),
    format: values.format as DatasetFormat,
    overwrite: values.overwrite,
    resume: values.resume,
    share: readShare(values.shards),
  };
  const { ids, format, share } = planDataset(plan);
  const threshold = float(values.threshold, "--threshold");
  if (values.bank !== undefined && values["from-images"] !== undefined) {
    throw new UsageError("Cannot use --bank with --from-images: current command has both");
  }
  const targets = readTargets(values);
  const edit = targets
    ? {
      targets,
      budget: integer(values["edit-budget"], "--edit-budget"),
      minIdentity: float(values["min-identity"], "--min-identity"),
    }
    : undefined;
  if (!targets && (values["edit-budget"] !== undefined || values["min-identity"] !== undefined)) {
    throw new UsageError("Cannot use --edit-budget or --min-identity without a target (--yaw, --age, ...)");
  }
  const bankBytes = values.bank === undefined ? undefined : await Deno.readFile(values.bank);

  // Local files only (third-party models are pulled on first use). The bank
  // is checked against the pack before --overwrite clears the output folder.
  await using pack = await openPack(values.pack, device);
  let bank = bankBytes && decodeBank(bankBytes, { dim: pack.manifest.vectorSize, name: values.bank });
  let fromImages: ReferenceIdentities | undefined;
  if (values["from-images"] !== undefined) {
    fromImages = await referenceIdentities(values["from-images"], { pack, onProgress: progressBar("embedding") });
    if (fromImages.noFace.length > 0) {
      say(
        `no face found in ${fromImages.noFace.length} photos (skipped): ${fromImages.noFace.slice(0, 10).join(", ")}` +
          (fromImages.noFace.length > 10 ? ", ..." : ""),
      );
    }
    if (fromImages.vectors.length < ids) {
      throw new UsageError(
        `Cannot generate ${ids} identities from ${
          values["from-images"]
        }: current folder gives ${fromImages.vectors.length}`,
      );
    }
    bank = fromImages.vectors;
  }
  say(`backend: ${pack.backend}`);
  const bars = { sample: progressBar("sampling"), render: progressBar("rendering") };
  const started = performance.now();
  const result = await generateDataset({
    ...plan,
    pack,
    out: values.out,
    threshold,
    bank,
    edit,
    sources: fromImages && sourcesOf(fromImages, values["from-images"]!, ids),
    onProgress: (p) => bars[p.stage](p),
    onOverwrite: (names) => say(overwriting(values.out!, names)),
  });
  const seconds = (performance.now() - started) / 1000;
  if (share) return say(shareSummary(result, share, values.out, seconds));
  const rendered = result.images - result.kept;
  const layout = format === "zip" || format === "webdataset"
    ? ` in ${result.shards} ${format === "zip" ? "zip" : "tar"} shards`
    : format === "recordio"
    ? " as train.rec"
    : "";
  say(
    `wrote ${result.images} images of ${ids} identities to ${values.out}${layout}` +
      (values.resume ? ` (resumed: ${result.kept} kept, ${rendered} rendered)` : "") +
      ` (${seconds.toFixed(1)} s, ${(rendered / seconds).toFixed(1)} images/s, backend ${result.backend})`,
  );
}

/** Which photos each identity came from (`sources.json` beside the dataset). */
function sourcesOf(fromImages: ReferenceIdentities, folder: string, ids: number) {
  const sources = fromImages.sources.slice(0, ids).map((source, identity) => ({
    identity,
    source,
    photos: fromImages.photos[identity],
  }));
  return { folder, sources, noFace: fromImages.noFace };
}

/**
 * `--shards k/K`, or `--shards K` with k from `JOB_COMPLETION_INDEX`
 * (Kubernetes Indexed Jobs set it in each pod).
 */
export function readShare(
  value: string | undefined,
  completionIndex: string | undefined = Deno.env.get("JOB_COMPLETION_INDEX"),
): WorkerShare | undefined {
  if (value === undefined) return undefined;
  const count = /^\s*(\d{1,9})\s*$/.exec(value)?.[1];
  if (count === undefined) {
    try {
      return parseShare(value);
    } catch {
      throw new UsageError(
        `Cannot use --shards ${JSON.stringify(value)}: current value is not k/K (worker k of K, 0 <= k < K) ` +
          `or K (k from JOB_COMPLETION_INDEX)`,
      );
    }
  }
  if (Number(count) < 1) throw new UsageError(`Cannot use --shards ${count}: current value is below 1`);
  if (completionIndex === undefined || completionIndex === "") {
    throw new UsageError(
      `Cannot use --shards ${count} without a worker index: current JOB_COMPLETION_INDEX is not set ` +
        `(pass --shards k/${count})`,
    );
  }
  if (!/^\d{1,9}$/.test(completionIndex) || Number(completionIndex) >= Number(count)) {
    throw new UsageError(
      `Cannot use JOB_COMPLETION_INDEX ${JSON.stringify(completionIndex)} with --shards ${count}: ` +
        `current value is not an integer in 0..${Number(count) - 1}`,
    );
  }
  return { index: Number(completionIndex), count: Number(count) };
}

/** What a worker did: its shards, and whether the dataset is now complete (it merged the parts). */
function shareSummary(result: GenerateResult, share: WorkerShare, out: string, seconds: number): string {
  const rendered = result.images - result.kept;
  return `wrote part ${share.index}/${share.count}: ${result.images} images in ${result.shards} shard${
    result.shards === 1 ? "" : "s"
  } to ${out}` +
    ` (${result.kept} kept, ${rendered} rendered, ${seconds.toFixed(1)} s, backend ${result.backend}); ` +
    (result.complete
      ? "every part is done: merged into manifest.jsonl"
      : "waiting for the other parts (the last to finish merges them)");
}

async function commandSample(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      n: { type: "string" },
      out: { type: "string" },
      seed: { type: "string", default: "0" },
      threshold: { type: "string" },
      half: { type: "boolean", default: false },
      pack: { type: "string" },
    },
  });
  if (!values.out) throw new UsageError("Cannot sample without --out: current value is missing");
  if (values.n === undefined) throw new UsageError("Cannot sample without --n: current value is missing");
  // The CLI parses; sample() checks.
  const n = integer(values.n, "--n")!;
  const seed = integer(values.seed, "--seed")!;
  await using pack = await openPack(values.pack, "wasm");
  const threshold = float(values.threshold, "--threshold") ?? pack.manifest.separationThreshold;
  const bar = progressBar("sampling");
  const result = await sample(n, {
    prior: pack.prior,
    threshold,
    seed,
    onProgress: bar,
  });
  const info = sampledBankInfo(pack.sha256, pack.manifest.files.prior.sha256, { threshold, seed }, result);
  await saveBank(values.out, result.vectors, info, { half: values.half });
  say(
    `wrote ${n} identities to ${values.out} (${result.candidates} candidates, max cosine ${
      result.maxCosine.toFixed(4)
    })`,
  );
}

async function commandEmbed(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      align: { type: "string" },
      out: { type: "string" },
      device: { type: "string", default: "auto" },
      pack: { type: "string" },
    },
  });
  if (!values.align) throw new UsageError("Cannot embed without --align DIR: current value is missing");
  if (!values.out) throw new UsageError("Cannot embed without --out: current value is missing");
  const device = checkDevice(values.device);
  const files = await findPhotos(values.align);
  await using pack = await openPack(values.pack, device);
  const embedded = await embedPhotos(files, { pack, onProgress: progressBar("embedding") });
  await saveFeatures(values.out, pack, embedded);
  say(`wrote ${embedded.features.length} features to ${values.out}; ${embedded.noFace.length} photos without a face`);
}

/** The photos under a folder; none is a usage error. */
async function findPhotos(directory: string): Promise<string[]> {
  const files = await findImages(directory);
  if (files.length === 0) {
    throw new UsageError(`Cannot embed photos in ${directory}: no .jpg/.jpeg/.png files found`);
  }
  return files;
}

/** Writes features as `.npy` and their sidecar (pack, files, photos without a face); returns the sidecar's path. */
async function saveFeatures(path: string, pack: ModelPack, embedded: EmbeddedPhotos): Promise<string> {
  const sidecar = path.replace(/\.npy$/, "") + ".json";
  await Deno.writeFile(path, encodeBank(embedded.features));
  const info = { packSha256: pack.sha256, files: embedded.files, noFace: embedded.noFace };
  await Deno.writeTextFile(sidecar, JSON.stringify(info, null, 2) + "\n");
  return sidecar;
}

async function commandPrior(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      features: { type: "string" },
      groups: { type: "string" },
      images: { type: "string" },
      "per-folder": { type: "boolean", default: false },
      out: { type: "string" },
      pack: { type: "string" },
      device: { type: "string", default: "auto" },
      threads: { type: "string" },
      "save-features": { type: "string" },
      draws: { type: "string", default: "2000" },
      seed: { type: "string", default: "0" },
    },
  });
  if (positionals.length !== 1 || positionals[0] !== "fit") {
    throw new UsageError(`Cannot run prior ${positionals.join(" ")}: current subcommand is not fit`);
  }
  if (!values.out) throw new UsageError("Cannot fit a prior without --out: current value is missing");
  if (!values.features === !values.images) {
    throw new UsageError(
      `Cannot fit a prior from exactly one of --features and --images: current value is ${
        values.features ? "both" : "neither"
      }`,
    );
  }
  const input = values.features ? "--features" : "--images";
  if (values.groups && !values.features) {
    throw new UsageError(`Cannot use --groups without --features: current input is ${input} (use --per-folder)`);
  }
  if (values["per-folder"] && !values.images) {
    throw new UsageError(`Cannot use --per-folder without --images: current input is ${input} (use --groups)`);
  }
  if (values["save-features"] && !values.images) {
    throw new UsageError(`Cannot use --save-features without --images: current input is ${input}`);
  }
  const draws = checkCount(integer(values.draws, "--draws"), "draw count (--draws)");
  if (draws < 2) throw new UsageError(`Cannot use --draws ${draws}: current value is below 2`);
  const seed = checkSeed(integer(values.seed, "--seed"));
  const device = checkDevice(values.device);
  const threads = values.threads === undefined
    ? undefined
    : checkCount(integer(values.threads, "--threads"), "thread count (--threads)");

  // Inputs are read and checked before the pack opens and anything runs.
  const photos = values.images === undefined ? undefined : await findPhotos(values.images);
  let features: Float32Array[] = [];
  let groups: number[] | undefined;
  if (values.features) {
    features = decodeBank(await Deno.readFile(values.features), { name: values.features });
    if (values.groups) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(await Deno.readTextFile(values.groups));
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
        throw new TypeError(`Cannot read ${values.groups} as JSON groups: ${error.message}`);
      }
      groups = parseGroups(parsed, features.length, values.groups);
    }
  }
  // With --features the pack only gives its separation threshold; nothing runs.
  await using pack = await openPack(values.pack, photos ? device : "wasm", threads);
  if (photos) {
    say(`embedding ${photos.length} photos with pack "${pack.manifest.name}" on ${pack.backend}`);
    const started = performance.now();
    const embedded = await embedPhotos(photos, { pack, onProgress: progressBar("embedding") });
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `photos: ${photos.length}, embedded ${embedded.features.length}, skipped ${embedded.noFace.length} without ` +
        `a face (${seconds.toFixed(0)} s, ${(photos.length / seconds).toFixed(1)} photos/s)`,
    );
    if (values["save-features"]) {
      const sidecar = await saveFeatures(values["save-features"], pack, embedded);
      console.log(`saved features to ${values["save-features"]} (+ ${sidecar})`);
    }
    features = embedded.features;
    if (values["per-folder"]) groups = groupIds(embedded.files.map((file) => dirname(file)));
  }

  const fitStarted = performance.now();
  const prior = fitPrior(features, { groups });
  const fitSeconds = (performance.now() - fitStarted) / 1000;
  await writeAtomic(values.out, encodePrior(prior));

  const fitted = groups ? new Set(groups).size : features.length;
  console.log(
    `features: ${features.length} of ${prior.dim} values` + (groups ? `; centres: ${fitted} groups` : "") +
      `; fitted on ${fitted} vectors in ${fitSeconds.toFixed(2)} s; wrote ${values.out}`,
  );
  const report = priorReport(prior, {
    features,
    groups,
    draws,
    seed,
    separationThreshold: pack.manifest.separationThreshold,
  });
  for (const line of report) console.log(line);
}

async function commandEval(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      real: { type: "string" },
      out: { type: "string", default: "report" },
      pack: { type: "string" },
      device: { type: "string", default: "auto" },
      pairs: { type: "string", default: "1000000" },
      seed: { type: "string", default: "0" },
      "no-judge": { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) {
    throw new UsageError(
      `Cannot evaluate ${positionals.length === 0 ? "without a DATASET" : positionals.join(" ")}: ` +
        `current value is ${positionals.length} datasets, expected 1`,
    );
  }
  const pairs = checkCount(integer(values.pairs, "--pairs"), "pair count (--pairs)");
  const seed = checkSeed(integer(values.seed, "--seed"));
  const device = checkDevice(values.device);
  // Everything that can be wrong with the paths fails here, before the models load and the images embed.
  await checkReportFolder(values.out);
  const index = await openDataset(positionals[0]);
  if (values.real !== undefined && !(await Deno.stat(values.real).catch(() => undefined))) {
    throw new UsageError(`Cannot read real faces at ${values.real}: current path does not exist`);
  }
  await using pack = await openPack(values.pack, device);
  // The independent judge reads every image beside the pack's model, unless --no-judge.
  await using judge = values["no-judge"] ? undefined : await loadJudge({ device, onPull: say });
  say(
    `backend: ${pack.backend}${
      judge ? `, judge ${judge.name} on ${judge.backend}` : ", no independent judge"
    }; ${index.items.length} images (${index.layout}) in ${positionals[0]}`,
  );
  // With a pose model, poses are estimated in the embedding pass: one bar follows the faces through both models.
  const withPose = pack.manifest.files.pose !== undefined;
  const bars = {
    dataset: withPose ? () => {} : progressBar("embedding"),
    pose: progressBar("embedding + pose"),
    attributes: progressBar("attributes"),
    real: progressBar("embedding real faces"),
  };
  const thresholds = [...new Set([0.4, pack.manifest.separationThreshold])];
  const evaluation = await evaluateDataset(index, {
    pack,
    real: values.real,
    pairs,
    seed,
    uniqueThresholds: thresholds,
    judge,
    onProgress: (p) => bars[p.stage](p),
  });
  await writeReport(values.out, evaluation);
  const { report } = evaluation;
  const lines = [
    `images ${report.dataset.embedded} of ${report.dataset.images} embedded, ${report.dataset.identities} identities`,
    `fidelity ${meanText(report.fidelity)} (the pack's model)`,
    ...report.judges.flatMap((model) => judgeLines(model, report, seed)),
    report.spread
      ? `yaw ${report.spread.yaw.mean.toFixed(1)} +- ${report.spread.yaw.std.toFixed(1)} deg, pitch ${
        report.spread.pitch.mean.toFixed(1)
      } +- ${report.spread.pitch.std.toFixed(1)} deg (pose ${report.spread.imagesPerSecond.toFixed(1)} faces/s)`
      : "yaw/pitch - (no pose model)",
    report.attributes
      ? `age ${report.attributes.age.mean.toFixed(1)} +- ${report.attributes.age.std.toFixed(1)}, ${
        (100 * report.attributes.gender.femaleShare).toFixed(1)
      } % female, quality ${report.attributes.quality.mean.toFixed(3)} (5th pct ${
        report.attributes.quality.p5.toFixed(3)
      })`
      : "age/gender/quality - (no attribute heads)",
    ...(report.edits ? [editLine(report.edits)] : []),
  ];
  for (const line of lines) console.log(line);
  say(`wrote ${join(values.out, REPORT_FILES.markdown)} and ${REPORT_FILES.json} (${report.seconds.toFixed(1)} s)`);
}

/** "N pairs", and how they were sampled when they were. */
function pairCount(scores: { count: number; exhaustive: boolean; available: number } | null, seed: number): string {
  if (!scores) return "0 pairs";
  return scores.exhaustive
    ? `${scores.count} pairs`
    : `${scores.count} pairs sampled of ${scores.available}, seed ${seed}`;
}

async function commandServe(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      port: { type: "string", default: "8000" },
      host: { type: "string", default: "127.0.0.1" },
      pack: { type: "string" },
      device: { type: "string", default: "auto" },
      "batch-size": { type: "string", default: String(DEFAULTS.batchSize) },
      "max-images": { type: "string", default: "2000" },
      "max-concurrent": { type: "string", default: "2" },
      "max-identities": { type: "string", default: "10000" },
      "max-rss": { type: "string" },
      "idle-timeout": { type: "string", default: "30" },
      "shutdown-timeout": { type: "string", default: "10" },
      workers: { type: "string" },
    },
  });
  const port = integer(values.port, "--port")!;
  if (!(port >= 0 && port <= 65535)) {
    throw new UsageError(`Cannot use --port ${port}: current value is not in 0..65535`);
  }
  const device = checkDevice(values.device);
  const limits = {
    maxImages: checkCount(integer(values["max-images"], "--max-images"), "image limit (--max-images)"),
    maxConcurrent: checkCount(integer(values["max-concurrent"], "--max-concurrent"), "render limit (--max-concurrent)"),
    maxIdentities: checkCount(
      integer(values["max-identities"], "--max-identities"),
      "identity limit (--max-identities)",
    ),
    maxRss: values["max-rss"] === undefined
      ? undefined
      : checkCount(integer(values["max-rss"], "--max-rss"), "memory limit in MiB (--max-rss)") * 2 ** 20,
    idleTimeoutMs: checkCount(integer(values["idle-timeout"], "--idle-timeout"), "idle timeout (--idle-timeout)") *
      1000,
  };
  const shutdownSeconds = integer(values["shutdown-timeout"], "--shutdown-timeout")!;
  if (!(shutdownSeconds >= 0 && shutdownSeconds <= 3600)) {
    throw new UsageError(`Cannot use --shutdown-timeout ${shutdownSeconds}: current value is not in 0..3600 seconds`);
  }
  // One worker per render slot: renders run beside the thread that answers requests.
  const workers = values.workers === undefined ? limits.maxConcurrent : integer(values.workers, "--workers")!;
  const batchSize = checkBatchSize(integer(values["batch-size"], "--batch-size"));
  await using pack = await openPack(values.pack, device);
  // One JSON line per request on stderr (method, route, status, bytes, ms).
  const log = (line: Record<string, unknown>) => say(JSON.stringify({ time: new Date().toISOString(), ...line }));
  await using handler = createHandler({ pack, limits, batchSize, log, workers });
  say(`backend: ${pack.backend}, ${workers} render workers`);
  const server = Deno.serve({
    port,
    hostname: values.host,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      console.log(`listening on http://${host}:${port}/ (pack ${pack.manifest.name}, backend ${pack.backend})`);
    },
  }, handler);
  // SIGINT/SIGTERM: stop taking connections and let the responses in flight
  // end; past --shutdown-timeout, cancel them (their connections drop), then exit.
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    if (deadline !== undefined) return;
    say(`shutting down: responses in flight get ${shutdownSeconds} s`);
    void server.shutdown();
    deadline = setTimeout(() => void handler.dispose(), shutdownSeconds * 1000);
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  try {
    await server.finished;
  } finally {
    clearTimeout(deadline);
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  }
}

async function commandFetch(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      from: { type: "string", multiple: true },
      out: { type: "string" },
      ids: { type: "string" },
      "per-id": { type: "string" },
      "shard-size": { type: "string", default: String(DEFAULTS.shardSize) },
      seed: { type: "string", default: "0" },
      threshold: { type: "string" },
      retries: { type: "string", default: String(DEFAULTS.retries) },
      "per-handler": { type: "string" },
      overwrite: { type: "boolean", default: false },
      resume: { type: "boolean", default: false },
    },
  });
  if (!values.from?.length) throw new UsageError("Cannot fetch without --from URL: current value is missing");
  if (!values.out) throw new UsageError("Cannot fetch without --out: current value is missing");
  if (values.ids === undefined) throw new UsageError("Cannot fetch without --ids: current value is missing");
  if (values["per-id"] === undefined) throw new UsageError("Cannot fetch without --per-id: current value is missing");
  const bar = progressBar("fetching");
  const started = performance.now();
  const result = await fetchDataset({
    from: values.from,
    out: values.out,
    ids: integer(values.ids, "--ids")!,
    perId: integer(values["per-id"], "--per-id")!,
    shardSize: integer(values["shard-size"], "--shard-size"),
    seed: integer(values.seed, "--seed"),
    threshold: float(values.threshold, "--threshold"),
    retries: integer(values.retries, "--retries"),
    perHandler: integer(values["per-handler"], "--per-handler"),
    overwrite: values.overwrite,
    resume: values.resume,
    onProgress: bar,
    onWarning: (line) => say(`warning: ${line}`),
    onOverwrite: (names) => say(overwriting(values.out!, names)),
  });
  const seconds = (performance.now() - started) / 1000;
  const used = result.handlers.filter((handler) => handler.shards > 0);
  say(
    `fetched ${result.shards - result.kept} shards (${(result.bytes / 2 ** 20).toFixed(1)} MiB) of ` +
      `${result.images} images to ${values.out} from ${used.length} handlers in ${seconds.toFixed(1)} s` +
      (result.kept > 0 ? `, ${result.kept} kept` : "") + `, ${result.retries} retries, backend ${result.backend}`,
  );
  for (const handler of result.handlers) {
    say(
      `  ${handler.url}: ${handler.shards} shards, ${handler.failures} failures${handler.dropped ? ", left out" : ""}`,
    );
  }
}

/**
 * What an edited dataset's edits reached, as `eval` prints it: per target the measured mean +- std and the share
 * within the report's tolerance, then status counts, identity cosine and generator calls.
 */
function editLine(edits: EditReport): string {
  const targets = edits.targets.map(({ attribute, target, measured, tolerance, withinTolerance }) => {
    const digits = attribute === "gender" || attribute === "quality" ? 3 : 1;
    const unit = EDIT_UNITS[attribute] === "" ? "" : ` ${EDIT_UNITS[attribute]}`;
    return `${attribute} ${target}${unit}: ${measured.mean.toFixed(digits)} +- ${
      measured.std.toFixed(digits)
    }${unit} (${(100 * withinTolerance).toFixed(1)} % within ${tolerance}${unit})`;
  });
  return `edits ${targets.join(", ")}; ${edits.status.reached} of ${edits.images} reached, identity ${
    edits.identity.mean.toFixed(3)
  } (min ${edits.identity.min.toFixed(3)}), ${edits.calls.mean.toFixed(1)} calls per image`;
}

/** A summary's mean to 3 decimals, or "-" when it was not measured. */
function meanText(value: { mean: number } | null): string {
  return value ? value.mean.toFixed(3) : "-";
}

/** One model's identity metrics, as `eval` prints them (the pack's model also with the asked thresholds). */
function judgeLines(model: JudgeReport, report: EvalReport, seed: number): string[] {
  const unique = model.independent ? model.uniqueIdentities : [
    ...model.uniqueIdentities,
    ...report.uniqueIdentities.filter((u) => !model.uniqueIdentities.some((m) => m.threshold === u.threshold)),
  ];
  const reference = model.reference;
  return [
    `model ${model.name} (${
      model.independent
        ? "independent judge: no training here uses it"
        : "the pack's model: the generator trains against it"
    }), backend ${model.backend}`,
    `  genuine ${meanText(model.genuine)} (${pairCount(model.genuine, seed)})`,
    `  impostor ${meanText(model.impostor)} (${pairCount(model.impostor, seed)})`,
    `  EER ${model.eer ? `${(100 * model.eer.rate).toFixed(2)} % at ${model.eer.threshold.toFixed(3)}` : "-"}`,
    ...unique.map((u) =>
      `  unique identities at ${Number(u.threshold.toFixed(4))}${
        reference?.far1e3 === u.threshold ? " (its LFW FAR 1e-3)" : ""
      }: ${(100 * u.ratio).toFixed(2)} %`
    ),
    `  Frechet distance to real faces ${model.frechetDistance === null ? "-" : model.frechetDistance.toFixed(4)}`,
    reference
      ? `  real faces (LFW pairs): accuracy ${(100 * reference.accuracy).toFixed(2)} %, genuine ${
        reference.genuineMean.toFixed(3)
      }, impostor ${reference.impostorMean.toFixed(3)}, EER ${(100 * reference.eer).toFixed(2)} %`
      : "  real faces (LFW pairs): not calibrated",
  ];
}

async function commandModels(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { pack: { type: "string" } },
  });
  if (positionals[0] !== "pull") {
    throw new UsageError(`Cannot run models ${positionals[0] ?? ""}: current subcommand is not pull`);
  }
  await using pack = await loadPack(values.pack ?? DEFAULT_PACK, { device: "wasm", onPull: say });
  // Third-party files are otherwise pulled on first use: `models pull` fetches and checks them all now.
  await pack.pullAll();
  const files = Object.keys(pack.manifest.files).join(", ");
  say(`pack ${pack.manifest.name} (${pack.sha256.slice(0, 12)}): ${files} verified`);
  await pullJudgeModel({ onPull: say });
  say(`judge ${JUDGE_SOURCE.package}@${JUDGE_SOURCE.version} (ONNX ${JUDGE_SOURCE.onnxSha256.slice(0, 12)}) verified`);
}

// parseArgs takes "-1" after "--per-id" for an option; join negative numbers
// to their flag so that the value gets checked and reported as a value.
function joinNegativeNumbers(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (/^--[a-z-]+$/.test(args[i]) && /^-\d/.test(args[i + 1] ?? "")) out.push(`${args[i]}=${args[++i]}`);
    else out.push(args[i]);
  }
  return out;
}

async function commandEdit(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      bank: { type: "string" },
      targets: { type: "string" },
      out: { type: "string" },
      first: { type: "string" },
      budget: { type: "string", default: "200" },
      "min-identity": { type: "string", default: "0.6" },
      seed: { type: "string", default: "0" },
      device: { type: "string", default: "auto" },
      pack: { type: "string" },
      overwrite: { type: "boolean", default: false },
    },
  });
  if (!values.bank) throw new UsageError("Cannot edit without --bank: current value is missing");
  if (!values.targets) throw new UsageError("Cannot edit without --targets: current value is missing");
  if (!values.out) throw new UsageError("Cannot edit without --out: current value is missing");
  const targets = parseTargets(values.targets);
  const budget = checkCount(integer(values.budget, "--budget"), "budget (--budget)");
  const minIdentity = float(values["min-identity"], "--min-identity")!;
  const seed = checkSeed(integer(values.seed, "--seed"));
  const first = values.first === undefined ? undefined : checkCount(integer(values.first, "--first"), "--first");
  const bankBytes = await Deno.readFile(values.bank);
  await using pack = await openPack(values.pack, checkDevice(values.device));
  const vectors = decodeBank(bankBytes, { dim: pack.manifest.vectorSize, name: values.bank }).slice(0, first);
  await prepareOutput(values.out, values.overwrite, (names) => say(overwriting(values.out!, names)));
  say(`backend: ${pack.backend}`);
  const bar = progressBar("editing");
  const edited: Float32Array[] = [];
  let reached = 0;
  const log = await Deno.open(join(values.out, "edits.jsonl"), { write: true, create: true, truncate: true });
  try {
    for (const [index, vector] of vectors.entries()) {
      // Identity i gets the same search as identity i of a one-vector bank with seed + i.
      const result = await edit(vector, targets, { pack, budget, minIdentity, seed: seed + index });
      edited.push(result.vector);
      if (result.status === "reached") reached++;
      const name = `${String(index).padStart(6, "0")}.png`;
      await Deno.writeFile(join(values.out, name), encodePng(result.image));
      const row = {
        index,
        image: name,
        status: result.status,
        errors: result.errors,
        identity: result.identity,
        calls: result.calls,
        pose: result.pose,
        start: result.start,
        attributes: result.attributes,
      };
      await log.write(new TextEncoder().encode(JSON.stringify(row) + "\n"));
      bar({ done: index + 1, total: vectors.length });
    }
  } finally {
    log.close();
  }
  await Deno.writeFile(join(values.out, "edited.npy"), encodeBank(edited));
  say(`edited ${vectors.length} identities to ${values.out}: ${reached} reached ${JSON.stringify(targets)}`);
}

/** Runs the CLI with arguments; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = joinNegativeNumbers(args);
  const commands: Record<string, (args: string[]) => Promise<void>> = {
    generate: commandGenerate,
    sample: commandSample,
    embed: commandEmbed,
    prior: commandPrior,
    edit: commandEdit,
    eval: commandEval,
    models: commandModels,
    serve: commandServe,
    fetch: commandFetch,
  };
  if (!command || command === "--help" || command === "-h" || command === "help") {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const run = commands[command];
  if (!run) {
    console.error(
      `error: Cannot run command ${command}: current value is not one of ${Object.keys(commands).join(", ")}`,
    );
    return 2;
  }
  try {
    await run(rest);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof TypeError || error instanceof RangeError) {
      console.error(`error: ${cliMessage((error as Error).message)}`);
      return 2;
    }
    // Anything else (file system, onnxruntime) is still one line; the stack on request.
    console.error(`error: ${cliMessage(String((error as Error).message ?? error))}`);
    if (!(error instanceof Vec2FaceError) && Deno.env.get("VEC2FACE_DEBUG")) console.error((error as Error).stack);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
