/**
 * sha256, one way for the whole library: of bytes or text
 * ({@linkcode sha256}), of bytes passing through a stream
 * ({@linkcode Sha256Stream}), and of a file or a byte range of it
 * ({@linkcode sha256File}). Hex digests throughout.
 *
 * @module
 */
import { createHash } from "node:crypto";

/**
 * The sha256 of bytes or text (UTF-8), as hex.
 *
 * @example Bytes and text
 * ```ts
 * import assert from "node:assert/strict";
 * import { sha256 } from "./_hash.ts";
 * assert.equal(sha256(new Uint8Array([1, 2, 3])).slice(0, 8), "039058c6");
 * assert.equal(sha256("abc").slice(0, 8), "ba7816bf");
 * ```
 */
export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * An incremental sha256: {@linkcode Sha256.update} with each piece, then
 * {@linkcode Sha256.digest} once.
 *
 * @example Two pieces hash as one
 * ```ts
 * import assert from "node:assert/strict";
 * import { Sha256, sha256 } from "./_hash.ts";
 * const hash = new Sha256().update(new Uint8Array([1, 2])).update(new Uint8Array([3]));
 * assert.equal(hash.digest(), sha256(new Uint8Array([1, 2, 3])));
 * ```
 */
export class Sha256 {
  #hash = createHash("sha256");

  /** Adds bytes; returns this. */
  update(bytes: Uint8Array): this {
    this.#hash.update(bytes);
    return this;
  }

  /** The hex sha256 of every byte added (call once). */
  digest(): string {
    return this.#hash.digest("hex");
  }
}

/**
 * A pass-through `TransformStream` that hashes the bytes it passes and counts
 * them: {@linkcode Sha256Stream.digest} once the stream has ended.
 *
 * @example Hashing bytes as they stream
 * ```ts
 * import assert from "node:assert/strict";
 * import { sha256, Sha256Stream } from "./_hash.ts";
 * const hashing = new Sha256Stream();
 * const bytes = await new Response(ReadableStream.from([new Uint8Array([1, 2]), new Uint8Array([3])])
 *   .pipeThrough(hashing)).bytes();
 * assert.equal(hashing.bytes, 3);
 * assert.equal(hashing.digest(), sha256(bytes));
 * ```
 */
export class Sha256Stream extends TransformStream<Uint8Array, Uint8Array> {
  #hash = new Sha256();
  #bytes = 0;

  /** A stream that passes its bytes on unchanged. */
  constructor() {
    super({
      transform: (chunk, controller) => {
        this.#hash.update(chunk);
        this.#bytes += chunk.length;
        controller.enqueue(chunk);
      },
    });
  }

  /** Bytes passed so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The hex sha256 of every byte passed (call once, after the end). */
  digest(): string {
    return this.#hash.digest();
  }
}

/**
 * The sha256 of a file, or of `length` bytes from `start`; `undefined` when
 * the file is missing or shorter.
 *
 * @example A whole file, a range, and a range past the end
 * ```ts
 * import assert from "node:assert/strict";
 * import { sha256, sha256File } from "./_hash.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array([1, 2, 3]));
 * assert.equal(await sha256File(path), sha256(new Uint8Array([1, 2, 3])));
 * assert.equal(await sha256File(path, 1, 2), sha256(new Uint8Array([2, 3])));
 * assert.equal(await sha256File(path, 1, 5), undefined);
 * await Deno.remove(path);
 * ```
 */
export async function sha256File(path: string, start = 0, length = Infinity): Promise<string | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    await file.seek(start, Deno.SeekMode.Start);
    const hash = new Sha256();
    const buffer = new Uint8Array(1 << 20);
    for (let left = length; left > 0;) {
      const n = await file.read(left < buffer.length ? buffer.subarray(0, left) : buffer);
      if (n === null) {
        if (Number.isFinite(length)) return undefined;
        break;
      }
      hash.update(buffer.subarray(0, n));
      left -= n;
    }
    return hash.digest();
  } finally {
    file.close();
  }
}
