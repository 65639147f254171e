import assert from "node:assert/strict";
import { join } from "node:path";
import { generateDataset } from "./dataset/generate.ts";
import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
import {
  frameRecord,
  headerRecord,
  identityRecord,
  imageRecordIndex,
  packRecord,
  parseRecordIndex,
  propertyText,
  RECORDIO_MAGIC,
  RecordIOStream,
  unpackRecord,
} from "./recordio.ts";

// A reader written to the layout insightface reads, independent of the writer:
// dmlc-core's RecordIOReader::NextRecord, mx.recordio.unpack, MXIndexedRecordIO's
// index, and arcface_torch's MXFaceDataset.

/** dmlc-core: read one record at `offset`, joining split parts; returns the payload and the next offset. */
function readRecord(rec: Uint8Array, offset: number): { payload: Uint8Array; next: number } {
  const view = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
  const parts: Uint8Array[] = [];
  for (;;) {
    assert.equal(view.getUint32(offset, true), 0xced7230a, `magic at ${offset}`);
    const word = view.getUint32(offset + 4, true);
    const cflag = word >>> 29;
    const length = word & ((1 << 29) - 1);
    parts.push(rec.subarray(offset + 8, offset + 8 + length));
    offset += 8 + (((length + 3) >>> 2) << 2);
    if (cflag === 0 || cflag === 3) break;
    parts.push(new Uint8Array([0x0a, 0x23, 0xd7, 0xce])); // the magic the writer cut out
  }
  const payload = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    payload.set(part, at);
    at += part.length;
  }
  return { payload, next: offset };
}

/** mx.recordio.unpack: IRHeader 'IfQQ', then `flag` float32 labels when flag > 0, then the image. */
function unpack(
  payload: Uint8Array,
): { flag: number; label: number | number[]; id: bigint; id2: bigint; img: Uint8Array } {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const flag = view.getUint32(0, true);
  let label: number | number[] = view.getFloat32(4, true);
  const id = view.getBigUint64(8, true);
  const id2 = view.getBigUint64(16, true);
  let rest = 24;
  if (flag > 0) {
    label = Array.from({ length: flag }, (_, k) => view.getFloat32(24 + 4 * k, true));
    rest += 4 * flag;
  }
  return { flag, label, id, id2, img: payload.subarray(rest) };
}

/** MXIndexedRecordIO: `key\tpos` lines. */
function readIndex(text: string): Map<number, number> {
  const index = new Map<number, number>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const [key, position] = line.trim().split("\t");
    index.set(Number(key), Number(position));
  }
  return index;
}

/** arcface_torch MXFaceDataset: header0 from record 0, images 1..label[0]-1, each with a class label. */
function mxFaceDataset(rec: Uint8Array, idx: string) {
  const index = readIndex(idx);
  const read = (key: number) => unpack(readRecord(rec, index.get(key)!).payload);
  const header = read(0);
  assert.ok(header.flag > 0);
  const [first, end] = header.label as number[];
  const header0 = [Math.trunc(first), Math.trunc(end)];
  const imgidx = Array.from({ length: header0[0] - 1 }, (_, k) => k + 1);
  const items = imgidx.map((key) => {
    const { label, img } = read(key);
    return { label: Math.trunc(typeof label === "number" ? label : label[0]), img };
  });
  return { header0, items, read, index };
}

Deno.test("RecordIO records: IRHeader as struct 'IfQQ', label vectors, frames padded to 4 bytes", () => {
  const record = packRecord({ label: 7, id: 2 ** 40 + 3, id2: 1, bytes: new Uint8Array([1, 2, 3]) });
  const view = new DataView(record.buffer);
  assert.equal(record.length, 27);
  assert.deepEqual(
    [view.getUint32(0, true), view.getFloat32(4, true), view.getBigUint64(8, true), view.getBigUint64(16, true)],
    [0, 7, 2n ** 40n + 3n, 1n],
  );
  const ranged = unpack(packRecord(headerRecord(100, 20)));
  assert.deepEqual([ranged.flag, ranged.label, ranged.id, ranged.img.length], [2, [2001, 2101], 0n, 0]);
  assert.deepEqual(unpack(packRecord(identityRecord(99, 100, 20))).label, [1981, 2001]);
  assert.equal(packRecord(identityRecord(99, 100, 20)).length, 32);

  const frame = frameRecord(record);
  assert.equal(frame.length, 8 + 28);
  assert.equal(new DataView(frame.buffer).getUint32(0, true), RECORDIO_MAGIC);
  assert.equal(new DataView(frame.buffer).getUint32(4, true), 27);
  assert.deepEqual(frame.subarray(8 + 27), new Uint8Array(1));
  assert.deepEqual(readRecord(frame, 0), { payload: record, next: frame.length });
  assert.equal(propertyText(3, 112, 112), "3,112,112\n");

  assert.throws(
    () => packRecord({ label: NaN, id: 1 }),
    /Cannot pack a RecordIO label NaN: current value is not finite/,
  );
  assert.throws(() => packRecord({ label: 1, id: -1 }), /Cannot pack a RecordIO id -1/);
});

