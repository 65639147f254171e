/**
 * Identity banks: the sampled identity vectors of a dataset, saved once as
 * `.npy` with a JSON sidecar that says how they were made.
 *
 * @module
 */
import { writeAtomic } from "./_fs.ts";
import { decodeNpy, encodeNpy } from "./npy.ts";

/** What a bank's sidecar records. */
export interface BankInfo {
  /** sha256 of the pack's manifest. */
  packSha256: string;
  /** sha256 of the prior file sampled from. */
  priorSha256: string;
  /** Cosine threshold used. */
  threshold: number;
  /** Sampling seed. */
  seed: number;
  /** Number of identities. */
  count: number;
  /** Candidates drawn. */
  candidates: number;
  /** Largest pairwise cosine among the identities. */
  maxCosine: number;
}

/**
 * The sidecar of a sampled bank, as `generate` writes it (keys in this order).
 *
 * @example The sidecar of a sampled bank
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampledBankInfo } from "./bank.ts";
 * const info = sampledBankInfo("ab", "cd", { threshold: 0.4, seed: 1 }, { vectors: [], candidates: 3, maxCosine: 0.2 });
 * assert.equal(info.count, 0);
 * assert.equal(info.candidates, 3);
 * assert.equal(Object.keys(info)[0], "packSha256");
 * ```
 */
export function sampledBankInfo(
  packSha256: string,
  priorSha256: string,
  spec: { threshold: number; seed: number },
  sampled: { vectors: Float32Array[]; candidates: number; maxCosine: number },
): BankInfo {
  return {
    packSha256,
    priorSha256,
    threshold: spec.threshold,
    seed: spec.seed,
    count: sampled.vectors.length,
    candidates: sampled.candidates,
    maxCosine: sampled.maxCosine,
  };
}

/**
 * Encodes a bank as `.npy` bytes (float32 `[count, dim]`, or float16).
 *
 * @example A round trip through .npy bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeBank, encodeBank } from "./bank.ts";
 * const vectors = [new Float32Array([1, 2]), new Float32Array([3, 4])];
 * assert.equal(decodeBank(encodeBank(vectors))[1][0], 3);
 * ```
 */
export function encodeBank(vectors: Float32Array[], options: { half?: boolean } = {}): Uint8Array {
  const dim = vectors[0]?.length ?? 0;
  const data = new Float32Array(vectors.length * dim);
  vectors.forEach((vector, i) => data.set(vector, i * dim));
  return encodeNpy({ shape: [vectors.length, dim], data }, options);
}

/**
 * Options of {@linkcode decodeBank}.
 */
export interface DecodeBankOptions {
  /** The vector size expected (e.g. the pack's `vectorSize`); default any. */
  dim?: number;
  /** The file's name, for error messages. */
  name?: string;
}

/**
 * Decodes `.npy` bytes (ours, float32 or float16, or external ones such as the
 * official Vec2Face `center_feature_examples.npy`, float32 or float64
 * `[count, dim]`) into vectors. Throws a `TypeError` or `RangeError` that
 * names the file and the problem for bytes that are not `.npy`, a truncated
 * file, vectors of another size than `dim`, and NaN or infinite values.
 *
 * @example A bank of the wrong size is refused, naming the file
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeBank, encodeBank } from "./bank.ts";
 * const bytes = encodeBank([new Float32Array(256)]);
 * assert.equal(decodeBank(bytes, { dim: 256 }).length, 1);
 * assert.throws(
 *   () => decodeBank(bytes, { dim: 512, name: "bank.npy" }),
 *   { message: "Cannot load bank bank.npy as [count, 512] vectors: current shape is [1, 256]" },
 * );
 * ```
 */
export function decodeBank(bytes: Uint8Array, options: DecodeBankOptions = {}): Float32Array[] {
  const label = options.name === undefined ? "bank" : `bank ${options.name}`;
  let matrix;
  try {
    matrix = decodeNpy(bytes);
  } catch (error) {
    const message = (error as Error).message;
    const Class = error instanceof RangeError ? RangeError : TypeError;
    throw new Class(`Cannot load ${label}: ${message[0].toLowerCase()}${message.slice(1)}`, { cause: error });
  }
  const { shape: [rows, dim], data } = matrix;
  if (options.dim !== undefined && dim !== options.dim) {
    throw new RangeError(
      `Cannot load ${label} as [count, ${options.dim}] vectors: current shape is [${rows}, ${dim}]`,
    );
  }
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new RangeError(
        `Cannot load ${label} as finite vectors: current value at row ${Math.floor(i / dim)}, column ${i % dim} is ${
          data[i]
        }`,
      );
    }
  }
  return Array.from({ length: rows }, (_, i) => data.slice(i * dim, (i + 1) * dim));
}

/** Cosine at or above which two bank vectors are the same identity, whatever threshold the bank was sampled at. */
export const DUPLICATE_COSINE = 0.999;

