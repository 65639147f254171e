/**
 * AttrOP without gradients: move an identity vector until its face hits
 * attribute targets (yaw, pitch, age, gender, quality) while the face stays
 * the same person, with forward passes only and a hard budget of generator
 * calls, so that an unreachable target ends with the best face found instead
 * of the original's endless loop.
 *
 * The search runs on the sphere of the vector's norm, in a small space: the
 * pack's attribute directions (fitted on real faces by
 * `training/fit_attributes.py`) for the targeted attributes, plus the top
 * principal axes of the identity prior. Each round renders one batch of
 * candidates: quasi-Newton steps along the directions (the Jacobian starts
 * from the fitted slopes and is updated from what the renders show,
 * Broyden's rule) and evolution-strategy samples over the whole space (step
 * size adapted by the 1/5 success rule), which also handle quality and the
 * identity constraint. Identity is the cosine between the pack's identity
 * features of the edited face and of the unedited face, both rendered with
 * the same token mask.
 *
 * @module
 */
import { embed } from "./estimators/embed.ts";
import { attributesOfFeatures } from "./estimators/attributes.ts";
import { estimateLandmarkYaw, estimatePose, expectedLandmarkYaw } from "./estimators/pose.ts";
import type { RgbImage } from "./image/codec.ts";
import { solveLinear } from "./linalg.ts";
import { drawMask, type TokenMask } from "./mask.ts";
import type { ModelPack } from "./model_pack.ts";
import { decodeNpy } from "./npy.ts";
import { Vec2FaceError } from "./errors.ts";
import { checkSeed, Random, STREAM_TAGS } from "./random.ts";
import { type HeadPose, renderBatch } from "./render.ts";
import { cosineSimilarity, norm } from "./vectors.ts";

/** Attributes `edit` can target. */
export type EditAttribute = "yaw" | "pitch" | "age" | "gender" | "quality";

/** The attributes `edit` can target, in a fixed order. */
export const EDIT_ATTRIBUTES: readonly EditAttribute[] = ["yaw", "pitch", "age", "gender", "quality"];

/**
 * Attribute targets: yaw and pitch in degrees, age in years, gender as
 * `"female"`, `"male"` or the probability of female (0..1), quality as the
 * feature-norm ratio of `estimateAttributes` (about 1 for a clear photo).
 */
export interface EditTargets {
  /** Head yaw in degrees. */
  yaw?: number;
  /** Head pitch in degrees. */
  pitch?: number;
  /** Apparent age in years. */
  age?: number;
  /** `"female"` (probability 1), `"male"` (0), or a probability of female. */
  gender?: "female" | "male" | number;
  /** Quality score. */
  quality?: number;
}

/**
 * Degrees the landmark reading of yaw may differ, beyond the yaw tolerance, from what real faces at the yaw target
 * read ({@linkcode expectedLandmarkYaw}). With it, 97-99 % of real faces pass at their own pose reading below 38 degrees
 * and 91 % beyond (43 % there when the reading was compared with the target itself; `bench/pose_crosscheck.ts
 * --labels`).
 */
export const LANDMARK_YAW_SLACK = 5;

/** Default tolerances: a target counts as reached within these. */
export const EDIT_TOLERANCES: Readonly<Record<EditAttribute, number>> = {
  yaw: 5,
  pitch: 5,
  age: 4,
  gender: 0.3,
  quality: 0.05,
};

/** Options of {@linkcode edit}. */
export interface EditOptions {
  /** The pack whose generator renders and whose estimators measure. */
  pack: ModelPack;
  /** Lowest identity cosine between the edited and the unedited face; default 0.6. */
  minIdentity?: number;
  /** Generator calls (images rendered, the unedited one included); default 200. */
  budget?: number;
  /** Allowed error per attribute; defaults {@linkcode EDIT_TOLERANCES}. */
  tolerance?: Partial<Record<EditAttribute, number>>;
  /** Seed of the search and, without `mask`, of the token mask (that of `render` image 0). Default 0. */
  seed?: number;
  /**
   * Token mask to render with (a dataset image's); default drawn from `seed`.
   *
   * @ignore
   */
  mask?: TokenMask;
  /**
   * Search randomness; default the stream `(seed, edit)`. Datasets pass one stream per image.
   *
   * @ignore
   */
  random?: Random;
  /** Starting pose input for generators with one (`render`'s `poses`); default frontal. */
  pose?: HeadPose;
  /** Candidates rendered per round; default 8. */
  batchSize?: number;
  /** Stops between rounds; the best face so far is lost, as with any abort. */
  signal?: AbortSignal;
}

