// Contact sheet of a pack on real people it never saw: per row one person's
// aligned face, its reconstruction render(embed(face)) and renders of
// perturbed identity vectors (the pack's sigmas), as one PNG.
//
//   deno run -A tools/contact_sheet.ts --faces PREFIX --out docs/contact_sheet.png \
//       [--people 8] [--variations 6] [--pack DIR] [--seed K] [--with-real]
//
// The first column (the real face) stays blank unless --with-real: LFW and
// UTKFace photos must not be committed. PREFIX is tools/prepare_faces.ts output (e.g. LFW): PREFIX.faces.npy,
// PREFIX.features.npy, PREFIX.json. One face each of `--people` different
// people (parent folders), spread over the file, is shown.
import { parseArgs } from "node:util";
import { dirname } from "node:path";
import { decodeImagesNpy, decodeNpy } from "../src/npy.ts";
import { encodePng, type RgbImage } from "../src/image/codec.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { perturb } from "../src/perturb.ts";
import { render } from "../src/render.ts";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    faces: { type: "string" },
    out: { type: "string" },
    people: { type: "string", default: "8" },
    variations: { type: "string", default: "6" },
    pack: { type: "string" },
    seed: { type: "string", default: "0" },
    device: { type: "string", default: "auto" },
    "with-real": { type: "boolean", default: false },
  },
});
if (!values.faces || !values.out) {
  console.error("usage: contact_sheet.ts --faces PREFIX --out FILE.png [--people N] [--variations M] [--pack DIR]");
  Deno.exit(2);
}
const people = Number(values.people), variations = Number(values.variations), seed = Number(values.seed);

/** Rows of a uint8 `.npy` [N, 112, 112, 3] (format 1.0). */
const faces = decodeImagesNpy(await Deno.readFile(`${values.faces}.faces.npy`));
const features = decodeNpy(await Deno.readFile(`${values.faces}.features.npy`));
const { files } = JSON.parse(await Deno.readTextFile(`${values.faces}.json`)) as { files: string[] };
// One face per person, people spread evenly over the (sorted) file list.
const chosen: number[] = [];
const seen = new Set<string>();
for (let k = 0; k < people; k++) {
  let i = Math.floor((k * faces.count) / people);
  while (i < faces.count && seen.has(dirname(files[i]))) i++;
  seen.add(dirname(files[i]));
  chosen.push(i);
}

await using pack = await loadPack(values.pack ?? DEFAULT_PACK, { device: values.device as "auto" });
const vectors = chosen.map((i) => features.data.slice(i * 512, (i + 1) * 512));
const columns = 2 + variations;
const renders: RgbImage[][] = [];
for (const [k, vector] of vectors.entries()) {
  const varied = perturb(Array.from({ length: variations }, () => vector), {
    seed: seed + k,
    sigmas: pack.manifest.sigmas,
    shares: pack.manifest.shares,
  });
  renders.push(await render([vector, ...varied], { pack, seed: seed + k }));
}

const gap = 4, cell = 112;
const width = columns * cell + (columns + 1) * gap, height = people * cell + (people + 1) * gap;
const sheet = new Uint8Array(width * height * 3).fill(255);
const paste = (pixels: Uint8Array, row: number, column: number) => {
  const left = gap + column * (cell + gap), top = gap + row * (cell + gap);
  for (let y = 0; y < cell; y++) {
    sheet.set(pixels.subarray(y * cell * 3, (y + 1) * cell * 3), ((top + y) * width + left) * 3);
  }
};
chosen.forEach((faceIndex, row) => {
  // Real photos are research-licensed: only shown with --with-real, never committed.
  if (values["with-real"]) paste(faces.image(faceIndex).data, row, 0);
  renders[row].forEach((image, column) => paste(image.data, row, column + 1));
});
await Deno.writeFile(values.out, encodePng({ width, height, data: sheet }));
console.error(
  `wrote ${values.out}: ${people} people (${chosen.map((i) => dirname(files[i])).join(", ")}); columns: ` +
    `real, reconstruction, ${variations} perturbations (sigmas ${
      pack.manifest.sigmas.join("/")
    }); pack ${pack.manifest.name}`,
);
