// The preview routes through createHandler: whitelisted files only, JSON
// errors without server paths, HEAD and ETags.
import assert from "node:assert/strict";
import { createHandler } from "./http.ts";
import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
import { sha256 } from "./_hash.ts";

Deno.test("preview routes: the page, its module, the pack's own files and onnxruntime's, nothing else", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const handler = createHandler({ pack });
  const get = (path: string, init?: RequestInit) => handler(new Request(`http://localhost${path}`, init));

  const page = await get("/");
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<script type="importmap">/);
  const script = await get("/preview.js");
  assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.match(await script.text(), /renderDatasetImage/);

  const manifest = await get("/v1/pack/manifest.json");
  const manifestBytes = new Uint8Array(await manifest.arrayBuffer());
  assert.equal(sha256(manifestBytes), pack.sha256);
  const etag = `"${pack.manifest.files.generator.sha256}"`;
  const generator = await get("/v1/pack/generator.onnx");
  assert.equal(generator.headers.get("etag"), etag);
  assert.equal(sha256(new Uint8Array(await generator.arrayBuffer())), pack.manifest.files.generator.sha256);
  assert.equal((await get("/v1/pack/generator.onnx", { headers: { "if-none-match": etag } })).status, 304);
  const head = await get("/v1/pack/prior.npy", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.body, null);

  const wasm = await get("/ort/ort-wasm-simd-threaded.wasm");
  assert.equal(wasm.headers.get("content-type"), "application/wasm");
  const magic = (await wasm.body!.getReader().read()).value!;
  assert.deepEqual([...magic.subarray(0, 4)], [0, 0x61, 0x73, 0x6d]); // "\0asm"
  await wasm.body?.cancel().catch(() => {});

  // Third-party files, other names, traversal: 404 as JSON, naming no server path.
  for (
    const path of [
      "/v1/pack/identity",
      "/v1/pack/fr_feature.onnx",
      "/v1/pack/..%2Fmanifest.json",
      "/v1/pack/reference.json",
      "/ort/package.json",
      "/ort/..%2F..%2Fdeno.json",
      "/preview.bundle.js",
    ]
  ) {
    const response = await get(path);
    assert.equal(response.status, 404, path);
    const body = await response.json();
    assert.equal(body.status, 404);
    assert.doesNotMatch(body.error, /\/work\/|file:|node_modules/, path);
  }
  assert.equal((await get("/v1/pack/generator.onnx", { method: "POST" })).status, 405);
});
