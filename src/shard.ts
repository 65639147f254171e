/**
 * Zip shards as a WHATWG stream: files in, zip bytes out, written while the
 * files arrive (entries are STOREd: JPEG does not compress further).
 *
 * @module
 */
import { Zip, ZipPassThrough } from "fflate";

/** One file to put in a shard. */
export interface ShardEntry {
  /** Path inside the zip, `/`-separated. */
  path: string;
  /** File contents. */
  bytes: Uint8Array;
}

// A fixed timestamp keeps shards byte-identical across runs. fflate reads the
// date's local-time fields, so build it from local fields too (any time zone).
const FIXED_MTIME = new Date(2020, 0, 1, 0, 0, 0);

/**
 * The zip of a shard, one entry at a time, synchronously: each call returns
 * the bytes it completes. {@linkcode ZipShardStream} is this as a stream; a
 * caller that must not read ahead (the HTTP handler renders an entry only
 * when its bytes are wanted) uses it directly.
 *
 * @example One entry, then the central directory
 * ```ts
 * import assert from "node:assert/strict";
 * import { ZipShardWriter } from "./shard.ts";
 * const zip = new ZipShardWriter();
 * const head = zip.add({ path: "000000/000.jpg", bytes: new Uint8Array([1, 2, 3]) });
 * const tail = zip.end();
 * assert.equal(head[0][0], 0x50); // "PK"
 * assert.ok(tail.length > 0); // then the central directory
 * ```
 */
export class ZipShardWriter {
  #zip: Zip;
  #chunks: Uint8Array[] = [];
  #failure: Error | undefined;

  /** Starts an empty zip. */
  constructor() {
    this.#zip = new Zip((error, chunk) => {
      if (error) this.#failure = error;
      else if (chunk.length > 0) this.#chunks.push(chunk);
    });
  }

  /** Adds an entry (STOREd, fixed time); returns the bytes written for it. */
  add(entry: ShardEntry): Uint8Array[] {
    if (typeof entry?.path !== "string" || !(entry.bytes instanceof Uint8Array)) {
      throw new TypeError(
        `Cannot add a zip entry as ${JSON.stringify(entry?.path)}: current value is not {path, bytes}`,
      );
    }
    const file = new ZipPassThrough(entry.path);
    file.mtime = FIXED_MTIME;
    this.#zip.add(file);
    file.push(entry.bytes, true);
    return this.#take();
  }

  /** Ends the zip; returns its last bytes (the central directory). */
  end(): Uint8Array[] {
    this.#zip.end();
    return this.#take();
  }

  #take(): Uint8Array[] {
    if (this.#failure) throw this.#failure;
    return this.#chunks.splice(0);
  }
}

/**
 * A `TransformStream` of {@linkcode ShardEntry} to zip bytes. Deterministic:
 * the same entries give the same bytes.
 *
 * @example A one-entry zip as a stream
 * ```ts
 * import assert from "node:assert/strict";
 * import { ZipShardStream } from "./shard.ts";
 * const entries = ReadableStream.from([{ path: "000000/000.jpg", bytes: new Uint8Array([1, 2, 3]) }]);
 * const zip = new Uint8Array(await new Response(entries.pipeThrough(new ZipShardStream())).arrayBuffer());
 * assert.deepEqual([zip[0], zip[1]], [0x50, 0x4b]); // "PK"
 * ```
 */
export class ZipShardStream extends TransformStream<ShardEntry, Uint8Array> {
  /** Creates a shard stream. */
  constructor() {
    const zip = new ZipShardWriter();
    super({
      transform(entry, controller) {
        for (const chunk of zip.add(entry)) controller.enqueue(chunk);
      },
      flush(controller) {
        for (const chunk of zip.end()) controller.enqueue(chunk);
      },
    });
  }
}
