import assert from "node:assert/strict";
import { join } from "node:path";
import type { EditReport, EvalReport, Evaluation } from "./evaluate.ts";
import { decodeImage } from "./image/codec.ts";
import { blankImage } from "./image/plot.ts";
import { checkReportFolder, REPORT_FILES, reportMarkdown, writeReport } from "./report.ts";

const reference = {
  accuracy: 0.9917,
  accuracyStd: 0.004,
  auc: 0.9991,
  genuineMean: 0.61,
  impostorMean: 0.05,
  eer: 0.008,
  far1e3: 0.5,
  far1e4: 0.6,
  command: "bench/lfw_eval.ts",
};

function sampleReport(): EvalReport {
  const summary = { count: 190, mean: 0.4567, std: 0.1, min: 0.1, p5: 0.3, median: 0.45, max: 0.9 };
  const histogram = { min: -0.5, max: 1, counts: Array.from({ length: 75 }, (_, k) => (k > 40 ? 2 : 0)) };
  return {
    version: 1,
    dataset: {
      path: "out/demo",
      layout: "webdataset",
      identities: 10,
      images: 200,
      embedded: 198,
      aligned: 0,
      noFace: 0,
      unreadable: 2,
      problems: ["shard-00000.tar#000001_000.jpg: sha256 differs from the manifest's"],
      imagesPerIdentity: { min: 19, mean: 19.8, max: 20 },
    },
    model: { pack: "vec2face-small", packSha256: "0123456789abcdef", identitySha256: "ff", backend: "native" },
    options: { pairs: 1000, seed: 3 },
    fidelity: { ...summary, count: 198, mean: 0.61, histogram, bankPackSha256: "0123456789abcdef" },
    genuine: { ...summary, available: 1881, exhaustive: false, histogram },
    impostor: {
      ...summary,
      count: 1000,
      mean: 0.0071,
      available: 17622,
      exhaustive: false,
      histogram: { ...histogram, counts: histogram.counts.map((_, k) => (k > 20 && k < 30 ? 5 : 0)) },
    },
    eer: { rate: 0.0088, threshold: 0.2123 },
    uniqueIdentities: [{ threshold: 0.4, unique: 9, total: 10, ratio: 0.9 }],
    spread: {
      yaw: {
        ...summary,
        count: 198,
        mean: -1.23,
        std: 14.56,
        p5: -25.04,
        min: -40,
        max: 38.5,
        histogram: { min: -90, max: 90, counts: Array.from({ length: 36 }, (_, k) => (k === 17 ? 198 : 0)) },
      },
      pitch: {
        ...summary,
        count: 198,
        mean: 2.5,
        std: 6.25,
        p5: -8,
        min: -12,
        max: 15,
        histogram: { min: -90, max: 90, counts: Array.from({ length: 36 }, (_, k) => (k === 18 ? 198 : 0)) },
      },
      seconds: 9.9,
      imagesPerSecond: 20,
    },
    attributes: {
      age: {
        ...summary,
        count: 198,
        mean: 31.27,
        std: 9.81,
        p5: 18.04,
        median: 29.5,
        histogram: { min: 0, max: 100, counts: Array.from({ length: 20 }, (_, k) => (k === 6 ? 198 : 0)) },
      },
      gender: { count: 198, femaleShare: 0.4545, meanFemaleProbability: 0.4712 },
      quality: { ...summary, count: 198, mean: 0.9123, p5: 0.7011 },
      seconds: 0.05,
    },
    realism: {
      frechetDistance: 0.12345,
      real: { path: "lfw", images: 500, embedded: 490, noFace: 10, unreadable: 0 },
    },
    judges: [
      {
        name: "fr_feature",
        independent: false,
        backend: "native",
        genuine: { ...summary, available: 1881, exhaustive: false, histogram },
        impostor: { ...summary, count: 1000, mean: 0.0071, available: 17622, exhaustive: false, histogram },
        eer: { rate: 0.0088, threshold: 0.2123 },
        uniqueIdentities: [{ threshold: 0.5, unique: 8, total: 10, ratio: 0.8 }, {
          threshold: 0.4,
          unique: 9,
          total: 10,
          ratio: 0.9,
        }],
        frechetDistance: 0.12345,
        reference: { ...reference, far1e3: 0.5 },
      },
      {
        name: "face-api",
        independent: true,
        backend: "native",
        genuine: { ...summary, mean: 0.8123, available: 1881, exhaustive: false, histogram },
        impostor: { ...summary, count: 1000, mean: 0.7012, available: 17622, exhaustive: false, histogram },
        eer: { rate: 0.034, threshold: 0.75 },
        uniqueIdentities: [{ threshold: 0.93, unique: 1, total: 10, ratio: 0.1 }, {
          threshold: 0.4,
          unique: 1,
          total: 10,
          ratio: 0.1,
        }],
        frechetDistance: 0.5,
        reference: { ...reference, accuracy: 0.989, genuineMean: 0.95, impostorMean: 0.8, far1e3: 0.93 },
      },
    ],
    absent: { realism: "no real faces given" },
    seconds: 12.5,
    imagesPerSecond: 16,
  };
}

