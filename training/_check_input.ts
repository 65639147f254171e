// The deterministic test images of `check_inputs()` in onnx_to_torch.py (RGB, HWC, 112x112), shared by the tests
// that compare the torch replays of the pack's models with onnxruntime.

/**
 * Test image `k` of `check_inputs()`: smooth sine planes, pixel values rounded to bytes.
 *
 * @example
 * ```ts
 * import { checkInput } from "./_check_input.ts";
 * const image = checkInput(0);
 * console.assert(image.width === 112 && image.data.length === 112 * 112 * 3);
 * ```
 */
export function checkInput(k: number): { width: number; height: number; data: Uint8Array } {
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
