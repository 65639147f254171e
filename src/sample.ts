/**
 * Well-separated identities: candidates drawn from the prior, each kept only
 * when its cosine similarity to every kept vector is below the threshold.
 *
 * "Exact" means that the result is, bit for bit, the one of this simple loop
 * (the reference semantics):
 * - candidate j (j = 0, 1, 2, ...) is `drawFromPrior(prior, Random.from(seed, STREAM_TAGS.candidate, j))`;
 * - its unit vector is the float32 rounding of each value divided by its norm
 *   (`norm`: float64 sum of squares, then `Math.sqrt`); a candidate whose norm
 *   is 0 or not finite is rejected;
 * - the cosine of two candidates is the float64 sum, in index order starting
 *   from 0, of the products of their float32 unit values;
 * - candidates are taken in order, each kept iff its cosine to every vector
 *   kept before it is below the threshold, until `n` are kept.
 *
 * The fast path makes the same decisions without the loop's cost: candidates
 * are decided in batches, a batch against the kept set by matrix products in
 * float32 (onnxruntime `Gemm` + `ReduceMax`), then in order against the ones
 * kept earlier in the same batch. A float32 cosine differs from the reference
 * float64 value by at most a proven bound (see `float32Margin`), so only pairs
 * whose float32 cosine lies within that bound of the threshold are recomputed
 * the reference way; every other pair is decided by its float32 value alone.
 *
 * @module
 */
import { createSession, type OnnxSession } from "./_backend.ts";
import { Vec2FaceError } from "./errors.ts";
import type { Prior } from "./prior.ts";
import { checkSeed, Random, STREAM_TAGS } from "./random.ts";
import { checkCount, checkThreshold } from "./_check.ts";
import type { Progress } from "./progress.ts";

/**
 * Progress of {@linkcode sample}: `done` identities kept of the `total` asked
 * for, after `candidates` drawn.
 */
export interface SampleProgress extends Progress {
  /** Always `sample`. */
  stage: "sample";
  /** Identities kept so far. */
  done: number;
  /** Identities asked for. */
  total: number;
  /** Candidates drawn so far. */
  candidates: number;
}

/**
 * How {@linkcode sample} computes cosines; every engine gives the same result.
 * `native` and `wasm` are onnxruntime float32 matrix products (node addon,
 * WebAssembly), with the few pairs near the threshold recomputed in float64;
 * `js` computes every cosine the reference way in TypeScript. `auto` uses
 * `native`, else `wasm`, else `js`; but a small job (under 1,024 identities)
 * starts in `js`, sparing the onnxruntime start-up, and moves on only once its
 * work grows (past ~0.2 s).
 */
export type SampleEngine = "auto" | "native" | "wasm" | "js";

/**
 * Options for {@linkcode sample}.
 */
export interface SampleOptions {
  /** The identity prior to draw from. */
  prior: Prior;
  /** Keep a candidate only when its cosine to every kept one is below this; in (-1, 1]. */
  threshold: number;
  /** Seed; candidate j is drawn from the stream `(seed, candidate, j)`. Default 0. */
  seed?: number;
  /** Stop (with an error) when fewer than this share of the last `window` candidates were kept; in (0, 1]. Default 0.01. */
  minAcceptance?: number;
  /** Candidates over which acceptance is tracked. Default 10,000. */
  window?: number;
  /** Candidates decided per step; the result is the same for any value. Default 512. */
  batchSize?: number;
  /** How cosines are computed; the result is the same for any value. Default `auto`. */
  engine?: SampleEngine;
  /** Cancels sampling. */
  signal?: AbortSignal;
  /** Called every 1,000 candidates and at the end. */
  onProgress?: (progress: SampleProgress) => void;
}

/**
 * Result of {@linkcode sample}.
 *
 * @example Sample two vectors with the TypeScript engine
 * ```ts
 * import assert from "node:assert/strict";
 * import { sample, type SampleResult } from "./sample.ts";
 * const prior = { dim: 2, mean: new Float32Array(2), eigenvalues: new Float32Array([1, 1]), eigenvectors: new Float32Array([1, 0, 0, 1]) };
 * const result: SampleResult = await sample(2, { prior, threshold: 0.9, engine: "js" });
 * assert.equal(result.vectors.length, 2);
 * assert.ok(result.maxCosine < 0.9);
 * assert.equal(result.engine, "js");
 * ```
 */
export interface SampleResult {
  /** The identity vectors, in acceptance order. */
  vectors: Float32Array[];
  /** Candidates drawn in all. */
  candidates: number;
  /** Largest cosine between any two returned vectors (reference float64 value; 0 for fewer than 2). */
  maxCosine: number;
  /** The engine that computed the cosines at the end. */
  engine: Exclude<SampleEngine, "auto">;
  /** Pairs recomputed in float64 because their float32 cosine was too close to the threshold to decide. */
  exactChecks: number;
}

/** Computes cosines of float32 unit vectors packed row after row. */
interface CosineEngine {
  readonly name: Exclude<SampleEngine, "auto">;
  /** Bound on |engine value - reference float64 value| for any pair of stored unit vectors. */
  readonly margin: number;
  /** Kept vectors per call: small enough to let rejected candidates drop out early. */
  readonly chunkRows: number;
  /** Row maxima of `a·bᵀ`, `a` holding m vectors and `b` n. */
  maxRows(a: Float32Array, m: number, b: Float32Array, n: number): Promise<ArrayLike<number>>;
  /** `a·bᵀ`, m × n row-major; with `lower`, only entries below the diagonal need be right. */
  products(a: Float32Array, m: number, b: Float32Array, n: number, lower?: boolean): Promise<ArrayLike<number>>;
  dispose(): Promise<void>;
}

