/**
 * WebDataset shards: POSIX ustar archives written as a WHATWG stream, one
 * `{identity:06d}_{image:03d}` key per image with a `.jpg` and a `.json`
 * member. Headers are deterministic (fixed mtime, owner 0:0, mode 0644), so
 * the same entries give the same bytes on every run and host.
 *
 * @module
 */
import type { ShardEntry } from "./shard.ts";

const BLOCK = 512;
/** 2020-01-01T00:00:00Z, the same instant the zip shards use (seconds). */
const FIXED_MTIME = 1577836800;
/** The largest member size ustar's 11 octal digits hold (8 GiB - 1). */
const MAX_SIZE = 8 ** 11 - 1;

const encoder = new TextEncoder();

function octal(header: Uint8Array, offset: number, width: number, value: number): void {
  // width - 1 zero-padded octal digits and a NUL, as GNU tar and Python write them.
  header.set(encoder.encode(value.toString(8).padStart(width - 1, "0")), offset);
}

/** Splits a path into ustar's name (100 bytes) and prefix (155 bytes) fields. */
function splitPath(path: string): [Uint8Array, Uint8Array] {
  const bytes = encoder.encode(path);
  if (bytes.length <= 100) return [bytes, new Uint8Array(0)];
  for (let cut = bytes.lastIndexOf(0x2f); cut > 0; cut = bytes.lastIndexOf(0x2f, cut - 1)) {
    if (cut <= 155 && bytes.length - cut - 1 <= 100 && bytes.length - cut - 1 > 0) {
      return [bytes.subarray(cut + 1), bytes.subarray(0, cut)];
    }
  }
  throw new RangeError(
    `Cannot add a tar entry as ${JSON.stringify(path)}: current path is ${bytes.length} bytes, over ustar's limits`,
  );
}

/**
 * The 512-byte ustar header of a regular file of `size` bytes at `path`.
 *
 * @example Header of a three-byte file
 * ```ts
 * import assert from "node:assert/strict";
 * import { tarHeader } from "./webdataset.ts";
 * const header = tarHeader("000000_000.jpg", 3);
 * assert.equal(header.length, 512);
 * assert.equal(new TextDecoder().decode(header.subarray(257, 262)), "ustar");
 * ```
 */
export function tarHeader(path: string, size: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_SIZE) {
    throw new RangeError(`Cannot add a tar entry of ${size} bytes: current value is not an integer in 0..${MAX_SIZE}`);
  }
  if (path.length === 0 || path.includes("\0")) {
    throw new TypeError(`Cannot add a tar entry as ${JSON.stringify(path)}: current path is empty or holds NUL`);
  }
  const [name, prefix] = splitPath(path);
  const header = new Uint8Array(BLOCK);
  header.set(name, 0);
  octal(header, 100, 8, 0o644); // mode
  octal(header, 108, 8, 0); // uid
  octal(header, 116, 8, 0); // gid
  octal(header, 124, 12, size);
  octal(header, 136, 12, FIXED_MTIME);
  header[156] = 0x30; // typeflag '0': regular file
  header.set(encoder.encode("ustar\0"), 257);
  header.set(encoder.encode("00"), 263);
  octal(header, 329, 8, 0); // devmajor
  octal(header, 337, 8, 0); // devminor
  header.set(prefix, 345);
  // The checksum is the byte sum with its own field read as eight spaces.
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.set(encoder.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return header;
}

/**
 * A `TransformStream` of {@linkcode ShardEntry} to ustar bytes: one chunk per
 * entry (header, contents, zero padding to 512 bytes), and the two zero blocks
 * that end the archive on close. Deterministic: the same entries give the same
 * bytes (mtime 2020-01-01, owner 0:0, mode 0644, no user or group names).
 *
 * @example Write a one-file shard
 * ```ts
 * import assert from "node:assert/strict";
 * import { TarShardStream } from "./webdataset.ts";
 * const entries = ReadableStream.from([{ path: "000000_000.jpg", bytes: new Uint8Array([1, 2, 3]) }]);
 * const tar = new Uint8Array(await new Response(entries.pipeThrough(new TarShardStream())).arrayBuffer());
 * assert.equal(tar.length, 512 + 512 + 1024); // header, padded contents, end of archive
 * ```
 */
export class TarShardStream extends TransformStream<ShardEntry, Uint8Array> {
  /** Creates a tar stream. */
  constructor() {
    super({
      transform(entry, controller) {
        if (typeof entry?.path !== "string" || !(entry.bytes instanceof Uint8Array)) {
          throw new TypeError(
            `Cannot add a tar entry as ${JSON.stringify(entry?.path)}: current value is not {path, bytes}`,
          );
        }
        const header = tarHeader(entry.path, entry.bytes.length);
        const padded = Math.ceil(entry.bytes.length / BLOCK) * BLOCK;
        const chunk = new Uint8Array(BLOCK + padded);
        chunk.set(header, 0);
        chunk.set(entry.bytes, BLOCK);
        controller.enqueue(chunk);
      },
      flush(controller) {
        controller.enqueue(new Uint8Array(2 * BLOCK));
      },
    });
  }
}

