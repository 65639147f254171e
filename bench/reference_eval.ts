// Reference-photo mode on real people (issue 5): for P people with 2+ photos, the first photo alone is the
// reference (as `generate --from-images` makes it: detect, align, embed); M images are generated from it as
// a dataset would be (perturbation + masks); each generated image is compared with the identity features of
// the person's other photos, which the generator never saw. Baselines on the same pairs: the reference photo
// itself against those photos (what a perfect copy of the reference would score), and generated images
// against other people's photos (impostors).
//
//   deno run -A bench/reference_eval.ts --images /work/shared/data/lfw/images \
//     --features /work/data/lfw.features.npy --index /work/data/lfw.json [--people 50] [--per-id 10]
//
// --features / --index are tools/prepare_faces.ts output for the same folder (the unseen photos' features).
import { parseArgs } from "node:util";
import { join } from "node:path";
import { checkDevice } from "../src/_backend.ts";
import { generateSamples } from "../src/dataset.ts";
import { embedPhotos } from "../src/estimators/embed_photos.ts";
import { embed } from "../src/estimators/embed.ts";
import { decodeImage } from "../src/image/codec.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { decodeNpy } from "../src/npy.ts";
import { cosineSimilarity } from "../src/vectors.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    images: { type: "string" },
    features: { type: "string" },
    index: { type: "string" },
    people: { type: "string", default: "50" },
    "per-id": { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    pack: { type: "string", default: DEFAULT_PACK },
    device: { type: "string", default: "auto" },
  },
});
if (!values.images || !values.features || !values.index) {
  console.error("usage: reference_eval.ts --images DIR --features FILE.npy --index FILE.json [--people 50]");
  Deno.exit(2);
}
const people = Number(values.people), perId = Number(values["per-id"]), seed = Number(values.seed);
const index: { files: string[] } = JSON.parse(await Deno.readTextFile(values.index));
const matrix = decodeNpy(await Deno.readFile(values.features));
const featureOf = (row: number) => matrix.data.subarray(row * matrix.shape[1], (row + 1) * matrix.shape[1]);
const byPerson = new Map<string, number[]>();
index.files.forEach((file, row) => {
  const person = file.split("/")[0];
  byPerson.set(person, [...(byPerson.get(person) ?? []), row]);
});
// People with 2+ photos, in name order, spread over the alphabet (every k-th).
const eligible = [...byPerson.keys()].filter((person) => byPerson.get(person)!.length >= 2).sort();
const stride = Math.max(1, Math.floor(eligible.length / people));
const chosen = eligible.filter((_, i) => i % stride === 0).slice(0, people);

await using pack = await loadPack(values.pack, { device: checkDevice(values.device) });
const referenceFiles = chosen.map((person) => join(values.images!, index.files[byPerson.get(person)![0]]));
const embedded = await embedPhotos(referenceFiles, { pack });
const references = chosen.map((_, i) => {
  const k = embedded.files.indexOf(referenceFiles[i]);
  if (k < 0) throw new Error(`no face in reference ${referenceFiles[i]}`);
  return embedded.features[k];
});

const started = performance.now();
const genuine: number[] = [], copy: number[] = [], impostor: number[] = [], fidelity: number[] = [];
const generated: Float32Array[][] = chosen.map(() => []);
const images = [];
for await (const sample of generateSamples({ pack, identities: references, perId, seed })) {
  images.push({ identity: sample.identity, image: await decodeImage(sample.bytes) });
}
const features = await embed(images.map((entry) => entry.image), { pack });
images.forEach((entry, k) => generated[entry.identity].push(features[k]));
chosen.forEach((person, i) => {
  const unseen = byPerson.get(person)!.slice(1).map(featureOf);
  for (const other of unseen) copy.push(cosineSimilarity(references[i], other));
  for (const face of generated[i]) {
    fidelity.push(cosineSimilarity(face, references[i]));
    for (const other of unseen) genuine.push(cosineSimilarity(face, other));
    // The next person's unseen photos as impostors.
    for (const other of byPerson.get(chosen[(i + 1) % chosen.length])!.slice(1)) {
      impostor.push(cosineSimilarity(face, featureOf(other)));
    }
  }
});
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const std = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const seconds = (performance.now() - started) / 1000;
console.log(
  `${chosen.length} people with 2+ photos (first photo as reference), ${perId} images each, pack ${pack.manifest.name}\n`,
);
console.log("| pairs | count | mean cosine | std |\n|---|---|---|---|");
console.log(
  `| generated vs the person's unseen photos | ${genuine.length} | ${mean(genuine).toFixed(4)} | ${
    std(genuine).toFixed(4)
  } |`,
);
console.log(
  `| reference photo vs the same unseen photos | ${copy.length} | ${mean(copy).toFixed(4)} | ${std(copy).toFixed(4)} |`,
);
console.log(
  `| generated vs its reference (fidelity) | ${fidelity.length} | ${mean(fidelity).toFixed(4)} | ${
    std(fidelity).toFixed(4)
  } |`,
);
console.log(
  `| generated vs another person's photos | ${impostor.length} | ${mean(impostor).toFixed(4)} | ${
    std(impostor).toFixed(4)
  } |`,
);
console.log(`\n${seconds.toFixed(1)} s to generate and embed ${images.length} images`);
