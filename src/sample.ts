/**
 * Well-separated identities: draws from the prior, each kept only when its
 * cosine similarity to every kept vector is below the threshold (exact).
 *
 * @module
 */
import { Vec2FaceError } from "./errors.ts";
import { drawFromPrior, type Prior } from "./prior.ts";
import { checkSeed, Random, Stream } from "./random.ts";
import { norm } from "./vectors.ts";

/** Progress of {@linkcode sample}. */
export interface SampleProgress {
  /** Identities kept so far. */
  accepted: number;
  /** Candidates drawn so far. */
  candidates: number;
  /** Identities asked for. */
  target: number;
}

/** Options for {@linkcode sample}. */
export interface SampleOptions {
  /** The identity prior to draw from. */
  prior: Prior;
  /** Keep a candidate only when its cosine to every kept one is below this; in (-1, 1]. */
  threshold: number;
  /** Seed; candidate j is drawn from the stream `(seed, candidate, j)`. Default 0. */
  seed?: number;
  /** Stop (with an error) when fewer than this share of the last `window` candidates were kept. Default 0.01. */
  minAcceptance?: number;
  /** Candidates over which acceptance is tracked. Default 10,000. */
  window?: number;
  /** Cancels sampling. */
  signal?: AbortSignal;
  /** Called every 1,000 candidates and at the end. */
  onProgress?: (progress: SampleProgress) => void;
}

/** Result of {@linkcode sample}. */
export interface SampleResult {
  /** The identity vectors, in acceptance order. */
  vectors: Float32Array[];
  /** Candidates drawn in all. */
  candidates: number;
  /** Largest cosine between any two returned vectors. */
  maxCosine: number;
}

/**
 * Samples `n` identity vectors whose pairwise cosine similarity is below the
 * threshold. Deterministic for a seed. Never hangs: when acceptance collapses
 * it throws a `Vec2FaceError` (`sampling-stalled`) giving the count reached.
 *
 * @example
 * ```ts
 * import { sample } from "./sample.ts";
 * const dim = 8;
 * const eigenvectors = new Float32Array(dim * dim);
 * for (let i = 0; i < dim; i++) eigenvectors[i * dim + i] = 1;
 * const prior = { dim, mean: new Float32Array(dim), eigenvalues: new Float32Array(dim).fill(1), eigenvectors };
 * const { vectors, maxCosine } = await sample(5, { prior, threshold: 0.5, seed: 1 });
 * console.assert(vectors.length === 5 && maxCosine < 0.5);
 * ```
 */
export async function sample(n: number, options: SampleOptions): Promise<SampleResult> {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`Cannot sample ${n} identities: current value is not a positive integer`);
  }
  const { prior, threshold } = options;
  if (!prior || !(prior.mean instanceof Float32Array)) {
    throw new TypeError(`Cannot sample identities as prior ${prior}: current value is not a Prior`);
  }
  if (!(typeof threshold === "number" && threshold > -1 && threshold <= 1)) {
    throw new RangeError(`Cannot sample identities at threshold ${threshold}: current value is not in (-1, 1]`);
  }
  const seed = checkSeed(options.seed ?? 0);
  const minAcceptance = options.minAcceptance ?? 0.01;
  const window = options.window ?? 10_000;
  const dim = prior.dim;
  // Unit vectors of the kept identities, packed for a cache-friendly scan.
  const unitVectors = new Float32Array(n * dim);
  const vectors: Float32Array[] = [];
  const recentAccepts: number[] = []; // candidate numbers of recent acceptances
  let maxCosine = -1;
  let candidates = 0;
  while (vectors.length < n) {
    options.signal?.throwIfAborted();
    const candidate = drawFromPrior(prior, Random.from(seed, Stream.candidate, candidates));
    candidates++;
    const length = norm(candidate);
    let worst = -1;
    if (length > 0) {
      const unit = candidate.map((value) => value / length);
      for (let k = 0; k < vectors.length && worst < threshold; k++) {
        let dot = 0;
        const offset = k * dim;
        for (let i = 0; i < dim; i++) dot += unit[i] * unitVectors[offset + i];
        if (dot > worst) worst = dot;
      }
      if (worst < threshold) {
        unitVectors.set(unit, vectors.length * dim);
        vectors.push(candidate);
        if (worst > maxCosine) maxCosine = worst;
        recentAccepts.push(candidates);
      }
    }
    while (recentAccepts.length > 0 && recentAccepts[0] <= candidates - window) recentAccepts.shift();
    if (candidates % 1000 === 0) {
      options.onProgress?.({ accepted: vectors.length, candidates, target: n });
      // Yield so that a signal or a progress bar can be served on long runs.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    if (candidates >= window && recentAccepts.length < minAcceptance * window) {
      throw new Vec2FaceError(
        "sampling-stalled",
        `Cannot sample ${n} identities at threshold ${threshold}: acceptance fell to ${
          (100 * recentAccepts.length / window).toFixed(2)
        } % over the last ${window} candidates, after ${vectors.length} identities from ${candidates} candidates; raise the threshold or ask for fewer`,
      );
    }
  }
  options.onProgress?.({ accepted: vectors.length, candidates, target: n });
  return { vectors, candidates, maxCosine: vectors.length > 1 ? maxCosine : 0 };
}
