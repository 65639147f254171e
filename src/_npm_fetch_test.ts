import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import { fetchNpmFiles, readTar } from "./_npm_fetch.ts";
import { Vec2FaceError } from "./errors.ts";
import { concatBytes } from "./_fs.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface TarEntry {
  name: string;
  data?: string;
  /** Typeflag; default "0" (regular file). */
  type?: string;
  /** ustar prefix field. */
  prefix?: string;
}

/** One 512-byte ustar header with a valid checksum. */
function tarHeader(entry: TarEntry, size: number): Uint8Array {
  const header = new Uint8Array(512);
  const put = (text: string, at: number) => header.set(encoder.encode(text), at);
  put(entry.name, 0);
  put("0000644\0", 100);
  put("0000000\0", 108);
  put("0000000\0", 116);
  put(size.toString(8).padStart(11, "0") + "\0", 124);
  put("00000000000\0", 136);
  put(entry.type ?? "0", 156);
  put("ustar\u000000", 257);
  if (entry.prefix) put(entry.prefix, 345);
  put("        ", 148);
  const sum = header.reduce((total, byte) => total + byte, 0);
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return header;
}

/** A tar archive of the entries, data padded to 512 bytes, ending in two zero blocks. */
function buildTar(entries: TarEntry[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const entry of entries) {
    const data = encoder.encode(entry.data ?? "");
    blocks.push(tarHeader(entry, data.length));
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    blocks.push(padded);
  }
  blocks.push(new Uint8Array(1024));
  return concatBytes(blocks);
}

function text(files: Map<string, Uint8Array>, path: string): string | undefined {
  const data = files.get(path);
  return data && decoder.decode(data);
}

Deno.test("readTar: reads regular files, in the root and in a subfolder", () => {
  const tar = buildTar([
    { name: "package/", type: "5" },
    { name: "package/package.json", data: '{"name":"x"}' },
    { name: "package/model/", type: "5" },
    { name: "package/model/a.bin", data: "x".repeat(700) }, // spans two data blocks
    { name: "package/empty.txt", data: "" },
  ]);
  const files = readTar(tar);
  assert.deepEqual([...files.keys()], ["package/package.json", "package/model/a.bin", "package/empty.txt"]);
  assert.equal(text(files, "package/package.json"), '{"name":"x"}');
  assert.equal(text(files, "package/model/a.bin"), "x".repeat(700));
  assert.equal(files.get("package/empty.txt")?.length, 0);
});

Deno.test("readTar: joins the ustar prefix and reads GNU long names", () => {
  const longName = `package/${"deep/".repeat(30)}file.txt`; // over 100 bytes
  const tar = buildTar([
    { name: "file.txt", prefix: "package/some/folder", data: "prefixed" },
    { name: "././@LongLink", type: "L", data: longName + "\0" },
    { name: longName.slice(0, 100), data: "long" },
    { name: "package/after.txt", data: "after" },
  ]);
  const files = readTar(tar);
  assert.equal(text(files, "package/some/folder/file.txt"), "prefixed");
  assert.equal(text(files, longName), "long");
  assert.equal(text(files, "package/after.txt"), "after");
  assert.equal(files.size, 3);
});

Deno.test("readTar: gzip round trip", () => {
  const tar = buildTar([
    { name: "package/package.json", data: '{"version":"0.0.1"}' },
    { name: "package/model/fr_feature.onnx", data: "\u0001\u0002\u0003" },
  ]);
  const files = readTar(new Uint8Array(gunzipSync(gzipSync(tar))));
  assert.equal(text(files, "package/package.json"), '{"version":"0.0.1"}');
  assert.deepEqual([...files.get("package/model/fr_feature.onnx")!], [1, 2, 3]);
});

Deno.test("readTar: rejects corrupt archives", () => {
  assert.throws(() => readTar("tar" as unknown as Uint8Array), TypeError);
  const tar = buildTar([{ name: "package/a.txt", data: "abc" }]);
  const badChecksum = tar.slice();
  badChecksum[0] ^= 1;
  assert.throws(
    () => readTar(badChecksum),
    (error: unknown) => error instanceof RangeError && /checksum/.test(error.message),
  );
  assert.throws(
    () => readTar(tar.subarray(0, 512 + 2)),
    (error: unknown) => error instanceof RangeError && /runs past/.test(error.message),
  );
  assert.equal(readTar(new Uint8Array(0)).size, 0);
});