const DEFAULT_BATCH_SIZE = 512;
/** In `auto`, counts from which an onnxruntime engine pays for its start-up (~0.3 s). */
const AUTO_UPGRADE_COUNT = 1024;
/** ... or multiply-adds done in `js` after which it does (~0.2 s). */
const AUTO_UPGRADE_WORK = 5e8;
/** Candidates redrawn from the last window to suggest a threshold when sampling stalls. */
const SUGGESTION_SAMPLE = 256;

/**
 * Samples `n` identity vectors whose pairwise cosine similarity is below the
 * threshold: exactly the greedy loop of the module documentation, for any
 * `batchSize` and `engine`. Deterministic for a seed, and prefix-stable: the
 * first m vectors of `sample(n)` are `sample(m)`. Never hangs: when acceptance
 * over the last `window` candidates falls below `minAcceptance` it throws a
 * `Vec2FaceError` (`sampling-stalled`) giving the count reached and a threshold
 * at which about 10 % of the current candidates would be kept.
 *
 * @example Five well-separated identities from an 8-d prior
 * ```ts
 * import assert from "node:assert/strict";
 * import { sample } from "./sample.ts";
 * const dim = 8;
 * const eigenvectors = new Float32Array(dim * dim);
 * for (let i = 0; i < dim; i++) eigenvectors[i * dim + i] = 1;
 * const prior = { dim, mean: new Float32Array(dim), eigenvalues: new Float32Array(dim).fill(1), eigenvectors };
 * const { vectors, maxCosine } = await sample(5, { prior, threshold: 0.5, seed: 1 });
 * assert.equal(vectors.length, 5);
 * assert.ok(maxCosine < 0.5);
 * ```
 */
export async function sample(n: number, options: SampleOptions): Promise<SampleResult> {
  const settings = checkSampleOptions(n, options);
  const engine = settings.engineKind === "auto"
    ? jsEngine(settings.prior.dim)
    : await createEngine(settings.engineKind, settings.prior.dim);
  const sampler = new Sampler(n, settings, engine, options);
  try {
    return await sampler.run();
  } finally {
    await sampler.engine.dispose();
  }
}

/** The checked options of {@linkcode sample}. */
interface SampleSettings {
  prior: Prior;
  threshold: number;
  seed: number;
  minAcceptance: number;
  window: number;
  batchSize: number;
  engineKind: SampleEngine;
}

function checkSampleOptions(n: number, options: SampleOptions): SampleSettings {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`Cannot sample ${n} identities: current value is not a positive integer`);
  }
  const prior = checkPrior(options.prior);
  const threshold = checkThreshold(options.threshold, "sample identities");
  const seed = checkSeed(options.seed ?? 0);
  const minAcceptance = options.minAcceptance ?? 0.01;
  if (!(typeof minAcceptance === "number" && minAcceptance > 0 && minAcceptance <= 1)) {
    // 0 would disable the stall check, and with it the guarantee to end.
    throw new RangeError(`Cannot sample with minAcceptance as ${minAcceptance}: current value is not in (0, 1]`);
  }
  const window = checkCount(options.window ?? 10_000, "`window`");
  const batchSize = checkCount(options.batchSize ?? DEFAULT_BATCH_SIZE, "`batchSize`");
  const engineKind = options.engine ?? "auto";
  if (!["auto", "native", "wasm", "js"].includes(engineKind)) {
    throw new RangeError(
      `Cannot sample with engine as ${JSON.stringify(engineKind)}: current value is not one of auto, native, wasm, js`,
    );
  }
  return { prior, threshold, seed, minAcceptance, window, batchSize, engineKind };
}

/** A candidate kept whose approximate worst cosine may be the largest (for an exact `maxCosine`). */
interface MaxCandidate {
  index: number;
  worst: number;
  margin: number;
}

/** The state of one {@linkcode sample} run: the greedy loop, decided batch by batch. */
class Sampler {
  engine: CosineEngine;
  readonly #n: number;
  readonly #settings: SampleSettings;
  readonly #dim: number;
  readonly #draw: Drawer;
  readonly #signal?: AbortSignal;
  readonly #onProgress?: (progress: SampleProgress) => void;
  #upgraded: boolean;
  /** Multiply-adds against the kept set, to decide when to upgrade in `auto`. */
  #jsWork = 0;
  /** Unit vectors of the kept identities, packed row after row; grown by doubling. */
  #kept: Float32Array;
  #keptCount = 0;
  readonly #vectors: Float32Array[] = [];
  #candidates = 0;
  #exactChecks = 0;
  /** Acceptance over the last `window` candidates: numbers (1-based) of recent acceptances. */
  #acceptedAt: number[] = [];
  #acceptedHead = 0;
  #maxLowerBound = -Infinity;
  #maxCandidates: MaxCandidate[] = [];
  readonly #batchRaw: Float32Array;
  readonly #batchUnits: Float32Array;
  readonly #packed: Float32Array;
  #lastYield = performance.now();

