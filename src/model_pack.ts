/**
 * Model packs: a folder with `manifest.json` naming every file with its
 * sha256. Our own files sit in the folder; third-party files are declared by
 * npm package, version and path, pulled once with `npm pack` into a cache and
 * used offline after that. Every file is checked against its hash at load.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { homedir } from "node:os";
import { createSession, type Device, type OnnxSession, resolveBackend } from "./_backend.ts";
import type { Backend } from "./_backend.ts";
import { Vec2FaceError } from "./errors.ts";
import { fetchNpmFiles } from "./_npm_fetch.ts";
import { makeBatchDynamic } from "./_onnx_batch.ts";
import { writeAtomic } from "./_fs.ts";
import { sha256 } from "./_hash.ts";
import { type MaskRatio, type TokenLayout, VEC2FACE_MASK_RATIO } from "./mask.ts";
import { parsePrior, type Prior } from "./prior.ts";

/** A third-party source of a file: a path inside an npm package's tarball. */
export interface NpmSource {
  /** npm package name. */
  package: string;
  /** Exact version. */
  version: string;
  /** Path inside the tarball, e.g. `package/model/fr_feature.onnx`. */
  path: string;
  /** sha256 of the file as published. */
  sha256: string;
}

/** One file of a pack. */
export interface PackFile {
  /** Path relative to the pack folder (own files). */
  path?: string;
  /** Where a third-party file comes from (pulled into the cache). */
  npm?: NpmSource;
  /** Rewrite applied after pulling: `batch-dynamic` makes a fixed batch of 1 symbolic. */
  transform?: "batch-dynamic";
  /** sha256 of the file as used (after any transform). */
  sha256: string;
  /** Licence of the file. */
  license: string;
}

/** The roles of files in a pack. */
export type FileRole =
  | "generator"
  | "prior"
  | "identity"
  | "detector"
  | "landmarks"
  | "pose"
  | "attributes"
  | "directions";

/** `manifest.json` of a model pack. */
export interface PackManifest {
  /** Always `vec2face-pack/1`. */
  format: "vec2face-pack/1";
  /** Short name. */
  name: string;
  /** What this pack is; says so when it is a test fixture. */
  description: string;
  /** True for packs with untrained weights, made for tests. */
  fixture?: boolean;
  /** Identity vector size (512). */
  vectorSize: number;
  /** Image side in pixels (112). */
  imageSize: number;
  /** Feature tokens (49). */
  tokens: number;
  /** Dropped tokens (5). */
  droppedTokens: number;
  /** Mask-ratio distribution. */
  maskRatio: MaskRatio;
  /** Cosine at which the identity model has FAR 1e-5 between different people. */
  separationThreshold: number;
  /** Perturbation sigmas in the vectors' own units. */
  sigmas: number[];
  /** Share of images per sigma. */
  shares: number[];
  /** Identity model preprocessing: RGB, (pixel - mean) / std, 112x112 ArcFace alignment. */
  identityModel: { input: "RGB"; size: number; mean: number; std: number; alignment: "arcface-5point" };
  /**
   * Rows of the `directions` file (`yaw`, `pitch`, `age`, `gender`) and the
   * attribute change per unit step of a unit-norm identity along each
   * (gender as a logit), from `training/fit_attributes.py`.
   */
  directions?: { names: string[]; slopes: Record<string, number> };
  /**
   * The head poses the generator renders true, in degrees: |yaw| up to `yaw`,
   * |pitch| up to `pitch` (read back by the pose estimators). Only for
   * generators with a `pose` input; datasets spread each identity's images over it.
   */
  pose?: { yaw: number; pitch: number };
  /** The files, by role. `generator` and `prior` are required. */
  files: Partial<Record<FileRole, PackFile>> & { generator: PackFile; prior: PackFile };
}

/** Options for {@linkcode loadPack}. */
export interface LoadPackOptions {
  /**
   * Pack folder path or URL; default {@linkcode DEFAULT_PACK}. With the
   * two-argument form `loadPack(location, options)`, the first argument wins.
   */
  location?: string;
  /** Device for the pack's sessions; default `auto`. */
  device?: Device;
  /** CPU threads for wasm/native sessions. */
  threads?: number;
  /** Pull missing third-party files with `npm pack` (default true); false fails when they are not cached. */
  pull?: boolean;
  /** Cache folder; default `$VEC2FACE_CACHE` or `~/.cache/vec2face`. */
  cacheDir?: string;
  /** Called with a one-line message when a file is being pulled. */
  onPull?: (message: string) => void;
}