Deno.test("fetchNpmFiles: rejects bad arguments before running npm", async () => {
  await assert.rejects(fetchNpmFiles("Bad Name", "1.0.0", []), RangeError);
  await assert.rejects(fetchNpmFiles("--registry=x", "1.0.0", []), RangeError);
  await assert.rejects(fetchNpmFiles("ok", "1.0 .0", []), RangeError);
  await assert.rejects(fetchNpmFiles("ok", "1.0.0", "package/x" as unknown as string[]), TypeError);
});

// A stand-in for npm: a shell script that copies a prepared tarball into --pack-destination
// (its 4th argument) and records that folder, so the tests need neither npm nor a network.
const posix = Deno.build.os !== "windows";

async function fakeNpm(script: string): Promise<{ command: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "vec2face-fake-npm-" });
  const command = `${dir}/npm`;
  await Deno.writeTextFile(command, `#!/bin/sh\necho "$4" > "${dir}/destination"\n${script}\n`);
  await Deno.chmod(command, 0o755);
  return { command, dir };
}

Deno.test({
  name: "fetchNpmFiles: returns the requested files and removes its temp folder",
  ignore: !posix,
  async fn() {
    const { command, dir } = await fakeNpm(
      `cp "$(dirname "$0")/fake-1.0.0.tgz" "$4/" && echo '[{"filename":"fake-1.0.0.tgz"}]'`,
    );
    try {
      const tar = buildTar([
        { name: "package/package.json", data: '{"name":"fake"}' },
        { name: "package/model/m.onnx", data: "onnx" },
      ]);
      await Deno.writeFile(`${dir}/fake-1.0.0.tgz`, gzipSync(tar));
      const files = await fetchNpmFiles("fake", "1.0.0", ["package/model/m.onnx"], { npmCommand: command });
      assert.deepEqual([...files.keys()], ["package/model/m.onnx"]);
      assert.equal(text(files, "package/model/m.onnx"), "onnx");
      const destination = (await Deno.readTextFile(`${dir}/destination`)).trim();
      await assert.rejects(Deno.stat(destination), Deno.errors.NotFound);

      await assert.rejects(
        fetchNpmFiles("fake", "1.0.0", ["package/missing.onnx"], { npmCommand: command }),
        (error: unknown) =>
          error instanceof Vec2FaceError && error.code === "pull-failed" &&
          error.message.includes("package/missing.onnx") && error.message.includes("fake@1.0.0"),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fetchNpmFiles: an npm failure reports the end of npm's stderr",
  ignore: !posix,
  async fn() {
    const { command, dir } = await fakeNpm(
      `echo "npm error code E404" >&2; echo "npm error 404 Not Found - fake" >&2; exit 1`,
    );
    try {
      await assert.rejects(
        fetchNpmFiles("fake", "9.9.9", ["package/package.json"], { npmCommand: command }),
        (error: unknown) =>
          error instanceof Vec2FaceError && error.code === "pull-failed" &&
          error.message.includes("404 Not Found - fake"),
      );
      const destination = (await Deno.readTextFile(`${dir}/destination`)).trim();
      await assert.rejects(Deno.stat(destination), Deno.errors.NotFound);
      await assert.rejects(
        fetchNpmFiles("fake", "1.0.0", [], { npmCommand: `${dir}/no-such-npm` }),
        (error: unknown) => error instanceof Vec2FaceError && /not found/.test(error.message),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fetchNpmFiles: an abort stops npm",
  ignore: !posix,
  async fn() {
    const { command, dir } = await fakeNpm("exec sleep 30");
    try {
      const controller = new AbortController();
      const started = Date.now();
      const pending = fetchNpmFiles("fake", "1.0.0", [], { npmCommand: command, signal: controller.signal });
      setTimeout(() => controller.abort(), 200);
      await assert.rejects(pending, (error: unknown) => error instanceof Vec2FaceError && error.code === "aborted");
      assert.ok(Date.now() - started < 10_000);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// The real npm and registry (the test task needs them anyway, to pull the pinned models).
Deno.test({
  name: "fetchNpmFiles: takes package.json out of faceplugin-face-recognition-js@0.0.1 (network)",
  async fn() {
    const started = performance.now();
    const files = await fetchNpmFiles("faceplugin-face-recognition-js", "0.0.1", ["package/package.json"]);
    const manifest = JSON.parse(text(files, "package/package.json")!);
    assert.equal(manifest.name, "faceplugin-face-recognition-js");
    assert.equal(manifest.version, "0.0.1");
    console.log(`npm pack + extract took ${Math.round(performance.now() - started)} ms`);
  },
});