  constructor(n: number, settings: SampleSettings, engine: CosineEngine, options: SampleOptions) {
    const { prior, seed, batchSize } = settings;
    this.#n = n;
    this.#settings = settings;
    this.#dim = prior.dim;
    this.#draw = createDrawer(prior, seed, batchSize);
    this.engine = engine;
    this.#upgraded = settings.engineKind !== "auto";
    this.#signal = options.signal;
    this.#onProgress = options.onProgress;
    this.#kept = new Float32Array(Math.min(n, 1024) * this.#dim);
    this.#batchRaw = new Float32Array(batchSize * this.#dim);
    this.#batchUnits = new Float32Array(batchSize * this.#dim);
    this.#packed = new Float32Array(batchSize * this.#dim);
  }

  /** Decides batches of candidates until `n` are kept (or acceptance stalls). */
  async run(): Promise<SampleResult> {
    const n = this.#n, dim = this.#dim;
    while (true) {
      this.#signal?.throwIfAborted();
      await this.#maybeUpgrade();
      // Small batches near the end avoid drawing many candidates that will not be used.
      const m = Math.min(this.#settings.batchSize, Math.max(64, 2 * (n - this.#keptCount)));
      this.#draw(this.#candidates, m, this.#batchRaw);
      const status = unitVectors(this.#batchRaw, this.#batchUnits, m, dim); // 0: open, 1: rejected
      const worst = new Float64Array(m).fill(-Infinity);
      const open = await this.#againstKept(m, status, worst);
      const result = await this.#decide(m, open, status, worst);
      if (result) return result;
      await this.#maybeYield();
    }
  }

  async #maybeUpgrade(): Promise<void> {
    if (this.#upgraded || (this.#n < AUTO_UPGRADE_COUNT && this.#jsWork < AUTO_UPGRADE_WORK)) return;
    this.#upgraded = true;
    const faster = await createEngine("auto", this.#dim).catch(() => undefined);
    if (faster) this.engine = faster;
  }

  /** Lets an abort signal or a progress bar be served during long runs. */
  async #maybeYield(): Promise<void> {
    if (performance.now() - this.#lastYield < 50) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.#lastYield = performance.now();
    this.#signal?.throwIfAborted();
  }

  /** Exact check of a pair whose engine value is within the margin of the threshold. */
  #exactConflict(value: number, a: Float32Array, aOffset: number, b: Float32Array, bOffset: number): boolean {
    this.#exactChecks++;
    const exact = exactDot(a, aOffset, b, bOffset, this.#dim);
    if (!(Math.abs(exact - value) <= this.engine.margin / 2)) {
      // The bound is proven, so this means a broken engine; refuse to return an inexact bank.
      throw new Error(`sample: ${this.engine.name} cosine ${value} is off the float64 value ${exact} beyond its bound`);
    }
    return exact >= this.#settings.threshold;
  }

  /** 1. The batch against the kept set, chunk by chunk; rejected candidates drop out. Returns the survivors. */
  async #againstKept(m: number, status: Uint8Array, worst: Float64Array): Promise<number[]> {
    const { margin, chunkRows } = this.engine;
    const { threshold } = this.#settings;
    const dim = this.#dim, units = this.#batchUnits;
    const upper = threshold + margin, lower = threshold - margin;
    let active: number[] = [];
    for (let j = 0; j < m; j++) if (status[j] === 0) active.push(j);
    for (let k0 = 0; k0 < this.#keptCount && active.length > 0; k0 += chunkRows) {
      const k1 = Math.min(this.#keptCount, k0 + chunkRows);
      const block = this.#kept.subarray(k0 * dim, k1 * dim);
      const rows = packRows(units, active, this.#packed, dim);
      const maxima = await this.engine.maxRows(rows, active.length, block, k1 - k0);
      this.#jsWork += active.length * (k1 - k0) * dim;
      const next: number[] = [];
      for (let r = 0; r < active.length; r++) {
        const j = active[r], value = maxima[r];
        if (value > worst[j]) worst[j] = value;
        if (value >= upper) {
          status[j] = 1;
          continue;
        }
        if (value >= lower) {
          // Rare: some pair of this row is too close to call; find and recompute them.
          const row = await this.engine.products(units.subarray(j * dim, (j + 1) * dim), 1, block, k1 - k0);
          let conflict = false;
          for (let col = 0; col < k1 - k0 && !conflict; col++) {
            if (row[col] >= lower) {
              conflict = this.#exactConflict(row[col], units, j * dim, this.#kept, (k0 + col) * dim);
            }
          }
          if (conflict) {
            status[j] = 1;
            continue;
          }
        }
        next.push(j);
      }
      active = next;
      this.#signal?.throwIfAborted();
      await this.#maybeYield();
    }
    return active;
  }

  /** 2. The survivors against each other, then decided in candidate order; the result once `n` are kept. */
  async #decide(
    m: number,
    open: number[],
    status: Uint8Array,
    worst: Float64Array,
  ): Promise<SampleResult | undefined> {
    const { margin } = this.engine;
    const { threshold } = this.#settings;
    const upper = threshold + margin, lower = threshold - margin;
    const dim = this.#dim, units = this.#batchUnits;
    const position = new Int32Array(m).fill(-1);
    open.forEach((j, p) => position[j] = p);
    const openRows = packRows(units, open, this.#packed, dim);
    const gram = open.length > 1 ? await this.engine.products(openRows, open.length, openRows, open.length, true) : [];
    const acceptedPositions: number[] = [];
    for (let j = 0; j < m; j++) {
      this.#candidates++;
      let accepted = status[j] === 0;
      if (accepted) {
        const rowOffset = position[j] * open.length;
        for (const q of acceptedPositions) {
          const value = gram[rowOffset + q];
          if (value > worst[j]) worst[j] = value;
          if (value >= upper || (value >= lower && this.#exactConflict(value, units, j * dim, units, open[q] * dim))) {
            accepted = false;
            break;
          }
        }
      }
      if (accepted) {
        acceptedPositions.push(position[j]);
        this.#accept(j, worst[j], margin);
      }
      const result = await this.#afterCandidate();
      if (result) return result;
    }
    return undefined;
  }

  /** Keeps candidate `j` of the batch; tracks the pairs that may hold the largest cosine. */
  #accept(j: number, worst: number, margin: number): void {
    const dim = this.#dim;
    if ((this.#keptCount + 1) * dim > this.#kept.length) {
      const grown = new Float32Array(Math.min(this.#n, 2 * (this.#kept.length / dim)) * dim);
      grown.set(this.#kept.subarray(0, this.#keptCount * dim));
      this.#kept = grown;
    }
    this.#kept.set(this.#batchUnits.subarray(j * dim, (j + 1) * dim), this.#keptCount * dim);
    this.#vectors.push(this.#batchRaw.slice(j * dim, (j + 1) * dim));
    this.#keptCount++;
    if (this.#keptCount > 1) {
      // worst is within `margin` of the exact worst cosine of this vector.
      if (worst - margin > this.#maxLowerBound) this.#maxLowerBound = worst - margin;
      if (worst + margin >= this.#maxLowerBound) {
        this.#maxCandidates.push({ index: this.#keptCount - 1, worst, margin });
        if (this.#maxCandidates.length > 64) {
          this.#maxCandidates = this.#maxCandidates.filter((entry) =>
            entry.worst + entry.margin >= this.#maxLowerBound
          );
        }
      }
    }
    this.#acceptedAt.push(this.#candidates);
  }

  /** After each candidate: the acceptance window, progress, the stall check, and the result once `n` are kept. */
  async #afterCandidate(): Promise<SampleResult | undefined> {
    const n = this.#n, candidates = this.#candidates, keptCount = this.#keptCount;
    const { window, minAcceptance, threshold } = this.#settings;
    while (
      this.#acceptedHead < this.#acceptedAt.length && this.#acceptedAt[this.#acceptedHead] <= candidates - window
    ) {
      this.#acceptedHead++;
    }
    if (this.#acceptedHead > 4096) {
      this.#acceptedAt = this.#acceptedAt.slice(this.#acceptedHead);
      this.#acceptedHead = 0;
    }
    if (candidates % 1000 === 0) this.#onProgress?.({ stage: "sample", done: keptCount, total: n, candidates });
    const recent = this.#acceptedAt.length - this.#acceptedHead;
    if (candidates >= window && recent < minAcceptance * window) {
      const suggestion = await this.#suggestThreshold();
      throw new Vec2FaceError(
        "sampling-stalled",
        `Cannot sample ${n} identities at threshold ${threshold}: acceptance fell to ${
          (100 * recent / window).toFixed(2)
        } % over the last ${window} candidates, after ${keptCount} identities from ${candidates} candidates; ` +
          (suggestion === undefined
            ? "check the prior or ask for fewer"
            : `raise the threshold (at ${suggestion}, about ${
              Math.round(100 * suggestionRate(minAcceptance))
            } % of the current candidates would be kept) or ask for fewer`),
      );
    }
    if (keptCount !== n) return undefined;
    const maxCosine = await this.#exactMaxCosine();
    this.#onProgress?.({ stage: "sample", done: keptCount, total: n, candidates });
    return { vectors: this.#vectors, candidates, maxCosine, engine: this.engine.name, exactChecks: this.#exactChecks };
  }

  // The largest reference cosine over all pairs: only vectors whose approximate
  // worst cosine reaches the lower bound can hold it, and only their pairs whose
  // engine value reaches the bound less the margin need the float64 value.
  async #exactMaxCosine(): Promise<number> {
    if (this.#keptCount < 2) return 0;
    const dim = this.#dim, kept = this.#kept, engine = this.engine, bound = this.#maxLowerBound;
    let best = -Infinity;
    for (const { index, worst, margin } of this.#maxCandidates) {
      if (worst + margin < bound) continue;
      const unit = kept.subarray(index * dim, (index + 1) * dim);
      for (let k0 = 0; k0 < index; k0 += engine.chunkRows) {
        const k1 = Math.min(index, k0 + engine.chunkRows);
        const row = await engine.products(unit, 1, kept.subarray(k0 * dim, k1 * dim), k1 - k0);
        for (let col = 0; col < k1 - k0; col++) {
          if (row[col] >= bound - engine.margin) {
            best = Math.max(best, exactDot(kept, index * dim, kept, (k0 + col) * dim, dim));
          }
        }
      }
    }
    // The reference loop starts its running maximum at -1.
    return Math.max(-1, best);
  }

  // A threshold at which about `suggestionRate` of the candidates of the last
  // window would pass the current kept set: a necessary, not sufficient, step
  // towards `n` (the kept set keeps growing).
  async #suggestThreshold(): Promise<number | undefined> {
    if (this.#keptCount === 0) return undefined;
    const { window, minAcceptance } = this.#settings;
    const dim = this.#dim, engine = this.engine, keptCount = this.#keptCount;
    const count = Math.min(SUGGESTION_SAMPLE, window);
    const raw = new Float32Array(dim), units = new Float32Array(count * dim);
    let usable = 0;
    for (let i = 0; i < count; i++) {
      this.#draw(this.#candidates - window + Math.floor((i + 0.5) * window / count), 1, raw);
      if (unitVectors(raw, units.subarray(usable * dim), 1, dim)[0] === 0) usable++;
    }
    const worst = new Array<number>(usable).fill(-Infinity);
    for (let k0 = 0; k0 < keptCount && usable > 0; k0 += engine.chunkRows) {
      const k1 = Math.min(keptCount, k0 + engine.chunkRows);
      const maxima = await engine.maxRows(units, usable, this.#kept.subarray(k0 * dim, k1 * dim), k1 - k0);
      for (let i = 0; i < usable; i++) worst[i] = Math.max(worst[i], maxima[i]);
    }
    if (worst.length === 0) return undefined;
    worst.sort((a, b) => a - b);
    const value = worst[Math.max(0, Math.ceil(suggestionRate(minAcceptance) * worst.length) - 1)];
    return Math.min(1, (Math.floor(value * 1000) + 1) / 1000);
  }
}

function suggestionRate(minAcceptance: number): number {
  return Math.min(0.5, 10 * minAcceptance);
}

function checkPrior(prior: Prior): Prior {
  if (!prior || !(prior.mean instanceof Float32Array)) {
    throw new TypeError(`Cannot sample identities as prior ${prior}: current value is not a Prior`);
  }
  const { dim, mean, eigenvalues, eigenvectors } = prior;
  if (
    !Number.isInteger(dim) || dim < 1 || mean.length !== dim || !(eigenvalues instanceof Float32Array) ||
    eigenvalues.length !== dim || !(eigenvectors instanceof Float32Array) || eigenvectors.length !== dim * dim
  ) {
    throw new RangeError(
      `Cannot sample identities as a prior of dim ${dim}: current sizes are mean ${mean.length}, eigenvalues ${eigenvalues?.length}, eigenvectors ${eigenvectors?.length}`,
    );
  }
  return prior;
}

/** Draws candidates into `out` (row after row), bit for bit as `drawFromPrior`. */
type Drawer = (first: number, count: number, out: Float32Array) => void;

/**
 * A drawer for up to `capacity` candidates at a time. Every value goes through
 * the float64 operations and float32 roundings of `drawFromPrior`, in the same
 * order; only the loops differ: a WebAssembly SIMD kernel (see `drawKernel`)
 * updates four candidates per pass over each eigenvector row.
 */
function createDrawer(prior: Prior, seed: number, capacity: number): Drawer {
  const { dim, mean, eigenvectors } = prior;
  const roots = Float64Array.from(prior.eigenvalues, Math.sqrt);
  const kernel = dim % 4 === 0 && capacity >= 4 ? drawKernel(eigenvectors, dim, capacity) : undefined;
  const scales = kernel?.scales ?? new Float64Array(capacity * dim);
  return (first, count, out) => {
    const values = kernel?.values ?? out;
    for (let c = 0; c < count; c++) {
      const random = Random.from(seed, STREAM_TAGS.candidate, first + c);
      const offset = c * dim;
      // drawFromPrior's scale: Math.sqrt(lambda) * normal, components in order.
      for (let k = 0; k < dim; k++) scales[offset + k] = roots[k] * random.normal();
      values.set(mean, offset);
    }
    let c = 0;
    if (kernel) { for (; c + 4 <= count; c += 4) kernel.draw4(c); }
    for (; c < count; c++) {
      const offset = c * dim;
      for (let k = 0; k < dim; k++) {
        const scale = scales[offset + k];
        if (scale === 0) continue; // as drawFromPrior (it matters for -0 and infinities)
        const row = k * dim;
        for (let i = 0; i < dim; i++) values[offset + i] += scale * eigenvectors[row + i];
      }
    }
    if (kernel) out.set(values.subarray(0, count * dim));
  };
}

/**
 * The WebAssembly SIMD kernel `draw4(c)`: for candidates c..c+3, for each
 * component k, `values[i] = f32(f64(values[i]) + scale_k * f64(e_k[i]))`,
 * kept unchanged where scale_k is 0, exactly as `out[i] += scale * e[i]` on a
 * Float32Array (f64x2 multiply and add, round-to-nearest demotion to float32).
 * Memory: eigenvectors (float32), then scales (float64), then values (float32).
 * Undefined where WebAssembly SIMD is unavailable.
 */
function drawKernel(eigenvectors: Float32Array, dim: number, capacity: number) {
  const scalesAt = dim * dim * 4, valuesAt = scalesAt + capacity * dim * 8;
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(new WebAssembly.Module(drawModule()));
    // Beyond 4 GiB (huge batches or dims) this throws, and the plain loop is used.
    (instance.exports.memory as WebAssembly.Memory).grow(Math.ceil((valuesAt + capacity * dim * 4) / 65536));
  } catch {
    return undefined;
  }
  const memory = instance.exports.memory as WebAssembly.Memory;
  const draw4 = instance.exports.draw4 as (values: number, scales: number, eigenvectors: number, dim: number) => void;
  new Float32Array(memory.buffer, 0, dim * dim).set(eigenvectors);
  return {
    scales: new Float64Array(memory.buffer, scalesAt, capacity * dim),
    values: new Float32Array(memory.buffer, valuesAt, capacity * dim),
    draw4: (c: number) => draw4(valuesAt + c * dim * 4, scalesAt + c * dim * 8, 0, dim),
  };
}

/** The bytes of the module of {@linkcode drawKernel}, assembled here to need no toolchain. */
// WebAssembly encoding helpers of the draw kernel (see drawKernel).
const uleb = (value: number) => {
  const out: number[] = [];
  do {
    out.push((value & 127) | (value > 127 ? 128 : 0));
    value >>>= 7;
  } while (value);
  return out;
};
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const name = (text: string) => vec([...new TextEncoder().encode(text)].map((byte) => [byte]));
const get = (local: number) => [0x20, local], set = (local: number) => [0x21, local];
const tee = (local: number) => [0x22, local];
const i32 = (value: number) => [0x41, ...uleb(value)]; // small non-negative constants only (< 64)
const [add, mul, shl, lessThan] = [[0x6a], [0x6c], [0x74], [0x49]];
const simd = (op: number, ...immediates: number[]) => [0xfd, ...uleb(op), ...immediates];
const [load, store] = [simd(0x00, 0, 0), simd(0x0b, 0, 0)];
const shuffle = (lanes: number[]) => simd(0x0d, ...lanes);
const [splat, notEqual, bitselect] = [simd(0x14), simd(0x48), simd(0x52)];
const [demote, promote, addF64, mulF64] = [simd(0x5e), simd(0x5f), simd(0xf0), simd(0xf2)];
const loadF64 = [0x2b, 3, 0], zeroF64 = [0x44, 0, 0, 0, 0, 0, 0, 0, 0];
const HIGH = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]; // lanes 2, 3 moved to 0, 1
const JOIN = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]; // low halves of two vectors
// Locals: 4 i32 parameters, 8 i32, 11 v128.
const [VALUES, SCALES, E, DIM, K, I, ROW, E_ROW, V1, V2, V3, S_ROW] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const SCALE = [12, 13, 14, 15], MASK = [16, 17, 18, 19], E_LOW = 20, E_HIGH = 21, V = 22;
const rows = [VALUES, V1, V2, V3];

/** The draw kernel as a WebAssembly module: `draw4(values, scales, e, dim)` (see drawKernel). */
function drawModule(): Uint8Array<ArrayBuffer> {
  const code = [...vec([[8, 0x7f], [11, 0x7b]]), ...drawBody()];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec([[0x7f], [0x7f], [0x7f], [0x7f]]), 0x00]])), // (i32 x4) -> ()
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, 1]])), // memory, 1 page, grown by the caller
    ...section(7, vec([[...name("memory"), 0x02, 0], [...name("draw4"), 0x00, 0]])),
    ...section(10, vec([[...uleb(code.length), ...code]])),
  ]);
}

