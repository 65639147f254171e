import { readTree } from "../_test_tree.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { generateDataset } from "./generate.ts";
import { FIXTURE_PACK, loadPack } from "../model_pack.ts";
import { Vec2FaceError } from "../errors.ts";

for (const device of ["wasm", "native"] as const) {
  Deno.test(`same seed: byte-identical images, manifest and bank with batch sizes 1, 7 and 32 (${device})`, async () => {
    await using pack = await loadPack(FIXTURE_PACK, { device });
    const trees: Map<string, Uint8Array>[] = [];
    for (const batchSize of [1, 7, 32]) {
      const out = await Deno.makeTempDir();
      const result = await generateDataset({ pack, out, ids: 3, perId: 6, seed: 11, batchSize });
      assert.equal(result.images, 18);
      assert.equal(result.backend, device);
      trees.push(await readTree(out));
      await Deno.remove(out, { recursive: true });
    }
    const [first, ...others] = trees;
    assert.equal(first.size, 18 + 3); // images, manifest, bank + sidecar
    assert.ok(first.has("000002/005.jpg") && first.has("manifest.jsonl") && first.has("identities.npy"));
    for (const other of others) {
      assert.deepEqual([...other.keys()].sort(), [...first.keys()].sort());
      for (const [path, bytes] of first) assert.deepEqual(other.get(path), bytes, `${path} differs`);
    }
    const rows = new TextDecoder().decode(first.get("manifest.jsonl")).trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(rows.length, 18);
    assert.deepEqual(Object.keys(rows[0]), ["identity", "image", "sigma", "file", "sha256"]);
    // Different images of one identity differ (noise and masks work).
    assert.notDeepEqual(first.get("000000/000.jpg"), first.get("000000/001.jpg"));
  });
}

Deno.test("zip shards: S identities per shard, entries match a folder run, unzip -t accepts them", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const zipOut = await Deno.makeTempDir();
  const folderOut = await Deno.makeTempDir();
  try {
    const result = await generateDataset({ pack, out: zipOut, ids: 5, perId: 2, seed: 1, format: "zip", shardSize: 2 });
    assert.equal(result.shards, 3);
    await generateDataset({ pack, out: folderOut, ids: 5, perId: 2, seed: 1 });
    const folder = await readTree(folderOut);
    const names = [...(await readTree(zipOut)).keys()].filter((name) => name.endsWith(".zip")).sort();
    assert.deepEqual(names, ["shard-00000.zip", "shard-00001.zip", "shard-00002.zip"]);
    const entries = names.map(async (name) => unzipSync(await Deno.readFile(join(zipOut, name))));
    const last = await entries[2];
    assert.deepEqual(Object.keys(last), ["000004/000.jpg", "000004/001.jpg"]);
    assert.deepEqual(last["000004/001.jpg"], folder.get("000004/001.jpg"));
    const unzip = await new Deno.Command("unzip", { args: ["-t", join(zipOut, names[0])] }).output().catch(() => null);
    if (unzip) assert.ok(unzip.success, new TextDecoder().decode(unzip.stdout));
    const rows = (await Deno.readTextFile(join(zipOut, "manifest.jsonl"))).trim().split("\n");
    assert.equal(JSON.parse(rows[9]).file, "shard-00002.zip#000004/001.jpg");
  } finally {
    await Deno.remove(zipOut, { recursive: true });
    await Deno.remove(folderOut, { recursive: true });
  }
});

