// Aligns and embeds a folder of face photos for training and evaluation of
// a generator pack: the best face of each photo through the runtime's
// alignFaces (112x112 ArcFace crop) and embed, so that training sees exactly
// what `render` and `embed` see at run time. Face photos stay outside the repo.
//
//   deno run -A tools/prepare_faces.ts --images DIR --out PREFIX [--device native] [--limit N]
//     [--pick score|centre|largest] [--fallback-centre]
//
// Writes PREFIX.faces.npy (uint8 [N, 112, 112, 3]), PREFIX.features.npy
// (float32 [N, 512]) and PREFIX.json ({files, noFace, fallback}) where files[i]
// is the photo of row i, relative to DIR. A photo with several faces gives the
// detector's best (--pick score, the default) or the one nearest the centre
// (--pick centre: what LFW labels). A photo with no detected face is left out
// and listed in noFace, or, with --fallback-centre, aligned from landmarks on a
// centred box as bench/lfw_eval.ts does (a verification protocol needs every
// photo of its pairs) and listed in fallback.
import { parseArgs } from "node:util";
import { relative } from "node:path";
import { checkDevice } from "../src/_backend.ts";
import { encodeNpy } from "../src/npy.ts";
import { alignFaces } from "../src/estimators/align_faces.ts";
import { alignFromCentredBox, FACE_PICKS, type FacePick, pickFace } from "../bench/_centre_face.ts";
import { embed } from "../src/estimators/embed.ts";
import { findImages } from "../src/estimators/embed_photos.ts";
import { decodeImage, type RgbImage } from "../src/image/codec.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    images: { type: "string" },
    out: { type: "string" },
    device: { type: "string", default: "auto" },
    pack: { type: "string" },
    limit: { type: "string" },
    pick: { type: "string", default: "score" },
    "fallback-centre": { type: "boolean", default: false },
  },
});
if (!values.images || !values.out) {
  console.error(
    "usage: prepare_faces.ts --images DIR --out PREFIX [--device D] [--pack DIR] [--limit N] " +
      "[--pick score|centre|largest] [--fallback-centre]",
  );
  Deno.exit(2);
}
const pick = values.pick as FacePick;
if (!FACE_PICKS.includes(pick)) {
  console.error(`Cannot pick faces by ${pick}: current value is not score, centre or largest`);
  Deno.exit(2);
}

/** `.npy` bytes of a uint8 array of any shape. */
function encodeUint8Npy(shape: number[], data: Uint8Array): Uint8Array {
  let header = `{'descr': '|u1', 'fortran_order': False, 'shape': (${shape.join(", ")}), }`;
  header += " ".repeat((64 - ((10 + header.length + 1) % 64)) % 64) + "\n";
  const bytes = new Uint8Array(10 + header.length + data.length);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  bytes.set(new TextEncoder().encode(header), 10);
  bytes.set(data, 10 + header.length);
  return bytes;
}

const files = (await findImages(values.images)).slice(0, values.limit ? Number(values.limit) : undefined);
await using pack = await loadPack(values.pack ?? DEFAULT_PACK, { device: checkDevice(values.device) });
const faces: RgbImage[] = [];
const kept: string[] = [];
const noFace: string[] = [];
const fallback: string[] = [];
const started = performance.now();
for (const [index, file] of files.entries()) {
  const image = await decodeImage(await Deno.readFile(file));
  const found = await alignFaces(image, { pack, maxFaces: pick === "score" ? 1 : undefined });
  if (found.length > 0) {
    faces.push(pickFace(found, image, pick).image);
    kept.push(relative(values.images, file));
  } else if (values["fallback-centre"]) {
    faces.push(await alignFromCentredBox(image, pack));
    kept.push(relative(values.images, file));
    fallback.push(relative(values.images, file));
  } else noFace.push(relative(values.images, file));
  if ((index + 1) % 1000 === 0 || index + 1 === files.length) {
    const rate = (index + 1) / ((performance.now() - started) / 1000);
    console.error(
      `aligned ${index + 1}/${files.length} (${noFace.length + fallback.length} without a face, ${rate.toFixed(1)}/s)`,
    );
  }
}
const features = await embed(faces, { pack, batchSize: 16 });
const size = 112 * 112 * 3;
const pixels = new Uint8Array(faces.length * size);
faces.forEach((face, i) => pixels.set(face.data, i * size));
const matrix = new Float32Array(features.length * 512);
features.forEach((feature, i) => matrix.set(feature, i * 512));
await Deno.writeFile(`${values.out}.faces.npy`, encodeUint8Npy([faces.length, 112, 112, 3], pixels));
await Deno.writeFile(`${values.out}.features.npy`, encodeNpy({ shape: [features.length, 512], data: matrix }));
await Deno.writeTextFile(
  `${values.out}.json`,
  JSON.stringify({ images: values.images, files: kept, noFace, fallback }),
);
console.error(
  `wrote ${faces.length} faces (${noFace.length} without a face left out, ${fallback.length} from a centred box) to ${values.out}.* in ${
    ((performance.now() - started) / 1000).toFixed(0)
  } s (backend ${pack.backend})`,
);
