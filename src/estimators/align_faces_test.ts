import assert from "node:assert/strict";
import { FIXTURE_PACK, loadPack, type ModelPack } from "../model_pack.ts";
import type { OnnxSession, TensorData } from "../_backend.ts";
import { decodeImage, type RgbImage } from "../image/codec.ts";
import { warpAffine } from "../image/transform.ts";
import { ARCFACE_TEMPLATE_112 } from "./align.ts";
import { alignFaces } from "./align_faces.ts";
import { embed } from "./embed.ts";
import { cosineSimilarity as cosine } from "../vectors.ts";
import type { EstimatorRole, SessionProvider } from "./types.ts";

// Optional: an LFW-style folder (images/<Name>/<Name>_NNNN.jpg) for the end-to-end check.
const lfwDir = Deno.env.get("VEC2FACE_LFW_DIR");

// Fake detector: two faces (score 0.8 at the left, 0.95 at the right) in a 200x100 image.
// Fake landmarks: every point at the template position scaled into the crop.
function fakePack(): SessionProvider {
  const detector = {
    run: () =>
      Promise.resolve({
        boxes: { data: new Float32Array([0, 0, 0.5, 1, 0.5, 0, 1, 1]), dims: [1, 2, 4] },
        scores: { data: new Float32Array([0.2, 0.8, 0.05, 0.95]), dims: [1, 2, 2] },
      }),
  };
  const landmarks = {
    outputNames: ["output"],
    run: (_feeds: Record<string, TensorData>) => {
      const data = new Float32Array(136).fill(0.5);
      const five = ARCFACE_TEMPLATE_112.map(([x, y]) => [x / 112, y / 112]);
      for (const i of [37, 38, 40, 41]) data.set(five[0], 2 * i);
      for (const i of [43, 44, 46, 47]) data.set(five[1], 2 * i);
      data.set(five[2], 60);
      for (const i of [48, 60]) data.set(five[3], 2 * i);
      for (const i of [54, 64]) data.set(five[4], 2 * i);
      return Promise.resolve({ output: { data, dims: [1, 136] } });
    },
  };
  const sessions = { detector, landmarks } as unknown as Record<EstimatorRole, OnnxSession>;
  return { session: (role) => Promise.resolve(sessions[role]) };
}

Deno.test("alignFaces returns 112x112 crops, best score first, with the box and five points", async () => {
  const image = { width: 200, height: 100, data: new Uint8Array(200 * 100 * 3).fill(90) };
  const faces = await alignFaces(image, { pack: fakePack(), padding: 0, landmarkPasses: 1 });
  assert.equal(faces.length, 2);
  assert.ok(faces[0].score > faces[1].score);
  assert.deepEqual(faces[0].box, { x1: 100, y1: 0, x2: 200, y2: 100 });
  assert.equal(faces[0].image.width, 112);
  assert.equal(faces[0].image.data.length, 112 * 112 * 3);
  // The landmark crop of the right face is x 100..200, so the left eye lands at 100 + 38.29 * 100 / 112.
  assert.ok(Math.abs(faces[0].points5[0][0] - (100 + ARCFACE_TEMPLATE_112[0][0] * 100 / 112)) < 1e-3);
  assert.equal(faces[0].image.data[3 * (56 * 112 + 56)], 90);
  assert.equal((await alignFaces(image, { pack: fakePack(), padding: 0, maxFaces: 1 })).length, 1);
  // Two passes: the second crop is centred on the first points, so the eye moves but stays in the box.
  const refined = await alignFaces(image, { pack: fakePack(), padding: 0 });
  assert.notDeepEqual(refined[0].points5, faces[0].points5);
  assert.ok(refined[0].points5[0][0] > 100 && refined[0].points5[0][0] < 200);
});

Deno.test("alignFaces rejects a malformed image and a bad maxFaces", async () => {
  const pack = fakePack();
  await assert.rejects(() => alignFaces({ width: 2, height: 2, data: new Uint8Array(4) }, { pack }), RangeError);
  const image = { width: 2, height: 2, data: new Uint8Array(12) };
  await assert.rejects(() => alignFaces(image, { pack, maxFaces: 0 }), /at most 0 faces/);
});

// The default pack: faceplugin's models, batch-dynamic, from the cache.
function faceplugin(): Promise<ModelPack> {
  return loadPack(FIXTURE_PACK, { device: "wasm" });
}

Deno.test({
  name: "alignFaces finds no face in a flat image (faceplugin models)",
  async fn() {
    const pack = await faceplugin();
    try {
      const image = { width: 120, height: 90, data: new Uint8Array(120 * 90 * 3).fill(200) };
      assert.deepEqual(await alignFaces(image, { pack }), []);
    } finally {
      await pack.dispose();
    }
  },
});

Deno.test({
  name: "alignFaces + embed: same person closer than others, robust to rotation (faceplugin models, LFW)",
  ignore: !lfwDir,
  async fn() {
    const pack = await faceplugin();
    try {
      const load = async (name: string, n: number) =>
        await decodeImage(await Deno.readFile(`${lfwDir}/images/${name}/${name}_${String(n).padStart(4, "0")}.jpg`));
      const images: RgbImage[] = [
        await load("Aaron_Peirsol", 1),
        await load("Aaron_Peirsol", 2),
        await load("Abel_Pacheco", 1),
      ];
      // The first image turned 15 degrees about its centre.
      const angle = (15 * Math.PI) / 180, c = Math.cos(angle), s = Math.sin(angle);
      const { width: w, height: h } = images[0];
      const cx = (w - 1) / 2, cy = (h - 1) / 2;
      images.push(warpAffine(images[0], [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy], w, h));
      const aligned = [];
      for (const image of images) {
        const faces = await alignFaces(image, { pack });
        assert.ok(faces.length >= 1);
        aligned.push(faces[0].image);
      }
      const [a, b, other, turned] = await embed(aligned, { pack });
      assert.ok(cosine(a, b) > cosine(a, other) + 0.2, `${cosine(a, b)} vs ${cosine(a, other)}`);
      assert.ok(cosine(a, turned) > 0.8, `rotated: ${cosine(a, turned)}`);
    } finally {
      await pack.dispose();
    }
  },
});
