import assert from "node:assert/strict";
import { join } from "node:path";
import { readTree } from "../_test_tree.ts";
import { decodeBank } from "../bank.ts";
import { sampleInput } from "../dataset.ts";
import { edit as editVector } from "../edit.ts";
import type { ManifestRow } from "../journal.ts";
import { loadPack } from "../model_pack.ts";
import { Random, STREAM_TAGS } from "../random.ts";
import { generateDataset } from "./generate.ts";
import { manifestRow } from "./writers.ts";

const rowsOf = (text: string): ManifestRow[] => text.trim().split("\n").map((line) => JSON.parse(line));

Deno.test("manifestRow: an unedited sample's row has exactly the five keys; an edited one's ends with its edit", () => {
  const sample = { identity: 3, image: 1, sigma: 0.079, path: "000003/001.jpg", bytes: new Uint8Array(), sha256: "cd" };
  const plain = JSON.stringify(manifestRow(sample, "shard-00001.zip#000003/001.jpg"));
  assert.equal(plain, '{"identity":3,"image":1,"sigma":0.079,"file":"shard-00001.zip#000003/001.jpg","sha256":"cd"}');
  assert.equal(JSON.stringify(manifestRow({ ...sample, edit: undefined }, sample.path)).includes("edit"), false);
  const edited = {
    targets: { yaw: 25, gender: 1 },
    status: "unreached" as const,
    measured: { yaw: 18.5, landmarkYaw: 16, gender: 0.7 },
    identity: 0.71,
    calls: 40,
  };
  const row = manifestRow({ ...sample, edit: edited }, sample.path);
  assert.deepEqual(Object.keys(row), ["identity", "image", "sigma", "file", "sha256", "edit"]);
  assert.deepEqual(row.edit, edited);
});

Deno.test("edited dataset: every row records what its image's edit reached, and a resumed run keeps the rows", async () => {
  // The fixture pack has no pose or attribute models to edit with: the default pack, with a tiny budget.
  await using pack = await loadPack(undefined, { device: "wasm" });
  const directory = await Deno.makeTempDir();
  try {
    const targets = { yaw: 25, age: 40 };
    // One image per batch: an abort is heard between images (a batch's edits all run before its first image).
    const edit = { targets, budget: 4 };
    const base = { pack, ids: 2, perId: 2, seed: 6, format: "folder" as const, batchSize: 1, edit };
    const reference = join(directory, "reference");
    await generateDataset({ ...base, out: reference });
    const rows = rowsOf(await Deno.readTextFile(join(reference, "manifest.jsonl")));
    assert.equal(rows.length, 4);
    for (const row of rows) {
      const { edit: record } = row;
      assert.ok(record, `row ${row.file} has no edit`);
      assert.deepEqual(Object.keys(row), ["identity", "image", "sigma", "file", "sha256", "edit"]);
      assert.deepEqual(record.targets, targets);
      assert.deepEqual(Object.keys(record.measured).sort(), ["age", "landmarkYaw", "yaw"]);
      assert.ok(record.calls >= 1 && record.calls <= 4, `calls ${record.calls}`);
    }

    // The same search run on its own (image 1 of identity 1: its vector, mask and stream) measures the same.
    const bank = decodeBank(await Deno.readFile(join(reference, "identities.npy")));
    const input = sampleInput(pack, bank, 2, 6, 1, 1);
    const alone = await editVector(input.vector, targets, {
      pack,
      mask: input.mask,
      random: Random.from(6, STREAM_TAGS.edit, 1, 1),
      budget: 4,
    });
    const last = rows[3].edit!;
    assert.equal(last.status, alone.status);
    assert.equal(last.calls, alone.calls);
    assert.ok(Math.abs(last.identity - alone.identity) <= 5e-5, `identity ${last.identity} vs ${alone.identity}`);
    assert.ok(Math.abs(last.measured.yaw! - alone.attributes.yaw) <= 5e-5, `yaw ${last.measured.yaw}`);
    assert.ok(Math.abs(last.measured.age! - alone.attributes.age) <= 5e-5, `age ${last.measured.age}`);
    assert.ok(Math.abs(last.measured.landmarkYaw! - alone.attributes.landmarkYaw!) <= 5e-5);

    // Stopped during identity 1: identity 0's rows are journaled with their edits and kept by the resume.
    const out = join(directory, "out");
    const controller = new AbortController();
    await assert.rejects(generateDataset({
      ...base,
      out,
      signal: controller.signal,
      onProgress: (progress) => progress.stage === "render" && progress.done >= 3 && controller.abort(),
    }));
    const journaled = (await Deno.readTextFile(join(out, "progress.jsonl"))).split("\n")
      .filter((line) => line.startsWith('{"unit":0'))
      .map((line) => JSON.parse(line).rows as ManifestRow[]);
    assert.deepEqual(journaled.at(-1), rows.slice(0, 2));
    const resumed = await generateDataset({ ...base, out, resume: true });
    assert.equal(resumed.kept, 2);
    const expected = await readTree(reference);
    const actual = await readTree(out);
    assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
    for (const [path, bytes] of expected) assert.deepEqual(actual.get(path), bytes, `${path} differs`);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
