/**
 * Reconstruction read by the independent judge: for held-out real faces x
 * with v = embed(x) (the pack's identity model), how close the judge finds
 * render(v) to x, for the pack's generator and for the lambda-1 ridge
 * baseline (`training/ridge_renders.py` writes its renders and the sets).
 * The pack's own model is shown beside it; it is the generator's training
 * loss, so its reading is the optimistic one.
 *
 * ```sh
 * /usr/bin/python3 training/ridge_renders.py --train $WORK/utk \
 *   --eval utk:$WORK/utk:holdout --eval lfw:$WORK/lfw:1000 --out $WORK/recon
 * deno run -A bench/judge_reconstruction.ts --set $WORK/recon.utk --set $WORK/recon.lfw [--pack DIR] [--device D]
 * ```
 *
 * Per set: mean judge cosine cos(judge(render(v)), judge(x)) for the
 * generator and the ridge, the share of faces on which the generator's is
 * higher, and the same by the pack's model. The generator renders with the
 * runtime's own masks (`render`, seed 0), as a dataset would.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Device } from "../src/_backend.ts";
import { embed } from "../src/estimators/embed.ts";
import { loadJudge } from "../src/estimators/judge.ts";
import type { RgbImage } from "../src/image/codec.ts";
import { loadPack } from "../src/model_pack.ts";
import { decodeImagesNpy, decodeNpy } from "../src/npy.ts";
import { render } from "../src/render.ts";
import { cosineSimilarity } from "../src/vectors.ts";
import { summarize } from "../src/metrics.ts";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    set: { type: "string", multiple: true },
    pack: { type: "string" },
    device: { type: "string", default: "native" },
    seed: { type: "string", default: "0" },
  },
});
if (!values.set?.length) {
  console.error("usage: judge_reconstruction.ts --set PREFIX [--set PREFIX ...] [--pack DIR] [--device D]");
  Deno.exit(2);
}
await using pack = await loadPack(values.pack, { device: values.device as Device });
await using judge = await loadJudge({ device: values.device as Device });

const images = async (path: string): Promise<RgbImage[]> => {
  const npy = decodeImagesNpy(await Deno.readFile(path));
  return Array.from({ length: npy.count }, (_, i) => npy.image(i));
};

console.log(
  `pack ${pack.manifest.name} (${
    pack.sha256.slice(0, 12)
  }) on ${pack.backend}; judge ${judge.name} on ${judge.backend}`,
);
console.log("| set | faces | model | generator | ridge (lambda 1) | generator - ridge | generator higher on |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const prefix of values.set) {
  const real = await images(`${prefix}.faces.npy`);
  const ridge = await images(`${prefix}.ridge.npy`);
  const matrix = decodeNpy(await Deno.readFile(`${prefix}.features.npy`));
  const vectors = Array.from({ length: matrix.shape[0] }, (_, i) => matrix.data.slice(i * 512, (i + 1) * 512));
  if (real.length !== ridge.length || real.length !== vectors.length) {
    throw new RangeError(
      `Cannot compare ${prefix}: current counts differ (${real.length} faces, ${ridge.length} ridge, ${vectors.length} vectors)`,
    );
  }
  const generated = await render(vectors, { pack, seed: Number(values.seed) });
  const readers: [string, (faces: RgbImage[]) => Promise<Float32Array[]>][] = [
    [`${judge.name} (independent judge)`, (faces) => judge.embed(faces)],
    ["pack's model (trained against)", (faces) => embed(faces, { pack })],
  ];
  for (const [name, read] of readers) {
    const [x, g, r] = [await read(real), await read(generated), await read(ridge)];
    const gen = x.map((feature, i) => cosineSimilarity(g[i], feature));
    const rid = x.map((feature, i) => cosineSimilarity(r[i], feature));
    const wins = gen.filter((value, i) => value > rid[i]).length / gen.length;
    const [gm, rm] = [summarize(gen).mean, summarize(rid).mean];
    console.log(
      `| ${prefix.split("/").pop()} | ${real.length} | ${name} | ${gm.toFixed(4)} | ${rm.toFixed(4)} | ${
        (gm - rm).toFixed(4)
      } | ${(100 * wins).toFixed(1)} % |`,
    );
  }
}