/** The body of `draw4`: a loop over components k, each updating the four rows. */
function drawBody(): number[] {
  return [
    ...get(DIM),
    ...i32(2),
    ...shl,
    ...set(ROW), // bytes per float32 row
    ...get(VALUES),
    ...get(ROW),
    ...add,
    ...set(V1),
    ...get(V1),
    ...get(ROW),
    ...add,
    ...set(V2),
    ...get(V2),
    ...get(ROW),
    ...add,
    ...set(V3),
    ...i32(0),
    ...set(K),
    0x03,
    0x40, // loop over components k
    ...get(SCALES),
    ...get(K),
    ...i32(3),
    ...shl,
    ...add,
    ...set(S_ROW),
    ...[0, 1, 2, 3].flatMap((c) => [
      ...get(S_ROW),
      ...(c === 0 ? [] : [...get(DIM), ...i32(8 * c), ...mul, ...add]),
      ...loadF64,
      ...splat,
      ...tee(SCALE[c]),
      ...zeroF64,
      ...splat,
      ...notEqual,
      ...set(MASK[c]),
    ]),
    ...get(E),
    ...get(K),
    ...get(ROW),
    ...mul,
    ...add,
    ...set(E_ROW),
    ...drawValuesLoop(),
    ...get(K),
    ...i32(1),
    ...add,
    ...tee(K),
    ...get(DIM),
    ...lessThan,
    0x0d,
    0, // br_if k loop
    0x0b,
    0x0b,
  ];
}