/** Measured attributes of a face (`roll` and `female` as the estimators report them). */
export interface MeasuredAttributes {
  /** Degrees. */
  yaw: number;
  /**
   * Yaw read a second way, from landmark geometry ({@linkcode estimateLandmarkYaw}); measured when yaw is a target
   * and the pack has a landmark model. A yaw target counts as reached only when this reading is also within the yaw
   * tolerance + {@linkcode LANDMARK_YAW_SLACK} of what real faces at the target read ({@linkcode expectedLandmarkYaw}).
   */
  landmarkYaw?: number;
  /** Degrees. */
  pitch: number;
  /** Degrees. */
  roll: number;
  /** Years. */
  age: number;
  /** Probability of female. */
  female: number;
  /** Feature-norm ratio. */
  quality: number;
}

/** What {@linkcode edit} reached. */
export interface EditResult {
  /** `reached` when every target is within tolerance and identity is at least `minIdentity`. */
  status: "reached" | "unreached";
  /** The edited vector (the input's norm). */
  vector: Float32Array;
  /** The generator's pose input that goes with it (render with `poses: [pose]`); the start pose for generators without one. */
  pose: HeadPose;
  /** Its face, rendered with the search's mask. */
  image: RgbImage;
  /** Attributes of the edited face. */
  attributes: MeasuredAttributes;
  /** Attributes of the unedited face. */
  start: MeasuredAttributes;
  /** Absolute error per target (gender as a probability). */
  errors: Partial<Record<EditAttribute, number>>;
  /** Identity cosine between the edited and the unedited face. */
  identity: number;
  /** Generator calls used. */
  calls: number;
}

interface Candidate {
  coordinates: Float64Array;
  vector: Float32Array;
  pose: HeadPose;
  image: RgbImage;
  attributes: MeasuredAttributes;
  identity: number;
  loss: number;
  reached: boolean;
}

// Directions `edit` can start from, as rows of the pack's directions.npy.
const DIRECTION_ROWS: readonly EditAttribute[] = ["yaw", "pitch", "age", "gender"];
const PRINCIPAL_AXES = 24;

function checkTargets(targets: EditTargets): [EditAttribute, number][] {
  if (typeof targets !== "object" || targets === null) {
    throw new TypeError(`Cannot edit towards targets ${targets}: current value is not an object`);
  }
  const entries: [EditAttribute, number][] = [];
  for (const [name, raw] of Object.entries(targets)) {
    if (raw === undefined) continue;
    if (!EDIT_ATTRIBUTES.includes(name as EditAttribute)) {
      throw new RangeError(`Cannot edit attribute ${name}: current value is not one of ${EDIT_ATTRIBUTES.join(", ")}`);
    }
    const value = name === "gender" && raw === "female" ? 1 : name === "gender" && raw === "male" ? 0 : raw;
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new RangeError(`Cannot edit ${name} towards ${raw}: current value is not a finite number`);
    }
    if (name === "gender" && (value < 0 || value > 1)) {
      throw new RangeError(`Cannot edit gender towards ${raw}: current value is not female, male or a probability`);
    }
    entries.push([name as EditAttribute, value]);
  }
  if (entries.length === 0) throw new RangeError("Cannot edit without targets: current value names none");
  return entries;
}

function checkOptionNumber(value: number, what: string, low: number, high: number, integer = false): number {
  if (!Number.isFinite(value) || value < low || value > high || (integer && !Number.isInteger(value))) {
    throw new RangeError(
      `Cannot edit with ${what} ${value}: current value is not ${
        integer ? "an integer" : "a number"
      } in ${low}..${high}`,
    );
  }
  return value;
}

function logit(p: number): number {
  const q = Math.min(0.995, Math.max(0.005, p));
  return Math.log(q / (1 - q));
}

/** The measured value of an attribute in the units the Newton step works in (gender as a logit). */
function working(attributes: MeasuredAttributes, name: EditAttribute): number {
  return name === "gender" ? logit(attributes.female) : attributes[name];
}

function errorOf(attributes: MeasuredAttributes, name: EditAttribute, target: number): number {
  return Math.abs((name === "gender" ? attributes.female : attributes[name]) - target);
}

