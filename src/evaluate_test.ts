import assert from "node:assert/strict";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { encodeBank } from "./bank.ts";
import { attributesOfFeatures } from "./estimators/attributes.ts";
import { embed } from "./estimators/embed.ts";
import { loadJudge } from "./estimators/judge.ts";
import { estimatePose } from "./estimators/pose.ts";
import {
  ABSENT_METRICS,
  AGE_HISTOGRAM_RANGE,
  EDIT_REPORT_TOLERANCES,
  editReport,
  embedDataset,
  evaluateDataset,
  POSE_HISTOGRAM_RANGE,
} from "./evaluate.ts";
import { generateDataset } from "./dataset/generate.ts";
import { decodeImage, encodePng } from "./image/codec.ts";
import { equalErrorRate, genuineScores, impostorScores, summarize } from "./metrics.ts";
import { DEFAULT_PACK, FIXTURE_PACK, loadPack } from "./model_pack.ts";
import { openDataset, readDataset } from "./read_dataset.ts";
import { REPORT_FILES, writeReport } from "./report.ts";
import { cosineSimilarity } from "./vectors.ts";

const close = (actual: number, expected: number, tolerance: number, what = "") =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} ${actual} != ${expected}`);

Deno.test("evaluateDataset on 4 identities x 3 images of the fixture pack", async (t) => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const root = await Deno.makeTempDir();
  const data = join(root, "data");
  try {
    await generateDataset({ pack, out: data, ids: 4, perId: 3, seed: 2, format: "zip", shardSize: 3 });
    const progress: string[] = [];
    const { report, sheet } = await evaluateDataset(data, {
      pack,
      uniqueThresholds: [0.4, 0.9],
      sheet: { identities: 3, images: 2 },
      onProgress: (p) => progress.push(`${p.stage} ${p.done}/${p.total}`),
    });

    await t.step("counts, layout, options and what is absent", () => {
      assert.equal(report.version, 1);
      assert.deepEqual(
        { ...report.dataset, path: undefined },
        {
          path: undefined,
          layout: "zip",
          identities: 4,
          images: 12,
          embedded: 12,
          aligned: 0,
          noFace: 0,
          unreadable: 0,
          problems: [],
          imagesPerIdentity: { min: 3, mean: 3, max: 3 },
        },
      );
      assert.equal(report.model.pack, "fixture");
      assert.equal(report.model.packSha256, pack.sha256);
      assert.deepEqual(report.options, { pairs: 1_000_000, seed: 0 });
      assert.equal(report.genuine!.count, 12);
      assert.equal(report.genuine!.exhaustive, true);
      assert.equal(report.impostor!.count, 66 - 12);
      assert.equal(report.realism, null);
      assert.match(report.absent.realism, /--real/);
      assert.equal(report.absent.fidelity, undefined);
      // The fixture pack has no pose model and no attribute heads: those metrics are absent, and say why.
      assert.equal(report.spread, null);
      assert.equal(report.attributes, null);
      assert.equal(report.absent.spread, ABSENT_METRICS.spread);
      assert.match(report.absent.spread, /pose model/);
      for (const metric of ["age", "gender", "quality"] as const) {
        assert.equal(report.absent[metric], ABSENT_METRICS[metric]);
      }
      assert.equal(progress.at(-1), "dataset 12/12");
      assert.ok(!progress.some((line) => /^(pose|attributes)/.test(line)), progress.join());
      assert.equal(report.genuine!.histogram.counts.reduce((a, b) => a + b), 12);
    });

    await t.step("the numbers are the metric functions' on the model's features", async () => {
      const index = await openDataset(data);
      const { features, items } = await embedDataset(index, { pack });
      const labels = items.map((item) => item.identity);
      const genuine = genuineScores(features, labels), impostor = impostorScores(features, labels);
      close(report.genuine!.mean, summarize(genuine.scores).mean, 1e-6, "genuine");
      close(report.impostor!.mean, summarize(impostor.scores).mean, 1e-6, "impostor");
      const eer = equalErrorRate(genuine.scores, impostor.scores);
      close(report.eer!.rate, eer.rate, 1e-6, "EER");
      // Fidelity: the cosine of image 0 of identity 1 (decoded and embedded by hand) to its bank vector.
      const shard = unzipSync(await Deno.readFile(join(data, "shard-00000.zip")));
      const image = await decodeImage(shard["000001/000.jpg"]);
      const [feature] = await embed([image], { pack });
      const cosine = cosineSimilarity(feature, index.bank![1]);
      const cosines = features.map((f, k) => cosineSimilarity(f, index.bank![items[k].identity]));
      close(cosines[3], cosine, 1e-5, "fidelity of 000001/000");
      close(report.fidelity!.mean, summarize(cosines).mean, 1e-6, "fidelity mean");
      assert.equal(report.fidelity!.count, 12);
      assert.equal(report.fidelity!.bankPackSha256, pack.sha256);
    });

    await t.step("unique identities at each threshold; contact sheet rows x columns", () => {
      assert.deepEqual(report.uniqueIdentities.map((u) => [u.threshold, u.total]), [[0.4, 4], [0.9, 4]]);
      assert.ok(report.uniqueIdentities[0].unique <= report.uniqueIdentities[1].unique);
      assert.equal(sheet.length, 3);
      assert.deepEqual(sheet.map((row) => row.length), [2, 2, 2]);
      assert.equal(sheet[0][0].width, 112);
    });

    await t.step("--real: the same images (an ImageFolder copy, or their features) are at distance 0", async () => {
      const copy = join(root, "copy");
      const index = await openDataset(data);
      for (const { item, bytes } of await Array.fromAsync(readDataset(index))) {
        await Deno.mkdir(join(copy, `id${item.identity}`), { recursive: true });
        await Deno.writeFile(join(copy, `id${item.identity}`, `${item.image}.jpg`), bytes!);
      }
      const withReal = await evaluateDataset(data, { pack, real: copy });
      assert.equal(withReal.report.realism!.real.embedded, 12);
      close(withReal.report.realism!.frechetDistance, 0, 1e-6, "FD to itself");
      assert.equal(withReal.report.absent.realism, undefined);
      const { features } = await embedDataset(await openDataset(copy), { pack });
      await Deno.writeFile(join(root, "real.npy"), encodeBank(features));
      const fromNpy = await evaluateDataset(data, { pack, real: join(root, "real.npy") });
      close(fromNpy.report.realism!.frechetDistance, 0, 1e-6, "FD to its features");
      // Two of the four identities: another mean and covariance, a positive distance.
      await Deno.writeFile(join(root, "half.npy"), encodeBank(features.slice(0, 6)));
      const half = await evaluateDataset(data, { pack, real: join(root, "half.npy") });
      assert.ok(half.report.realism!.frechetDistance > 1e-3, `${half.report.realism!.frechetDistance}`);
    });

    await t.step("few pairs asked: sampled and said so", async () => {
      const { report } = await evaluateDataset(data, { pack, pairs: 5, seed: 9 });
      assert.equal(report.genuine!.count, 5);
      assert.equal(report.genuine!.exhaustive, false);
      assert.equal(report.genuine!.available, 12);
      assert.equal(report.impostor!.count, 5);
      assert.deepEqual(report.options, { pairs: 5, seed: 9 });
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("evaluateDataset: photos that are not 112x112 are aligned; unreadable ones are listed", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const root = await Deno.makeTempDir();
  try {
    const face = encodePng({ width: 112, height: 112, data: new Uint8Array(112 * 112 * 3).fill(120) });
    for (
      const [file, bytes] of [
        ["ann/1.png", face],
        ["ann/2.png", face],
        ["bob/1.png", face],
        ["bob/blank.png", encodePng({ width: 200, height: 150, data: new Uint8Array(200 * 150 * 3) })],
        ["bob/broken.jpg", new Uint8Array([1, 2, 3])],
      ] as const
    ) {
      await Deno.mkdir(join(root, file.split("/")[0]), { recursive: true });
      await Deno.writeFile(join(root, file), bytes);
    }
    const { report } = await evaluateDataset(root, { pack });
    assert.equal(report.dataset.layout, "imagefolder");
    assert.equal(report.dataset.images, 5);
    assert.equal(report.dataset.embedded, 3);
    assert.equal(report.dataset.noFace, 1);
    assert.equal(report.dataset.unreadable, 1);
    assert.equal(report.dataset.problems.length, 2);
    assert.match(report.dataset.problems[0], /^bob\/broken\.jpg: Cannot decode image/);
    assert.equal(report.dataset.problems[1], "bob/blank.png: no face found");
    assert.equal(report.fidelity, null);
    assert.match(report.absent.fidelity, /no identity bank/);
    // Identical images: genuine and impostor cosines are 1, the EER is 1/2.
    close(report.genuine!.mean, 1, 1e-6);
    assert.equal(report.eer!.rate, 0.5);
    assert.equal(report.uniqueIdentities[0].unique, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("evaluateDataset of an edited dataset: what the rows' edits reached, per target", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const root = await Deno.makeTempDir();
  try {
    await generateDataset({ pack, out: root, ids: 2, perId: 2, seed: 3 });
    const plain = await evaluateDataset(root, { pack });
    assert.equal("edits" in plain.report, false);

    // The fixture pack cannot edit (no pose or attribute models): its rows are given edit records by hand.
    const yaws = [24, 20, 33, 10], females = [0.9, 0.4, 0.6, 0.2], identities = [0.9, 0.62, 0.75, 0.81];
    const manifest = (await Deno.readTextFile(join(root, "manifest.jsonl"))).trim().split("\n");
    const edited = manifest.map((line, k) => {
      const status = k === 0 ? "reached" : "unreached";
      const measured = { yaw: yaws[k], landmarkYaw: 0, gender: females[k] };
      const edit = { targets: { yaw: 25, gender: 1 }, status, measured, identity: identities[k], calls: 10 * (k + 1) };
      return JSON.stringify({ ...JSON.parse(line), edit });
    });
    await Deno.writeTextFile(join(root, "manifest.jsonl"), edited.join("\n") + "\n");
    const { report } = await evaluateDataset(root, { pack });
    const edits = report.edits!;
    assert.equal(edits.images, 4);
    assert.deepEqual(edits.targets.map((t) => [t.attribute, t.target, t.tolerance]), [
      ["yaw", 25, EDIT_REPORT_TOLERANCES.yaw],
      ["gender", 1, EDIT_REPORT_TOLERANCES.gender],
    ]);
    const [yaw, gender] = edits.targets;
    close(yaw.measured.mean, 21.75, 1e-12, "yaw mean");
    close(yaw.measured.std, Math.sqrt((2.25 ** 2 + 1.75 ** 2 + 11.25 ** 2 + 11.75 ** 2) / 4), 1e-12, "yaw std");
    assert.equal(yaw.withinTolerance, 0.5); // 24 and 20 within 7 degrees of 25; 33 and 10 not
    close(gender.measured.mean, 0.525, 1e-12, "P(female) mean");
    assert.equal(gender.withinTolerance, 0.5); // 0.9 and 0.6 read female
    assert.deepEqual(edits.status, { reached: 1, unreached: 3 });
    close(edits.identity.mean, 0.77, 1e-12, "identity mean");
    assert.equal(edits.identity.min, 0.62);
    assert.deepEqual(edits.calls, { mean: 25, max: 40, total: 100 });
    // The rest of the report does not depend on the edit records.
    assert.deepEqual(report.genuine, plain.report.genuine);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("editReport: targets that differ between rows are reported apart; rows without edits are left out", () => {
  const item = (age: number, target: number) => ({
    identity: 0,
    image: 0,
    file: "x.jpg",
    edit: { targets: { age: target }, status: "unreached" as const, measured: { age }, identity: 0.7, calls: 5 },
  });
  const report = editReport([item(62, 60), item(31, 30), item(50, 60), { identity: 1, image: 0, file: "y.jpg" }])!;
  assert.equal(report.images, 3);
  assert.deepEqual(report.targets.map((t) => [t.target, t.measured.count, t.measured.mean, t.withinTolerance]), [
    [30, 1, 31, 1],
    [60, 2, 56, 0.5],
  ]);
});

Deno.test("evaluateDataset refuses bad options and empty results before or instead of a report", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeFile(join(root, "broken.jpg"), new Uint8Array([0]));
    // Counts are checked by _check.ts's checkCount: the message names the option and its range.
    await assert.rejects(
      evaluateDataset(root, { pack, pairs: 0 }),
      /Cannot use pair count `pairs` 0: current value is not an integer in 1\.\./,
    );
    await assert.rejects(
      evaluateDataset(root, { pack, sheet: { images: 1.5 } }),
      /Cannot use contact sheet images `sheet.images` 1.5: current value is not an integer in 1\.\./,
    );
    await assert.rejects(evaluateDataset(root, { pack, seed: -1 }), /seed as -1/);
    await assert.rejects(evaluateDataset(root, { pack, uniqueThresholds: [1.5] }), /cosine 1.5/);
    await assert.rejects(
      evaluateDataset(root, { pack, real: join(root, "missing") }),
      /real faces at .*missing: current path does not exist/,
    );
    await assert.rejects(
      evaluateDataset(root, { pack }),
      /no embeddable image \(1 listed, 0 without a face, 1 unreadable\)/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("evaluateDataset with the default pack: yaw/pitch spread, age, gender and quality of every face", async () => {
  await using pack = await loadPack(DEFAULT_PACK, { device: "auto" });
  assert.ok(pack.manifest.files.pose && pack.manifest.files.attributes, "the default pack has pose and attributes");
  const root = await Deno.makeTempDir();
  const data = join(root, "data"), out = join(root, "report");
  try {
    await generateDataset({ pack, out: data, ids: 4, perId: 6, seed: 3 });
    const progress: string[] = [];
    const evaluation = await evaluateDataset(data, {
      pack,
      batchSize: 8,
      onProgress: (p) => progress.push(`${p.stage} ${p.done}/${p.total}`),
    });
    const { report } = evaluation;
    const images = 24;
    assert.equal(report.dataset.embedded, images);
    const spread = report.spread!, attributes = report.attributes!;
    for (const name of ["spread", "age", "gender", "quality"]) assert.equal(report.absent[name], undefined, name);

    // Every number is finite; every histogram counts every face once.
    for (const [name, value] of [["yaw", spread.yaw], ["pitch", spread.pitch], ["age", attributes.age]] as const) {
      assert.equal(value.count, images, name);
      for (const key of ["mean", "std", "min", "p5", "median", "max"] as const) {
        assert.ok(Number.isFinite(value[key]), `${name}.${key} ${value[key]}`);
      }
      assert.ok(value.std >= 0 && value.min <= value.mean && value.mean <= value.max, name);
      assert.equal(value.histogram.counts.reduce((a, b) => a + b), images, `${name} histogram`);
    }
    assert.deepEqual([spread.yaw.histogram.min, spread.yaw.histogram.max], [POSE_HISTOGRAM_RANGE.min, 90]);
    assert.equal(spread.pitch.histogram.counts.length, POSE_HISTOGRAM_RANGE.bins);
    assert.equal(attributes.age.histogram.counts.length, AGE_HISTOGRAM_RANGE.bins);
    assert.ok(spread.seconds > 0 && Number.isFinite(spread.imagesPerSecond) && spread.imagesPerSecond > 0);
    assert.ok(attributes.seconds >= 0);
    assert.equal(attributes.gender.count, images);
    assert.ok(attributes.gender.femaleShare >= 0 && attributes.gender.femaleShare <= 1);
    assert.ok(attributes.gender.meanFemaleProbability >= 0 && attributes.gender.meanFemaleProbability <= 1);
    assert.equal(attributes.quality.count, images);
    assert.ok(Number.isFinite(attributes.quality.mean) && attributes.quality.p5 > 0, `${attributes.quality.p5}`);
    assert.ok(attributes.quality.p5 <= attributes.quality.mean);

    // The progress covers the pose pass (in the embedding pass) and the attribute heads after it.
    assert.ok(progress.includes(`dataset ${images}/${images}`), progress.join());
    assert.equal(progress.filter((line) => line.startsWith("pose")).at(-1), `pose ${images}/${images}`);
    assert.equal(progress.filter((line) => line.startsWith("attributes")).at(-1), `attributes ${images}/${images}`);

    // The same numbers as the estimators on the decoded images and on their features.
    const index = await openDataset(data);
    const faces = await Promise.all(
      (await Array.fromAsync(readDataset(index))).map(({ bytes }) => decodeImage(bytes!)),
    );
    const poses = await estimatePose(faces, { pack });
    close(spread.yaw.mean, summarize(poses.map((pose) => pose.yaw)).mean, 1e-3, "yaw mean");
    close(spread.pitch.std, summarize(poses.map((pose) => pose.pitch)).std, 1e-3, "pitch std");
    const read = await attributesOfFeatures(await embed(faces, { pack }), { pack });
    close(attributes.age.mean, summarize(read.map((value) => value.age)).mean, 1e-3, "age mean");
    close(attributes.quality.p5, summarize(read.map((value) => value.quality)).p5, 1e-4, "quality p5");
    const female = read.filter((value) => value.female >= 0.5).length / images;
    close(attributes.gender.femaleShare, female, 1e-9, "female share");

    // The report has the table section and both plots.
    const written = (await writeReport(out, evaluation)).map((path) => path.slice(out.length + 1));
    assert.ok(written.includes(REPORT_FILES.pose) && written.includes(REPORT_FILES.age), written.join());
    const markdown = await Deno.readTextFile(join(out, REPORT_FILES.markdown));
    for (const text of ["## Spread and attributes", "| yaw |", "| pitch |", "| age |", "| gender balance |"]) {
      assert.ok(markdown.includes(text), `missing: ${text}`);
    }
    assert.ok(!markdown.includes("- spread:") && !markdown.includes("- age:"), markdown);
    const plot = await decodeImage(await Deno.readFile(join(out, REPORT_FILES.pose)));
    assert.deepEqual([plot.width, plot.height], [480, 240]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("evaluateDataset with the independent judge: both models side by side, the judge's on the same faces", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  await using judge = await loadJudge({ device: "wasm" });
  const root = await Deno.makeTempDir();
  try {
    await generateDataset({ pack, out: root, ids: 3, perId: 2, seed: 5 });
    const { report } = await evaluateDataset(root, { pack, judge, real: root });
    assert.deepEqual(report.judges.map((j) => [j.independent, j.backend]), [[false, "wasm"], [true, "wasm"]]);
    const [own, independent] = report.judges;
    // The pack's column is the report's top-level numbers.
    assert.equal(own.genuine!.mean, report.genuine!.mean);
    assert.equal(own.eer, report.eer);
    // The judge's column is the judge's descriptors of the dataset's faces, in dataset order.
    const index = await openDataset(root);
    const faces = [];
    for await (const { bytes } of readDataset(index)) faces.push(await decodeImage(bytes!));
    const descriptors = await judge.embed(faces);
    const labels = index.items.map((item) => item.identity);
    const expected = genuineScores(descriptors, labels, { pairs: 1_000_000, seed: 0 }).scores;
    close(independent.genuine!.mean, summarize(expected).mean, 1e-6, "judge genuine");
    assert.equal(independent.impostor!.count, 12);
    // Unique identities at the judge's own FAR-1e-3 cosine and at 0.4; its LFW reading is the reference row.
    assert.deepEqual(independent.uniqueIdentities.map((u) => u.threshold), [judge.calibration.far1e3, 0.4]);
    assert.equal(independent.reference, judge.calibration);
    // The dataset against itself as the real faces: a Frechet distance of about 0 in each model's space.
    close(own.frechetDistance!, 0, 1e-6, "own Frechet");
    close(independent.frechetDistance!, 0, 1e-6, "judge Frechet");
    // Without a judge, the pack's model only.
    const alone = await evaluateDataset(root, { pack });
    assert.equal(alone.report.judges.length, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