/**
 * Refuses a degenerate bank: a vector of norm 0 (or a non-finite norm), or
 * two vectors whose cosine is at least {@linkcode DUPLICATE_COSINE} (a user
 * bank may be sampled at any threshold, so only near-copies are refused).
 * Throws one `RangeError` naming the rows (the first few). Pairwise, like
 * sampling, but a pair is dropped after the few coordinates that tell it apart.
 *
 * @example Two copies of one vector are refused
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkBankRows } from "./bank.ts";
 * const a = new Float32Array([1, 0, 0]);
 * checkBankRows([a, new Float32Array([0, 1, 0])]);
 * assert.throws(
 *   () => checkBankRows([a, new Float32Array([0, 1, 0]), a.slice()]),
 *   { message: "Cannot use bank as distinct identities: current rows 0 and 2 are the same vector (cosine 1.0000 >= 0.999)" },
 * );
 * assert.throws(() => checkBankRows([a, new Float32Array(3)]), /current row 1 is a zero vector/);
 * ```
 */
export function checkBankRows(vectors: readonly Float32Array[], what = "bank"): void {
  const dim = vectors[0]?.length ?? 0;
  const zero: number[] = [];
  const unit = new Float32Array(vectors.length * dim);
  vectors.forEach((vector, row) => {
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += vector[i] * vector[i];
    const length = Math.sqrt(sum);
    if (!(length > 0) || !Number.isFinite(length)) zero.push(row);
    else for (let i = 0; i < dim; i++) unit[row * dim + i] = vector[i] / length;
  });
  if (zero.length > 0) {
    const rows = zero.slice(0, 10).join(", ") + (zero.length > 10 ? `, ... (${zero.length} in all)` : "");
    throw new RangeError(
      `Cannot use ${what} as identities: current row${zero.length > 1 ? "s" : ""} ${rows} ` +
        `${zero.length > 1 ? "are zero vectors" : "is a zero vector"} (norm 0 or not finite)`,
    );
  }
  // Unit vectors at cosine c are sqrt(2 - 2c) apart: a pair is dropped as soon as its partial squared
  // distance passes 2 - 2 * DUPLICATE_COSINE (a few coordinates for distinct identities), and the dot
  // product is computed only for the pairs that stay that close.
  const limit = 2 - 2 * DUPLICATE_COSINE + 1e-6;
  for (let a = 0; a < vectors.length; a++) {
    const at = a * dim;
    for (let b = a + 1; b < vectors.length; b++) {
      const bt = b * dim;
      let distance = 0;
      for (let i = 0; i < dim && distance <= limit; i++) {
        const difference = unit[at + i] - unit[bt + i];
        distance += difference * difference;
      }
      if (distance > limit) continue;
      let dot = 0;
      for (let i = 0; i < dim; i++) dot += unit[at + i] * unit[bt + i];
      if (dot >= DUPLICATE_COSINE) {
        throw new RangeError(
          `Cannot use ${what} as distinct identities: current rows ${a} and ${b} are the same vector ` +
            `(cosine ${Math.min(dot, 1).toFixed(4)} >= ${DUPLICATE_COSINE})`,
        );
      }
    }
  }
}

/**
 * Writes a bank as `PATH` (`.npy`) plus its sidecar `PATH` with `.json` in
 * place of `.npy`, each under a temporary name (`PATH.tmp`, or
 * `PATH.{temporary}` for writers that share a folder) renamed when complete.
 *
 * @example A bank and its sidecar, written side by side
 * ```ts
 * import assert from "node:assert/strict";
 * import { saveBank } from "./bank.ts";
 * const directory = await Deno.makeTempDir();
 * const info = { packSha256: "", priorSha256: "", threshold: 0.5, seed: 0, count: 1, candidates: 1, maxCosine: 0 };
 * await saveBank(`${directory}/bank.npy`, [new Float32Array(4)], info);
 * assert.equal(JSON.parse(await Deno.readTextFile(`${directory}/bank.json`)).count, 1);
 * await Deno.remove(directory, { recursive: true });
 * ```
 */
export async function saveBank(
  path: string,
  vectors: Float32Array[],
  info: BankInfo,
  options: { half?: boolean; temporary?: string } = {},
): Promise<void> {
  const sidecar = path.replace(/\.npy$/, "") + ".json";
  await writeAtomic(path, encodeBank(vectors, options), options.temporary);
  await writeAtomic(sidecar, bankSidecarText(info), options.temporary);
}

/**
 * The text of a bank's sidecar (`identities.json`), as {@linkcode saveBank}
 * writes it: the info as indented JSON and a newline (NaN, as JSON has none,
 * becomes `null`).
 *
 * @example NaN becomes null
 * ```ts
 * import assert from "node:assert/strict";
 * import { bankSidecarText } from "./bank.ts";
 * const info = { packSha256: "", priorSha256: "", threshold: 0.5, seed: 0, count: 1, candidates: 1, maxCosine: NaN };
 * assert.equal(JSON.parse(bankSidecarText(info)).maxCosine, null);
 * ```
 */
export function bankSidecarText(info: BankInfo): string {
  return JSON.stringify(info, null, 2) + "\n";
}
