/**
 * Argument checks shared by the library's entry points: each returns the
 * value it checked, or throws a `RangeError` (a number out of range) or
 * `TypeError` whose message names the option and its current value.
 *
 * @module
 */

/**
 * Checks an integer in `min..max`; `name` (the option, with what it counts)
 * is used in the message.
 *
 * @example An integer in range passes, anything else is a RangeError
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkInteger } from "./_check.ts";
 * assert.equal(checkInteger(0, "retries", 0), 0);
 * assert.throws(() => checkInteger(-1, "retries", 0), /Cannot use retries -1: current value is not an integer in 0\.\./);
 * ```
 */
export function checkInteger(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new RangeError(`Cannot use ${name} ${value}: current value is not an integer in ${min}..${max}`);
  }
  return value as number;
}

/**
 * Checks a positive integer (a count) up to `max`.
 *
 * @example Counts start at 1
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCount } from "./_check.ts";
 * assert.equal(checkCount(3, "identity count (ids)"), 3);
 * assert.throws(() => checkCount(0, "identity count (ids)"), /identity count \(ids\) 0: current value is not/);
 * assert.throws(() => checkCount(1001, "images per identity (perId)", 1000), /in 1\.\.1000/);
 * ```
 */
export function checkCount(value: unknown, name: string, max = Number.MAX_SAFE_INTEGER): number {
  return checkInteger(value, name, 1, max);
}

/**
 * Checks a cosine separation threshold: a number in (-1, 1]; `doing` says
 * what it is for (`"sample identities"`).
 *
 * @example A threshold in (-1, 1], and one out of it
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkThreshold } from "./_check.ts";
 * assert.equal(checkThreshold(0.4, "sample identities"), 0.4);
 * assert.throws(() => checkThreshold(2, "fetch"), /Cannot fetch at threshold 2: current value is not in \(-1, 1\]/);
 * ```
 */
export function checkThreshold(value: unknown, doing: string): number {
  if (!(typeof value === "number" && value > -1 && value <= 1)) {
    throw new RangeError(`Cannot ${doing} at threshold ${value}: current value is not in (-1, 1]`);
  }
  return value;
}

/**
 * Checks the batch size of a model run: a positive integer; `doing` says what
 * runs in batches (`"embed faces"`).
 *
 * @example A batch of one passes, zero does not
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkBatches } from "./_check.ts";
 * assert.equal(checkBatches(1, "embed faces"), 1);
 * assert.throws(() => checkBatches(0, "embed faces"), /Cannot embed faces in batches of 0: current value is not a positive integer/);
 * ```
 */
export function checkBatches(value: unknown, doing: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new RangeError(`Cannot ${doing} in batches of ${value}: current value is not a positive integer`);
  }
  return value as number;
}
