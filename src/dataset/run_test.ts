import { readTree } from "../_test_tree.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Vec2FaceError } from "../errors.ts";
import { generateDataset, type GenerateOptions } from "./generate.ts";
import type { DatasetFormat } from "./plan.ts";
import { FIXTURE_PACK, loadPack, type ModelPack } from "../model_pack.ts";
import { Random } from "../random.ts";

function assertSameTree(actual: Map<string, Uint8Array>, expected: Map<string, Uint8Array>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [path, bytes] of expected) assert.ok(equal(actual.get(path)!, bytes), `${path} differs`);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, k) => byte === b[k]);
}

/** Runs until `done` reaches `stopAt`, then aborts; resolves once the run has stopped. */
async function interrupted(options: GenerateOptions, stopAt: number): Promise<void> {
  const controller = new AbortController();
  const run = generateDataset({
    ...options,
    signal: controller.signal,
    onProgress: (p) => p.stage === "render" && p.done >= stopAt && controller.abort(),
  });
  await assert.rejects(run);
}

async function flipByte(path: string, at: number): Promise<void> {
  const bytes = await Deno.readFile(path);
  bytes[at] ^= 0xff;
  await Deno.writeFile(path, bytes);
}

const FORMATS: DatasetFormat[] = ["folder", "zip", "webdataset", "recordio"];

for (const [f, format] of FORMATS.entries()) {
  Deno.test(`resume (${format}): stopped at three random moments and damaged, the result is byte-identical`, async () => {
    await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
    const directory = await Deno.makeTempDir();
    try {
      const base = { pack, ids: 7, perId: 3, seed: 5, format, shardSize: 2, batchSize: 4 };
      const total = 21;
      await generateDataset({ ...base, out: join(directory, "reference") });
      const reference = await readTree(join(directory, "reference"));
      const out = join(directory, "out");

      const random = Random.from(23, f);
      const stops = [0, 1, 2].map(() => 1 + random.int(total - 1)).sort((a, b) => a - b);
      for (const stop of stops) await interrupted({ ...base, out, resume: true }, stop);
      const left = await readTree(out);
      assert.ok(!left.has("manifest.jsonl") && left.has("progress.jsonl"));

      // Damage: a kept unit's bytes change, a half-written file, a torn journal line.
      if (format === "folder") await flipByte(join(out, "000000", "001.jpg"), 200);
      if (format === "zip" || format === "webdataset") {
        const extension = format === "zip" ? "zip" : "tar";
        await flipByte(join(out, `shard-00000.${extension}`), 700);
        await Deno.writeFile(join(out, `shard-00003.${extension}.tmp`), new Uint8Array(100));
      }
      if (format === "recordio") {
        // The last journaled identity's records change: it and all after it are redone.
        const units = (await Deno.readTextFile(join(out, "progress.jsonl"))).split("\n")
          .filter((line) => line.startsWith('{"unit"')).map((line) => JSON.parse(line));
        await flipByte(join(out, "train.rec.tmp"), units.at(-1).offset + 30);
        await Deno.writeFile(join(out, "train.rec.tmp"), new Uint8Array(77).fill(1), { append: true });
      }
      await Deno.writeTextFile(join(out, "progress.jsonl"), '{"unit":6,"rows":[{"ident', { append: true });

      const result = await generateDataset({ ...base, out, resume: true });
      assert.equal(result.images, total);
      assert.ok(result.kept > 0 && result.kept < total, `kept ${result.kept}`);
      assertSameTree(await readTree(out), reference);

      // Resuming a complete run keeps everything and changes nothing.
      const again = await generateDataset({ ...base, out, resume: true });
      assert.equal(again.kept, total);
      assertSameTree(await readTree(out), reference);
    } finally {
      await Deno.remove(directory, { recursive: true });
    }
  });
}

async function otherPack(directory: string): Promise<string> {
  const folder = join(directory, "pack");
  await Deno.mkdir(folder);
  for (const name of ["generator.onnx", "prior.npy"]) {
    await Deno.copyFile(new URL(name, FIXTURE_PACK), join(folder, name));
  }
  const manifest = JSON.parse(await Deno.readTextFile(new URL("manifest.json", FIXTURE_PACK)));
  manifest.name = "fixture-copy";
  await Deno.writeTextFile(join(folder, "manifest.json"), JSON.stringify(manifest));
  return folder;
}

