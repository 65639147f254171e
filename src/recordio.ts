/**
 * insightface RecordIO datasets (`train.rec` + `train.idx` + `property`), the
 * layout arcface_torch's `MXFaceDataset` reads through MXNet's
 * `MXIndexedRecordIO`:
 *
 * - every record is an MXNet RecordIO frame: the magic `0xced7230a`, a word
 *   `cflag << 29 | length`, the payload, zero padding to 4 bytes (a payload
 *   that holds the magic at a 4-byte boundary is split there, as dmlc-core's
 *   writer does, and joined again by readers);
 * - a payload is an `IRHeader` (`flag` uint32, `label` float32, `id` uint64,
 *   `id2` uint64, little-endian, Python struct `IfQQ`), then `flag` float32
 *   labels when `flag > 0`, then the JPEG;
 * - record 0 (flag 2) holds `[N + 1, N + 1 + C]` for N images and C classes;
 *   records `1..N` are the images (label = class); records `N + 1 + c` hold
 *   each class's image range `[first, end)` (as insightface's im2rec tools
 *   write them);
 * - `train.idx` has one line `index\toffset` per record; `property` is
 *   `num_classes,height,width`.
 *
 * @module
 */

/**
 * The RecordIO magic word, little-endian at the start of every frame.
 */
export const RECORDIO_MAGIC = 0xced7230a;

/**
 * Bytes of a packed `IRHeader` (Python struct `IfQQ`).
 *
 * @example A record with a number label and no bytes is just the header
 * ```ts
 * import assert from "node:assert/strict";
 * import { IR_HEADER_SIZE, packRecord } from "./recordio.ts";
 * assert.equal(packRecord({ label: 1, id: 1 }).length, IR_HEADER_SIZE);
 * ```
 */
export const IR_HEADER_SIZE = 24;

/**
 * One record: an `IRHeader` and its payload. A number `label` is written in
 * the header (flag 0); an array of labels goes after the header (flag = its
 * length), as `mx.recordio.pack` does.
 */
export interface RecordIOEntry {
  /** A class label, or a label vector (e.g. a `[first, end)` record range). */
  label: number | number[];
  /** The record's `id` (insightface: the record index). */
  id: number;
  /** The record's `id2`; default 0. */
  id2?: number;
  /** Payload after the header (the JPEG); default none. */
  bytes?: Uint8Array;
}

function checkId(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot pack a RecordIO ${what} ${value}: current value is not a non-negative safe integer`);
  }
}

/**
 * Packs a record payload as `mx.recordio.pack` does: the 24-byte `IRHeader`,
 * then the float32 label vector (if any), then the bytes.
 *
 * @example Pack a record with one byte
 * ```ts
 * import assert from "node:assert/strict";
 * import { packRecord } from "./recordio.ts";
 * const record = packRecord({ label: 2, id: 5, bytes: new Uint8Array([9]) });
 * const view = new DataView(record.buffer);
 * assert.equal(record.length, 25);
 * assert.equal(view.getUint32(0, true), 0);
 * assert.equal(view.getFloat32(4, true), 2);
 * assert.equal(view.getBigUint64(8, true), 5n);
 * assert.equal(record[24], 9);
 * ```
 */
export function packRecord(entry: RecordIOEntry): Uint8Array {
  const labels = Array.isArray(entry.label) ? entry.label : undefined;
  if (labels ? !labels.every(Number.isFinite) : !Number.isFinite(entry.label)) {
    const shown = labels ? `[${labels.join(", ")}]` : String(entry.label);
    throw new RangeError(`Cannot pack a RecordIO label ${shown}: current value is not finite`);
  }
  checkId(entry.id, "id");
  checkId(entry.id2 ?? 0, "id2");
  const bytes = entry.bytes ?? new Uint8Array(0);
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Cannot pack RecordIO record ${entry.id}: current bytes are not a Uint8Array`);
  }
  const extra = labels ? labels.length * 4 : 0;
  const record = new Uint8Array(IR_HEADER_SIZE + extra + bytes.length);
  const view = new DataView(record.buffer);
  view.setUint32(0, labels ? labels.length : 0, true);
  view.setFloat32(4, labels ? 0 : entry.label as number, true);
  view.setBigUint64(8, BigInt(entry.id), true);
  view.setBigUint64(16, BigInt(entry.id2 ?? 0), true);
  labels?.forEach((label, k) => view.setFloat32(IR_HEADER_SIZE + 4 * k, label, true));
  record.set(bytes, IR_HEADER_SIZE + extra);
  return record;
}

