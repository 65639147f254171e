// The torch replay of the identity model (training/onnx_to_torch.py), used
// for the identity and feature-matching losses in training, must compute what
// onnxruntime computes: its outputs on fixed inputs (identity_reference.json,
// written by `onnx_to_torch.py --check`) against the pack's identity model.
import assert from "node:assert/strict";
import { embed } from "../src/estimators/embed.ts";
import { loadPack } from "../src/model_pack.ts";

/** The same test images as `check_inputs()` in onnx_to_torch.py (RGB, HWC). */
function checkInput(k: number): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(112 * 112 * 3);
  for (let row = 0; row < 112; row++) {
    for (let column = 0; column < 112; column++) {
      const x = Math.fround(column / 111), y = Math.fround(row / 111);
      for (let c = 0; c < 3; c++) {
        const value = 127.5 + 120 * Math.sin(2 * Math.PI * (x * (k + 1) + y * c * 0.5 + 0.1 * c));
        data[(row * 112 + column) * 3 + c] = Math.round(value);
      }
    }
  }
  return { width: 112, height: 112, data };
}

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
