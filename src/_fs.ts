/**
 * File helpers shared by the dataset writers, the journal and the readers:
 * existence, atomic writes (a temporary name renamed when complete), exact
 * reads and writes at offsets, and buffered line appends.
 *
 * @module
 */

/**
 * Whether `path` exists (a link counts, whatever it points to).
 *
 * @example A folder that exists, and a path that does not
 * ```ts
 * import assert from "node:assert/strict";
 * import { exists } from "./_fs.ts";
 * const directory = await Deno.makeTempDir();
 * assert.equal(await exists(directory), true);
 * assert.equal(await exists(`${directory}/none`), false);
 * await Deno.remove(directory);
 * ```
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Writes a file under `{path}.{temporary}` (default `tmp`) and renames it to
 * `path` when complete, so `path` is never half-written.
 *
 * @example Bytes, text or a stream
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeAtomic } from "./_fs.ts";
 * const directory = await Deno.makeTempDir();
 * await writeAtomic(`${directory}/a.txt`, "hello\n");
 * await writeAtomic(`${directory}/b.bin`, ReadableStream.from([new Uint8Array([1, 2])]));
 * assert.equal(await Deno.readTextFile(`${directory}/a.txt`), "hello\n");
 * assert.deepEqual(await Deno.readFile(`${directory}/b.bin`), new Uint8Array([1, 2]));
 * await Deno.remove(directory, { recursive: true });
 * ```
 */
export async function writeAtomic(
  path: string,
  data: Uint8Array | string | ReadableStream<Uint8Array>,
  temporary = "tmp",
): Promise<void> {
  const partial = `${path}.${temporary}`;
  if (typeof data === "string") await Deno.writeTextFile(partial, data);
  else await Deno.writeFile(partial, data);
  await Deno.rename(partial, path);
}

/**
 * The bytes of `parts`, one after the other, in one array.
 *
 * @example Two parts joined
 * ```ts
 * import assert from "node:assert/strict";
 * import { concatBytes } from "./_fs.ts";
 * assert.deepEqual(concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]), new Uint8Array([1, 2, 3]));
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Writes all of `bytes` to an open file (`write` may write fewer).
 *
 * @example Exact reads, and a file that ends too soon
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeAll } from "./_fs.ts";
 * const path = await Deno.makeTempFile();
 * using file = await Deno.open(path, { write: true });
 * await writeAll(file, new Uint8Array(100_000));
 * assert.equal((await Deno.stat(path)).size, 100_000);
 * await Deno.remove(path);
 * ```
 */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) written += await file.write(bytes.subarray(written));
}

/**
 * Reads exactly `length` bytes at `offset`; a shorter file is a `RangeError`
 * naming `name`.
 *
 * @example Writing many bytes to an open file
 * ```ts
 * import assert from "node:assert/strict";
 * import { readAt } from "./_fs.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array([1, 2, 3, 4]));
 * using file = await Deno.open(path);
 * assert.deepEqual(await readAt(file, 1, 2, "x"), new Uint8Array([2, 3]));
 * await assert.rejects(readAt(file, 2, 4, "x"), /Cannot read 4 bytes at 2 of x: current file ends 2 short/);
 * await Deno.remove(path);
 * ```
 */
export async function readAt(file: Deno.FsFile, offset: number, length: number, name: string): Promise<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  const out = new Uint8Array(length);
  for (let done = 0; done < length;) {
    const n = await file.read(out.subarray(done));
    if (n === null) {
      throw new RangeError(
        `Cannot read ${length} bytes at ${offset} of ${name}: current file ends ${length - done} short`,
      );
    }
    done += n;
  }
  return out;
}

/**
 * Buffered appends to an open file (the manifest, `train.idx`): few system
 * calls for many short lines.
 *
 * @example Two lines, buffered
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineSink } from "./_fs.ts";
 * const path = await Deno.makeTempFile();
 * const sink = new LineSink(await Deno.open(path, { write: true }));
 * await sink.write("a\n");
 * await sink.write("b\n");
 * await sink.close();
 * assert.equal(await Deno.readTextFile(path), "a\nb\n");
 * await Deno.remove(path);
 * ```
 */
export class LineSink {
  #file: Deno.FsFile;
  #buffer = new Uint8Array(1 << 16);
  #used = 0;
  #encoder = new TextEncoder();

  /** Appends to `file` (closed by {@linkcode LineSink.close}). */
  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /** Appends `text` (buffered). */
  async write(text: string): Promise<void> {
    const bytes = this.#encoder.encode(text);
    if (this.#used + bytes.length > this.#buffer.length) await this.flush();
    if (bytes.length > this.#buffer.length) return await writeAll(this.#file, bytes);
    this.#buffer.set(bytes, this.#used);
    this.#used += bytes.length;
  }

  /** Writes what is buffered. */
  async flush(): Promise<void> {
    await writeAll(this.#file, this.#buffer.subarray(0, this.#used));
    this.#used = 0;
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.#file.close();
    }
  }

  /** Closes the file without flushing (after a failure: the file is rewritten on resume). */
  abandon(): void {
    try {
      this.#file.close();
    } catch { /* already closed */ }
  }
}