/** Orthonormal rows (Gram-Schmidt), dropping rows that are nearly dependent. */
function orthonormalRows(rows: Float64Array[]): Float64Array[] {
  const basis: Float64Array[] = [];
  for (const row of rows) {
    const v = Float64Array.from(row);
    for (const b of basis) {
      let dot = 0;
      for (let i = 0; i < v.length; i++) dot += v[i] * b[i];
      for (let i = 0; i < v.length; i++) v[i] -= dot * b[i];
    }
    const length = Math.hypot(...v);
    if (length > 1e-6) basis.push(v.map((x) => x / length));
  }
  return basis;
}

/**
 * Edits an identity vector towards attribute targets within a budget of
 * generator calls, keeping the face's identity; always returns, with what it
 * reached. Needs a pack with pose, attribute and direction models (the
 * default pack has them).
 *
 * @example Turn a face towards yaw 20 within 48 renders
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "./model_pack.ts";
 * import { edit } from "./edit.ts";
 * await using pack = await loadPack(undefined, { device: "wasm" });
 * const result = await edit(new Float32Array(pack.prior.mean), { yaw: 20 }, { pack, budget: 48, seed: 1 });
 * assert.ok(result.calls <= 48);
 * assert.ok(["reached", "unreached"].includes(result.status));
 * console.log(result.status, result.attributes.yaw.toFixed(1), result.identity.toFixed(2));
 * ```
 */
export async function edit(vector: Float32Array, targets: EditTargets, options: EditOptions): Promise<EditResult> {
  const settings = checkEdit(vector, targets, options);
  const space = await searchSpace(vector, settings, options);
  const search = evaluator(space, settings, options);
  const [initial] = await search.evaluate([new Float64Array(space.dimensions)]);
  let best = initial;
  const jacobian = startJacobian(space);
  let sigma = 0.15;
  while (!best.reached && search.calls < settings.budget) {
    const count = Math.min(settings.batchSize, settings.budget - search.calls);
    const { points, newton } = proposePoints(space, settings, jacobian, best, sigma, count);
    const candidates = await search.evaluate(points);
    updateJacobian(space, jacobian, best, candidates, newton);
    const winner = candidates.reduce((a, b) => (b.loss < a.loss ? b : a));
    const improvedByStrategy = candidates.some((candidate, c) => !newton[c] && candidate.loss < best.loss);
    sigma = Math.min(0.6, Math.max(0.02, sigma * (improvedByStrategy ? 1.5 : 0.85)));
    if (winner.loss < best.loss || winner.reached) best = winner;
  }
  return await editResult(options.pack, settings, initial, best, search.calls);
}

/** The checked arguments of {@linkcode edit}. */
interface EditSettings {
  /** Vector size. */
  size: number;
  /** The input vector's norm (kept by every edited vector). */
  vectorNorm: number;
  goals: [EditAttribute, number][];
  minIdentity: number;
  budget: number;
  batchSize: number;
  tolerance: Record<EditAttribute, number>;
  mask: TokenMask;
  random: Random;
  /** Whether a target needs the pose model. */
  needsPose: boolean;
  yawTarget: number | undefined;
}

function checkEdit(vector: Float32Array, targets: EditTargets, options: EditOptions): EditSettings {
  const { pack } = options;
  const size = pack.manifest.vectorSize;
  if (!(vector instanceof Float32Array) || vector.length !== size || !vector.every(Number.isFinite)) {
    throw new TypeError(
      `Cannot edit a vector as ${size} finite float32 values: current value has length ${
        (vector as Float32Array)?.length
      }`,
    );
  }
  const vectorNorm = norm(vector);
  if (!(vectorNorm > 0)) throw new RangeError("Cannot edit a vector as a direction: current norm is 0");
  const goals = checkTargets(targets);
  const minIdentity = checkOptionNumber(options.minIdentity ?? 0.6, "minIdentity", -1, 1);
  const budget = checkOptionNumber(options.budget ?? 200, "budget", 2, 1e6, true);
  const batchSize = checkOptionNumber(options.batchSize ?? 8, "batch size", 1, 4096, true);
  const seed = checkSeed(options.seed ?? 0);
  const tolerance = { ...EDIT_TOLERANCES, ...options.tolerance };
  for (const [name, value] of Object.entries(tolerance)) checkOptionNumber(value, `tolerance of ${name}`, 0, 1e6);
  return {
    size,
    vectorNorm,
    goals,
    minIdentity,
    budget,
    batchSize,
    tolerance,
    mask: options.mask ?? drawMask(Random.from(seed, STREAM_TAGS.mask, 0), pack.layout),
    random: options.random ?? Random.from(seed, STREAM_TAGS.edit),
    needsPose: goals.some(([name]) => name === "yaw" || name === "pitch"),
    yawTarget: goals.find(([name]) => name === "yaw")?.[1],
  };
}

