import assert from "node:assert/strict";
import { FIXTURE_PACK } from "../src/model_pack.ts";

Deno.test("examples/deploy.ts: export default { fetch } answers /v1/healthz, /v1/info and a shard", async () => {
  Deno.env.set("VEC2FACE_PACK", FIXTURE_PACK);
  Deno.env.set("VEC2FACE_DEVICE", "wasm");
  const { default: server } = await import("./deploy.ts");
  assert.equal(typeof server.fetch, "function");
  const health = await server.fetch(new Request("http://localhost/v1/healthz"));
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { ok: true });
  const info = await (await server.fetch(new Request("http://localhost/v1/info"))).json();
  assert.equal(info.pack.name, "fixture");
  assert.equal(info.backend, "wasm");
  assert.equal(info.limits.maxConcurrent, 1);
  const shard = await server.fetch(new Request("http://localhost/v1/shards/0.zip?ids=2&per_id=1&shard_size=2"));
  assert.equal(shard.headers.get("content-type"), "application/zip");
  const zip = new Uint8Array(await shard.arrayBuffer());
  assert.deepEqual([...zip.subarray(0, 2)], [0x50, 0x4b]);
});