/**
 * The bundled default pack's folder: `vec2face-small`, a 3.9M-parameter
 * generator we trained on aligned UTKFace faces (see `training/`).
 */
export const DEFAULT_PACK: string = new URL("../models/vec2face-small/", import.meta.url).href;

/**
 * The bundled test fixture's folder: a tiny generator with random weights
 * (its images are not faces) and a synthetic prior, for fast tests of code
 * that only needs the model contract.
 *
 * @example Load the fixture pack
 * ```ts
 * import assert from "node:assert/strict";
 * import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * assert.equal(pack.manifest.fixture, true);
 * ```
 */
export const FIXTURE_PACK: string = new URL("../models/fixture/", import.meta.url).href;

/** The cache folder: `$VEC2FACE_CACHE`, else `~/.cache/vec2face`. */
export function cacheDir(): string {
  return Deno.env.get("VEC2FACE_CACHE") ?? join(homedir(), ".cache", "vec2face");
}

/**
 * A loaded model pack. Owns the onnxruntime sessions it creates (lazily, one
 * per role); release them with `dispose()` or `await using`.
 */
export class ModelPack {
  /** Pack folder or URL. */
  readonly location: string;
  /** The parsed manifest. */
  readonly manifest: PackManifest;
  /** sha256 of `manifest.json`, which pins every file: the pack's identity. */
  readonly sha256: string;
  /** The identity prior. */
  readonly prior: Prior;
  /** The backend its sessions run on. */
  readonly backend: Backend;
  #files: Map<FileRole, Promise<Uint8Array>>;
  #sessions = new Map<FileRole, Promise<OnnxSession>>();
  #options: LoadPackOptions;

  private constructor(
    location: string,
    manifest: PackManifest,
    sha256: string,
    files: Map<FileRole, Uint8Array>,
    backend: Backend,
    options: LoadPackOptions,
  ) {
    this.location = location;
    this.manifest = manifest;
    this.sha256 = sha256;
    this.#files = new Map([...files].map(([role, bytes]) => [role, Promise.resolve(bytes)]));
    this.prior = parsePrior(files.get("prior")!);
    this.backend = backend;
    this.#options = options;
  }

  /**
   * Token layout for masks.
   *
   * @ignore
   */
  get layout(): TokenLayout {
    const { tokens, droppedTokens, maskRatio } = this.manifest;
    return { tokens, droppedTokens, maskRatio };
  }

