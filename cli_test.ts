import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeBank } from "./src/bank.ts";
import { sha256Hex } from "./src/model_pack.ts";

const CLI = new URL("./cli.ts", import.meta.url).pathname;
const FIXTURE = new URL("./models/fixture/", import.meta.url).pathname;

async function cli(...args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

/** The run failed with exactly one line on stderr starting with "error:", matching `pattern`. */
function assertOneLineError(result: { code: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(result.code, 0, "non-zero exit");
  const lines = result.stderr.trim().split("\n").filter((line) => line.startsWith("error:"));
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], pattern);
  assert.ok(!/\n\s+at /.test(result.stderr), `no stack trace: ${result.stderr}`);
}

async function copyPack(directory: string): Promise<string> {
  const pack = join(directory, "pack");
  await Deno.mkdir(pack);
  for (const name of ["manifest.json", "generator.onnx", "prior.npy"]) {
    await Deno.copyFile(join(FIXTURE, name), join(pack, name));
  }
  return pack;
}

async function assertNothingComplete(out: string): Promise<void> {
  const names = await Array.fromAsync(Deno.readDir(out)).catch(() => []);
  assert.ok(!names.some((entry) => entry.name === "manifest.jsonl"), "no manifest.jsonl after a failure");
}

Deno.test("cli generate writes N x M JPEGs, the manifest and the bank, and says which backend ran", async () => {
  const out = await Deno.makeTempDir();
  try {
    const result = await cli("generate", "--ids", "3", "--per-id", "4", "--out", out, "--device", "native");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /backend: native/);
    assert.match(result.stderr, /wrote 12 images of 3 identities/);
    const rows = (await Deno.readTextFile(join(out, "manifest.jsonl"))).trim().split("\n");
    assert.equal(rows.length, 12);
    const bank = JSON.parse(await Deno.readTextFile(join(out, "identities.json")));
    assert.equal(bank.count, 3);
    assert.equal(bank.packSha256, await sha256Hex(await Deno.readFile(join(FIXTURE, "manifest.json"))));
    const jpeg = await Deno.readFile(join(out, "000002", "003.jpg"));
    assert.deepEqual([...jpeg.slice(0, 2)], [0xff, 0xd8]);
    assert.equal(JSON.parse(rows[11]).sha256, await sha256Hex(jpeg));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("cli bad input: one-line errors, non-zero exit, nothing partial looking complete", async (t) => {
  const directory = await Deno.makeTempDir();
  const out = join(directory, "out");
  const generate = ["generate", "--out", out, "--device", "wasm"];
  try {
    await t.step("--ids 0", async () => {
      assertOneLineError(await cli(...generate, "--ids", "0", "--per-id", "2"), /--ids\) 0/);
    });
    await t.step("--per-id -1", async () => {
      assertOneLineError(await cli(...generate, "--ids", "2", "--per-id", "-1"), /--per-id\) -1/);
    });
    await t.step("--ids abc", async () => {
      assertOneLineError(
        await cli(...generate, "--ids", "abc", "--per-id", "1"),
        /--ids abc: current value is not an integer/,
      );
    });
    await t.step("unknown --device", async () => {
      const result = await cli("generate", "--ids", "1", "--per-id", "1", "--out", out, "--device", "tpu");
      assertOneLineError(result, /device as "tpu".*auto, webgpu, wasm, native/);
    });
    await t.step("unknown flag", async () => {
      assertOneLineError(await cli(...generate, "--ids", "1", "--per-id", "1", "--idz", "3"), /idz/);
    });
    await t.step("--out pointing at a file", async () => {
      const file = join(directory, "file.txt");
      await Deno.writeTextFile(file, "keep me");
      assertOneLineError(
        await cli("generate", "--ids", "1", "--per-id", "1", "--out", file, "--device", "wasm"),
        /it is a file/,
      );
      assert.equal(await Deno.readTextFile(file), "keep me");
    });
    await t.step("corrupt model file (bytes changed): sha256 mismatch names file and expected hash", async () => {
      const pack = await copyPack(await Deno.makeTempDir({ dir: directory }));
      const bytes = await Deno.readFile(join(pack, "generator.onnx"));
      bytes[bytes.length >> 1] ^= 0xff;
      await Deno.writeFile(join(pack, "generator.onnx"), bytes);
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--pack", pack, "--overwrite");
      assertOneLineError(result, /generator\.onnx: sha256 is [0-9a-f]{64}, expected [0-9a-f]{64}/);
      await assertNothingComplete(out);
    });
    await t.step("sha256 mismatch in the manifest", async () => {
      const pack = await copyPack(await Deno.makeTempDir({ dir: directory }));
      const manifest = JSON.parse(await Deno.readTextFile(join(pack, "manifest.json")));
      const expected = "0".repeat(64);
      manifest.files.prior.sha256 = expected;
      await Deno.writeTextFile(join(pack, "manifest.json"), JSON.stringify(manifest));
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--pack", pack, "--overwrite");
      assertOneLineError(result, new RegExp(`prior\\.npy: sha256 is [0-9a-f]{64}, expected ${expected}`));
    });
    await t.step("a model that is not ONNX (hash matches) fails when the session is made", async () => {
      const pack = await copyPack(await Deno.makeTempDir({ dir: directory }));
      const garbage = new TextEncoder().encode("not an onnx model");
      await Deno.writeFile(join(pack, "generator.onnx"), garbage);
      const manifest = JSON.parse(await Deno.readTextFile(join(pack, "manifest.json")));
      manifest.files.generator.sha256 = await sha256Hex(garbage);
      await Deno.writeTextFile(join(pack, "manifest.json"), JSON.stringify(manifest));
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--pack", pack, "--overwrite");
      assertOneLineError(result, /Cannot create a wasm session/);
      await assertNothingComplete(out);
    });
    await t.step("a missing model file", async () => {
      const pack = await copyPack(await Deno.makeTempDir({ dir: directory }));
      await Deno.remove(join(pack, "generator.onnx"));
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--pack", pack, "--overwrite");
      assertOneLineError(result, /Cannot read model pack file .*generator\.onnx/);
    });
    await t.step("a bank with vectors of the wrong length", async () => {
      const bank = join(directory, "short.npy");
      await Deno.writeFile(bank, encodeBank([new Float32Array(511)]));
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--bank", bank, "--overwrite");
      assertOneLineError(result, /bank\[0\] as a 512-d vector: current length is 511/);
      await assertNothingComplete(out);
    });
    await t.step("a bank with NaN", async () => {
      const bank = join(directory, "nan.npy");
      const vector = new Float32Array(512);
      vector[7] = NaN;
      await Deno.writeFile(bank, encodeBank([vector]));
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--bank", bank, "--overwrite");
      assertOneLineError(result, /bank\[0\] as a vector: current value at 7 is NaN/);
      await assertNothingComplete(out);
    });
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("cli embed: photos without a face are listed, not fatal; a missing folder is one line", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const { encodePng } = await import("./src/image/codec.ts");
    await Deno.mkdir(join(directory, "photos"));
    const blank = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(180) };
    await Deno.writeFile(join(directory, "photos", "blank.png"), encodePng(blank));
    const out = join(directory, "features.npy");
    const result = await cli("embed", "--align", join(directory, "photos"), "--out", out, "--device", "native");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /wrote 0 features .*1 photos without a face/);
    const sidecar = JSON.parse(await Deno.readTextFile(join(directory, "features.json")));
    assert.deepEqual(sidecar.noFace, [join(directory, "photos", "blank.png")]);
    assertOneLineError(await cli("embed", "--align", join(directory, "nowhere"), "--out", out), /nowhere/);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