/** The loop over values i, four at a time: each row += scale * eigenvector, where the scale is not 0. */
function drawValuesLoop(): number[] {
  return [
    ...i32(0),
    ...set(I),
    0x03,
    0x40, // loop over values i, four at a time
    ...get(E_ROW),
    ...get(I),
    ...add,
    ...load,
    ...tee(V),
    ...promote,
    ...set(E_LOW),
    ...get(V),
    ...get(V),
    ...shuffle(HIGH),
    ...promote,
    ...set(E_HIGH),
    ...[0, 1, 2, 3].flatMap((c) => [
      ...get(rows[c]),
      ...get(I),
      ...add, // store address
      ...get(rows[c]),
      ...get(I),
      ...add,
      ...load,
      ...tee(V),
      ...promote,
      ...get(SCALE[c]),
      ...get(E_LOW),
      ...mulF64,
      ...addF64,
      ...demote,
      ...get(V),
      ...get(V),
      ...shuffle(HIGH),
      ...promote,
      ...get(SCALE[c]),
      ...get(E_HIGH),
      ...mulF64,
      ...addF64,
      ...demote,
      ...shuffle(JOIN),
      ...get(V),
      ...get(MASK[c]),
      ...bitselect,
      ...store,
    ]),
    ...get(I),
    ...i32(16),
    ...add,
    ...tee(I),
    ...get(ROW),
    ...lessThan,
    0x0d,
    0, // br_if i loop
    0x0b,
  ];
}

