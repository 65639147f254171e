/**
 * The library's defaults and limits, in one frozen table, and its version
 * (read from `deno.json`).
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/**
 * Defaults and limits shared by the library, the CLI and the HTTP handler.
 *
 * @example The table is frozen
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULTS } from "./defaults.ts";
 * assert.ok(Object.isFrozen(DEFAULTS));
 * assert.ok(DEFAULTS.shardSize <= DEFAULTS.maxPerId);
 * ```
 */
export const DEFAULTS: Readonly<{
  /** Images per generator call, and faces per estimator model run (embed, pose, the judge). */
  batchSize: number;
  /** Identities per zip or tar shard. */
  shardSize: number;
  /** The most images per identity. */
  maxPerId: number;
  /** Dataset seed. */
  seed: number;
  /** Tries of a fetched shard after its first failure. */
  retries: number;
  /** First back-off of a fetch after a failure, in ms. */
  retryDelay: number;
  /** JPEG quality of dataset images. */
  jpegQuality: number;
}> = Object.freeze({
  batchSize: 16,
  shardSize: 100,
  maxPerId: 1000,
  seed: 0,
  retries: 4,
  retryDelay: 500,
  jpegQuality: 90,
});

/**
 * The library version, as in `deno.json`.
 *
 * @example The version in deno.json
 * ```ts
 * import assert from "node:assert/strict";
 * import { VERSION } from "./defaults.ts";
 * assert.match(VERSION, /^\d+\.\d+\.\d+/);
 * ```
 */
export const VERSION: string = denoJson.version;
