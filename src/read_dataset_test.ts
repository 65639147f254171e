import assert from "node:assert/strict";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { generateDataset } from "./dataset/generate.ts";
import { DATASET_FORMATS } from "./dataset/plan.ts";
import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
import { type DatasetIndex, openDataset, readDataset } from "./read_dataset.ts";
import { frameRecord, packRecord, RECORDIO_MAGIC } from "./recordio.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function readAll(index: DatasetIndex) {
  return await Array.fromAsync(readDataset(index));
}

Deno.test("openDataset + readDataset: every format generate writes, with the bank", async (t) => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const root = await Deno.makeTempDir();
  try {
    for (const format of DATASET_FORMATS) {
      await t.step(format, async () => {
        const out = join(root, format);
        await generateDataset({ pack, out, ids: 3, perId: 2, seed: 5, format, shardSize: 2 });
        const index = await openDataset(out);
        assert.equal(index.layout, format);
        assert.equal(index.manifest, true);
        assert.equal(index.items.length, 6);
        assert.deepEqual(index.items.map((item) => item.identity), [0, 0, 1, 1, 2, 2]);
        assert.deepEqual(index.identityNames, ["0", "1", "2"]);
        assert.equal(index.bank?.length, 3);
        assert.equal(index.bank?.[0].length, 512);
        assert.equal(index.bankInfo?.seed, 5);
        const images = await readAll(index);
        assert.equal(images.length, 6);
        for (const { item, bytes, problem } of images) {
          assert.equal(problem, undefined, item.file);
          assert.equal(sha256(bytes!), item.sha256);
          assert.deepEqual([...bytes!.slice(0, 2)], [0xff, 0xd8]);
        }
      });
    }

    await t.step("recordio without a manifest: classes from the header and class records", async () => {
      const out = join(root, "recordio");
      const before = (await readAll(await openDataset(out))).map((image) => sha256(image.bytes!));
      await Deno.remove(join(out, "manifest.jsonl"));
      const index = await openDataset(out);
      assert.equal(index.layout, "recordio");
      assert.equal(index.manifest, false);
      assert.equal(index.bank, undefined);
      assert.deepEqual(index.items.map((item) => `${item.identity}/${item.image}`), [
        "0/0",
        "0/1",
        "1/0",
        "1/1",
        "2/0",
        "2/1",
      ]);
      assert.deepEqual((await readAll(index)).map((image) => sha256(image.bytes!)), before);
    });

    await t.step("a folder dataset without its manifest reads as an ImageFolder", async () => {
      const out = join(root, "folder");
      await Deno.remove(join(out, "manifest.jsonl"));
      const index = await openDataset(out);
      assert.equal(index.layout, "imagefolder");
      assert.deepEqual(index.identityNames, ["000000", "000001", "000002"]);
      assert.deepEqual(index.items.map((item) => item.file), [
        "000000/000.jpg",
        "000000/001.jpg",
        "000001/000.jpg",
        "000001/001.jpg",
        "000002/000.jpg",
        "000002/001.jpg",
      ]);
    });

    await t.step("missing or changed images are yielded with a problem, not thrown", async () => {
      const out = join(root, "zip");
      const index = await openDataset(out);
      index.items[1] = { ...index.items[1], file: index.items[1].file.replace(/#.*/, "#nothing.jpg") };
      index.items[2] = { ...index.items[2], sha256: "0".repeat(64) };
      index.items[3] = { ...index.items[3], file: "shard-00099.zip#000001/001.jpg" };
      const problems = (await readAll(index)).map((image) => image.problem);
      assert.deepEqual(problems, [
        undefined,
        "nothing.jpg is not in shard-00000.zip",
        "sha256 differs from the manifest's",
        "file is missing",
        undefined,
        undefined,
      ]);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("openDataset: flat photo folders, nested identities, and what it refuses", async (t) => {
  const root = await Deno.makeTempDir();
  try {
    await t.step("a flat folder of photos is one identity; other files are ignored", async () => {
      const flat = join(root, "flat");
      await Deno.mkdir(flat);
      for (const name of ["b.PNG", "a.jpg", "notes.txt"]) await Deno.writeFile(join(flat, name), new Uint8Array([1]));
      const index = await openDataset(flat);
      assert.equal(index.layout, "imagefolder");
      assert.deepEqual(index.items.map((item) => item.file), ["a.jpg", "b.PNG"]);
      assert.deepEqual(index.identityNames, ["flat"]);
    });
    await t.step("identity subfolders: images at any depth; empty subfolders are no identity", async () => {
      const tree = join(root, "tree");
      await Deno.mkdir(join(tree, "zoe", "deep"), { recursive: true });
      await Deno.mkdir(join(tree, "empty"));
      await Deno.writeFile(join(tree, "zoe", "deep", "1.jpg"), new Uint8Array([1]));
      await Deno.writeFile(join(tree, "loose.jpg"), new Uint8Array([1]));
      const index = await openDataset(tree);
      assert.deepEqual(index.identityNames, ["zoe"]);
      assert.deepEqual(index.items, [{ identity: 0, image: 0, file: join("zoe", "deep", "1.jpg") }]);
    });
    await t.step("refusals name the path and the problem", async () => {
      await assert.rejects(openDataset(join(root, "nope")), /nope as a dataset: current path does not exist/);
      const file = join(root, "file.txt");
      await Deno.writeTextFile(file, "x");
      await assert.rejects(openDataset(file), /current path is a file, not a folder/);
      const empty = join(root, "empty-dataset");
      await Deno.mkdir(empty);
      await assert.rejects(openDataset(empty), /holds no manifest.jsonl, train.rec \+ train.idx, or .jpg/);
      const interrupted = join(root, "interrupted");
      await Deno.mkdir(interrupted);
      await Deno.writeTextFile(join(interrupted, "progress.jsonl"), "{}\n");
      await assert.rejects(openDataset(interrupted), /interrupted generate run .*generate --resume/);
      const broken = join(root, "broken");
      await Deno.mkdir(broken);
      await Deno.writeTextFile(join(broken, "manifest.jsonl"), '{"identity":0,"image":0,"file":"a.jpg"}\n{oops\n');
      await assert.rejects(openDataset(broken), /manifest.jsonl line 2 as JSON/);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("openDataset: manifest rows' edit records reach the items; an unedited row's item has none", async () => {
  const root = await Deno.makeTempDir();
  try {
    const edit = {
      targets: { yaw: 25 },
      status: "reached",
      measured: { yaw: 23.5, landmarkYaw: 21 },
      identity: 0.8,
      calls: 9,
    };
    const rows = [
      { identity: 0, image: 0, sigma: 0.05, file: "000000/000.jpg", sha256: "aa", edit },
      { identity: 0, image: 1, sigma: 0.08, file: "000000/001.jpg", sha256: "bb" },
    ];
    await Deno.writeTextFile(join(root, "manifest.jsonl"), rows.map((row) => JSON.stringify(row) + "\n").join(""));
    const index = await openDataset(root);
    assert.deepEqual(index.items[0].edit, edit);
    assert.equal("edit" in index.items[1], false);

    for (
      const bad of [
        { ...edit, status: "done" },
        { ...edit, measured: { yaw: "23" } },
        { ...edit, calls: 1.5 },
        { targets: { yaw: 25 } },
        null,
      ]
    ) {
      await Deno.writeTextFile(join(root, "manifest.jsonl"), JSON.stringify({ ...rows[0], edit: bad }) + "\n");
      await assert.rejects(
        openDataset(root),
        /Cannot read the edit of .*manifest\.jsonl line 1 as \{targets, status, measured, identity, calls\}: current value is /,
      );
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readDataset: RecordIO records split at the magic are joined again; labels without class records", async () => {
  const root = await Deno.makeTempDir();
  try {
    // A foreign RecordIO file: no header record, images labelled 7, 3, 7; the first image holds the magic.
    const magic = new Uint8Array(new Uint32Array([RECORDIO_MAGIC]).buffer);
    const jpegs = [
      new Uint8Array([0xff, 0xd8, 0, 0, ...magic, 1, 2, 3]),
      new Uint8Array([0xff, 0xd8, 9]),
      new Uint8Array([0xff, 0xd8, 8, 8]),
    ];
    const frames = jpegs.map((bytes, k) => frameRecord(packRecord({ label: [7, 3, 7][k], id: k, bytes })));
    let offset = 0;
    const idx: string[] = [];
    frames.forEach((frame, k) => {
      idx.push(`${k}\t${offset}`);
      offset += frame.length;
    });
    const rec = new Uint8Array(offset);
    frames.reduce((at, frame) => (rec.set(frame, at), at + frame.length), 0);
    await Deno.writeFile(join(root, "train.rec"), rec);
    await Deno.writeTextFile(join(root, "train.idx"), idx.join("\n") + "\n");
    const index = await openDataset(root);
    assert.equal(index.layout, "recordio");
    assert.deepEqual(index.items.map((item) => [item.identity, item.image, item.file]), [
      [3, 0, "train.rec#1"],
      [7, 0, "train.rec#0"],
      [7, 1, "train.rec#2"],
    ]);
    const images = await readAll(index);
    assert.deepEqual(images.map((image) => [...image.bytes!]), [[...jpegs[1]], [...jpegs[0]], [...jpegs[2]]]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
