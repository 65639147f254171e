import assert from "node:assert/strict";
import { join } from "node:path";
import { Vec2FaceError } from "./errors.ts";
import { DEFAULT_PACK, FIXTURE_PACK, loadPack } from "./model_pack.ts";

Deno.test("the default pack is the trained one, the fixture is labelled, both identify themselves by sha256", async () => {
  await using fixture = await loadPack(FIXTURE_PACK, { device: "wasm", pull: false });
  assert.equal(fixture.manifest.fixture, true);
  assert.match(fixture.manifest.description, /fixture/i);
  await using pack = await loadPack(DEFAULT_PACK, { device: "wasm", pull: false });
  assert.equal(pack.manifest.name, "vec2face-small");
  assert.notEqual(pack.manifest.fixture, true);
  assert.notEqual(pack.sha256, fixture.sha256);
  assert.match(pack.sha256, /^[0-9a-f]{64}$/);
  assert.equal(pack.prior.dim, 512);
  assert.equal(pack.backend, "wasm");
  assert.deepEqual(pack.layout.maskRatio, { min: 0.1, mu: 0.15, std: 0.25, max: 1.0 });
});

Deno.test("a third-party file not in the cache: model-missing naming the file and its hash", async () => {
  const cache = await Deno.makeTempDir();
  try {
    await using pack = await loadPack(FIXTURE_PACK, { device: "wasm", pull: false, cacheDir: cache });
    const error = await pack.session("identity").catch((e) => e);
    assert.ok(error instanceof Vec2FaceError, String(error));
    assert.equal(error.code, "model-missing");
    assert.match(error.message, /fr_feature\.onnx/);
    assert.ok(error.message.includes(pack.manifest.files.identity!.sha256));
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("a corrupt cached file: model-corrupt naming the file and the expected hash", async () => {
  const cache = await Deno.makeTempDir();
  try {
    await using pack = await loadPack(FIXTURE_PACK, { device: "wasm", pull: false, cacheDir: cache });
    const expected = pack.manifest.files.identity!.sha256;
    await Deno.mkdir(join(cache, "sha256"));
    await Deno.writeTextFile(join(cache, "sha256", `${expected}.onnx`), "truncated");
    const error = await pack.file("identity").catch((e) => e);
    assert.ok(error instanceof Vec2FaceError);
    assert.equal(error.code, "model-corrupt");
    assert.match(error.message, new RegExp(`${expected}\\.onnx: sha256 is [0-9a-f]{64}, expected ${expected}`));
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("an invalid manifest is refused with what is wrong", async () => {
  const directory = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(directory, "manifest.json"), JSON.stringify({ format: "other", files: {} }));
    const error = await loadPack(directory, { device: "wasm" }).catch((e) => e);
    assert.ok(error instanceof Vec2FaceError && error.code === "pack-invalid");
    assert.match(error.message, /format is "other".*files\.generator or files\.prior is missing/);
    await Deno.writeTextFile(join(directory, "manifest.json"), "{ not json");
    await assert.rejects(loadPack(directory), /Cannot parse .*manifest\.json/);
    const escaping = JSON.parse(await Deno.readTextFile(new URL("manifest.json", DEFAULT_PACK)));
    escaping.files.generator.path = "../../etc/passwd";
    await Deno.writeTextFile(join(directory, "manifest.json"), JSON.stringify(escaping));
    await assert.rejects(loadPack(directory, { device: "wasm" }), /outside the pack folder/);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("an unavailable device is a domain error, an unknown one a RangeError", async () => {
  await assert.rejects(loadPack(FIXTURE_PACK, { device: "gpu" as "wasm" }), RangeError);
});
