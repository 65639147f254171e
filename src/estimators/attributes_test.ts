import assert from "node:assert/strict";
import { DEFAULT_PACK, loadPack } from "../model_pack.ts";
import { attributesOfFeatures, estimateAttributes } from "./attributes.ts";

interface AttributeReport {
  ageMae: number;
  genderAccuracy: number;
  qualityCheck?: Record<string, number | [number, number][]>;
  reference: { features: number[][]; age: number[]; female: number[]; quality: number[] };
}
const report: AttributeReport = JSON.parse(await Deno.readTextFile(new URL("attributes.json", DEFAULT_PACK)));

Deno.test("attribute heads on wasm and native match torch (the pack's attributes.json)", async () => {
  const features = report.reference.features.map((row) => Float32Array.from(row));
  for (const device of ["wasm", "native"] as const) {
    await using pack = await loadPack(undefined, { device });
    const attributes = await attributesOfFeatures(features, { pack, batchSize: 3 });
    attributes.forEach((value, i) => {
      assert.ok(Math.abs(value.age - report.reference.age[i]) < 1e-3, `age ${value.age} vs ${report.reference.age[i]}`);
      assert.ok(Math.abs(value.female - report.reference.female[i]) < 1e-5);
      assert.ok(Math.abs(value.quality - report.reference.quality[i]) < 1e-5);
    });
  }
});

Deno.test("the bundled heads' recorded held-out accuracy meets the bar, and quality falls with every degradation", () => {
  assert.ok(report.genderAccuracy >= 0.9, `gender accuracy ${report.genderAccuracy}`);
  assert.ok(report.ageMae <= 8, `age MAE ${report.ageMae}`);
  // [level, mean feature norm] pairs, mildest degradation first.
  for (const [degradation, levels] of Object.entries(report.qualityCheck ?? {})) {
    if (!Array.isArray(levels)) continue;
    for (let i = 1; i < levels.length; i++) {
      assert.ok(levels[i][1] < levels[i - 1][1], `${degradation}: ${JSON.stringify(levels)}`);
    }
  }
  assert.ok(report.qualityCheck, "the pack records its quality check");
});

Deno.test("estimateAttributes embeds faces, then reads the heads; features of different lengths are rejected", async () => {
  await using pack = await loadPack(undefined, { device: "wasm" });
  const grey = { width: 112, height: 112, data: new Uint8Array(112 * 112 * 3).fill(128) };
  const [attributes] = await estimateAttributes([grey], { pack });
  assert.ok(attributes.female >= 0 && attributes.female <= 1);
  // A flat grey square has almost no identity: its feature norm is far below a photo's.
  assert.ok(attributes.quality < 0.9, `quality of a blank image ${attributes.quality}`);
  await assert.rejects(
    attributesOfFeatures([new Float32Array(512), new Float32Array(3)], { pack }),
    /current length is 3/,
  );
});
