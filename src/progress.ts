/**
 * The one shape of progress that every long-running public function reports
 * through its `onProgress` callback.
 *
 * @module
 */

/**
 * Progress of a long-running call: `done` of `total` units of the current
 * `stage`. Each function's progress type extends it (naming its stages and
 * units, and any extra count).
 *
 * @example A progress bar's fraction
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Progress } from "./progress.ts";
 * const fraction = (p: Progress) => (p.total > 0 ? p.done / p.total : 1);
 * assert.equal(fraction({ stage: "render", done: 3, total: 4 }), 0.75);
 * assert.equal(fraction({ done: 0, total: 0 }), 1);
 * ```
 */
export interface Progress {
  /** Units done so far in this stage. */
  done: number;
  /** Units in this stage (as far as known). */
  total: number;
  /** The stage, for functions that run several. */
  stage?: string;
}