Deno.test("resume with another spec fails with a clear error and leaves the run alone", async (t) => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const directory = await Deno.makeTempDir();
  try {
    const out = join(directory, "out");
    const base = { pack, out, ids: 4, perId: 3, seed: 2, format: "zip" as const, shardSize: 2, batchSize: 4 };
    await interrupted({ ...base, resume: true }, 7);
    const before = await readTree(out);
    const refused = async (options: Partial<GenerateOptions> & { pack?: ModelPack }, pattern: RegExp) => {
      const error = await generateDataset({ ...base, ...options, resume: true }).catch((error) => error);
      assert.ok(error instanceof Vec2FaceError, String(error));
      assert.equal(error.code, "resume-mismatch");
      assert.match(error.message, pattern);
      assertSameTree(await readTree(out), before);
    };
    await t.step("ids", () => refused({ ids: 5 }, /with `ids` 5: current run there was started with `ids` 4/));
    await t.step("per-id", () => refused({ perId: 2 }, /with `perId` 2: .* `perId` 3 \(pass the same options/));
    await t.step("seed", () => refused({ seed: 3 }, /with `seed` 3: .* with `seed` 2/));
    await t.step("format", () => refused({ format: "webdataset" }, /with `format` webdataset: .* `format` zip/));
    await t.step("format and shard size", () => {
      return refused({ format: "folder" }, /with `format` folder, no shards: .* `format` zip, `shardSize` 2/);
    });
    await t.step("shard size", () => refused({ shardSize: 3 }, /with `shardSize` 3: .* `shardSize` 2/));
    await t.step("threshold", () => refused({ threshold: 0.3 }, /with `threshold` 0\.3: .* `threshold` 0\.476/));
    await t.step("bank", () => {
      const bank = Array.from({ length: 4 }, (_, i) => new Float32Array(512).map((_, k) => Math.sin(k * (i + 1))));
      return refused({ bank }, /with `bank` \(sha256 [0-9a-f]{12}\): .* with no `bank`/);
    });
    await t.step("pack", async () => {
      await using other = await loadPack(await otherPack(directory), { device: "wasm" });
      await refused({ pack: other }, /with `pack` \(manifest sha256 [0-9a-f]{12}\): .* `pack` \(manifest sha256/);
    });
    await t.step("backend", async () => {
      await using native = await loadPack(FIXTURE_PACK, { device: "native" });
      await refused({ pack: native }, /with `backend` native: .* with `backend` wasm/);
    });
    await t.step("the same spec goes on", async () => {
      const result = await generateDataset({ ...base, resume: true });
      assert.ok(result.kept >= 6 && result.images === 12);
    });
    await t.step("a complete run with another spec", async () => {
      const error = await generateDataset({ ...base, seed: 9, resume: true }).catch((error) => error);
      assert.ok(error instanceof Vec2FaceError && error.code === "resume-mismatch");
      assert.match(error.message, /Cannot resume .* current dataset there is complete and differs \(seed 2\)/);
      const shards = await generateDataset({ ...base, shardSize: 3, resume: true }).catch((error) => error);
      assert.match(shards.message, /differs \(file shard-00001\.zip#000002\/000\.jpg at row 7\)/);
    });
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("resume refuses a folder that is not a run, and resume with overwrite", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const directory = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(directory, "keep.txt"), "x");
    const error = await generateDataset({ pack, out: directory, ids: 1, perId: 1, resume: true }).catch((e) => e);
    assert.ok(error instanceof Vec2FaceError && error.code === "output-exists");
    assert.match(error.message, /Cannot resume .*: current folder holds no progress\.jsonl .*use `overwrite`/);
    assert.equal(await Deno.readTextFile(join(directory, "keep.txt")), "x");
    await assert.rejects(
      generateDataset({ pack, out: directory, ids: 1, perId: 1, resume: true, overwrite: true }),
      /Cannot use `resume` and `overwrite` together: current options ask for both/,
    );
    // A missing folder starts a new run.
    const result = await generateDataset({ pack, out: join(directory, "new"), ids: 1, perId: 2, resume: true });
    assert.deepEqual([result.images, result.kept], [2, 0]);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

for (const format of FORMATS) {
  Deno.test(`resume (${format}) of a complete dataset: a corrupted file is redone, byte-identical`, async () => {
    await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
    const directory = await Deno.makeTempDir();
    try {
      const out = join(directory, "out");
      const base = { pack, out, ids: 5, perId: 2, seed: 9, format, shardSize: 2, batchSize: 4 };
      await generateDataset(base);
      const reference = await readTree(out);
      const untouched = await generateDataset({ ...base, resume: true });
      assert.deepEqual([untouched.kept, untouched.images], [10, 10]);
      const damaged = {
        folder: join(out, "000003", "001.jpg"),
        zip: join(out, "shard-00001.zip"),
        webdataset: join(out, "shard-00001.tar"),
        recordio: join(out, "train.rec"),
      }[format];
      await flipByte(damaged, format === "folder" ? 200 : 900);
      const result = await generateDataset({ ...base, resume: true });
      // Folder: identity 3 is redone; shards: shard 1 (identities 2 and 3); RecordIO: the one train.rec.
      assert.equal(result.kept, { folder: 8, zip: 6, webdataset: 6, recordio: 0 }[format]);
      assertSameTree(await readTree(out), reference);
    } finally {
      await Deno.remove(directory, { recursive: true });
    }
  });
}
