// Quality-report throughput: generates a dataset of --ids x --per-id images (or takes --dataset DIR), then
// times `evaluateDataset` on it, by stage where it can, and checks the 20,000-images-in-15-minutes target.
//
//   deno run -A bench/eval_bench.ts [--ids 1000] [--per-id 20] [--format folder] [--pack DIR] [--device auto]
//     [--pairs 1000000] [--real DIR|FEATURES.npy] [--dataset DIR] [--keep]
//
// Without --dataset the generated dataset goes to a temporary folder, removed afterwards unless --keep.
// Prints a Markdown table.
import { parseArgs } from "node:util";
import { join } from "node:path";
import { checkDevice } from "../src/_backend.ts";
import { evaluateDataset } from "../src/evaluate.ts";
import { generateDataset } from "../src/dataset/generate.ts";
import { checkFormat } from "../src/dataset/plan.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { openDataset } from "../src/read_dataset.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    ids: { type: "string", default: "1000" },
    "per-id": { type: "string", default: "20" },
    format: { type: "string", default: "folder" },
    pack: { type: "string" },
    device: { type: "string", default: "auto" },
    pairs: { type: "string", default: "1000000" },
    real: { type: "string" },
    dataset: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const ids = Number(values.ids), perId = Number(values["per-id"]), pairs = Number(values.pairs);
const format = checkFormat(values.format);
await using pack = await loadPack(values.pack ?? DEFAULT_PACK, { device: checkDevice(values.device) });

const temporary = values.dataset ? undefined : await Deno.makeTempDir({ prefix: "eval_bench_" });
const data = values.dataset ?? join(temporary!, "data");
const rows: string[][] = [];
try {
  if (!values.dataset) {
    const started = performance.now();
    await generateDataset({ pack, out: data, ids, perId, seed: 1, format });
    const seconds = (performance.now() - started) / 1000;
    rows.push(["generate", `${ids * perId}`, seconds.toFixed(1), (ids * perId / seconds).toFixed(1), format]);
  }
  const index = await openDataset(data);
  const images = index.items.length;
  // Stage times from the progress callback: embedding ends at the last image, the metrics follow.
  const started = performance.now();
  let embedded = 0, realEmbedded = 0;
  const { report } = await evaluateDataset(index, {
    pack,
    pairs,
    real: values.real,
    onProgress: (p) => {
      const now = (performance.now() - started) / 1000;
      // With a pose model the embedding pass ends at the last pose batch, after the last image is read.
      if ((p.stage === "dataset" || p.stage === "pose") && p.done === p.total) embedded = Math.max(embedded, now);
      if (p.stage === "real" && p.done === p.total) realEmbedded = now;
    },
  });
  const total = (performance.now() - started) / 1000;
  rows.push([
    report.spread ? "read + decode + embed + pose" : "read + decode + embed",
    `${images}`,
    embedded.toFixed(1),
    (images / embedded).toFixed(1),
    "",
  ]);
  if (report.spread) {
    const { seconds, imagesPerSecond } = report.spread;
    rows.push(["of which pose", `${report.spread.yaw.count}`, seconds.toFixed(1), imagesPerSecond.toFixed(1), ""]);
  }
  if (report.attributes) {
    const { seconds, age } = report.attributes;
    rows.push(["attributes", `${age.count}`, seconds.toFixed(2), (age.count / seconds).toFixed(0), "age, gender"]);
  }
  if (values.real) {
    rows.push(["real faces", `${report.realism?.real.images ?? 0}`, (realEmbedded - embedded).toFixed(1), "", ""]);
  }
  rows.push([
    "metrics",
    `${report.genuine?.count ?? 0} + ${report.impostor?.count ?? 0} pairs`,
    (total - Math.max(embedded, realEmbedded) - (report.attributes?.seconds ?? 0)).toFixed(1),
    "",
    "genuine + impostor pairs, EER, unique ids, FD",
  ]);
  const projected = (total / images) * 20_000;
  rows.push([
    "eval total",
    `${images}`,
    total.toFixed(1),
    (images / total).toFixed(1),
    `20,000 images: ~${(projected / 60).toFixed(1)} min (target <= 15) on ${pack.backend}`,
  ]);
  console.log(
    `pack ${pack.manifest.name} (${pack.backend}), ${images} images of ${report.dataset.identities} identities`,
  );
  const header = ["stage", "items", "seconds", "items/s", "notes"];
  console.log(`| ${header.join(" | ")} |\n|${header.map(() => "---").join("|")}|`);
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
  console.log(
    `\ngenuine ${report.genuine?.mean.toFixed(3)}, impostor ${report.impostor?.mean.toFixed(3)}, EER ${
      report.eer ? (100 * report.eer.rate).toFixed(2) : "-"
    } %, unique@0.4 ${(100 * report.uniqueIdentities[0].ratio).toFixed(2)} %`,
  );
} finally {
  if (temporary && !values.keep) await Deno.remove(temporary, { recursive: true });
  else if (temporary) console.error(`kept ${data}`);
}