Deno.test("reportMarkdown: the table says what was measured and how", () => {
  const markdown = reportMarkdown(sampleReport(), {
    similarity: "similarity.png",
    fidelity: "fidelity.png",
    pose: "pose.png",
    age: "age.png",
    sheet: "contact_sheet.png",
  });
  for (
    const line of [
      "# Dataset quality report: out/demo",
      "200 images of 10 identities (webdataset); 198 embedded, 2 unreadable.",
      "| metric | fr_feature (the pack's model, trained against) | face-api (independent judge) | how |",
      "| identity fidelity | 0.610 +- 0.100 (5th pct 0.300) | - | cos(embed(image), its identity vector), 198 images",
      "| genuine cosine | 0.457 +- 0.100 | 0.812 +- 0.100 | images of one identity, 190 pairs sampled of 1,881 (seed 3) |",
      "| impostor cosine | 0.007 +- 0.100 | 0.701 +- 0.100 | images of different identities, 1,000 pairs sampled of " +
      "17,622 (seed 3) |",
      "| EER | 0.88 % at cosine 0.212 | 3.40 % at cosine 0.750 |",
      "| unique identities at the model's LFW FAR-1e-3 cosine | 80.00 % (cos 0.500) | 10.00 % (cos 0.930) |",
      "| unique identities at 0.4 | 90.00 % (9 of 10) | 10.00 % (1 of 10) |",
      "| Frechet distance to real faces | 0.1235 | 0.5000 |",
      "| real faces (LFW pairs): accuracy | 99.17 % (AUC 0.9991) | 98.90 % (AUC 0.9991) |",
      "| real faces (LFW pairs): genuine / impostor / EER | 0.610 / 0.050 / 0.80 % | 0.950 / 0.800 / 0.80 % |",
      "Real faces for the Frechet distances: 490 of lfw.",
      "![genuine and impostor cosines](similarity.png)",
      "![contact sheet](contact_sheet.png)",
      "## Spread and attributes",
      "| yaw | -1.2 +- 14.6 deg (5th pct -25.0, range -40.0..38.5) | the pack's pose model (fr_pose) on each aligned " +
      "face, calibrated to the photo's pose; 198 faces, 9.9 s (20.0 faces/s) |",
      "| pitch | 2.5 +- 6.3 deg (5th pct -8.0, range -12.0..15.0) | as yaw, same pass |",
      "| age | 31.3 +- 9.8 years (5th pct 18.0, median 29.5) | the pack's age head on the identity features, 198 faces |",
      "| gender balance | 45.45 % female (mean P(female) 0.471) |",
      "| quality | 0.912 (5th pct 0.701) |",
      "![yaw and pitch](pose.png)",
      "![age](age.png)",
      "- realism: no real faces given",
      "- shard-00000.tar#000001_000.jpg: sha256 differs from the manifest's",
    ]
  ) {
    assert.ok(markdown.includes(line), `missing: ${line}\n${markdown}`);
  }
  // Without images or optional metrics, their rows and links are left out.
  const bare = reportMarkdown({
    ...sampleReport(),
    fidelity: null,
    realism: null,
    eer: null,
    impostor: null,
    spread: null,
    attributes: null,
  });
  assert.ok(!bare.includes("identity fidelity") && !bare.includes("Real faces for") && !bare.includes("!["));
  // Without the independent judge, the report says its numbers are the pack's model's only.
  const packOnly = reportMarkdown({ ...sampleReport(), judges: sampleReport().judges.slice(0, 1) });
  assert.ok(packOnly.includes("No independent judge read this dataset") && !packOnly.includes("face-api"));
  assert.ok(!bare.includes("Spread and attributes") && !bare.includes("| yaw |"));
  // Pose without the attribute heads: the yaw and pitch rows only.
  const poseOnly = reportMarkdown({ ...sampleReport(), attributes: null });
  assert.ok(poseOnly.includes("| yaw |") && !poseOnly.includes("| age |") && !poseOnly.includes("| quality |"));
});