/** The search space: coordinates, the axes they move along, and the Newton variables among them. */
interface SearchSpace {
  /** Coordinates `[0, poseAxes)` are the generator's pose input (yaw, pitch); the rest move along `basis`. */
  poseAxes: number;
  basis: Float64Array[];
  /** The fitted attribute directions used as Newton axes. */
  directionRows: Float64Array[];
  dimensions: number;
  /** Newton variables: [attribute, coordinate index]. */
  newtonVariables: [EditAttribute, number][];
  /** Starting slope per attribute, in working units per coordinate unit. */
  slopes: Partial<Record<string, number>>;
  /** Evolution-strategy spread per coordinate. */
  spread: number[];
  vectorAt(coordinates: Float64Array): Float32Array;
  poseAt(coordinates: Float64Array): HeadPose;
}

/**
 * The search space. Newton axes: for each target one coordinate that moves it, the generator's pose
 * input for yaw and pitch when it has one (its slope starts at 1 degree per degree), else the
 * fitted direction. Then the remaining vector axes: the prior's top principal axes.
 */
async function searchSpace(vector: Float32Array, settings: EditSettings, options: EditOptions): Promise<SearchSpace> {
  const { pack } = options;
  const { size, goals, vectorNorm } = settings;
  const generatorHasPose = (await pack.session("generator")).inputNames.includes("pose");
  const poseGoals = generatorHasPose ? goals.filter(([name]) => name === "yaw" || name === "pitch") : [];
  const poseAxes = generatorHasPose ? 2 : 0; // coordinates [0, 1] are the pose input's yaw and pitch
  const directionNames = goals.map(([name]) => name).filter((name) =>
    DIRECTION_ROWS.includes(name) && !poseGoals.some(([goal]) => goal === name)
  );
  const directionRows = await directionRowsOf(pack, directionNames, size);
  const { eigenvectors, eigenvalues } = pack.prior;
  const axes = Math.min(PRINCIPAL_AXES, size);
  const principalRows = Array.from(
    { length: axes },
    (_, j) => Float64Array.from(eigenvectors.subarray(j * size, (j + 1) * size)),
  );
  const basis = orthonormalRows([...directionRows, ...principalRows]);
  const directionCount = Math.min(directionRows.length, basis.length);
  const dimensions = poseAxes + basis.length;
  // Evolution-strategy spread per coordinate: pose in tens of degrees, directions 1, the prior's axes as the prior.
  const meanVariance = eigenvalues.subarray(0, axes).reduce((s, v) => s + v, 0) / axes;
  const spread = Array.from(
    { length: dimensions },
    (_, k) =>
      k < poseAxes
        ? 40
        : k - poseAxes < directionCount
        ? 1
        : Math.sqrt(eigenvalues[k - poseAxes - directionCount] / meanVariance),
  );
  const start = Float64Array.from(vector, (x) => x / vectorNorm);
  const startPose = options.pose ?? { yaw: 0, pitch: 0 };
  return {
    poseAxes,
    basis,
    directionRows,
    dimensions,
    newtonVariables: [
      ...poseGoals.map(([name]): [EditAttribute, number] => [name, name === "yaw" ? 0 : 1]),
      ...directionNames.slice(0, directionCount).map((name, k): [EditAttribute, number] => [name, poseAxes + k]),
    ],
    slopes: pack.manifest.directions?.slopes ?? {},
    spread,
    vectorAt(coordinates) {
      const u = Float64Array.from(start);
      for (let k = poseAxes; k < dimensions; k++) {
        const z = coordinates[k];
        if (z !== 0) { for (let i = 0; i < size; i++) u[i] += z * basis[k - poseAxes][i]; }
      }
      const length = Math.hypot(...u);
      return Float32Array.from(u, (x) => (x / length) * vectorNorm);
    },
    poseAt: (coordinates) =>
      poseAxes ? { yaw: startPose.yaw + coordinates[0], pitch: startPose.pitch + coordinates[1] } : startPose,
  };
}