/** Unit vectors as the reference makes them; returns 0 (usable) or 1 (zero or non-finite norm) per row. */
function unitVectors(raw: Float32Array, units: Float32Array, count: number, dim: number): Uint8Array {
  const status = new Uint8Array(count);
  for (let c = 0; c < count; c++) {
    const offset = c * dim;
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += raw[offset + i] * raw[offset + i];
    const length = Math.sqrt(sum);
    if (!(length > 0 && length < Infinity)) {
      status[c] = 1;
      continue;
    }
    for (let i = 0; i < dim; i++) units[offset + i] = raw[offset + i] / length;
  }
  return status;
}

/** Copies the listed rows next to each other, unless they already are the first rows. */
function packRows(units: Float32Array, rows: number[], out: Float32Array, dim: number): Float32Array {
  if (rows.every((row, i) => row === i)) return units;
  rows.forEach((row, i) => out.set(units.subarray(row * dim, (row + 1) * dim), i * dim));
  return out;
}

/** The reference cosine: float64 sum in index order of float32 products. */
function exactDot(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, dim: number): number {
  let dot = 0;
  for (let i = 0; i < dim; i++) dot += a[aOffset + i] * b[bOffset + i];
  return dot;
}

/**
 * Bound on |float32 cosine - reference float64 cosine| for two stored unit
 * vectors u, v of `dim` values, doubled for safety.
 *
 * Why it holds: a float32 dot product evaluated in any order, with or without
 * FMA (every Gemm kernel), satisfies |fl(u·v) - u·v| <= γ_d Σ|u_i v_i| with
 * γ_d = d·2⁻²⁴ / (1 - d·2⁻²⁴) (Higham, Accuracy and Stability of Numerical
 * Algorithms, §3.1, eq. 3.5), and Σ|u_i v_i| <= |u||v| (Cauchy-Schwarz). The
 * reference float64 sum of the same (exactly representable) products is within
 * γ_d(2⁻⁵³)|u||v| of u·v. Stored unit values are x_i / |x| rounded to float32,
 * so |u| <= 1 + 2⁻²³ and |u||v| <= 1 + 2⁻²⁰ is generous. Products below 2⁻¹²⁶
 * may lose up to 2⁻¹²⁶ each to gradual underflow or flush-to-zero: d·2⁻¹²⁵ more.
 * So a float32 value below threshold - margin means a reference value below the
 * threshold (keep), one at or above threshold + margin a reference value at or
 * above it (reject). For d = 512 the margin is 6.1e-5.
 */