/**
 * Frames a payload as dmlc-core's `RecordIOWriter::WriteRecord`: magic, the
 * word `cflag << 29 | length`, the payload and zero padding to 4 bytes. A
 * payload holding the magic at a 4-byte boundary is cut there into parts with
 * cflag 1 (first), 2 (middle) and 3 (last), the magic itself left out.
 *
 * @example Frame a five-byte payload
 * ```ts
 * import assert from "node:assert/strict";
 * import { frameRecord, RECORDIO_MAGIC } from "./recordio.ts";
 * const frame = frameRecord(new Uint8Array([1, 2, 3, 4, 5]));
 * const view = new DataView(frame.buffer);
 * assert.equal(frame.length, 16);
 * assert.equal(view.getUint32(0, true), RECORDIO_MAGIC);
 * assert.equal(view.getUint32(4, true), 5);
 * ```
 */
export function frameRecord(payload: Uint8Array): Uint8Array {
  if (payload.length >= 2 ** 29) {
    throw new RangeError(`Cannot frame a RecordIO record of ${payload.length} bytes: current size is over 2^29 - 1`);
  }
  const cuts: number[] = [];
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  for (let i = 0; i + 4 <= payload.length; i += 4) {
    if (view.getUint32(i, true) === RECORDIO_MAGIC) cuts.push(i);
  }
  const parts: [number, number, number][] = []; // [cflag, start, end]
  let start = 0;
  for (const cut of cuts) {
    parts.push([parts.length === 0 ? 1 : 2, start, cut]);
    start = cut + 4;
  }
  parts.push([cuts.length > 0 ? 3 : 0, start, payload.length]);
  const size = parts.reduce((sum, [, from, to]) => sum + 8 + Math.ceil((to - from) / 4) * 4, 0);
  const frame = new Uint8Array(size);
  const out = new DataView(frame.buffer);
  let offset = 0;
  for (const [cflag, from, to] of parts) {
    out.setUint32(offset, RECORDIO_MAGIC, true);
    out.setUint32(offset + 4, ((cflag << 29) | (to - from)) >>> 0, true);
    frame.set(payload.subarray(from, to), offset + 8);
    offset += 8 + Math.ceil((to - from) / 4) * 4;
  }
  return frame;
}

/**
 * A `TransformStream` of {@linkcode RecordIOEntry} to `train.rec` bytes: each
 * entry becomes exactly one chunk (its framed record), so a writer that adds
 * up chunk lengths knows every record's offset for `train.idx`.
 *
 * @example One entry becomes one framed chunk
 * ```ts
 * import assert from "node:assert/strict";
 * import { RecordIOStream } from "./recordio.ts";
 * const entries = ReadableStream.from([{ label: 0, id: 1, bytes: new Uint8Array(10) }]);
 * const chunks = await Array.fromAsync(entries.pipeThrough(new RecordIOStream()));
 * assert.equal(chunks.length, 1);
 * assert.equal(chunks[0].length, 8 + 36); // frame header + 24 + 10, padded to 36
 * ```
 */
export class RecordIOStream extends TransformStream<RecordIOEntry, Uint8Array> {
  /** Creates a RecordIO stream. */
  constructor() {
    super({
      transform(entry, controller) {
        if (typeof entry !== "object" || entry === null) {
          throw new TypeError(`Cannot write a RecordIO record as ${entry}: current value is not {label, id, bytes}`);
        }
        controller.enqueue(frameRecord(packRecord(entry)));
      },
    });
  }
}

/**
 * The record index of image `image` of identity `identity` in a RecordIO
 * dataset of `perId` images per identity: `1 + identity * perId + image`.
 *
 * @example The first image, and image 5 of identity 2
 * ```ts
 * import assert from "node:assert/strict";
 * import { imageRecordIndex } from "./recordio.ts";
 * assert.equal(imageRecordIndex(0, 0, 20), 1);
 * assert.equal(imageRecordIndex(2, 5, 20), 46);
 * ```
 */
export function imageRecordIndex(identity: number, image: number, perId: number): number {
  return 1 + identity * perId + image;
}

/**
 * Record 0 of a dataset of `ids x perId` images: flag 2, label
 * `[N + 1, N + 1 + ids]` (the range of the identity records), id 0.
 *
 * @example Header record of 3 identities of 2 images
 * ```ts
 * import assert from "node:assert/strict";
 * import { headerRecord } from "./recordio.ts";
 * assert.equal(JSON.stringify(headerRecord(3, 2)), '{"label":[7,10],"id":0}');
 * ```
 */
