/**
 * Identity banks: the sampled identity vectors of a dataset, saved once as
 * `.npy` with a JSON sidecar that says how they were made.
 *
 * @module
 */
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
 * Encodes a bank as `.npy` bytes (float32 `[count, dim]`, or float16).
 *
 * @example
 * ```ts
 * import { decodeBank, encodeBank } from "./bank.ts";
 * const vectors = [new Float32Array([1, 2]), new Float32Array([3, 4])];
 * console.assert(decodeBank(encodeBank(vectors))[1][0] === 3);
 * ```
 */
export function encodeBank(vectors: Float32Array[], options: { half?: boolean } = {}): Uint8Array {
  const dim = vectors[0]?.length ?? 0;
  const data = new Float32Array(vectors.length * dim);
  vectors.forEach((vector, i) => data.set(vector, i * dim));
  return encodeNpy({ shape: [vectors.length, dim], data }, options);
}

/** Decodes `.npy` bytes (ours or e.g. the official `center_feature_examples.npy`) into vectors. */
export function decodeBank(bytes: Uint8Array): Float32Array[] {
  const { shape: [rows, dim], data } = decodeNpy(bytes);
  return Array.from({ length: rows }, (_, i) => data.slice(i * dim, (i + 1) * dim));
}

/**
 * Writes a bank as `PATH` (`.npy`) plus its sidecar `PATH` with `.json` in
 * place of `.npy`, each under a temporary name renamed when complete.
 *
 * @example
 * ```ts
 * import { saveBank } from "./bank.ts";
 * const directory = await Deno.makeTempDir();
 * const info = { packSha256: "", priorSha256: "", threshold: 0.5, seed: 0, count: 1, candidates: 1, maxCosine: 0 };
 * await saveBank(`${directory}/bank.npy`, [new Float32Array(4)], info);
 * console.assert(JSON.parse(await Deno.readTextFile(`${directory}/bank.json`)).count === 1);
 * await Deno.remove(directory, { recursive: true });
 * ```
 */
export async function saveBank(
  path: string,
  vectors: Float32Array[],
  info: BankInfo,
  options: { half?: boolean } = {},
): Promise<void> {
  const sidecar = path.replace(/\.npy$/, "") + ".json";
  await Deno.writeFile(`${path}.tmp`, encodeBank(vectors, options));
  await Deno.rename(`${path}.tmp`, path);
  await Deno.writeTextFile(`${sidecar}.tmp`, JSON.stringify(info, null, 2) + "\n");
  await Deno.rename(`${sidecar}.tmp`, sidecar);
}