function float32Margin(dim: number): number {
  const gamma = (unit: number) => dim * unit / (1 - dim * unit);
  return 2 * ((gamma(2 ** -24) + gamma(2 ** -53)) * (1 + 2 ** -20) + dim * 2 ** -125);
}

async function createEngine(kind: SampleEngine, dim: number): Promise<CosineEngine> {
  if (kind === "js") return jsEngine(dim);
  // A float32 engine is of no use when its bound is too wide to decide pairs (huge dims).
  const usable = float32Margin(dim) < 1e-2;
  for (const device of kind === "auto" ? ["native", "wasm"] as const : [kind]) {
    if (!usable) break;
    try {
      return await onnxEngine(device, dim);
    } catch (error) {
      if (kind !== "auto") throw error;
    }
  }
  if (kind !== "auto") {
    throw new RangeError(`Cannot sample with engine ${kind} as a prior of dim ${dim}: current dim is too large`);
  }
  return jsEngine(dim);
}

/** Reference float64 cosines, blocked four candidates at a time (each sum still in index order). */
function jsEngine(dim: number): CosineEngine {
  const block = (
    a: Float32Array,
    m: number,
    b: Float32Array,
    n: number,
    out: Float64Array,
    reduce: boolean,
    lower = false,
  ) => {
    let r = 0;
    for (; r + 4 <= m; r += 4) {
      const a0 = r * dim, a1 = a0 + dim, a2 = a1 + dim, a3 = a2 + dim;
      let m0 = -Infinity, m1 = -Infinity, m2 = -Infinity, m3 = -Infinity;
      // Below the diagonal of these four rows: columns before r + 3.
      const end = lower ? Math.min(n, r + 3) : n;
      for (let col = 0; col < end; col++) {
        const b0 = col * dim;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let i = 0; i < dim; i++) {
          const x = b[b0 + i];
          s0 += a[a0 + i] * x;
          s1 += a[a1 + i] * x;
          s2 += a[a2 + i] * x;
          s3 += a[a3 + i] * x;
        }
        if (reduce) {
          if (s0 > m0) m0 = s0;
          if (s1 > m1) m1 = s1;
          if (s2 > m2) m2 = s2;
          if (s3 > m3) m3 = s3;
        } else {
          out[r * n + col] = s0;
          out[(r + 1) * n + col] = s1;
          out[(r + 2) * n + col] = s2;
          out[(r + 3) * n + col] = s3;
        }
      }
      if (reduce) out.set([m0, m1, m2, m3], r);
    }
    for (; r < m; r++) {
      let best = -Infinity;
      for (let col = 0, end = lower ? Math.min(n, r) : n; col < end; col++) {
        const value = exactDot(a, r * dim, b, col * dim, dim);
        if (reduce) best = Math.max(best, value);
        else out[r * n + col] = value;
      }
      if (reduce) out[r] = best;
    }
    return out;
  };
  return {
    name: "js",
    margin: 0, // its values are the reference values
    chunkRows: 1024,
    maxRows: (a, m, b, n) => Promise.resolve(block(a, m, b, n, new Float64Array(m), true)),
    products: (a, m, b, n, lower) => Promise.resolve(block(a, m, b, n, new Float64Array(m * n), false, lower)),
    dispose: () => Promise.resolve(),
  };
}