export function headerRecord(ids: number, perId: number): RecordIOEntry {
  const images = ids * perId;
  return { label: [images + 1, images + 1 + ids], id: 0 };
}

/**
 * The identity record of `identity`: index `N + 1 + identity`, flag 2, label
 * its images' record range `[first, end)`.
 *
 * @example Identity record of the second of 3 identities
 * ```ts
 * import assert from "node:assert/strict";
 * import { identityRecord } from "./recordio.ts";
 * assert.equal(JSON.stringify(identityRecord(1, 3, 2)), '{"label":[3,5],"id":8}');
 * ```
 */
export function identityRecord(identity: number, ids: number, perId: number): RecordIOEntry {
  const first = imageRecordIndex(identity, 0, perId);
  return { label: [first, first + perId], id: ids * perId + 1 + identity };
}

/**
 * The `property` file's text: `num_classes,height,width` and a newline.
 *
 * @example Property file of 100 classes of 112x112 images
 * ```ts
 * import assert from "node:assert/strict";
 * import { propertyText } from "./recordio.ts";
 * assert.equal(propertyText(100, 112, 112), "100,112,112\n");
 * ```
 */
export function propertyText(classes: number, height: number, width: number): string {
  return `${classes},${height},${width}\n`;
}

/**
 * Unpacks a record payload as `mx.recordio.unpack` does: the `IRHeader`
 * (`IfQQ`), then `flag` float32 labels when `flag > 0` (returned as the
 * label array), then the bytes (the JPEG). The inverse of
 * {@linkcode packRecord}; `bytes` is a view into `payload`.
 *
 * @example Unpack an image record and a label-array record
 * ```ts
 * import assert from "node:assert/strict";
 * import { packRecord, unpackRecord } from "./recordio.ts";
 * const record = unpackRecord(packRecord({ label: 3, id: 7, bytes: new Uint8Array([0xff, 0xd8]) }));
 * assert.equal(record.label, 3);
 * assert.equal(record.id, 7);
 * assert.equal(record.bytes!.length, 2);
 * assert.equal((unpackRecord(packRecord({ label: [5, 8], id: 0 })).label as number[])[1], 8);
 * ```
 */
export function unpackRecord(payload: Uint8Array): RecordIOEntry {
  if (!(payload instanceof Uint8Array) || payload.length < IR_HEADER_SIZE) {
    throw new RangeError(
      `Cannot unpack a RecordIO record as an IRHeader: current payload has ${payload?.length} bytes, under ${IR_HEADER_SIZE}`,
    );
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const flag = view.getUint32(0, true);
  const id = Number(view.getBigUint64(8, true));
  const id2 = Number(view.getBigUint64(16, true));
  if (flag === 0) return { label: view.getFloat32(4, true), id, id2, bytes: payload.subarray(IR_HEADER_SIZE) };
  const end = IR_HEADER_SIZE + 4 * flag;
  if (end > payload.length) {
    throw new RangeError(
      `Cannot unpack RecordIO record ${id} with ${flag} labels: current payload has ${payload.length} bytes`,
    );
  }
  const label = Array.from({ length: flag }, (_, k) => view.getFloat32(IR_HEADER_SIZE + 4 * k, true));
  return { label, id, id2, bytes: payload.subarray(end) };
}

/**
 * Parses `train.idx` (`index\toffset` per line, as `MXIndexedRecordIO`
 * writes it) into a map from record index to byte offset in `train.rec`.
 *
 * @example Parse a two-record index
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRecordIndex } from "./recordio.ts";
 * const index = parseRecordIndex("0\t0\n1\t40\n");
 * assert.equal(index.get(1), 40);
 * assert.equal(index.size, 2);
 * ```
 */
export function parseRecordIndex(text: string): Map<number, number> {
  const index = new Map<number, number>();
  text.split("\n").forEach((line, number) => {
    if (line.trim() === "") return;
    const fields = line.trim().split(/\s+/);
    const [key, offset] = fields.map(Number);
    if (fields.length !== 2 || !Number.isSafeInteger(key) || !Number.isSafeInteger(offset) || key < 0 || offset < 0) {
      throw new TypeError(
        `Cannot read train.idx line ${number + 1} as "index<TAB>offset": current line is ${JSON.stringify(line)}`,
      );
    }
    index.set(key, offset);
  });
  return index;
}
