import assert from "node:assert/strict";
import { join } from "node:path";
import { Vec2FaceError } from "./errors.ts";
import { type ManifestRow, ProgressJournal, type RunSpec, specDifferences } from "./journal.ts";

const SPEC: RunSpec = {
  version: 1,
  ids: 4,
  perId: 2,
  seed: 1,
  format: "zip",
  shardSize: 2,
  threshold: 0.5,
  pack: "a".repeat(64),
  backend: "wasm",
  bank: "sampled",
};

const row = (identity: number, image: number) => ({ identity, image, sigma: 0.3, file: "f", sha256: "00" });

Deno.test("journal: spec, bank and units survive reopening; a later line for a unit wins", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const path = join(directory, "progress.jsonl");
    const journal = await ProgressJournal.create(path, SPEC);
    await journal.appendBank({ npy: "1", json: "2" });
    await journal.appendUnit({ unit: 0, rows: [row(0, 0)], file: "shard-00000.zip", sha256: "old", bytes: 1 });
    await journal.appendUnit({ unit: 1, rows: [row(2, 0), row(2, 1)] });
    await journal.appendUnit({ unit: 0, rows: [row(0, 0)], file: "shard-00000.zip", sha256: "new", bytes: 1 });
    assert.equal((await journal.unit(0))?.sha256, "new");
    journal.close();
    assert.ok(!(await Array.fromAsync(Deno.readDir(directory))).some((entry) => entry.name.endsWith(".tmp")));

    const reopened = await ProgressJournal.open(path);
    assert.deepEqual(reopened.spec, SPEC);
    assert.deepEqual(reopened.bank, { npy: "1", json: "2" });
    assert.equal((await reopened.unit(0))?.sha256, "new");
    assert.deepEqual((await reopened.unit(1))?.rows, [row(2, 0), row(2, 1)]);
    assert.equal(await reopened.unit(2), undefined);
    reopened.close();
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("journal: a torn or garbled tail is cut off, and appends go on after the last good line", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const path = join(directory, "progress.jsonl");
    const journal = await ProgressJournal.create(path, SPEC);
    await journal.appendUnit({ unit: 0, rows: [row(0, 0)] });
    journal.close();
    const good = (await Deno.stat(path)).size;

    // A kill during an append: half a line, no newline.
    const line = JSON.stringify({ unit: 1, rows: [row(2, 0)] });
    await Deno.writeTextFile(path, line.slice(0, 20), { append: true });
    let reopened = await ProgressJournal.open(path);
    assert.equal(await reopened.unit(1), undefined);
    assert.equal((await Deno.stat(path)).size, good);
    await reopened.appendUnit({ unit: 1, rows: [row(2, 0)] });
    reopened.close();
    reopened = await ProgressJournal.open(path);
    assert.deepEqual((await reopened.unit(1))?.rows, [row(2, 0)]);
    reopened.close();

    // Lost writes after a power cut read as zeros: that line and all after it go.
    await Deno.writeFile(path, new Uint8Array(10), { append: true });
    await Deno.writeTextFile(path, "\n" + JSON.stringify({ unit: 3, rows: [] }) + "\n", { append: true });
    reopened = await ProgressJournal.open(path);
    assert.equal(await reopened.unit(3), undefined);
    assert.deepEqual((await reopened.unit(1))?.rows, [row(2, 0)]);
    reopened.close();
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("journal: edited rows come back with their edit records, number for number", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const path = join(directory, "progress.jsonl");
    const edited: ManifestRow[] = [0, 1].map((image) => ({
      ...row(0, image),
      edit: {
        targets: { yaw: 25, gender: 1 },
        status: image === 0 ? "reached" : "unreached",
        measured: { yaw: 24.1234 - image * 9.87, landmarkYaw: 22.5, gender: 0.9876 },
        identity: 0.8312,
        calls: 37 + image,
      },
    }));
    const journal = await ProgressJournal.create(path, { ...SPEC, edit: JSON.stringify({ targets: { yaw: 25 } }) });
    await journal.appendUnit({ unit: 0, rows: edited });
    journal.close();
    const reopened = await ProgressJournal.open(path);
    assert.deepEqual((await reopened.unit(0))?.rows, edited);
    reopened.close();
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("journal: a file that does not start with a spec is refused", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const path = join(directory, "progress.jsonl");
    await Deno.writeTextFile(path, '{"unit":0,"rows":[]}\n');
    const error = await ProgressJournal.open(path).catch((error) => error);
    assert.ok(error instanceof Vec2FaceError && error.code === "resume-mismatch");
    assert.match(error.message, /Cannot resume from .*progress\.jsonl: current file does not start with a run spec/);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("spec differences name the options", () => {
  assert.deepEqual(specDifferences(SPEC, { ...SPEC }), { wanted: [], found: [] });
  const found: RunSpec = { ...SPEC, ids: 5, format: "folder", shardSize: null, pack: "b".repeat(64), bank: "c" };
  assert.deepEqual(specDifferences(SPEC, found), {
    wanted: ["`ids` 4", "`format` zip", "`shardSize` 2", "`pack` (manifest sha256 aaaaaaaaaaaa)", "no `bank`"],
    found: ["`ids` 5", "`format` folder", "no shards", "`pack` (manifest sha256 bbbbbbbbbbbb)", "`bank` (sha256 c)"],
  });
  assert.deepEqual(specDifferences(SPEC, { ...SPEC, backend: "native" }).found, ["`backend` native"]);
});