/** onnxruntime float32 `Gemm` (b transposed), with or without a row `ReduceMax`. */
async function onnxEngine(device: "native" | "wasm", dim: number): Promise<CosineEngine> {
  const sessions: OnnxSession[] = [];
  try {
    sessions.push(await createSession(gemmGraph(dim, true), { device }));
    sessions.push(await createSession(gemmGraph(dim, false), { device }));
  } catch (error) {
    for (const session of sessions) await session.dispose();
    throw error;
  }
  const [maxSession, productSession] = sessions;
  const run = async (session: OnnxSession, a: Float32Array, m: number, b: Float32Array, n: number) => {
    const outputs = await session.run({
      a: { type: "float32", data: a.subarray(0, m * dim), dims: [m, dim] },
      b: { type: "float32", data: b.subarray(0, n * dim), dims: [n, dim] },
    });
    return outputs.s.data;
  };
  return {
    name: device,
    margin: float32Margin(dim),
    // Native: ~40 ms per call for 512 candidates; wasm copies its inputs, so smaller.
    chunkRows: device === "native" ? 16384 : 4096,
    maxRows: (a, m, b, n) => run(maxSession, a, m, b, n),
    products: (a, m, b, n) => run(productSession, a, m, b, n),
    dispose: async () => {
      for (const session of sessions) await session.dispose();
    },
  };
}

/**
 * The ONNX model `s = Gemm(a, b, transB=1)` (opset 13), followed by
 * `ReduceMax(axes=[1], keepdims=0)` when `reduce`; a: [m, dim], b: [n, dim].
 * Encoded by hand (protobuf fields of onnx.proto) to need no onnx package.
 */
function gemmGraph(dim: number, reduce: boolean): Uint8Array {
  const varint = (value: number) => {
    const bytes: number[] = [];
    for (; value > 127; value = Math.floor(value / 128)) bytes.push((value & 127) | 128);
    bytes.push(value);
    return bytes;
  };
  const integer = (field: number, value: number) => [...varint(field << 3), ...varint(value)];
  const bytes = (
    field: number,
    payload: number[],
  ) => [...varint((field << 3) | 2), ...varint(payload.length), ...payload];
  const text = (field: number, value: string) => bytes(field, [...new TextEncoder().encode(value)]);
  const tensor = (field: number, name: string, dims: (number | string)[]) => {
    const shape = dims.flatMap((d) => bytes(1, typeof d === "number" ? integer(1, d) : text(2, d)));
    // ValueInfoProto { name, type: TypeProto { tensor_type { elem_type FLOAT, shape } } }
    return bytes(field, [...text(1, name), ...bytes(2, bytes(1, [...integer(1, 1), ...bytes(2, shape)]))]);
  };
  // AttributeProto { name, i | ints, type INT (2) | INTS (7) }
  const attribute = (name: string, values: number[], list: boolean) =>
    bytes(5, [...text(1, name), ...values.flatMap((v) => integer(list ? 8 : 3, v)), ...integer(20, list ? 7 : 2)]);
  const node = (op: string, inputs: string[], output: string, attributes: number[]) =>
    bytes(1, [...inputs.flatMap((name) => text(1, name)), ...text(2, output), ...text(4, op), ...attributes]);
  const nodes = [node("Gemm", ["a", "b"], reduce ? "y" : "s", attribute("transB", [1], false))];
  if (reduce) {
    nodes.push(node("ReduceMax", ["y"], "s", [...attribute("axes", [1], true), ...attribute("keepdims", [0], false)]));
  }
  const graph = [
    ...nodes.flat(),
    ...text(2, "cosines"),
    ...tensor(11, "a", ["m", dim]),
    ...tensor(11, "b", ["n", dim]),
    ...tensor(12, "s", reduce ? ["m"] : ["m", "n"]),
  ];
  // ModelProto { ir_version 8, graph, opset_import { domain "", version 13 } }
  return new Uint8Array([...integer(1, 8), ...bytes(7, graph), ...bytes(8, [...text(1, ""), ...integer(2, 13)])]);
}
