// Generator-only throughput of two or more packs, A/B: each pack is loaded once, then the same batches are timed on
// each in rounds whose pack order alternates (A B, B A, ...), and the median round is reported. Single runs of
// render_bench.ts vary by 10-25 % on a shared 2-core machine; rounds in one process cancel most drift between packs.
//
//   deno run -A bench/pack_ab_bench.ts [--device native] [--rounds 9] [--images 256] [--batch-size 16]
//       [--unperturbed | --vector-from-reference N] PACK_DIR PACK_DIR...
//
// Vectors are separated prior draws of the first pack (seed 1), perturbed as in a dataset at the pack's smallest
// sigma unless --unperturbed; --vector-from-reference N takes image N's vector of the first pack's reference.json
// for every image (the bundled pack's image 2 is one its frame gate fires on). Each image has its own token mask.
// The packs must share the token layout. Prints a table: median and range of images/s.
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Backend } from "../src/_backend.ts";
import { drawMask } from "../src/mask.ts";
import { quantile } from "../src/metrics.ts";
import { loadPack } from "../src/model_pack.ts";
import { perturbVector } from "../src/perturb.ts";
import { Random, STREAM_TAGS } from "../src/random.ts";
import { generatorOutput } from "../src/render.ts";
import { sample } from "../src/sample.ts";

const { values, positionals: folders } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    device: { type: "string", default: "native" },
    rounds: { type: "string", default: "9" },
    images: { type: "string", default: "256" },
    "batch-size": { type: "string", default: "16" },
    unperturbed: { type: "boolean", default: false },
    "vector-from-reference": { type: "string" },
  },
});
const [rounds, count, batchSize] = [values.rounds, values.images, values["batch-size"]].map(Number);
for (const [name, value] of [["rounds", rounds], ["images", count], ["batch-size", batchSize]] as const) {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Cannot benchmark with --${name} ${value}: current value is not a positive integer`);
  }
}
if (folders.length < 2) {
  throw new TypeError(
    `Cannot compare packs as given: current value is ${folders.length} pack folder(s), need 2 or more`,
  );
}

const packs = [];
for (const folder of folders) packs.push(await loadPack(folder, { device: values.device as Backend }));
try {
  const first = packs[0];
  for (const [p, pack] of packs.entries()) {
    for (const key of ["vectorSize", "tokens", "droppedTokens"] as const) {
      if (pack.manifest[key] !== first.manifest[key]) {
        throw new RangeError(
          `Cannot compare ${folders[p]} with ${folders[0]} as packs of one layout: current value of ${key} is ` +
            `${pack.manifest[key]}, not ${first.manifest[key]}`,
        );
      }
    }
  }
  const sigma = Math.min(...first.manifest.sigmas);
  let vectors: Float32Array[];
  let kind: string;
  if (values["vector-from-reference"] !== undefined) {
    const index = Number(values["vector-from-reference"]);
    const reference = JSON.parse(await Deno.readTextFile(join(folders[0], "reference.json")));
    if (!Number.isInteger(index) || reference.images[index] === undefined) {
      throw new RangeError(
        `Cannot take a vector from ${folders[0]}/reference.json as --vector-from-reference: current value is ` +
          `${values["vector-from-reference"]}, it has ${reference.images.length} images`,
      );
    }
    vectors = new Array(count).fill(Float32Array.from(reference.images[index].identity)); // read, never written
    kind = `reference.json image ${index}`;
  } else {
    const { vectors: drawn } = await sample(count, {
      prior: first.prior,
      threshold: first.manifest.separationThreshold,
      seed: 1,
    });
    vectors = values.unperturbed
      ? drawn
      : drawn.map((vector, n) => perturbVector(vector, sigma, Random.from(1, STREAM_TAGS.perturb, n, 0)));
    kind = values.unperturbed ? "prior draws" : `perturbed at sigma ${sigma}`;
  }
  const masks = vectors.map((_, n) => drawMask(Random.from(1, STREAM_TAGS.mask, n, 0), first.manifest));
  const rates: number[][] = packs.map(() => []);
  for (const pack of packs) await generatorOutput(pack, vectors.slice(0, batchSize), masks.slice(0, batchSize));
  for (let round = 0; round < rounds; round++) {
    const order = [...packs.keys()];
    if (round % 2) order.reverse(); // neither pack always runs first
    for (const p of order) {
      const pack = packs[p];
      const started = performance.now();
      for (let start = 0; start < count; start += batchSize) {
        await generatorOutput(pack, vectors.slice(start, start + batchSize), masks.slice(start, start + batchSize));
      }
      rates[p].push(count / ((performance.now() - started) / 1000));
    }
  }
  console.log(`| pack | backend | median img/s | range | notes |\n|---|---|---|---|---|`);
  for (const [p, folder] of folders.entries()) {
    const sorted = rates[p].toSorted((a, b) => a - b);
    const median = quantile(sorted, 0.5);
    console.log(
      `| ${folder} | ${packs[p].backend} | ${median.toFixed(1)} | ${sorted[0].toFixed(1)}-${
        sorted.at(-1)!.toFixed(1)
      } | ` +
        `${rounds} rounds of ${count} images (${kind}), batch ${batchSize} |`,
    );
  }
} finally {
  for (const pack of packs) await pack.dispose();
}