/** The pack's fitted directions of `names` (rows of `directions.npy`). */
async function directionRowsOf(pack: ModelPack, names: EditAttribute[], size: number): Promise<Float64Array[]> {
  if (names.length === 0) return [];
  if (!pack.manifest.files.directions) {
    throw new Vec2FaceError(
      "model-missing",
      `Cannot edit ${names.join(", ")}: pack ${pack.manifest.name} has no attribute directions`,
    );
  }
  const matrix = decodeNpy(await pack.file("directions"));
  return names.map((name) => {
    const row = DIRECTION_ROWS.indexOf(name);
    return Float64Array.from(matrix.data.subarray(row * size, (row + 1) * size));
  });
}

/** Renders and measures points of the search space, counting generator calls. */
function evaluator(space: SearchSpace, settings: EditSettings, options: EditOptions) {
  const { pack } = options;
  let reference: Float32Array | undefined; // identity features of the unedited face
  const search = {
    calls: 0,
    async evaluate(points: Float64Array[]): Promise<Candidate[]> {
      if (options.signal?.aborted) {
        throw new Vec2FaceError("aborted", "Cannot finish editing: the signal was aborted", {
          cause: options.signal.reason,
        });
      }
      const vectors = points.map(space.vectorAt);
      const inputPoses = points.map(space.poseAt);
      const images = await renderBatch(pack, vectors, vectors.map(() => settings.mask), inputPoses);
      search.calls += images.length;
      const features = await embed(images, { pack, batchSize: images.length });
      const heads = await attributesOfFeatures(features, { pack });
      const poses = settings.needsPose ? await estimatePose(images, { pack, batchSize: images.length }) : undefined;
      const landmarkYaws = settings.yawTarget !== undefined && pack.manifest.files.landmarks
        ? await estimateLandmarkYaw(images, { pack })
        : undefined;
      reference ??= features[0];
      return points.map((coordinates, i) => {
        const attributes: MeasuredAttributes = {
          yaw: poses?.[i].yaw ?? NaN,
          pitch: poses?.[i].pitch ?? NaN,
          roll: poses?.[i].roll ?? NaN,
          ...(landmarkYaws ? { landmarkYaw: landmarkYaws[i] } : {}),
          ...heads[i],
        };
        const identity = cosineSimilarity(features[i], reference!);
        const { loss, reached } = score(settings, attributes, identity, landmarkYaws?.[i]);
        return {
          coordinates,
          vector: vectors[i],
          pose: inputPoses[i],
          image: images[i],
          attributes,
          identity,
          loss,
          reached,
        };
      });
    },
  };
  return search;
}

/** A candidate's loss (squared errors in tolerances, identity below its floor) and whether it reached every target. */
function score(
  settings: EditSettings,
  attributes: MeasuredAttributes,
  identity: number,
  landmarkYaw: number | undefined,
): { loss: number; reached: boolean } {
  const { goals, tolerance, minIdentity } = settings;
  let loss = 0, reached = identity >= minIdentity;
  for (const [name, target] of goals) {
    const error = errorOf(attributes, name, target);
    loss += (error / Math.max(tolerance[name], 1e-9)) ** 2;
    if (!(error <= tolerance[name])) reached = false;
  }
  if (landmarkYaw !== undefined) {
    // The pose network can be fooled by texture; the nose cannot: the landmark reading must be what real faces
    // turned that far read (it saturates on large turns, so not the target itself).
    const error = Math.abs(landmarkYaw - expectedLandmarkYaw(settings.yawTarget!));
    const allowed = tolerance.yaw + LANDMARK_YAW_SLACK;
    loss += (error / Math.max(allowed, 1e-9)) ** 2;
    if (!(error <= allowed)) reached = false;
  }
  loss += 1e4 * Math.max(0, minIdentity - identity) ** 2;
  return { loss, reached };
}

/** Jacobian of the Newton attributes (working units) over the Newton coordinates, from the fitted slopes. */
function startJacobian(space: SearchSpace): number[][] {
  const { newtonVariables, poseAxes, basis, directionRows, slopes } = space;
  return newtonVariables.map(([name, axis]) =>
    newtonVariables.map(([, other]) => {
      if (axis < poseAxes || other < poseAxes) return axis === other ? 1 : 0;
      let dot = 0;
      const a = basis[axis - poseAxes], b = directionRows[other - poseAxes];
      for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
      return (slopes[name] ?? 1) * dot;
    })
  );
}

