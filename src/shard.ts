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
 * A `TransformStream` of {@linkcode ShardEntry} to zip bytes. Deterministic:
 * the same entries give the same bytes.
 *
 * @example
 * ```ts
 * import { ZipShardStream } from "./shard.ts";
 * const entries = ReadableStream.from([{ path: "000000/000.jpg", bytes: new Uint8Array([1, 2, 3]) }]);
 * const zip = new Uint8Array(await new Response(entries.pipeThrough(new ZipShardStream())).arrayBuffer());
 * console.assert(zip[0] === 0x50 && zip[1] === 0x4b); // "PK"
 * ```
 */
export class ZipShardStream extends TransformStream<ShardEntry, Uint8Array> {
  /** Creates a shard stream. */
  constructor() {
    let zip: Zip;
    let failure: Error | undefined;
    super({
      start(controller) {
        zip = new Zip((error, chunk) => {
          if (error) failure = error;
          else if (chunk.length > 0) controller.enqueue(chunk);
        });
      },
      transform(entry) {
        if (typeof entry?.path !== "string" || !(entry.bytes instanceof Uint8Array)) {
          throw new TypeError(
            `Cannot add a zip entry as ${JSON.stringify(entry?.path)}: current value is not {path, bytes}`,
          );
        }
        const file = new ZipPassThrough(entry.path);
        file.mtime = FIXED_MTIME;
        zip.add(file);
        file.push(entry.bytes, true);
        if (failure) throw failure;
      },
      flush() {
        zip.end();
        if (failure) throw failure;
      },
    });
  }
}
