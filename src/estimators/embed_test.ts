import assert from "node:assert/strict";
import { facepluginModel } from "../_test_models.ts";
import type { OnnxSession, TensorData } from "../_backend.ts";
import { createSession } from "../_backend.ts";
import { makeBatchDynamic } from "../_onnx_batch.ts";
import { Vec2FaceError } from "../errors.ts";
import { embed } from "./embed.ts";
import { cosineSimilarity as cosine } from "../vectors.ts";
import type { SessionProvider } from "./types.ts";

const face = (value: number) => ({ width: 112, height: 112, data: new Uint8Array(112 * 112 * 3).fill(value) });

// A fake identity model: feature = [first input value, batch index]; it can refuse batches above 1.
function fakeIdentity(fixedBatch: boolean): { pack: SessionProvider; batches: number[] } {
  const batches: number[] = [];
  const session = {
    inputNames: ["input"],
    outputNames: ["output"],
    run: (feeds: Record<string, TensorData>) => {
      const [n] = feeds.input.dims;
      batches.push(n);
      if (fixedBatch && n !== 1) return Promise.reject(new Error("Got invalid dimensions for input: index 0"));
      const data = new Float32Array(n * 2);
      for (let i = 0; i < n; i++) data.set([feeds.input.data[i * 3 * 112 * 112] as number, i], i * 2);
      return Promise.resolve({ output: { data, dims: [n, 2] } });
    },
  } as unknown as OnnxSession;
  return { pack: { session: () => Promise.resolve(session) }, batches };
}

Deno.test("cosine of parallel, opposite, orthogonal and zero vectors", () => {
  assert.equal(cosine([1, 2, 3], [2, 4, 6]), 1);
  assert.equal(cosine([1, 0], [-3, 0]), -1);
  assert.equal(cosine([1, 0], [0, 1]), 0);
  assert.equal(cosine([0, 0], [1, 1]), 0);
  assert.ok(Math.abs(cosine([1, 1], [1, 0]) - Math.SQRT1_2) < 1e-12);
  assert.throws(() => cosine([1], [1, 2]), /length 1 and 2/);
});

Deno.test("embed runs batches of batchSize, normalising (p - 127) / 128, in order", async () => {
  const { pack, batches } = fakeIdentity(false);
  const features = await embed([face(127), face(255), face(0), face(131), face(63)], { pack, batchSize: 2 });
  assert.deepEqual(batches, [2, 2, 1]);
  assert.deepEqual(features.map((f) => [...f]), [[0, 0], [1, 1], [-127 / 128, 0], [4 / 128, 1], [-0.5, 0]]);
});

Deno.test("embed falls back to one image per run when the model has a fixed batch of 1", async () => {
  const { pack, batches } = fakeIdentity(true);
  const features = await embed([face(255), face(127), face(255)], { pack, batchSize: 16 });
  assert.deepEqual(features.map((f) => f[0]), [1, 0, 1]);
  // One refused batch of 3, then single runs; the session is remembered as batch 1.
  assert.deepEqual(batches, [3, 1, 1, 1]);
  await embed([face(1), face(2)], { pack });
  assert.deepEqual(batches.slice(4), [1, 1]);
});

Deno.test("embed rejects images that are not 112x112 RGB and bad batch sizes", async () => {
  const { pack } = fakeIdentity(false);
  await assert.rejects(
    () => embed([face(0), { width: 160, height: 160, data: new Uint8Array(160 * 160 * 3) }], { pack }),
    (error: Error) => error instanceof RangeError && /image 1 .* current size is 160x160/.test(error.message),
  );
  await assert.rejects(() => embed([face(0)], { pack, batchSize: 0 }), RangeError);
  assert.deepEqual(await embed([], { pack }), []);
});

Deno.test("embed stops with an aborted error when the signal fires", async () => {
  const { pack } = fakeIdentity(false);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    () => embed([face(0)], { pack, signal: controller.signal }),
    (error: Error) => error instanceof Vec2FaceError && error.code === "aborted",
  );
});

Deno.test({
  name: "embed gives the same features batched and one by one (faceplugin model)",
  async fn() {
    const bytes = await facepluginModel("fr_feature.onnx");
    const fixed = await createSession(bytes, { device: "wasm" });
    const dynamic = await createSession(makeBatchDynamic(bytes).model, { device: "wasm" });
    try {
      const faces = [0, 1, 2].map((k) => ({
        width: 112,
        height: 112,
        data: new Uint8Array(112 * 112 * 3).map((_, i) => (i * (k + 3) + k * 50) % 256),
      }));
      const one = await embed(faces, { pack: { session: () => Promise.resolve(fixed) } });
      const batched = await embed(faces, { pack: { session: () => Promise.resolve(dynamic) }, batchSize: 3 });
      assert.equal(one[0].length, 512);
      for (let i = 0; i < 3; i++) assert.ok(cosine(one[i], batched[i]) > 0.9999, `image ${i}`);
      assert.ok(cosine(one[0], one[1]) < 0.9999);
    } finally {
      await fixed.dispose();
      await dynamic.dispose();
    }
  },
});
