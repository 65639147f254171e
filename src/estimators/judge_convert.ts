/**
 * Converts face-api's face-recognition net (`@vladmandic/face-api`,
 * `model/face_recognition_model*`: TF.js weights, uint8-quantised) into an
 * ONNX model, in TypeScript, so that the independent judge runs on the same
 * onnxruntime backends as every other model and a fresh machine needs only
 * npm. The graph replays face-api's `FaceRecognitionNet.forwardInput`
 * (a ResNet-34-like net on 150x150 RGB, 128-d descriptor) op for op; the
 * normalisation and each conv's bias and scale layer are folded into the
 * conv weights (exact up to float rounding: the first conv has no padding).
 *
 * @module
 */
import { encodeOnnxModel, type OnnxInitializer, type OnnxNode } from "../_onnx_write.ts";

/** Side of the square RGB input the net takes (face-api's 150x150 chip). */
export const JUDGE_INPUT_SIZE = 150;
/** Length of the descriptor. */
export const JUDGE_DESCRIPTOR_SIZE = 128;

// face-api's FaceRecognitionNet: mean RGB subtracted, then divided by 255.
const MEAN_RGB = [122.782, 117.001, 104.298];

/** One entry of a TF.js weights manifest. */
interface WeightEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale: number; min: number };
}

/**
 * Decodes a TF.js weights manifest and its concatenated weight bytes into
 * named float32 arrays (uint8/uint16 quantisation: value = q * scale + min).
 *
 * @example Two tensors, one quantised
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTfjsWeights } from "./judge_convert.ts";
 * const manifest = [{ paths: ["w.bin"], weights: [
 *   { name: "a", shape: [2], dtype: "float32", quantization: { dtype: "uint8", scale: 0.5, min: -1 } },
 *   { name: "b", shape: [1], dtype: "float32" },
 * ] }];
 * const bytes = new Uint8Array(6);
 * bytes.set([0, 4]);
 * new DataView(bytes.buffer).setFloat32(2, 3.5, true);
 * const weights = decodeTfjsWeights(manifest, bytes);
 * assert.deepEqual([...weights.get("a")!.data], [-1, 1]);
 * assert.deepEqual([...weights.get("b")!.data], [3.5]);
 * ```
 *
 * @param manifest The parsed `*-weights_manifest.json` (an array of groups).
 * @param bytes The group files' bytes, concatenated in manifest order.
 * @returns Each weight's shape and values, by name.
 * @throws {TypeError} When the manifest is malformed, a dtype unsupported, or the bytes do not match.
 */
export function decodeTfjsWeights(
  manifest: unknown,
  bytes: Uint8Array,
): Map<string, { shape: number[]; data: Float32Array }> {
  if (!Array.isArray(manifest)) {
    throw new TypeError(`Cannot read TF.js weights: current manifest is ${typeof manifest}, not an array of groups`);
  }
  const entries: WeightEntry[] = manifest.flatMap((group) => (group as { weights: WeightEntry[] }).weights ?? []);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  let offset = 0;
  for (const entry of entries) {
    const count = entry.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    const quantization = entry.quantization;
    const width = quantization
      ? { uint8: 1, uint16: 2 }[quantization.dtype]
      : entry.dtype === "float32"
      ? 4
      : undefined;
    if (width === undefined) {
      throw new TypeError(
        `Cannot read TF.js weight ${entry.name}: current dtype ${quantization?.dtype ?? entry.dtype} is not supported`,
      );
    }
    if (offset + count * width > bytes.length) {
      throw new TypeError(
        `Cannot read TF.js weight ${entry.name}: current weight bytes end at ${bytes.length}, before ${
          offset + count * width
        }`,
      );
    }
    for (let i = 0; i < count; i++) {
      const at = offset + i * width;
      if (!quantization) data[i] = view.getFloat32(at, true);
      else {
        const q = width === 1 ? bytes[at] : view.getUint16(at, true);
        data[i] = q * quantization.scale + quantization.min;
      }
    }
    offset += count * width;
    out.set(entry.name, { shape: entry.shape, data });
  }
  if (offset !== bytes.length) {
    throw new TypeError(
      `Cannot read TF.js weights: current manifest uses ${offset} bytes of ${bytes.length} (wrong weights file?)`,
    );
  }
  return out;
}

