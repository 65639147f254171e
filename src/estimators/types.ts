/**
 * Shared types of the face estimators (detector, landmarks, identity model).
 *
 * @module
 */
import type { OnnxSession } from "../_backend.ts";

/** The models the estimators run. */
export type EstimatorRole = "identity" | "detector" | "landmarks" | "pose" | "attributes";

/**
 * Hands out one session per model role: a loaded model pack (`loadPack`). The
 * estimators never create or dispose sessions themselves.
 *
 * @example A provider over sessions created elsewhere
 * ```ts
 * import assert from "node:assert/strict";
 * import type { SessionProvider } from "./types.ts";
 * import type { OnnxSession } from "../_backend.ts";
 * const sessions = new Map<string, Promise<OnnxSession>>();
 * const provider: SessionProvider = {
 *   session: (role) => sessions.get(role) ?? Promise.reject(new Error(`no ${role} model`)),
 * };
 * await assert.rejects(provider.session("pose"), /no pose model/);
 * ```
 */
export interface SessionProvider {
  /**
   * The session of a model role, created on first use.
   *
   * @ignore
   */
  session(role: EstimatorRole): Promise<OnnxSession>;
}

/** A point `[x, y]` in pixels (OpenCV convention: pixel centres at integers). */
export type Point = [number, number];

/** An axis-aligned box in pixels, corners `(x1, y1)` top-left and `(x2, y2)` bottom-right. */
export interface FaceBox {
  /** Left edge. */
  x1: number;
  /** Top edge. */
  y1: number;
  /** Right edge. */
  x2: number;
  /** Bottom edge. */
  y2: number;
}

/** A face found by the detector. */
export interface Detection {
  /** Where the face is. */
  box: FaceBox;
  /** Detector confidence in 0..1. */
  score: number;
}