/**
 * The WebDataset key of image `image` of identity `identity`:
 * `{identity:06d}_{image:03d}`.
 *
 * @example Key of image 3 of identity 12
 * ```ts
 * import assert from "node:assert/strict";
 * import { webDatasetKey } from "./webdataset.ts";
 * assert.equal(webDatasetKey(12, 3), "000012_003");
 * ```
 */
export function webDatasetKey(identity: number, image: number): string {
  return `${String(identity).padStart(6, "0")}_${String(image).padStart(3, "0")}`;
}

/**
 * What {@linkcode webDatasetEntries} needs of a sample (a `DatasetSample` has it).
 */
export interface WebDatasetSample {
  /** Identity index (the class label). */
  identity: number;
  /** Image index within the identity. */
  image: number;
  /** Noise sigma used. */
  sigma: number;
  /** JPEG bytes. */
  bytes: Uint8Array;
}

/**
 * The two tar members of one sample: `KEY.jpg` (the JPEG) and `KEY.json`
 * (`{"identity", "image", "sigma"}`), in that order.
 *
 * @example The members of one sample
 * ```ts
 * import assert from "node:assert/strict";
 * import { webDatasetEntries } from "./webdataset.ts";
 * const [jpg, json] = webDatasetEntries({ identity: 1, image: 0, sigma: 0.5, bytes: new Uint8Array([0xff]) });
 * assert.equal(jpg.path, "000001_000.jpg");
 * assert.equal(json.path, "000001_000.json");
 * assert.equal(JSON.parse(new TextDecoder().decode(json.bytes)).identity, 1);
 * ```
 */
export function webDatasetEntries(sample: WebDatasetSample): [ShardEntry, ShardEntry] {
  const { identity, image, sigma, bytes } = sample;
  const key = webDatasetKey(identity, image);
  const json = encoder.encode(JSON.stringify({ identity, image, sigma }));
  return [{ path: `${key}.jpg`, bytes }, { path: `${key}.json`, bytes: json }];
}

function readOctal(header: Uint8Array, offset: number, width: number): number {
  const text = new TextDecoder().decode(header.subarray(offset, offset + width)).replace(/[\0 ]+$/, "").trim();
  return text === "" ? 0 : parseInt(text, 8);
}

/**
 * The regular files of a tar archive (ustar, as {@linkcode TarShardStream}
 * writes, or GNU / POSIX tar: other member types such as folders and pax
 * headers are skipped), by path, in archive order. Member bytes are views
 * into `bytes`.
 *
 * @example Read back a one-file shard
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTar, TarShardStream } from "./webdataset.ts";
 * const entries = ReadableStream.from([{ path: "000000_000.jpg", bytes: new Uint8Array([1, 2, 3]) }]);
 * const tar = new Uint8Array(await new Response(entries.pipeThrough(new TarShardStream())).arrayBuffer());
 * assert.equal(readTar(tar).get("000000_000.jpg")!.join(), "1,2,3");
 * ```
 */
export function readTar(bytes: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const decoder = new TextDecoder();
  const field = (header: Uint8Array, offset: number, width: number) => {
    const raw = header.subarray(offset, offset + width);
    const end = raw.indexOf(0);
    return decoder.decode(end < 0 ? raw : raw.subarray(0, end));
  };
  for (let offset = 0; offset < bytes.length;) {
    if (offset + BLOCK > bytes.length) {
      throw new RangeError(`Cannot read a tar header at byte ${offset}: current archive ends inside it`);
    }
    const header = bytes.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break; // end of archive
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
    if (sum !== readOctal(header, 148, 8)) {
      throw new RangeError(`Cannot read a tar header at byte ${offset}: current checksum does not match`);
    }
    const size = readOctal(header, 124, 12);
    const start = offset + BLOCK;
    if (start + size > bytes.length) {
      throw new RangeError(
        `Cannot read tar member ${JSON.stringify(field(header, 0, 100))}: current archive ends ${
          start + size - bytes.length
        } bytes short`,
      );
    }
    const type = header[156];
    if (type === 0x30 || type === 0) {
      // POSIX ustar keeps long paths' folders in a prefix field (GNU's old format uses those bytes otherwise).
      const prefix = field(header, 257, 6) === "ustar" ? field(header, 345, 155) : "";
      const name = field(header, 0, 100);
      files.set(prefix ? `${prefix}/${name}` : name, bytes.subarray(start, start + size));
    }
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}