Deno.test("RecordIO frames: a payload holding the magic at a 4-byte boundary is split as dmlc-core does", () => {
  const magic = [0x0a, 0x23, 0xd7, 0xce];
  const payload = new Uint8Array([...magic, 1, 2, 3, 4, ...magic, 5, 6]); // magic at 0 and 8, 14 bytes
  const frame = frameRecord(payload);
  const view = new DataView(frame.buffer);
  // Parts: [cflag 1, 0 bytes], [cflag 2, 4 bytes], [cflag 3, 2 bytes + 2 padding].
  assert.deepEqual(
    [view.getUint32(4, true) >>> 29, view.getUint32(4, true) & 0x1fffffff],
    [1, 0],
  );
  assert.deepEqual([view.getUint32(12, true) >>> 29, view.getUint32(12, true) & 0x1fffffff], [2, 4]);
  assert.deepEqual([view.getUint32(24, true) >>> 29, view.getUint32(24, true) & 0x1fffffff], [3, 2]);
  assert.equal(frame.length, 8 + 12 + 12);
  assert.deepEqual(readRecord(frame, 0).payload, payload);
  // Unaligned magic is left alone.
  const unaligned = new Uint8Array([0, ...magic, 0, 0, 0]);
  assert.equal(frameRecord(unaligned).length, 16);
});

Deno.test("RecordIOStream: one framed chunk per entry; bad entries error the stream", async () => {
  const entries = [{ label: 0, id: 1, bytes: new Uint8Array(5) }, { label: [1, 2], id: 2 }];
  const chunks = await Array.fromAsync(ReadableStream.from(entries).pipeThrough(new RecordIOStream()));
  assert.deepEqual(chunks.map((chunk) => chunk.length), [8 + 32, 8 + 32]);
  const bad = ReadableStream.from([null] as unknown as { label: number; id: number }[]);
  await assert.rejects(Array.fromAsync(bad.pipeThrough(new RecordIOStream())), /Cannot write a RecordIO record/);
});

Deno.test("generate --format recordio: MXFaceDataset's reading gives every image with its label", async () => {
  await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const recOut = await Deno.makeTempDir();
  const folderOut = await Deno.makeTempDir();
  try {
    const options = { pack, ids: 4, perId: 3, seed: 2 };
    const result = await generateDataset({ ...options, out: recOut, format: "recordio", batchSize: 5 });
    assert.equal(result.images, 12);
    await generateDataset({ ...options, out: folderOut });
    const names = (await Array.fromAsync(Deno.readDir(recOut))).map((entry) => entry.name).sort();
    assert.deepEqual(names, [
      "identities.json",
      "identities.npy",
      "manifest.jsonl",
      "property",
      "train.idx",
      "train.rec",
    ]);
    assert.equal(await Deno.readTextFile(join(recOut, "property")), "4,112,112\n");

    const rec = await Deno.readFile(join(recOut, "train.rec"));
    const idx = await Deno.readTextFile(join(recOut, "train.idx"));
    const { header0, items, read, index } = mxFaceDataset(rec, idx);
    assert.deepEqual(header0, [13, 17]);
    assert.equal(items.length, 12); // label count
    assert.equal(new Set(items.map((item) => item.label)).size, 4); // class count
    assert.equal(header0[1] - header0[0], Number((await Deno.readTextFile(join(recOut, "property"))).split(",")[0]));
    for (const [k, item] of items.entries()) {
      const identity = Math.floor(k / 3);
      assert.equal(item.label, identity);
      const folderPath = `${String(identity).padStart(6, "0")}/${String(k % 3).padStart(3, "0")}.jpg`;
      assert.deepEqual(item.img, await Deno.readFile(join(folderOut, folderPath)), folderPath);
    }
    // Identity records: each class's image range.
    for (let identity = 0; identity < 4; identity++) {
      const record = read(header0[0] + identity);
      assert.deepEqual(record.label, [1 + 3 * identity, 4 + 3 * identity]);
      assert.equal(record.id, BigInt(header0[0] + identity));
    }
    // The index holds every record, in file order, and the records tile train.rec exactly.
    assert.deepEqual([...index.keys()], Array.from({ length: 17 }, (_, k) => k));
    let offset = 0;
    for (const [key, position] of index) {
      assert.equal(position, offset, `record ${key}`);
      offset = readRecord(rec, position).next;
    }
    assert.equal(offset, rec.length);
    const rows = (await Deno.readTextFile(join(recOut, "manifest.jsonl"))).trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(rows[11].file, `train.rec#${imageRecordIndex(3, 2, 3)}`);
    assert.equal(rows[11].file, "train.rec#12");
  } finally {
    await Deno.remove(recOut, { recursive: true });
    await Deno.remove(folderOut, { recursive: true });
  }
});

Deno.test("unpackRecord inverts packRecord; parseRecordIndex reads train.idx and refuses other text", () => {
  const image = unpackRecord(packRecord({ label: 12, id: 40, id2: 3, bytes: new Uint8Array([0xff, 0xd8, 7]) }));
  assert.deepEqual({ ...image, bytes: [...image.bytes!] }, { label: 12, id: 40, id2: 3, bytes: [0xff, 0xd8, 7] });
  const header = unpackRecord(packRecord(headerRecord(3, 2)));
  assert.deepEqual(header.label, [7, 10]);
  assert.equal(header.bytes!.length, 0);
  // Agrees with the independent reader above.
  const payload = packRecord({ label: [1.5, 2], id: 9, bytes: new Uint8Array([5]) });
  assert.deepEqual(unpackRecord(payload).label, unpack(payload).label);
  assert.throws(() => unpackRecord(new Uint8Array(10)), /current payload has 10 bytes, under 24/);
  const truncated = packRecord({ label: [1, 2, 3], id: 4 }).subarray(0, 28);
  assert.throws(() => unpackRecord(truncated), /record 4 with 3 labels: current payload has 28 bytes/);
  assert.deepEqual([...parseRecordIndex("0\t0\n1\t36\n\n2 80\n")], [[0, 0], [1, 36], [2, 80]]);
  assert.throws(() => parseRecordIndex("0\t0\nx\t1\n"), /train.idx line 2/);
});
