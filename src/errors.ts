/**
 * The one error class callers are expected to catch: a model file is missing
 * or corrupt, a backend is unavailable, a pack is malformed, a run gave up.
 *
 * Bad arguments are reported with the built-in `TypeError` / `RangeError`
 * instead, since they are programming errors rather than conditions to handle.
 *
 * @module
 */

/** Machine-readable reason carried by {@linkcode Vec2FaceError}. */
export type Vec2FaceErrorCode =
  | "model-missing"
  | "model-corrupt"
  | "pack-invalid"
  | "backend-unavailable"
  | "pull-failed"
  | "sampling-stalled"
  | "output-exists"
  | "resume-mismatch"
  | "fetch-failed"
  | "aborted";

/**
 * Domain error of vec2face.
 *
 * @example Catch a missing model
 * ```ts
 * import assert from "node:assert/strict";
 * import { Vec2FaceError } from "./errors.ts";
 * const error = new Vec2FaceError("model-missing", "Cannot load generator.onnx: file is missing");
 * assert.equal(error.code, "model-missing");
 * assert.ok(error instanceof Error);
 * ```
 */
export class Vec2FaceError extends Error {
  /** Why the operation failed. */
  readonly code: Vec2FaceErrorCode;

  /** Creates an error with a reason code and a one-line message. */
  constructor(code: Vec2FaceErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Vec2FaceError";
    this.code = code;
  }
}
