import assert from "node:assert/strict";
import { facepluginModel } from "./_test_models.ts";
import * as ort from "onnxruntime-web";
import { makeBatchDynamic } from "./_onnx_batch.ts";
import { Vec2FaceError } from "./errors.ts";

// One thread: no worker pool to outlive a test.
ort.env.wasm.numThreads = 1;
ort.env.logLevel = "error";

// --- A minimal protobuf encoder, enough to hand-build small ONNX models.

type Bytes = number[];

function varint(value: number): Bytes {
  const out: Bytes = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return out;
}

function varintField(number: number, value: number): Bytes {
  return [...varint(number * 8), ...varint(value)];
}

function bytesField(number: number, payload: Bytes | string): Bytes {
  const data = typeof payload === "string" ? [...new TextEncoder().encode(payload)] : payload;
  return [...varint(number * 8 + 2), ...varint(data.length), ...data];
}

const FLOAT = 1;
const INT64 = 7;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_TENSOR = 4;
const ATTRIBUTE_INTS = 7;

/** ValueInfoProto of a tensor with fixed dims. */
function valueInfo(name: string, elemType: number, dims: number[]): Bytes {
  const shape = dims.flatMap((dim) => bytesField(1, varintField(1, dim)));
  const tensorType = [...varintField(1, elemType), ...bytesField(2, shape)];
  return [...bytesField(1, name), ...bytesField(2, bytesField(1, tensorType))];
}

/** TensorProto of int64 values, as raw_data (little-endian) or packed int64_data. */
function int64Tensor(name: string, values: number[], encoding: "raw" | "int64_data"): Bytes {
  const data = encoding === "raw"
    ? bytesField(9, values.flatMap((value) => [value, 0, 0, 0, 0, 0, 0, 0]))
    : bytesField(7, values.flatMap(varint));
  return [...varintField(1, values.length), ...varintField(2, INT64), ...bytesField(8, name), ...data];
}

function node(opType: string, inputs: string[], outputs: string[], attributes: Bytes[] = []): Bytes {
  return [
    ...inputs.flatMap((input) => bytesField(1, input)),
    ...outputs.flatMap((output) => bytesField(2, output)),
    ...bytesField(4, opType),
    ...attributes.flatMap((attribute) => bytesField(5, attribute)),
  ];
}

function model(
  graph: { nodes: Bytes[]; initializers?: Bytes[]; inputs: Bytes[]; outputs: Bytes[]; valueInfo?: Bytes[] },
) {
  const graphBytes = [
    ...graph.nodes.flatMap((n) => bytesField(1, n)),
    ...bytesField(2, "test"),
    ...(graph.initializers ?? []).flatMap((t) => bytesField(5, t)),
    ...graph.inputs.flatMap((v) => bytesField(11, v)),
    ...graph.outputs.flatMap((v) => bytesField(12, v)),
    ...(graph.valueInfo ?? []).flatMap((v) => bytesField(13, v)),
  ];
  const opset = [...bytesField(1, ""), ...varintField(2, 14)];
  return new Uint8Array([...varintField(1, 8), ...bytesField(8, opset), ...bytesField(7, graphBytes)]);
}

/**
 * x [1,4] -> Reshape [1,2,2] (initializer, raw_data) -> Transpose [0,2,1] -> Reshape [1,4]
 * (Constant node, int64_data): each row [a,b,c,d] becomes [a,c,b,d].
 */
function transposeModel(): Uint8Array {
  const perm = [
    ...bytesField(1, "perm"),
    ...[0, 2, 1].flatMap((i) => varintField(8, i)),
    ...varintField(20, ATTRIBUTE_INTS),
  ];
  const value = [
    ...bytesField(1, "value"),
    ...bytesField(5, int64Tensor("", [1, 4], "int64_data")),
    ...varintField(20, ATTRIBUTE_TENSOR),
  ];
  return model({
    nodes: [
      node("Reshape", ["x", "shape_3d"], ["square"]),
      node("Transpose", ["square"], ["transposed"], [perm]),
      node("Constant", [], ["shape_2d"], [value]),
      node("Reshape", ["transposed", "shape_2d"], ["y"]),
    ],
    initializers: [int64Tensor("shape_3d", [1, 2, 2], "raw")],
    inputs: [valueInfo("x", FLOAT, [1, 4])],
    outputs: [valueInfo("y", FLOAT, [1, 4])],
    valueInfo: [valueInfo("square", FLOAT, [1, 2, 2]), valueInfo("transposed", FLOAT, [1, 2, 2])],
  });
}

async function runModel(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  try {
    const outputs = await session.run({ x: new ort.Tensor("float32", x, dims) });
    return outputs.y;
  } finally {
    await session.release();
  }
}

Deno.test("makeBatchDynamic: a patched batch-1 model runs at batch 3 with the right values", async () => {
  const { model: patched, reshapesPatched } = makeBatchDynamic(transposeModel());
  assert.equal(reshapesPatched, 2);
  const x = Float32Array.from({ length: 12 }, (_, i) => i);
  const y = await runModel(patched, x, [3, 4]);
  assert.deepEqual([...y.dims], [3, 4]);
  assert.deepEqual([...(y.data as Float32Array)], [0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11]);
  // Batch 1 still works and agrees.
  const single = await runModel(patched, x.slice(4, 8), [1, 4]);
  assert.deepEqual([...(single.data as Float32Array)], [4, 6, 5, 7]);
});