/** Builds the graph while tracking the spatial size and channels of the current value. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  #count = 0;
  constructor(private readonly weights: Map<string, { shape: number[]; data: Float32Array }>) {}

  name(prefix: string): string {
    return `${prefix}_${this.#count++}`;
  }

  weight(name: string): { shape: number[]; data: Float32Array } {
    const weight = this.weights.get(name);
    if (!weight) throw new TypeError(`Cannot convert the judge: current weights lack ${name}`);
    return weight;
  }

  constant(prefix: string, dims: number[], data: Float32Array | BigInt64Array): string {
    const name = this.name(prefix);
    this.initializers.push({ name, dims, data });
    return name;
  }

  node(op: string, inputs: string[], attributes?: OnnxNode["attributes"]): string {
    const output = this.name(op.toLowerCase());
    this.nodes.push({ op, inputs, outputs: [output], attributes });
    return output;
  }

  /**
   * face-api's convLayer: conv (TF filters [kh, kw, in, out]) + bias, then the
   * scale layer (x * weights + biases), folded into one Conv. `normalise`
   * folds (x - MEAN_RGB) / 255 in too (only valid for an unpadded conv).
   */
  conv(x: string, prefix: string, stride: number, pad: number, normalise = false): string {
    const filters = this.weight(`${prefix}/conv/filters`);
    const bias = this.weight(`${prefix}/conv/bias`).data;
    const scale = this.weight(`${prefix}/scale/weights`).data;
    const shift = this.weight(`${prefix}/scale/biases`).data;
    const [kh, kw, cin, cout] = filters.shape;
    const w = new Float32Array(cout * cin * kh * kw);
    const b = new Float32Array(cout);
    for (let o = 0; o < cout; o++) {
      let meanTerm = 0;
      for (let c = 0; c < cin; c++) {
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const value = filters.data[((i * kw + j) * cin + c) * cout + o];
            const folded = normalise ? value / 255 : value;
            w[((o * cin + c) * kh + i) * kw + j] = folded * scale[o];
            if (normalise) meanTerm += folded * MEAN_RGB[c];
          }
        }
      }
      b[o] = (bias[o] - meanTerm) * scale[o] + shift[o];
    }
    return this.node("Conv", [
      x,
      this.constant(`${prefix}/w`, [cout, cin, kh, kw], w),
      this.constant(`${prefix}/b`, [cout], b),
    ], {
      kernel_shape: [kh, kw],
      strides: [stride, stride],
      pads: [pad, pad, pad, pad],
    });
  }

  pad(x: string, pads: number[]): string {
    return this.node("Pad", [x, this.constant("pads", [8], BigInt64Array.from(pads.map(BigInt)))], {
      mode: "constant",
    });
  }
}

const convOut = (size: number, kernel: number, stride: number, pad: number) =>
  Math.floor((size + 2 * pad - kernel) / stride) + 1;

/**
 * Builds the ONNX model of face-api's recognition net from its TF.js
 * manifest and weights: input `image` float32 [batch, 3, 150, 150] RGB in
 * 0..255, output `descriptor` float32 [batch, 128].
 *
 * @example The graph replays the net's layers (here on zero weights)
 * ```ts
 * import assert from "node:assert/strict";
 * import { faceApiRecognitionToOnnx } from "./judge_convert.ts";
 * const shapes: Record<string, number[]> = {};
 * const layer = (prefix: string, shape: number[]) => {
 *   shapes[`${prefix}/conv/filters`] = shape;
 *   for (const part of ["conv/bias", "scale/weights", "scale/biases"]) shapes[`${prefix}/${part}`] = [shape[3]];
 * };
 * layer("conv32_down", [7, 7, 3, 32]);
 * const blocks: [string, number, number][] = [["conv32_1", 32, 32], ["conv32_2", 32, 32], ["conv32_3", 32, 32],
 *   ["conv64_down", 32, 64], ["conv64_1", 64, 64], ["conv64_2", 64, 64], ["conv64_3", 64, 64],
 *   ["conv128_down", 64, 128], ["conv128_1", 128, 128], ["conv128_2", 128, 128],
 *   ["conv256_down", 128, 256], ["conv256_1", 256, 256], ["conv256_2", 256, 256], ["conv256_down_out", 256, 256]];
 * for (const [name, cin, cout] of blocks) {
 *   layer(`${name}/conv1`, [3, 3, cin, cout]);
 *   layer(`${name}/conv2`, [3, 3, cout, cout]);
 * }
 * shapes.fc = [256, 128];
 * const weights = Object.entries(shapes).map(([name, shape]) => ({ name, shape, dtype: "float32" }));
 * const size = weights.reduce((sum, w) => sum + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
 * const model = faceApiRecognitionToOnnx([{ paths: ["w"], weights }], new Uint8Array(size));
 * const text = new TextDecoder().decode(model);
 * assert.ok(text.includes("descriptor") && text.includes("AveragePool") && text.includes("MatMul"));
 * ```
 *
 * @param manifest The parsed `face_recognition_model-weights_manifest.json`.
 * @param bytes `face_recognition_model.bin`.
 * @returns ONNX model bytes (deterministic for the same inputs).
 * @throws {TypeError} When the weights are not face-api's recognition net.
 */
