/**
 * Seeded randomness. Every random draw in vec2face comes from a stream derived
 * from `(seed, ...path)`, e.g. `(seed, IMAGE_NOISE, identity, image)`, so any one
 * image can be made without making the ones before it, whatever the batch size,
 * shard size or order.
 *
 * @module
 */

/**
 * The tags of the random streams (the first element of a stream's path), so
 * that streams of different purposes never collide. Internal: part of the
 * dataset contract (changing a tag changes every dataset), exported by no
 * entry point.
 */
export const STREAM_TAGS = {
  /** Identity candidates drawn from the prior in `sample`. */
  candidate: 1,
  /** Noise added to an identity vector for one image (`perturb`). */
  perturb: 2,
  /** Token mask of one image (`render`). */
  mask: 3,
  /** Genuine pairs sampled by the quality report when there are too many to take all. */
  genuinePairs: 4,
  /** Impostor pairs sampled by the quality report. */
  impostorPairs: 5,
  /** Search moves of `edit`. */
  edit: 6,
  /** Head pose of one dataset image, for packs that declare a pose range. */
  pose: 7,
} as const;

// murmur3's finaliser: a bijective 32-bit mix with full avalanche.
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function checkStreamKey(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot derive a random stream from ${what} ${value}: current value is not a non-negative safe integer`,
    );
  }
}

/**
 * A deterministic pseudo-random generator (sfc32: 128-bit state, passes
 * PractRand to 2^42 bytes) with uniform and standard normal draws.
 *
 * @example Same seed, same numbers
 * ```ts
 * import assert from "node:assert/strict";
 * import { Random } from "./random.ts";
 * const a = Random.from(42, 7), b = Random.from(42, 7);
 * assert.equal(a.normal(), b.normal());
 * assert.notEqual(Random.from(42, 8).uint32(), Random.from(42, 7).uint32());
 * ```
 */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #spareNormal: number | undefined;

  private constructor(a: number, b: number, c: number, d: number) {
    this.#a = a;
    this.#b = b;
    this.#c = c;
    this.#d = d;
    // Discard the first outputs: sfc32 needs a few rounds to mix a fresh state.
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /**
   * The stream for `seed` and a path of non-negative integers
   * (e.g. `STREAM_TAGS.perturb, identity, image`).
   */
  static from(seed: number, ...path: number[]): Random {
    checkStreamKey(seed, "seed");
    const words = [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, path.length];
    for (const part of path) {
      checkStreamKey(part, "path element");
      words.push(part >>> 0, Math.floor(part / 2 ** 32) >>> 0);
    }
    const state = [0x9e3779b9, 0x243f6a88, 0xb7e15162, 0xdeadbeef].map((lane, k) => {
      let h = lane ^ Math.imul(k + 1, 0x632be5ab);
      for (const word of words) h = fmix32((h ^ word) + 0x7f4a7c15 + k);
      return h;
    });
    return new Random(state[0], state[1], state[2], state[3]);
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A uniform float in (0, 1), never exactly 0 or 1 (53-bit resolution). */
  float(): number {
    const high = this.uint32() >>> 5; // 27 bits
    const low = this.uint32() >>> 6; // 26 bits
    return (high * 67108864 + low + 0.5) / 9007199254740992;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) {
      throw new RangeError(`Cannot draw an integer below ${n}: current value is not an integer in 1..2^32`);
    }
    return Math.floor(this.float() * n);
  }

  /** A standard normal draw (Box-Muller, the second value kept for the next call). */
  normal(): number {
    if (this.#spareNormal !== undefined) {
      const spare = this.#spareNormal;
      this.#spareNormal = undefined;
      return spare;
    }
    const radius = Math.sqrt(-2 * Math.log(this.float()));
    const angle = 2 * Math.PI * this.float();
    this.#spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** Fills `out` with standard normal draws and returns it. */
  normals(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
    return out;
  }
}

/** Checks a user-given seed. */
export function checkSeed(seed: unknown): number {
  if (typeof seed !== "number" || !Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`Cannot use seed as ${String(seed)}: current value is not a non-negative safe integer`);
  }
  return seed;
}
