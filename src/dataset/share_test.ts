import { readTree } from "../_test_tree.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Vec2FaceError } from "../errors.ts";
import { generateDataset, type GenerateOptions } from "./generate.ts";
import { checkShare, parseShare } from "./plan.ts";
import { FIXTURE_PACK, loadPack } from "../model_pack.ts";

function assertSameTree(actual: Map<string, Uint8Array>, expected: Map<string, Uint8Array>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [path, bytes] of expected) {
    const other = actual.get(path)!;
    assert.ok(other.length === bytes.length && other.every((byte, k) => byte === bytes[k]), `${path} differs`);
  }
}

async function copyFolder(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) await Deno.copyFile(join(from, entry.name), join(to, entry.name));
}

Deno.test("parseShare and checkShare: k/K, and one-line errors", () => {
  assert.deepEqual(parseShare("0/1"), { index: 0, count: 1 });
  assert.deepEqual(parseShare(" 2 / 3 "), { index: 2, count: 3 });
  for (const text of ["3/3", "-1/3", "0/0", "a/b", "", "4"]) {
    assert.throws(() => parseShare(text), new RegExp(`share ${JSON.stringify(text)}: current value is not k/K`), text);
  }
  assert.throws(() => checkShare({ index: 0, count: 5 }, 4), /among 5 workers.*current dataset has 4 shards/);
  assert.throws(() => checkShare({ index: 5, count: 5 }, 9), /share 5\/5/);
});

Deno.test("three workers in one shared folder: the last merges, byte-identical to a whole run", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const directory = await Deno.makeTempDir();
  try {
    const base = { pack, ids: 9, perId: 2, seed: 4, format: "zip" as const, shardSize: 2, batchSize: 3 };
    await generateDataset({ ...base, out: join(directory, "whole") });
    const whole = await readTree(join(directory, "whole"));
    const out = join(directory, "shared");
    const results = await Promise.all(
      [0, 1, 2].map((index) => generateDataset({ ...base, out, share: { index, count: 3 } })),
    );
    // 5 shards: worker 0 has 0 and 3, worker 1 has 1 and 4 (one identity), worker 2 has 2.
    assert.deepEqual(results.map((r) => [r.shards, r.images]), [[2, 8], [2, 6], [1, 4]]);
    assert.equal(results.filter((r) => r.complete).length >= 1, true);
    assertSameTree(await readTree(out), whole);
    // A worker restarted after the merge finds the dataset complete.
    const again = await generateDataset({ ...base, out, share: { index: 1, count: 3 } });
    assert.ok(again.complete && again.kept === again.images);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("workers with folders of their own: copied together, resume merges and renders what is missing", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const directory = await Deno.makeTempDir();
  try {
    const base = { pack, ids: 7, perId: 2, seed: 8, format: "webdataset" as const, shardSize: 2 };
    await generateDataset({ ...base, out: join(directory, "whole") });
    const whole = await readTree(join(directory, "whole"));
    for (const index of [0, 1]) {
      const result = await generateDataset({
        ...base,
        out: join(directory, `part${index}`),
        share: { index, count: 2 },
      });
      assert.equal(result.complete, false, "a part alone is not the dataset");
      const names = [...(await readTree(join(directory, `part${index}`))).keys()].sort();
      const shards = index === 0 ? ["shard-00000.tar", "shard-00002.tar"] : ["shard-00001.tar", "shard-00003.tar"];
      assert.deepEqual(names, ["identities.json", "identities.npy", `part-0000${index}-of-00002.jsonl`, ...shards]);
    }
    // The bank is the same bytes on every worker (sampled again from the seed by each).
    assert.deepEqual(
      await Deno.readFile(join(directory, "part0", "identities.npy")),
      await Deno.readFile(join(directory, "part1", "identities.npy")),
    );
    const merged = join(directory, "merged");
    await copyFolder(join(directory, "part0"), merged);
    await copyFolder(join(directory, "part1"), merged);
    await Deno.remove(join(merged, "shard-00003.tar")); // lost on the way: the merge renders it again
    const result = await generateDataset({ ...base, out: merged, resume: true });
    assert.equal(result.kept, 12);
    assert.equal(result.complete, true);
    assertSameTree(await readTree(merged), whole);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("a worker stopped mid-share continues its part journal; parts of another spec are refused", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const directory = await Deno.makeTempDir();
  try {
    const base = { pack, ids: 8, perId: 2, seed: 2, format: "zip" as const, shardSize: 2, batchSize: 2 };
    await generateDataset({ ...base, out: join(directory, "whole") });
    const whole = await readTree(join(directory, "whole"));
    const out = join(directory, "shared");
    const controller = new AbortController();
    const stopped: GenerateOptions = {
      ...base,
      out,
      share: { index: 0, count: 2 },
      signal: controller.signal,
      onProgress: (p) => p.stage === "render" && p.done >= 5 && controller.abort(),
    };
    await assert.rejects(generateDataset(stopped));
    assert.ok((await readTree(out)).has("part-00000-of-00002.progress.jsonl"));

    // Another spec (seed) in the same folder: refused, naming the options.
    await assert.rejects(
      generateDataset({ ...base, seed: 3, out, share: { index: 1, count: 2 } }),
      (error: Error) =>
        error instanceof Vec2FaceError && error.code === "resume-mismatch" && /`seed` 3.*`seed` 2/.test(error.message),
    );
    const first = await generateDataset({ ...base, out, share: { index: 0, count: 2 } });
    assert.ok(first.kept === 4 && first.images === 8 && !first.complete, JSON.stringify(first));
    const second = await generateDataset({ ...base, out, share: { index: 1, count: 2 } });
    assert.ok(second.complete);
    assertSameTree(await readTree(out), whole);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("shares: folder and RecordIO formats, overwrite and foreign files are refused", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "native" });
  const directory = await Deno.makeTempDir();
  try {
    const base = { pack, ids: 4, perId: 1, shardSize: 1, share: { index: 0, count: 2 } };
    for (const format of ["folder", "recordio"] as const) {
      await assert.rejects(
        generateDataset({ ...base, format, out: join(directory, format) }),
        new RegExp(`format ${format}: current format has no shards`),
      );
    }
    await assert.rejects(
      generateDataset({ ...base, format: "zip", out: directory, overwrite: true }),
      /Cannot use `share` with `overwrite`/,
    );
    await assert.rejects(
      generateDataset({ ...base, format: "zip", out: directory, share: { index: 0, count: 5 } }),
      /among 5 workers/,
    );
    await Deno.writeTextFile(join(directory, "notes.txt"), "mine");
    await assert.rejects(
      generateDataset({ ...base, format: "zip", out: directory }),
      (error: Error) => error instanceof Vec2FaceError && /holds notes\.txt/.test(error.message),
    );
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
