// Pose control of a pack whose generator has a `pose` input: N sampled identities rendered at a range of
// yaw inputs (pitch 0), their pose read back by the pack's pose estimator, and the identity cosine between
// each turned face and the same identity rendered at yaw 0 (same mask). Prints a markdown table.
//
//   deno run -A bench/pose_response.ts [--pack DIR] [--ids 64] [--yaws -60,-45,-30,-15,0,15,30,45,60]
//     [--device auto] [--seed 1] [--sheet FILE.png]
import { parseArgs } from "node:util";
import { checkDevice } from "../src/_backend.ts";
import { embed } from "../src/estimators/embed.ts";
import { estimatePose } from "../src/estimators/pose.ts";
import { encodePng, type RgbImage } from "../src/image/codec.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { render } from "../src/render.ts";
import { sample } from "../src/sample.ts";
import { cosineSimilarity } from "../src/vectors.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    pack: { type: "string", default: DEFAULT_PACK },
    ids: { type: "string", default: "64" },
    yaws: { type: "string", default: "-60,-45,-30,-15,0,15,30,45,60" },
    device: { type: "string", default: "auto" },
    seed: { type: "string", default: "1" },
    sheet: { type: "string" },
  },
});
const ids = Number(values.ids);
const yaws = values.yaws.split(",").map(Number);
await using pack = await loadPack(values.pack, { device: checkDevice(values.device) });
if (!(await pack.session("generator")).inputNames.includes("pose")) {
  console.error(`pack ${pack.manifest.name}: the generator has no pose input; every yaw renders the same face`);
}
const { vectors } = await sample(ids, {
  prior: pack.prior,
  threshold: pack.manifest.separationThreshold,
  seed: Number(values.seed),
});
const seed = Number(values.seed);
const frontal = await render(vectors, { pack, seed, poses: vectors.map(() => ({ yaw: 0, pitch: 0 })) });
const frontalFeatures = await embed(frontal, { pack });
const rows: string[] = [];
const sheet: RgbImage[][] = [];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
for (const yaw of yaws) {
  const faces = await render(vectors, { pack, seed, poses: vectors.map(() => ({ yaw, pitch: 0 })) });
  const measured = (await estimatePose(faces, { pack })).map((p) => p.yaw);
  const features = await embed(faces, { pack });
  const identity = features.map((f, i) => cosineSimilarity(f, frontalFeatures[i]));
  const within7 = measured.filter((m) => Math.abs(m - yaw) <= 7).length;
  rows.push(
    `| ${yaw} | ${mean(measured).toFixed(1)} ± ${std(measured).toFixed(1)} | ${within7}/${ids} | ` +
      `${mean(identity).toFixed(3)} | ${Math.min(...identity).toFixed(3)} |`,
  );
  sheet.push(faces.slice(0, 8));
}
console.log(`pack ${pack.manifest.name} (${pack.backend}), ${ids} identities, pitch input 0\n`);
console.log("| yaw input | measured yaw | within 7 deg | identity vs yaw 0 (mean) | (min) |");
console.log("|---|---|---|---|---|");
console.log(rows.join("\n"));
if (values.sheet) {
  // Rows: identities; columns: yaw inputs in the order given.
  const size = pack.manifest.imageSize, width = size * yaws.length, height = size * Math.min(8, ids);
  const data = new Uint8Array(width * height * 3);
  sheet.forEach((column, c) =>
    column.forEach((face, r) => {
      for (let y = 0; y < size; y++) {
        data.set(face.data.subarray(y * size * 3, (y + 1) * size * 3), ((r * size + y) * width + c * size) * 3);
      }
    })
  );
  await Deno.writeFile(values.sheet, encodePng({ width, height, data }));
}
