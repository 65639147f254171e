// Writes src/estimators/judge_reference.json: face-api's own TF.js code (its
// bundled tfjs, CPU backend) run on three deterministic 150x150 inputs, so that
// judge_test.ts can check the ONNX conversion against the original, op for op.
// Needs an unpacked `npm pack @vladmandic/face-api@1.7.15` (never committed).
//
//   npm pack @vladmandic/face-api@1.7.15 && tar xzf vladmandic-face-api-1.7.15.tgz
//   deno run -A tools/judge_tfjs_reference.ts --package ./package --out src/estimators/judge_reference.json
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { judgeReferenceInput } from "../src/estimators/judge_convert.ts";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: { package: { type: "string" }, out: { type: "string" } },
});
if (!values.package || !values.out) {
  console.error("usage: judge_tfjs_reference.ts --package DIR --out FILE.json");
  Deno.exit(2);
}
// tfjs picks Node's platform when `process` exists and then needs Node's util; Deno is neither, so give it
// a plain platform and face-api a bare environment (inputs are tensors, no canvas is used).
// deno-lint-ignore no-explicit-any
const global = globalThis as any;
delete global.process;
const faceapi = await import(resolve(values.package, "dist/face-api.esm.js"));
const tf = faceapi.tf;
tf.setPlatform("deno", {
  fetch,
  now: () => performance.now(),
  encode: (text: string) => new TextEncoder().encode(text),
  decode: (bytes: Uint8Array, encoding: string) => new TextDecoder(encoding).decode(bytes),
  isTypedArray: (array: unknown) => ArrayBuffer.isView(array) && !(array instanceof DataView),
});
class Unused {}
faceapi.env.setEnv({
  Canvas: Unused,
  Image: Unused,
  ImageData: Unused,
  Video: Unused,
  createCanvasElement: () => new Unused(),
  createImageElement: () => new Unused(),
});
await tf.setBackend("cpu");
await tf.ready();

const model = join(values.package, "model");
const manifest = JSON.parse(await Deno.readTextFile(join(model, "face_recognition_model-weights_manifest.json")));
const bytes = await Deno.readFile(join(model, "face_recognition_model.bin"));
// Dequantised here with TF.js's rule (q * scale + min), independently of judge_convert.ts.
const weights: Record<string, unknown> = {};
let offset = 0;
for (const entry of manifest[0].weights) {
  const count = entry.shape.reduce((a: number, b: number) => a * b, 1);
  const q = entry.quantization;
  const data = q
    ? Float32Array.from(bytes.subarray(offset, offset + count), (v) => v * q.scale + q.min)
    : new Float32Array(bytes.slice(offset, offset + 4 * count).buffer);
  offset += q ? count : 4 * count;
  weights[entry.name] = tf.tensor(data, entry.shape);
}
await faceapi.nets.faceRecognitionNet.loadFromWeightMap(weights);

const descriptors: number[][] = [];
for (let k = 0; k < 3; k++) {
  const input = judgeReferenceInput(k); // HWC, 0..255
  const tensor = tf.tensor4d(input, [1, 150, 150, 3]);
  descriptors.push(Array.from(await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(tensor) as Float32Array));
  tensor.dispose();
}
await Deno.writeTextFile(
  values.out,
  JSON.stringify({ source: "@vladmandic/face-api@1.7.15 TF.js (cpu backend)", inputs: 3, descriptors }) + "\n",
);
console.log(`wrote ${values.out}: ${descriptors.length} descriptors of ${descriptors[0].length}`);