/**
 * One round's points around the best: up to three Newton steps (full, shorter, longer), then
 * evolution-strategy draws with spread `sigma`.
 */
function proposePoints(
  space: SearchSpace,
  settings: EditSettings,
  jacobian: number[][],
  best: Candidate,
  sigma: number,
  count: number,
): { points: Float64Array[]; newton: boolean[] } {
  const { newtonVariables, poseAxes, dimensions, spread } = space;
  const { goals, tolerance, random } = settings;
  const points: Float64Array[] = [];
  const newton: boolean[] = [];
  if (newtonVariables.length > 0) {
    // Gender's Newton target is a logit: aim inside the tolerance, not at 0 or 1.
    const workingTarget = (name: EditAttribute, target: number) =>
      name === "gender" ? logit(Math.min(1 - tolerance.gender / 2, Math.max(tolerance.gender / 2, target))) : target;
    // Largest Newton move per round: 0.8 on the unit sphere, 60 degrees of pose input.
    const stepLimit = (axis: number) => (axis < poseAxes ? 60 : 0.8);
    const residual = newtonVariables.map(([name]) =>
      workingTarget(name, goals.find(([goal]) => goal === name)![1]) - working(best.attributes, name)
    );
    const step = solveLinear(jacobian, residual);
    const scale = Math.min(1, ...step.map((s, k) => stepLimit(newtonVariables[k][1]) / Math.abs(s || 1e-12)));
    if (step.some((s) => s !== 0)) {
      for (const factor of [1, 0.6, 1.5].slice(0, Math.max(1, Math.min(3, count - 1)))) {
        const point = Float64Array.from(best.coordinates);
        step.forEach((s, k) => point[newtonVariables[k][1]] += factor * scale * s);
        points.push(point);
        newton.push(true);
      }
    }
  }
  while (points.length < count) {
    const point = Float64Array.from(best.coordinates);
    for (let k = 0; k < dimensions; k++) point[k] += sigma * spread[k] * random.normal() / Math.sqrt(dimensions);
    points.push(point);
    newton.push(false);
  }
  return { points, newton };
}

/** Broyden: fits the Jacobian to each Newton move from the current best. */
function updateJacobian(
  space: SearchSpace,
  jacobian: number[][],
  best: Candidate,
  candidates: Candidate[],
  newton: boolean[],
): void {
  const { newtonVariables } = space;
  candidates.forEach((candidate, c) => {
    if (!newton[c]) return;
    const dz = newtonVariables.map(([, axis]) => candidate.coordinates[axis] - best.coordinates[axis]);
    const dzSquared = dz.reduce((s, v) => s + v * v, 0);
    if (!(dzSquared > 1e-12)) return;
    newtonVariables.forEach(([name], r) => {
      const df = working(candidate.attributes, name) - working(best.attributes, name);
      const predicted = jacobian[r].reduce((s, v, k) => s + v * dz[k], 0);
      for (let k = 0; k < dz.length; k++) jacobian[r][k] += ((df - predicted) * dz[k]) / dzSquared;
    });
  });
}

/** The result: the best candidate, with pose measured (when the pack can) even if it was not targeted. */
async function editResult(
  pack: ModelPack,
  settings: EditSettings,
  initial: Candidate,
  best: Candidate,
  calls: number,
): Promise<EditResult> {
  const withPose = async (candidate: Candidate): Promise<MeasuredAttributes> =>
    settings.needsPose || !pack.manifest.files.pose
      ? candidate.attributes
      : { ...candidate.attributes, ...pickPose((await estimatePose([candidate.image], { pack }))[0]) };
  const final = await withPose(best);
  const startAttributes = await withPose(initial);
  const errors: Partial<Record<EditAttribute, number>> = {};
  for (const [name, target] of settings.goals) errors[name] = errorOf(final, name, target);
  return {
    status: best.reached ? "reached" : "unreached",
    vector: best.vector,
    pose: best.pose,
    image: best.image,
    attributes: final,
    start: startAttributes,
    errors,
    identity: best.identity,
    calls,
  };
}

function pickPose(pose: { yaw: number; pitch: number; roll: number }) {
  return { yaw: pose.yaw, pitch: pose.pitch, roll: pose.roll };
}
