import assert from "node:assert/strict";
import { join } from "node:path";
import { generateDataset } from "./dataset/generate.ts";
import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
import { readTar, tarHeader, TarShardStream, webDatasetEntries, webDatasetKey } from "./webdataset.ts";

async function tarOf(entries: { path: string; bytes: Uint8Array }[]): Promise<Uint8Array> {
  const stream = ReadableStream.from(entries).pipeThrough(new TarShardStream());
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Runs the system `tar`; undefined where there is none. */
async function tar(...args: string[]): Promise<{ success: boolean; stdout: string; stderr: string } | undefined> {
  const output = await new Deno.Command("tar", {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C", TZ: "UTC" },
  })
    .output().catch(() => undefined);
  if (!output) return undefined;
  const decoder = new TextDecoder();
  return { success: output.success, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

Deno.test("tar shards: deterministic ustar that the system tar lists and extracts byte for byte", async () => {
  const long = `${"d".repeat(120)}/${"f".repeat(90)}.bin`; // needs ustar's prefix field
  const entries = [
    { path: "000000_000.jpg", bytes: new Uint8Array([1, 2, 3, 4]) },
    { path: "000000_000.json", bytes: new TextEncoder().encode('{"identity":0}') },
    { path: "empty.txt", bytes: new Uint8Array(0) },
    { path: long, bytes: crypto.getRandomValues(new Uint8Array(5000)) },
  ];
  const first = await tarOf(entries);
  assert.deepEqual(first, await tarOf(entries));
  // Headers, contents padded to 512 bytes, and two zero blocks at the end.
  assert.equal(first.length, 4 * 512 + 512 + 512 + 0 + Math.ceil(5000 / 512) * 512 + 1024);
  assert.ok(first.subarray(first.length - 1024).every((byte) => byte === 0));

  const directory = await Deno.makeTempDir();
  try {
    const archive = join(directory, "shard.tar");
    await Deno.writeFile(archive, first);
    const listed = await tar("-tvf", archive);
    if (!listed) return; // no system tar here
    assert.ok(listed.success, listed.stderr);
    const lines = listed.stdout.trim().split("\n");
    assert.equal(lines.length, 4);
    assert.match(lines[0], /^-rw-r--r-- 0\/0\s+4 2020-01-01 00:00 000000_000\.jpg$/);
    assert.ok(lines[3].endsWith(long));
    const extracted = join(directory, "x");
    await Deno.mkdir(extracted);
    const result = await tar("-xf", archive, "-C", extracted);
    assert.ok(result?.success, result?.stderr);
    for (const entry of entries) assert.deepEqual(await Deno.readFile(join(extracted, entry.path)), entry.bytes);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("tar headers: checksum, octal fields and errors", () => {
  const header = tarHeader("000001_002.json", 1234);
  const field = (offset: number, length: number) =>
    new TextDecoder().decode(header.subarray(offset, offset + length)).replace(/\0.*$/s, "");
  assert.equal(field(0, 100), "000001_002.json");
  assert.equal(field(124, 12), (1234).toString(8).padStart(11, "0"));
  assert.equal(field(136, 12), (Date.UTC(2020, 0, 1) / 1000).toString(8));
  const stored = parseInt(field(148, 8), 8);
  const copy = header.slice();
  copy.fill(0x20, 148, 156);
  assert.equal(stored, copy.reduce((sum, byte) => sum + byte, 0));
  assert.throws(() => tarHeader("x".repeat(101), 1), /Cannot add a tar entry as "x{101}": current path is 101 bytes/);
  assert.throws(() => tarHeader("a", 8 ** 11), /Cannot add a tar entry of 8589934592 bytes/);
  assert.throws(() => tarHeader("", 0), /current path is empty/);
});

Deno.test("a bad tar entry errors the stream", async () => {
  const stream = ReadableStream.from(
    [{ path: "a", bytes: "text" }] as unknown as { path: string; bytes: Uint8Array }[],
  );
  await assert.rejects(
    new Response(stream.pipeThrough(new TarShardStream())).arrayBuffer(),
    /Cannot add a tar entry as "a": current value is not \{path, bytes\}/,
  );
});

Deno.test("WebDataset keys and members", () => {
  assert.equal(webDatasetKey(123456, 7), "123456_007");
  const [jpg, json] = webDatasetEntries({ identity: 4, image: 12, sigma: 0.7, bytes: new Uint8Array([9]) });
  assert.deepEqual(jpg, { path: "000004_012.jpg", bytes: new Uint8Array([9]) });
  assert.equal(json.path, "000004_012.json");
  assert.deepEqual(JSON.parse(new TextDecoder().decode(json.bytes)), { identity: 4, image: 12, sigma: 0.7 });
});

Deno.test("generate --format webdataset: tar lists the keys; members equal the folder run's JPEG bytes", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const tarOut = await Deno.makeTempDir();
  const folderOut = await Deno.makeTempDir();
  try {
    const options = { pack, ids: 5, perId: 2, seed: 1, shardSize: 2 };
    const result = await generateDataset({ ...options, out: tarOut, format: "webdataset" });
    assert.equal(result.shards, 3);
    await generateDataset({ ...options, out: folderOut });
    const names = (await Array.fromAsync(Deno.readDir(tarOut))).map((entry) => entry.name).sort();
    assert.deepEqual(names, [
      "identities.json",
      "identities.npy",
      "manifest.jsonl",
      "shard-00000.tar",
      "shard-00001.tar",
      "shard-00002.tar",
    ]);
    const rows = (await Deno.readTextFile(join(tarOut, "manifest.jsonl"))).trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(rows.length, 10);
    assert.equal(rows[9].file, "shard-00002.tar#000004_001.jpg");

    const listed = await tar("-tf", join(tarOut, "shard-00000.tar"));
    if (!listed) return;
    assert.ok(listed.success, listed.stderr);
    const keys = ["000000_000", "000000_001", "000001_000", "000001_001"];
    assert.deepEqual(listed.stdout.trim().split("\n"), keys.flatMap((key) => [`${key}.jpg`, `${key}.json`]));
    for (const name of names.filter((name) => name.endsWith(".tar"))) {
      const extracted = join(tarOut, `${name}.x`);
      await Deno.mkdir(extracted);
      const result = await tar("-xf", join(tarOut, name), "-C", extracted);
      assert.ok(result?.success, result?.stderr);
    }
    for (const row of rows) {
      const [shard, member] = row.file.split("#");
      const jpeg = await Deno.readFile(join(tarOut, `${shard}.x`, member));
      const key = member.replace(/\.jpg$/, "");
      const folderPath = `${key.slice(0, 6)}/${key.slice(7)}.jpg`;
      assert.deepEqual(jpeg, await Deno.readFile(join(folderOut, folderPath)), member);
      const json = JSON.parse(await Deno.readTextFile(join(tarOut, `${shard}.x`, `${key}.json`)));
      assert.deepEqual(json, { identity: row.identity, image: row.image, sigma: row.sigma });
    }
  } finally {
    await Deno.remove(tarOut, { recursive: true });
    await Deno.remove(folderOut, { recursive: true });
  }
});

Deno.test("readTar reads what TarShardStream writes (long paths too), skips other members, refuses damage", async () => {
  const long = `${"d".repeat(120)}/000000_000.jpg`;
  const entries = [
    { path: "000000_000.jpg", bytes: new Uint8Array([1, 2, 3]) },
    { path: long, bytes: new Uint8Array(600).fill(9) },
    { path: "empty.json", bytes: new Uint8Array(0) },
  ];
  const tar = new Uint8Array(
    await new Response(ReadableStream.from(entries).pipeThrough(new TarShardStream())).arrayBuffer(),
  );
  const files = readTar(tar);
  assert.deepEqual([...files.keys()], ["000000_000.jpg", long, "empty.json"]);
  assert.deepEqual([...files.get(long)!], [...entries[1].bytes]);
  assert.equal(files.get("empty.json")!.length, 0);
  // A folder member (typeflag '5') in front is skipped.
  const folder = tarHeader("dir/", 0);
  folder[156] = 0x35;
  folder.fill(0x20, 148, 156);
  const sum = folder.reduce((total, byte) => total + byte, 0);
  folder.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  const withFolder = new Uint8Array(512 + tar.length);
  withFolder.set(folder);
  withFolder.set(tar, 512);
  assert.deepEqual([...readTar(withFolder).keys()], ["000000_000.jpg", long, "empty.json"]);
  const damaged = tar.slice();
  damaged[0] ^= 1;
  assert.throws(() => readTar(damaged), /tar header at byte 0: current checksum does not match/);
  assert.throws(() => readTar(tar.subarray(0, 1024 + 100)), /header at byte 1024: current archive ends inside it/);
  assert.throws(() => readTar(tar.subarray(0, 1536 + 100)), /current archive ends 500 bytes short/);
  assert.equal(readTar(new Uint8Array(0)).size, 0);
});