Deno.test("writeReport: PNGs, report.md and report.json; other files in the folder are kept", async () => {
  const out = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(out, "keep.txt"), "mine");
    const face = blankImage(112, 112, [90, 90, 90]);
    const evaluation: Evaluation = { report: sampleReport(), sheet: [[face, face, face], [face]] };
    const written = await writeReport(out, evaluation);
    assert.deepEqual(written.map((path) => path.slice(out.length + 1)), [
      REPORT_FILES.similarity,
      REPORT_FILES.fidelity,
      REPORT_FILES.pose,
      REPORT_FILES.age,
      REPORT_FILES.sheet,
      REPORT_FILES.markdown,
      REPORT_FILES.json,
    ]);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(out, "report.json"))), sampleReport());
    const sheet = await decodeImage(await Deno.readFile(join(out, REPORT_FILES.sheet)));
    assert.deepEqual([sheet.width, sheet.height], [3 * 112 + 4 * 4, 2 * 112 + 3 * 4]);
    const similarity = await decodeImage(await Deno.readFile(join(out, REPORT_FILES.similarity)));
    assert.deepEqual([similarity.width, similarity.height], [480, 240]);
    for (const name of [REPORT_FILES.pose, REPORT_FILES.age]) {
      const plot = await decodeImage(await Deno.readFile(join(out, name)));
      assert.deepEqual([plot.width, plot.height], [480, 240], name);
    }
    const markdown = await Deno.readTextFile(join(out, REPORT_FILES.markdown));
    assert.ok(markdown.includes("![yaw and pitch](pose.png)") && markdown.includes("![age](age.png)"));
    assert.equal(await Deno.readTextFile(join(out, "keep.txt")), "mine");
    const names = (await Array.fromAsync(Deno.readDir(out))).map((entry) => entry.name).sort();
    assert.ok(!names.some((name) => name.endsWith(".tmp")), names.join());
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

const EDITS: EditReport = {
  images: 200,
  targets: [
    {
      attribute: "yaw",
      target: 25,
      measured: { count: 200, mean: 22.345, std: 4.56, min: 9.1, p5: 14, median: 23, max: 31.25 },
      tolerance: 7,
      withinTolerance: 0.815,
    },
    {
      attribute: "gender",
      target: 1,
      measured: { count: 200, mean: 0.8123, std: 0.2, min: 0.1, p5: 0.3, median: 0.9, max: 0.99 },
      tolerance: 0.5,
      withinTolerance: 0.9,
    },
  ],
  status: { reached: 150, unreached: 50 },
  identity: { mean: 0.8312, min: 0.6012 },
  calls: { mean: 37.25, max: 200, total: 7450 },
};

Deno.test("reportMarkdown and writeReport: an edited dataset's edits, in report.md and report.json", async () => {
  const markdown = reportMarkdown({ ...sampleReport(), edits: EDITS });
  for (
    const line of [
      "## Edits",
      "200 of 200 images edited: 150 reached, 50 unreached (the search's own tolerances); identity cosine to the " +
      "unedited face 0.831 mean (min 0.601); 37.3 generator calls per image (max 200, 7,450 in all).",
      "| yaw | 25 deg | 22.3 +- 4.6 deg (range 9.1..31.3, 200 images) | 81.50 % within 7 deg of the target |",
      "| gender | 1 P(female) | 0.812 +- 0.200 P(female) (range 0.100..0.990, 200 images) | 90.00 % " +
      "within 0.5 P(female) of the target |",
    ]
  ) {
    assert.ok(markdown.includes(line), `missing: ${line}\n${markdown}`);
  }
  assert.ok(!reportMarkdown(sampleReport()).includes("## Edits"));
  const out = await Deno.makeTempDir();
  try {
    await writeReport(out, { report: { ...sampleReport(), edits: EDITS }, sheet: [] });
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(out, REPORT_FILES.json))).edits, EDITS);
    assert.ok((await Deno.readTextFile(join(out, REPORT_FILES.markdown))).includes("| yaw | 25 deg | 22.3 +- 4.6 deg"));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("writeReport: a report without pairs, bank, pose or attributes has no plots; a file as the folder is refused", async () => {
  const root = await Deno.makeTempDir();
  try {
    const out = join(root, "nested", "report");
    const report = {
      ...sampleReport(),
      fidelity: null,
      genuine: null,
      impostor: null,
      eer: null,
      spread: null,
      attributes: null,
      absent: { spread: "no pose model", age: "no attribute heads" },
    };
    const written = await writeReport(out, { report, sheet: [] });
    assert.deepEqual(written.map((path) => path.slice(out.length + 1)), ["report.md", "report.json"]);
    const markdown = await Deno.readTextFile(join(out, "report.md"));
    assert.ok(markdown.includes("- spread: no pose model") && markdown.includes("- age: no attribute heads"));
    assert.ok(!markdown.includes("Spread and attributes"));
    const file = join(root, "file");
    await Deno.writeTextFile(file, "keep");
    await assert.rejects(writeReport(file, { report, sheet: [] }), /report to .*file: current path is a file/);
    await assert.rejects(checkReportFolder(file), TypeError);
    await checkReportFolder(join(root, "missing")); // fine: created when written
    assert.equal(await Deno.readTextFile(file), "keep");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
