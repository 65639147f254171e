import assert from "node:assert/strict";
import { join } from "node:path";
import type { EvalReport, Evaluation } from "./evaluate.ts";
import { decodeImage } from "./image/codec.ts";
import { blankImage } from "./image/plot.ts";
import { checkReportFolder, REPORT_FILES, reportMarkdown, writeReport } from "./report.ts";

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
    spread: null,
    realism: {
      frechetDistance: 0.12345,
      real: { path: "lfw", images: 500, embedded: 490, noFace: 10, unreadable: 0 },
    },
    absent: { spread: "no pose estimator" },
    seconds: 12.5,
    imagesPerSecond: 16,
  };
}

Deno.test("reportMarkdown: the table says what was measured and how", () => {
  const markdown = reportMarkdown(sampleReport(), {
    similarity: "similarity.png",
    fidelity: "fidelity.png",
    sheet: "contact_sheet.png",
  });
  for (
    const line of [
      "# Dataset quality report: out/demo",
      "200 images of 10 identities (webdataset); 198 embedded, 2 unreadable.",
      "| identity fidelity | 0.610 +- 0.100 (5th pct 0.300) | cos(embed(image), its identity vector), 198 images |",
      "| genuine cosine | 0.457 +- 0.100 | images of one identity, 190 pairs sampled of 1,881 (seed 3) |",
      "| impostor cosine | 0.007 +- 0.100 | images of different identities, 1,000 pairs sampled of 17,622 (seed 3) |",
      "| EER | 0.88 % at cosine 0.212 |",
      "| unique identities at 0.4 | 90.00 % (9 of 10) |",
      "| Frechet distance to real faces | 0.1235 | unit-length identity features, 198 vs 490 real (lfw) |",
      "![genuine and impostor cosines](similarity.png)",
      "![contact sheet](contact_sheet.png)",
      "- spread: no pose estimator",
      "- shard-00000.tar#000001_000.jpg: sha256 differs from the manifest's",
    ]
  ) {
    assert.ok(markdown.includes(line), `missing: ${line}\n${markdown}`);
  }
  // Without images or optional metrics, their rows and links are left out.
  const bare = reportMarkdown({ ...sampleReport(), fidelity: null, realism: null, eer: null, impostor: null });
  assert.ok(!bare.includes("identity fidelity") && !bare.includes("Frechet") && !bare.includes("!["));
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
      REPORT_FILES.sheet,
      REPORT_FILES.markdown,
      REPORT_FILES.json,
    ]);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(out, "report.json"))), sampleReport());
    const sheet = await decodeImage(await Deno.readFile(join(out, REPORT_FILES.sheet)));
    assert.deepEqual([sheet.width, sheet.height], [3 * 112 + 4 * 4, 2 * 112 + 3 * 4]);
    const similarity = await decodeImage(await Deno.readFile(join(out, REPORT_FILES.similarity)));
    assert.deepEqual([similarity.width, similarity.height], [480, 240]);
    assert.equal(await Deno.readTextFile(join(out, "keep.txt")), "mine");
    const names = (await Array.fromAsync(Deno.readDir(out))).map((entry) => entry.name).sort();
    assert.ok(!names.some((name) => name.endsWith(".tmp")), names.join());
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("writeReport: a report without pairs or bank has no plots; a file as the folder is refused", async () => {
  const root = await Deno.makeTempDir();
  try {
    const out = join(root, "nested", "report");
    const report = { ...sampleReport(), fidelity: null, genuine: null, impostor: null, eer: null };
    const written = await writeReport(out, { report, sheet: [] });
    assert.deepEqual(written.map((path) => path.slice(out.length + 1)), ["report.md", "report.json"]);
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