Deno.test("output checks: a file, a non-empty folder, bad counts; nothing looks complete after a failure", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const directory = await Deno.makeTempDir();
  try {
    const file = join(directory, "a-file");
    await Deno.writeTextFile(file, "x");
    await assert.rejects(generateDataset({ pack, out: file, ids: 1, perId: 1 }), /it is a file, not a folder/);
    const full = join(directory, "full");
    await Deno.mkdir(full);
    await Deno.writeTextFile(join(full, "keep.txt"), "x");
    const error = await generateDataset({ pack, out: full, ids: 1, perId: 1 }).catch((e) => e);
    assert.ok(error instanceof Vec2FaceError && /not empty.*`overwrite`/.test(error.message));
    assert.equal(await Deno.readTextFile(join(full, "keep.txt")), "x", "nothing already there is lost");
    await assert.rejects(
      generateDataset({ pack, out: join(directory, "a"), ids: 0, perId: 1 }),
      /identity count `ids` 0/,
    );
    await assert.rejects(
      generateDataset({ pack, out: join(directory, "b"), ids: 1, perId: -1 }),
      /images per identity `perId` -1/,
    );
    const bad = [new Float32Array(512).fill(NaN)];
    await assert.rejects(generateDataset({ pack, out: join(directory, "c"), ids: 1, perId: 1, bank: bad }), /NaN/);
    // A degenerate bank is refused before the output folder is touched (even with overwrite).
    const zeros = [new Float32Array(512), new Float32Array(512)];
    await assert.rejects(
      generateDataset({ pack, out: full, ids: 2, perId: 1, bank: zeros, overwrite: true }),
      { name: "RangeError", message: /current rows 0, 1 are zero vectors/ },
    );
    const one = new Float32Array(512).map((_, i) => Math.cos(i));
    await assert.rejects(
      generateDataset({ pack, out: full, ids: 2, perId: 1, bank: [one, one.slice()], overwrite: true }),
      /current rows 0 and 1 are the same vector/,
    );
    assert.equal(await Deno.readTextFile(join(full, "keep.txt")), "x", "the folder is untouched");
    // Cancelled mid-run: no manifest.jsonl, no file under its final name half-written.
    const controller = new AbortController();
    const cancelled = join(directory, "cancelled");
    const run = generateDataset({
      pack,
      out: cancelled,
      ids: 4,
      perId: 4,
      batchSize: 2,
      signal: controller.signal,
      onProgress: (p) => p.stage === "render" && p.done === 4 && controller.abort(),
    });
    await assert.rejects(run);
    const left = await readTree(cancelled);
    assert.ok(!left.has("manifest.jsonl"));
    assert.ok(left.size > 0 && [...left.keys()].every((k) => !k.endsWith(".jpg") || left.get(k)!.length > 100));
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("folder: an interrupted run shows complete identity folders only (the one being written is hidden)", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const out = await Deno.makeTempDir();
  try {
    const base = { pack, out, ids: 4, perId: 4, seed: 6, batchSize: 1 };
    for (const stop of [2, 6, 13]) {
      const controller = new AbortController();
      const run = generateDataset({
        ...base,
        resume: true,
        signal: controller.signal,
        onProgress: (p) => p.stage === "render" && p.done === stop && controller.abort(),
      });
      await assert.rejects(run);
      const folders = (await Array.fromAsync(Deno.readDir(out))).filter((entry) => entry.isDirectory);
      assert.ok(folders.some((entry) => entry.name.startsWith(".partial-")), `a hidden folder after ${stop}`);
      for (const { name } of folders.filter((entry) => !entry.name.startsWith("."))) {
        const images = await Array.fromAsync(Deno.readDir(join(out, name)));
        assert.deepEqual(images.map((image) => image.name).sort(), ["000.jpg", "001.jpg", "002.jpg", "003.jpg"], name);
      }
    }
    await generateDataset({ ...base, resume: true });
    const names = (await Array.fromAsync(Deno.readDir(out))).map((entry) => entry.name).sort();
    assert.deepEqual(names, [
      "000000",
      "000001",
      "000002",
      "000003",
      "identities.json",
      "identities.npy",
      "manifest.jsonl",
    ]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("resume of a complete dataset on another backend is refused; on the same one it is kept", async () => {
  await using wasm = await loadPack(FIXTURE_PACK, { device: "wasm" });
  await using native = await loadPack(FIXTURE_PACK, { device: "native" });
  const out = await Deno.makeTempDir();
  try {
    await generateDataset({ pack: wasm, out, ids: 2, perId: 8, seed: 5, overwrite: true });
    const before = await readTree(out);
    await assert.rejects(
      generateDataset({ pack: native, out, ids: 2, perId: 8, seed: 5, resume: true }),
      (error: Error) =>
        error instanceof Vec2FaceError && error.code === "resume-mismatch" &&
        /on backend native: current dataset.s 00000\d\/\d{3}\.jpg was rendered elsewhere/.test(error.message),
    );
    assert.deepEqual(await readTree(out), before, "the refused resume changed the dataset");
    const again = await generateDataset({ pack: wasm, out, ids: 2, perId: 8, seed: 5, resume: true });
    assert.deepEqual([again.kept, again.backend], [16, "wasm"]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a bank that cannot be sampled here is refused before anything is written", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const parent = await Deno.makeTempDir();
  try {
    const out = join(parent, "never");
    await assert.rejects(
      generateDataset({ pack, out, ids: Number.MAX_SAFE_INTEGER, perId: 1 }),
      /Cannot sample 9007199254740991 identities: current bank would need .* GiB, more than this machine's/,
    );
    await assert.rejects(
      generateDataset({ pack, out, ids: 20_000, perId: 1, threshold: 0.2 }),
      /at threshold 0\.2: current estimate is that acceptance falls under 1 % after about \d+ identities/,
    );
    assert.deepEqual(await Array.fromAsync(Deno.readDir(parent)), []);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