export function faceApiRecognitionToOnnx(manifest: unknown, bytes: Uint8Array): Uint8Array {
  const g = new GraphBuilder(decodeTfjsWeights(manifest, bytes));
  let size = JUDGE_INPUT_SIZE;
  let channels = 3;
  // convDown (7x7, stride 2, valid) with ReLU, then a 3x3 max pool, stride 2, valid.
  let x = g.node("Relu", [g.conv("image", "conv32_down", 2, 0, true)]);
  size = convOut(size, 7, 2, 0);
  x = g.node("MaxPool", [x], { kernel_shape: [3, 3], strides: [2, 2] });
  size = convOut(size, 3, 2, 0);
  channels = 32;

  const residual = (input: string, prefix: string) => {
    const inner = g.node("Relu", [g.conv(input, `${prefix}/conv1`, 1, 1)]);
    return g.node("Relu", [g.node("Add", [g.conv(inner, `${prefix}/conv2`, 1, 1), input])]);
  };
  // residualDown: a strided valid conv beside a 2x2 average pool; the conv side is zero-padded at the
  // bottom/right when its size falls one short (3 vs 4, 1 vs 2 at 150), the pooled side with zero channels.
  const residualDown = (input: string, prefix: string) => {
    const outChannels = g.weight(`${prefix}/conv1/conv/filters`).shape[3];
    let out = g.conv(g.node("Relu", [g.conv(input, `${prefix}/conv1`, 2, 0)]), `${prefix}/conv2`, 1, 1);
    const convSize = convOut(size, 3, 2, 0);
    const poolSize = convOut(size, 2, 2, 0);
    if (convSize !== poolSize) out = g.pad(out, [0, 0, 0, 0, 0, 0, poolSize - convSize, poolSize - convSize]);
    let pooled = g.node("AveragePool", [input], { kernel_shape: [2, 2], strides: [2, 2] });
    if (outChannels !== channels) pooled = g.pad(pooled, [0, 0, 0, 0, 0, outChannels - channels, 0, 0]);
    size = poolSize;
    channels = outChannels;
    return g.node("Relu", [g.node("Add", [pooled, out])]);
  };

  for (const name of ["conv32_1", "conv32_2", "conv32_3"]) x = residual(x, name);
  x = residualDown(x, "conv64_down");
  for (const name of ["conv64_1", "conv64_2", "conv64_3"]) x = residual(x, name);
  x = residualDown(x, "conv128_down");
  for (const name of ["conv128_1", "conv128_2"]) x = residual(x, name);
  x = residualDown(x, "conv256_down");
  for (const name of ["conv256_1", "conv256_2"]) x = residual(x, name);
  x = residualDown(x, "conv256_down_out");
  const mean = g.node("ReduceMean", [x], { axes: [2, 3], keepdims: 0 });
  const fc = g.weight("fc");
  g.nodes.push({ op: "MatMul", inputs: [mean, g.constant("fc", fc.shape, fc.data)], outputs: ["descriptor"] });
  return encodeOnnxModel({
    name: "face_api_recognition",
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [{ name: "image", dims: ["batch", 3, JUDGE_INPUT_SIZE, JUDGE_INPUT_SIZE] }],
    outputs: [{ name: "descriptor", dims: ["batch", JUDGE_DESCRIPTOR_SIZE] }],
    producer: "vec2face judge_convert.ts",
  });
}

/**
 * The k-th deterministic test input of the conversion check: a 150x150 RGB
 * image in 0..255, HWC order (as TF.js takes it), a hash pattern whose third
 * variant is half as bright. `tools/judge_tfjs_reference.ts` runs face-api's
 * own TF.js code on it; `judge_test.ts` runs the ONNX model.
 *
 * @example Values stay in 0..255 and differ between inputs
 * ```ts
 * import assert from "node:assert/strict";
 * import { judgeReferenceInput } from "./judge_convert.ts";
 * const [a, b] = [judgeReferenceInput(0), judgeReferenceInput(1)];
 * assert.equal(a.length, 150 * 150 * 3);
 * assert.ok(a.every((v) => v >= 0 && v <= 255));
 * assert.notDeepEqual(a, b);
 * ```
 */
export function judgeReferenceInput(k: number): Float32Array {
  const x = new Float32Array(JUDGE_INPUT_SIZE * JUDGE_INPUT_SIZE * 3);
  for (let i = 0; i < x.length; i++) x[i] = (((i * 2654435761 + k * 97) >>> 0) % 256) * (k === 2 ? 0.5 : 1);
  return x;
}