  /**
   * The verified bytes of a file. Third-party files are pulled into the cache
   * on first use (unless `pull: false`), then read from it.
   */
  file(role: FileRole): Promise<Uint8Array> {
    const declared = this.manifest.files[role];
    if (!declared) {
      return Promise.reject(
        new Vec2FaceError("model-missing", `Cannot use the ${role} model: pack ${this.manifest.name} declares none`),
      );
    }
    let bytes = this.#files.get(role);
    if (!bytes) {
      bytes = loadThirdParty(declared, this.manifest, this.#options);
      this.#files.set(role, bytes);
      bytes.catch(() => this.#files.delete(role));
    }
    return bytes;
  }

  /** Pulls and verifies every file of the pack (what `models pull` does). */
  async pullAll(): Promise<void> {
    for (const role of Object.keys(this.manifest.files) as FileRole[]) await this.file(role);
  }

  /**
   * The onnxruntime session of a role, created on first use (internal: the
   * estimators' and the generator's runs).
   *
   * @ignore
   */
  session(role: Exclude<FileRole, "prior">): Promise<OnnxSession> {
    let session = this.#sessions.get(role);
    if (!session) {
      session = this.file(role).then((bytes) =>
        createSession(bytes, { device: this.backend, threads: this.#options.threads })
      );
      this.#sessions.set(role, session);
      session.catch(() => this.#sessions.delete(role));
    }
    return session;
  }

  /** Releases all sessions. */
  async dispose(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const session of sessions) await (await session.catch(() => undefined))?.dispose();
  }

  /** Same as {@linkcode ModelPack.dispose}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** Loads and verifies a pack (see {@linkcode loadPack}). */
  static async load(location: string = DEFAULT_PACK, options: LoadPackOptions = {}): Promise<ModelPack> {
    const base = toBase(location);
    const manifestBytes = await readPackFile(base, "manifest.json");
    let manifest: PackManifest;
    try {
      manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
    } catch (cause) {
      throw new Vec2FaceError("pack-invalid", `Cannot parse ${base}manifest.json: ${(cause as Error).message}`);
    }
    checkManifest(manifest, base);
    const files = new Map<FileRole, Uint8Array>();
    for (const [role, file] of Object.entries(manifest.files) as [FileRole, PackFile][]) {
      if (file.npm) continue; // pulled or read from the cache on first use
      const bytes = await readPackFile(base, file.path!);
      checkHash(bytes, file.sha256, `${base}${file.path}`);
      files.set(role, bytes);
    }
    const backend = await resolveBackend(options.device ?? "auto");
    return new ModelPack(location, manifest, sha256(manifestBytes), files, backend, options);
  }
}

/**
 * Loads a model pack from a folder path or URL (default: the bundled pack),
 * verifying every file's sha256 and pulling third-party files on first use.
 * Takes one options object (`location` among them), or the location and the
 * options as two arguments.
 *
 * @example Load the bundled default pack
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPack } from "./model_pack.ts";
 * await using pack = await loadPack({ device: "wasm" });
 * assert.equal(pack.manifest.vectorSize, 512);
 * ```
 *
 * @example The two-argument form
 * ```ts
 * import assert from "node:assert/strict";
 * import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * assert.equal(pack.manifest.fixture, true);
 * ```
 *
 * @param options Where the pack is, the device, threads and cache options.
 * @returns The loaded pack; dispose it when done (`await using`).
 * @throws {Vec2FaceError} `model-missing`, `model-corrupt`, `pack-invalid` or `pull-failed`.
 */
export function loadPack(options?: LoadPackOptions): Promise<ModelPack>;
/**
 * Loads a model pack from a folder path or URL (default: the bundled pack)
 * with options; same as `loadPack({ ...options, location })`.
 *
 * @param location Pack folder path or URL; default {@linkcode DEFAULT_PACK}.
 * @param options The device, threads and cache options.
 * @returns The loaded pack; dispose it when done (`await using`).
 * @throws {Vec2FaceError} `model-missing`, `model-corrupt`, `pack-invalid` or `pull-failed`.
 */
export function loadPack(location?: string, options?: LoadPackOptions): Promise<ModelPack>;
export function loadPack(first?: string | LoadPackOptions, second?: LoadPackOptions): Promise<ModelPack> {
  if (first !== undefined && typeof first !== "string") {
    if (typeof first !== "object" || first === null) {
      return Promise.reject(
        new TypeError(`Cannot load a pack from ${String(first)}: current value is not a location or an options object`),
      );
    }
    return ModelPack.load(first.location, first);
  }
  const options = second ?? {};
  return ModelPack.load(first ?? options.location, options);
}

function toBase(location: string): string {
  if (/^(file|https?):/.test(location)) return location.endsWith("/") ? location : `${location}/`;
  const absolute = resolve(location);
  return new URL(`file://${absolute.endsWith("/") ? absolute : `${absolute}/`}`).href;
}

async function readPackFile(base: string, path: string): Promise<Uint8Array> {
  const url = new URL(path, base);
  if (!url.href.startsWith(base)) {
    throw new Vec2FaceError("pack-invalid", `Cannot read pack file ${path}: it lies outside the pack folder ${base}`);
  }
  try {
    if (url.protocol === "file:") return await Deno.readFile(url);
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  } catch (cause) {
    throw new Vec2FaceError("model-missing", `Cannot read model pack file ${url.href}: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/**
 * Checks that bytes have the expected sha256, else throws `model-corrupt`
 * naming the file and both hashes (what every pulled or bundled model file goes through).
 *
 * @example A wrong hash is refused with both values
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkHash } from "./model_pack.ts";
 * import { sha256 } from "./_hash.ts";
 * const bytes = new TextEncoder().encode("weights");
 * checkHash(bytes, sha256(bytes), "w.bin");
 * assert.throws(() => checkHash(bytes, "0".repeat(64), "w.bin"), /Cannot use w.bin: sha256 is [0-9a-f]{64}, expected 0{64}/);
 * ```
 */
export function checkHash(bytes: Uint8Array, expected: string, name: string): void {
  const actual = sha256(bytes);
  if (actual !== expected) {
    throw new Vec2FaceError(
      "model-corrupt",
      `Cannot use ${name}: sha256 is ${actual}, expected ${expected} (file corrupt or replaced)`,
    );
  }
}

function checkManifest(manifest: PackManifest, base: string): void {
  const problems: string[] = [];
  if (manifest?.format !== "vec2face-pack/1") problems.push(`format is ${JSON.stringify(manifest?.format)}`);
  for (const key of ["vectorSize", "imageSize", "tokens", "droppedTokens"] as const) {
    if (!Number.isInteger(manifest?.[key]) || manifest[key] < 1) problems.push(`${key} is ${manifest?.[key]}`);
  }
  if (!(manifest?.separationThreshold > -1 && manifest.separationThreshold <= 1)) {
    problems.push(`separationThreshold is ${manifest?.separationThreshold}`);
  }
  if (!manifest?.files?.generator || !manifest.files.prior) problems.push("files.generator or files.prior is missing");
  if (manifest?.pose !== undefined) {
    const { yaw, pitch } = manifest.pose ?? {};
    if (!(yaw >= 0 && yaw <= 90 && pitch >= 0 && pitch <= 90)) {
      problems.push(`pose is ${JSON.stringify(manifest.pose)}, not {yaw, pitch} in 0..90 degrees`);
    }
  }
  for (const [role, file] of Object.entries(manifest?.files ?? {})) {
    if (!/^[0-9a-f]{64}$/.test(file?.sha256 ?? "")) problems.push(`files.${role}.sha256 is not a sha256`);
    if (!file?.path === !file?.npm) problems.push(`files.${role} needs exactly one of path or npm`);
  }
  if (problems.length > 0) {
    throw new Vec2FaceError("pack-invalid", `Cannot use ${base}manifest.json: ${problems.join("; ")}`);
  }
  manifest.maskRatio ??= VEC2FACE_MASK_RATIO;
}

function cachedPath(directory: string, file: PackFile): string {
  return join(directory, "sha256", `${file.sha256}${file.npm!.path.match(/\.[a-z0-9]+$/)?.[0] ?? ""}`);
}

async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

// One pull per package at a time, shared by concurrent callers.
const pulls = new Map<string, Promise<Map<string, Uint8Array>>>();

async function loadThirdParty(file: PackFile, manifest: PackManifest, options: LoadPackOptions): Promise<Uint8Array> {
  const directory = options.cacheDir ?? cacheDir();
  const path = cachedPath(directory, file);
  const cached = await readIfExists(path);
  if (cached !== undefined) {
    checkHash(cached, file.sha256, path);
    return cached;
  }
  const { package: name, version, path: inner } = file.npm!;
  const spec = `${name}@${version}`;
  if (options.pull === false) {
    throw new Vec2FaceError(
      "model-missing",
      `Cannot load ${inner} of ${spec}: not in the cache ${path} (expected sha256 ${file.sha256}); run \`deno task models pull\``,
    );
  }
  let pull = pulls.get(`${directory}|${spec}`);
  if (!pull) {
    // Every file the pack takes from this package comes from one `npm pack`.
    const siblings = Object.values(manifest.files).filter((f) => f.npm?.package === name && f.npm.version === version);
    options.onPull?.(`Pulling ${siblings.map((f) => f.npm!.path.split("/").pop()).join(", ")} from npm ${spec} (once)`);
    pull = pullPackage(siblings, directory).finally(() => pulls.delete(`${directory}|${spec}`));
    pulls.set(`${directory}|${spec}`, pull);
  }
  return (await pull).get(inner)!;
}

async function pullPackage(files: PackFile[], directory: string): Promise<Map<string, Uint8Array>> {
  const { package: name, version } = files[0].npm!;
  const spec = `${name}@${version}`;
  let fetched: Map<string, Uint8Array>;
  try {
    fetched = await fetchNpmFiles(name, version, files.map((file) => file.npm!.path));
  } catch (cause) {
    throw new Vec2FaceError("pull-failed", `Cannot pull model files from npm ${spec}: ${(cause as Error).message}`, {
      cause,
    });
  }
  await Deno.mkdir(join(directory, "sha256"), { recursive: true });
  const out = new Map<string, Uint8Array>();
  for (const file of files) {
    const inner = file.npm!.path;
    let bytes = fetched.get(inner)!;
    checkHash(bytes, file.npm!.sha256, `${spec}/${inner}`);
    if (file.transform === "batch-dynamic") bytes = makeBatchDynamic(bytes).model;
    checkHash(bytes, file.sha256, `${spec}/${inner} (after ${file.transform ?? "no"} transform)`);
    const path = cachedPath(directory, file);
    await writeAtomic(path, bytes, `${crypto.randomUUID()}.tmp`);
    out.set(inner, bytes);
  }
  return out;
}
