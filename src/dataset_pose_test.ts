// Packs that declare a pose range: each identity's images spread over it, byte-identically for any batch size, and
// each image's manifest row says the pose it was rendered at.
import assert from "node:assert/strict";
import { join } from "node:path";
import { generateSamples, renderDatasetImage } from "./dataset.ts";
import { generateDataset } from "./dataset/generate.ts";
import { decodeImage, encodeJpeg } from "./image/codec.ts";
import { loadPack } from "./model_pack.ts";
import { sample } from "./sample.ts";
import { writePosePack } from "./_test_pose_pack.ts";

Deno.test("a pose range: images spread over it, the generator sees each pose, any batch size gives the same bytes", async () => {
  const folder = await writePosePack();
  try {
    await using pack = await loadPack(folder, { device: "wasm" });
    const { vectors } = await sample(3, { prior: pack.prior, threshold: 0.9, seed: 2 });
    const spec = { pack, identities: vectors, perId: 8, seed: 5 };
    const [one, seven] = await Promise.all(
      [1, 7].map((batchSize) => Array.fromAsync(generateSamples({ ...spec, batchSize }))),
    );
    assert.deepEqual(one.map((s) => s.sha256), seven.map((s) => s.sha256));
    assert.deepEqual(one.map((s) => s.pose), seven.map((s) => s.pose));
    const yaws = one.map((s) => s.pose!.yaw), pitches = one.map((s) => s.pose!.pitch);
    assert.ok(yaws.every((yaw) => Math.abs(yaw) <= 30) && pitches.every((pitch) => Math.abs(pitch) <= 15));
    const mean = yaws.reduce((a, b) => a + b, 0) / yaws.length;
    const std = Math.sqrt(yaws.reduce((a, b) => a + (b - mean) ** 2, 0) / yaws.length);
    assert.ok(std > 10, `yaw std ${std} over 24 images of a +-30 range`);
    // The generator tints red against blue with yaw: the images follow the poses they were given.
    const tint: number[] = [];
    for (const item of one) {
      const { data } = await decodeImage(item.bytes);
      let red = 0, blue = 0;
      for (let i = 0; i < data.length; i += 3) {
        red += data[i];
        blue += data[i + 2];
      }
      tint.push((red - blue) / (data.length / 3));
    }
    assert.ok(correlation(yaws, tint) > 0.9, `red - blue against yaw: correlation ${correlation(yaws, tint)}`);
    // One image alone is the dataset's image.
    const face = await renderDatasetImage({ ...spec, identity: 2, image: 5 });
    assert.deepEqual(await encodeJpeg(face, 90), one[2 * 8 + 5].bytes);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("a pose range: manifest rows record the pose; a bad range is refused when the pack loads", async () => {
  const folder = await writePosePack();
  const out = await Deno.makeTempDir();
  try {
    await using pack = await loadPack(folder, { device: "wasm" });
    await generateDataset({ pack, out, ids: 2, perId: 3, seed: 1, overwrite: true });
    const rows = (await Deno.readTextFile(join(out, "manifest.jsonl"))).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(Object.keys(rows[0]), ["identity", "image", "sigma", "file", "sha256", "pose"]);
    assert.ok(rows.every((row) => Math.abs(row.pose.yaw) <= 30 && Math.abs(row.pose.pitch) <= 15));
    assert.equal(new Set(rows.map((row) => row.pose.yaw)).size, 6);
    const manifest = JSON.parse(await Deno.readTextFile(join(folder, "manifest.json")));
    await Deno.writeTextFile(join(folder, "manifest.json"), JSON.stringify({ ...manifest, pose: { yaw: 120 } }));
    await assert.rejects(loadPack(folder, { device: "wasm" }), /pose is \{"yaw":120\}, not \{yaw, pitch\} in 0\.\.90/);
  } finally {
    await Deno.remove(folder, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

function correlation(a: number[], b: number[]): number {
  const mean = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
  const ma = mean(a), mb = mean(b);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}