Deno.test("makeBatchDynamic: the unpatched model rejects batch 3", async () => {
  const x = new Float32Array(12);
  await assert.rejects(runModel(transposeModel(), x, [3, 4]), /invalid dimensions/i);
  const y = await runModel(transposeModel(), x.slice(0, 4), [1, 4]);
  assert.deepEqual([...y.dims], [1, 4]);
});

Deno.test("makeBatchDynamic: output is deterministic and patching twice changes nothing more", () => {
  const input = transposeModel();
  const before = input.slice();
  const first = makeBatchDynamic(input);
  const second = makeBatchDynamic(transposeModel());
  assert.deepEqual(first.model, second.model);
  assert.deepEqual(input, before, "the input bytes must not be modified");
  const again = makeBatchDynamic(first.model);
  assert.equal(again.reshapesPatched, 0);
  assert.deepEqual(again.model, first.model);
});

Deno.test("makeBatchDynamic: leaves shared, allowzero, weight and 1-element shapes alone", () => {
  const allowZero = [...bytesField(1, "allowzero"), ...varintField(3, 1), ...varintField(20, ATTRIBUTE_INT)];
  const bytes = model({
    nodes: [
      node("Reshape", ["x", "shared"], ["a"]),
      node("Add", ["shared", "shared"], ["shared_twice"]),
      node("Reshape", ["x", "zero_ok"], ["b"], [allowZero]),
      node("Reshape", ["weight", "weight_shape"], ["c"]),
      node("Reshape", ["x", "one_element"], ["d"]),
    ],
    initializers: [
      int64Tensor("shared", [1, 4], "raw"),
      int64Tensor("zero_ok", [1, 4], "raw"),
      int64Tensor("weight_shape", [1, 4], "int64_data"),
      int64Tensor("one_element", [1], "raw"),
      [
        ...varintField(1, 1),
        ...varintField(1, 4),
        ...varintField(2, FLOAT),
        ...bytesField(8, "weight"),
        ...bytesField(9, new Array(16).fill(0)),
      ],
    ],
    inputs: [valueInfo("x", FLOAT, [1, 4]), valueInfo("weight", FLOAT, [1, 4])],
    outputs: [valueInfo("a", FLOAT, [1, 4])],
  });
  const { model: patched, reshapesPatched } = makeBatchDynamic(bytes);
  assert.equal(reshapesPatched, 0);
  // Only the signature changed: x and a get dim_param "batch" (weight is an initializer listed as input, untouched).
  const text = new TextDecoder("latin1").decode(patched);
  assert.equal(text.split("batch").length - 1, 2);
});

Deno.test("makeBatchDynamic: rejects what is not a model", () => {
  assert.throws(() => makeBatchDynamic("model" as unknown as Uint8Array), TypeError);
  assert.throws(() => makeBatchDynamic(new Uint8Array([0x3a, 0x05, 0x00])), (error: unknown) => {
    return error instanceof Vec2FaceError && error.code === "model-corrupt" && /runs past/.test(error.message);
  });
  assert.throws(() => makeBatchDynamic(new Uint8Array(varintField(1, 8))), (error: unknown) => {
    return error instanceof Vec2FaceError && error.code === "model-corrupt" && /no graph/.test(error.message);
  });
});

// Real third-party models, as published (pulled into the cache once).

Deno.test({
  name: "makeBatchDynamic: faceplugin models give the same outputs batched as one by one",
  async fn() {
    const batch = 4;
    for (
      const [file, expectedPatches] of [["fr_feature.onnx", 1], ["fr_pose.onnx", 32], ["fr_gender.onnx", 6]] as const
    ) {
      const original = await facepluginModel(file);
      const { model: patched, reshapesPatched } = makeBatchDynamic(original);
      assert.equal(reshapesPatched, expectedPatches, file);
      const single = await ort.InferenceSession.create(original, { executionProviders: ["wasm"] });
      const batched = await ort.InferenceSession.create(patched, { executionProviders: ["wasm"] });
      try {
        const inputName = single.inputNames[0];
        const metadata = single.inputMetadata[0];
        assert.ok(metadata.isTensor, file);
        const dims = metadata.shape.map(Number); // fixed dims: the faceplugin models have no symbolic ones
        const size = dims.slice(1).reduce((a, b) => a * b, 1);
        // Deterministic pseudo-random input in [0, 1).
        let seed = 12345;
        const x = Float32Array.from(
          { length: batch * size },
          () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31,
        );
        const together = await batched.run({ [inputName]: new ort.Tensor("float32", x, [batch, ...dims.slice(1)]) });
        let maxDiff = 0;
        for (let b = 0; b < batch; b++) {
          const alone = await single.run({
            [inputName]: new ort.Tensor("float32", x.slice(b * size, (b + 1) * size), [1, ...dims.slice(1)]),
          });
          for (const name of single.outputNames) {
            const expected = alone[name].data as Float32Array;
            const actual = together[name].data as Float32Array;
            assert.equal(actual.length, expected.length * batch, `${file} ${name}`);
            for (let i = 0; i < expected.length; i++) {
              maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual[b * expected.length + i]));
            }
          }
        }
        console.log(`${file}: reshapesPatched=${reshapesPatched}, batch ${batch} max abs diff ${maxDiff}`);
        assert.ok(maxDiff < 1e-4, `${file}: max abs diff ${maxDiff}`);
      } finally {
        await single.release();
        await batched.release();
      }
    }
  },
});
