// The torch replay of the identity model (training/onnx_to_torch.py), used
// for the identity and feature-matching losses in training, must compute what
// onnxruntime computes: its outputs on fixed inputs (identity_reference.json,
// written by `onnx_to_torch.py --check`) against the pack's identity model.
import assert from "node:assert/strict";
import { embed } from "../src/estimators/embed.ts";
import { loadPack } from "../src/model_pack.ts";
import { checkInput } from "./_check_input.ts";

Deno.test("torch replay of the identity model matches onnxruntime", async () => {
  const reference = JSON.parse(await Deno.readTextFile(new URL("./identity_reference.json", import.meta.url)));
  await using pack = await loadPack(undefined, { device: "wasm" });
  const images = reference.features.map((_: number[], k: number) => checkInput(k));
  const features = await embed(images, { pack });
  let worst = 0;
  features.forEach((feature, k) => {
    feature.forEach((value, i) => worst = Math.max(worst, Math.abs(value - reference.features[k][i])));
  });
  console.log(`max |onnxruntime - torch| = ${worst.toExponential(2)}`);
  assert.ok(worst <= 2e-3, `max |onnxruntime - torch| = ${worst}`);
});
