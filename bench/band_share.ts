// The black band of issue 20: the share of near-black pixels (every channel < 0.05 of full scale) in the outer 12 % of
// each side of a 112x112 face, for a pack's dataset images against real aligned faces. Bar: within 2 points of real
// aligned LFW faces. UTKFace's tight crops are padded with black, and a generator trained on them draws the padding.
//
//   deno run -A bench/band_share.ts --real /tmp/frbench/lfw.faces.npy [--pack DIR] [--ids 1000] [--seed 1]
//       [--device native]
//
// --real: aligned faces as uint8 [N, 112, 112, 3] .npy (tools/prepare_faces.ts writes PREFIX.faces.npy); LFW is read
// here as test data only.
import { parseArgs } from "node:util";
import { checkDevice } from "../src/_backend.ts";
import { generateSamples } from "../src/dataset.ts";
import { decodeImage } from "../src/image/codec.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { decodeImagesNpy } from "../src/npy.ts";
import { sample } from "../src/sample.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    real: { type: "string" },
    pack: { type: "string" },
    ids: { type: "string", default: "1000" },
    seed: { type: "string", default: "1" },
    device: { type: "string", default: "native" },
  },
});
if (!values.real) throw new TypeError("Cannot measure the band without --real: current value is missing");

/** Width of the outer band: 12 % of 112 pixels, rounded. */
const BAND = Math.round(0.12 * 112);
/** Near-black: every channel under 0.05 of 255. */
const DARK = 0.05 * 255;

/** Share of near-black pixels among the band's pixels of one RGB image. */
function bandShare(data: Uint8Array, width: number, height: number): number {
  let dark = 0, total = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (x >= BAND && x < width - BAND && y >= BAND && y < height - BAND) continue;
      const k = 3 * (y * width + x);
      total++;
      if (data[k] < DARK && data[k + 1] < DARK && data[k + 2] < DARK) dark++;
    }
  }
  return dark / total;
}

function summary(shares: number[]) {
  const mean = shares.reduce((sum, value) => sum + value, 0) / shares.length;
  const sorted = [...shares].sort((a, b) => a - b);
  const over = shares.filter((value) => value > 0.25).length / shares.length;
  return { mean, median: sorted[Math.floor(sorted.length / 2)], over };
}

const real = decodeImagesNpy(await Deno.readFile(values.real));
const realShares = Array.from({ length: real.count }, (_, i) => {
  const { data, width, height } = real.image(i);
  return bandShare(data, width, height);
});

await using pack = await loadPack(values.pack ?? DEFAULT_PACK, { device: checkDevice(values.device) });
const ids = Number(values.ids), seed = Number(values.seed);
const { vectors } = await sample(ids, { prior: pack.prior, threshold: pack.manifest.separationThreshold, seed });
const renderShares: number[] = [];
for await (const item of generateSamples({ pack, identities: vectors, perId: 1, seed })) {
  const image = await decodeImage(item.bytes);
  renderShares.push(bandShare(image.data, image.width, image.height));
}

const rows = [["real (" + values.real.split("/").pop() + ")", summary(realShares), real.count], [
  `${pack.manifest.name} dataset images (seed ${seed}, ${pack.backend})`,
  summary(renderShares),
  renderShares.length,
]] as const;
console.log(`\nnear-black (< 0.05) share of the outer ${BAND} px (12 %) of each side\n`);
console.log("| faces | n | mean share | median | faces with > 25 % of the band black |");
console.log("|---|---|---|---|---|");
for (const [name, s, n] of rows) {
  console.log(
    `| ${name} | ${n} | ${(100 * s.mean).toFixed(2)} % | ${(100 * s.median).toFixed(2)} % | ${
      (100 * s.over).toFixed(1)
    } % |`,
  );
}
const gap = 100 * (rows[1][1].mean - rows[0][1].mean);
console.log(`\ngap ${gap.toFixed(2)} points (bar: within 2)`);
