/// <reference lib="dom" />
/**
 * The preview page's module (bundled into `preview.bundle.js`, served as
 * `/preview.js`): renders a dataset's faces in the browser with the same code
 * the server renders with (`renderDatasetImage`), on onnxruntime-web (the
 * page's `?device=`: `auto` is webgpu on a hardware adapter, else wasm).
 *
 * The pack comes from the server and is checked here: `manifest.json` must
 * hash to the pack sha256 that `/v1/info` reports, and every file to the
 * manifest's sha256.
 *
 * The yaw and age controls are direct moves, not `edit()`'s measured search
 * (that needs the pose and attribute estimators, third-party models the
 * server does not hand out): a step of the unit vector along the pack's
 * fitted yaw or age direction (packs with directions, as the default pack),
 * its norm kept. Steps are in those units, not degrees or years: the fitted
 * slopes (1,700 degrees of yaw per unit step) overstate what the generator
 * renders (a 0.02 step, "30 degrees" by the slope, changes pixels by 0.5 of
 * 255 on average; 0.3 by 7.5), which is why `edit()` measures. With both at
 * 0 the face is the dataset's image, byte for byte the server's
 * `/v1/render.png`.
 *
 * For tests and tools the page exposes `window.vec2face` ({@linkcode PreviewApi}).
 *
 * @module
 */
import { renderDatasetImage, sampleInput } from "../dataset_image.ts";
import { encodePng, type RgbImage } from "../image/codec.ts";
import { VEC2FACE_MASK_RATIO } from "../mask.ts";
import type { ModelPack, PackManifest } from "../model_pack.ts";
import { decodeNpy } from "../npy.ts";
import { parsePrior, type Prior } from "../prior.ts";
import { renderBatch } from "../render.ts";
import { sample } from "../sample.ts";
import { type Backend, checkDevice, createSession, type OnnxSession, resolveBackend } from "../_backend.ts";

/** One image of the dataset the page shows, optionally stepped along the yaw and age directions (unit-vector units). */
interface FaceRequest {
  seed: number;
  identity: number;
  image: number;
  perId: number;
  yaw?: number;
  age?: number;
}

/** What the page exposes as `window.vec2face`. */
interface PreviewApi {
  /** Resolves when the pack is loaded and checked: the backend that renders and the pack. */
  ready: Promise<{ backend: Backend; pack: string; sha256: string }>;
  /** A face as PNG, base64. */
  renderPng(face: FaceRequest): Promise<string>;
  /** Renders the grid of the form's values (or these); resolves when every face is shown. */
  renderGrid(values?: Partial<GridValues>): Promise<{ images: number; ms: number }>;
}

/** The moves the page offers. */
type Move = "yaw" | "age";

interface GridValues {
  seed: number;
  ids: number;
  perId: number;
  yaw: number;
  age: number;
}

/** The pack as the page has it: what `renderDatasetImage` and `renderBatch` read of a `ModelPack`. */
interface PagePack {
  manifest: PackManifest;
  /** sha256 of `manifest.json`, checked against `/v1/info`'s. */
  sha256: string;
  prior: Prior;
  backend: Backend;
  layout: ModelPack["layout"];
  session(role: string): Promise<OnnxSession>;
  /** The yaw and age rows of the pack's fitted directions, when it has them. */
  directions: Partial<Record<Move, Float32Array>>;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Fetches a file of the server, and checks its sha256 when one is expected. */
async function fetchChecked(path: string, expected?: string): Promise<Uint8Array> {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`Cannot fetch ${path}: current status is ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (expected !== undefined) {
    const actual = await sha256Hex(bytes);
    if (actual !== expected) throw new Error(`Cannot use ${path}: sha256 is ${actual}, expected ${expected}`);
  }
  return bytes;
}

async function loadPagePack(device: string): Promise<PagePack> {
  const info = await (await fetch("/v1/info")).json();
  const manifestBytes = await fetchChecked("/v1/pack/manifest.json", info.pack.sha256);
  const manifest: PackManifest = JSON.parse(new TextDecoder().decode(manifestBytes));
  manifest.maskRatio ??= VEC2FACE_MASK_RATIO; // as loadPack does for manifests that name none
  const { generator, prior, directions } = manifest.files;
  if (!generator.path || !prior.path) throw new Error("Cannot preview the pack: its generator or prior is not its own");
  const backend = await resolveBackend(checkDevice(device));
  const model = await fetchChecked(`/v1/pack/${generator.path}`, generator.sha256);
  const session = await createSession(model, { device: backend });
  const rows: Partial<Record<Move, Float32Array>> = {};
  if (directions?.path && manifest.directions) {
    const matrix = decodeNpy(await fetchChecked(`/v1/pack/${directions.path}`, directions.sha256));
    const size = manifest.vectorSize;
    for (const move of ["yaw", "age"] as const) {
      const row = manifest.directions.names.indexOf(move);
      if (row >= 0) rows[move] = Float32Array.from(matrix.data.subarray(row * size, (row + 1) * size));
    }
  }
  const { tokens, droppedTokens, maskRatio } = manifest;
  return {
    manifest,
    sha256: info.pack.sha256,
    prior: parsePrior(await fetchChecked(`/v1/pack/${prior.path}`, prior.sha256)),
    backend,
    layout: { tokens, droppedTokens, maskRatio },
    session: (role) =>
      role === "generator" ? Promise.resolve(session) : Promise.reject(new Error(`Cannot preview with ${role}`)),
    directions: rows,
  };
}

/** The vector's unit vector stepped by `step` along a direction (made unit), back at the vector's norm. */
function movedAlong(vector: Float32Array, direction: Float32Array, step: number): Float32Array {
  const length = Math.hypot(...vector);
  const directionLength = Math.hypot(...direction);
  const moved = Float64Array.from(vector, (x, i) => x / length + (step * direction[i]) / directionLength);
  const movedLength = Math.hypot(...moved);
  return Float32Array.from(moved, (x) => (x / movedLength) * length);
}

const banks = new Map<string, Promise<Float32Array[]>>();

/** The dataset's first `count` identities: `sample` is prefix-stable, as the server's bank cache relies on. */
function bank(pack: PagePack, seed: number, count: number): Promise<Float32Array[]> {
  const key = `${seed}|${count}`;
  let vectors = banks.get(key);
  if (!vectors) {
    const threshold = pack.manifest.separationThreshold;
    // Every engine gives the same bank; "js" needs no second onnxruntime module in the page.
    vectors = sample(count, { prior: pack.prior, threshold, seed, engine: "js" }).then((result) => result.vectors);
    banks.set(key, vectors);
  }
  return vectors;
}

async function renderFace(pack: PagePack, face: FaceRequest): Promise<RgbImage> {
  const { seed, identity, image, perId } = face;
  const yaw = pack.directions.yaw ? face.yaw ?? 0 : 0;
  const age = pack.directions.age ? face.age ?? 0 : 0;
  const identities = await bank(pack, seed, identity + 1);
  // The page's pack has every member renderDatasetImage reads (manifest, prior, layout, session).
  const modelPack = pack as unknown as ModelPack;
  if (yaw === 0 && age === 0) {
    return await renderDatasetImage({ pack: modelPack, identities, perId, seed, identity, image });
  }
  const input = sampleInput(modelPack, identities, perId, seed, identity, image);
  let vector = input.vector;
  if (yaw !== 0) vector = movedAlong(vector, pack.directions.yaw!, yaw);
  if (age !== 0) vector = movedAlong(vector, pack.directions.age!, age);
  const [moved] = await renderBatch(modelPack, [vector], [input.mask]);
  return moved;
}

function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function element<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

function formValues(): GridValues {
  const number = (id: string) => Number(element<HTMLInputElement>(id).value);
  return { seed: number("seed"), ids: number("ids"), perId: number("per_id"), yaw: number("yaw"), age: number("age") };
}

function showStatus(text: string): void {
  element("status").textContent = text;
}

const params = new URLSearchParams(location.search);
const device = params.get("device") ?? "auto";
const pagePack = loadPagePack(device);

async function renderGrid(values: Partial<GridValues> = {}): Promise<{ images: number; ms: number }> {
  const pack = await pagePack;
  const { seed, ids, perId, yaw, age } = { ...formValues(), ...values };
  for (const [id, value] of Object.entries({ seed, ids, per_id: perId, yaw, age })) {
    element<HTMLInputElement>(id).value = String(value);
  }
  element("yaw_value").textContent = String(yaw);
  element("age_value").textContent = String(age);
  const query = `ids=${ids}&per_id=${perId}&shard_size=${ids}&seed=${seed}`;
  element<HTMLAnchorElement>("download").href = `/v1/shards/0.zip?${query}`;
  const grid = element("grid");
  grid.replaceChildren();
  grid.style.gridTemplateColumns = `auto repeat(${perId}, 112px)`;
  const started = performance.now();
  for (let identity = 0; identity < ids; identity++) {
    const label = document.createElement("div");
    label.className = "row";
    label.textContent = `id ${identity}`;
    grid.append(label);
    for (let image = 0; image < perId; image++) {
      showStatus(`rendering identity ${identity + 1} of ${ids}, image ${image + 1} of ${perId} (${pack.backend})`);
      const png = encodePng(await renderFace(pack, { seed, identity, image, perId, yaw, age }));
      const img = document.createElement("img");
      img.src = URL.createObjectURL(new Blob([png as Uint8Array<ArrayBuffer>], { type: "image/png" }));
      img.alt = `identity ${identity}, image ${image}`;
      grid.append(img);
    }
  }
  const ms = performance.now() - started;
  const { directions } = pack;
  const moves = [
    directions.yaw && yaw !== 0 ? `yaw step ${yaw}` : "",
    directions.age && age !== 0 ? `age step ${age}` : "",
  ]
    .filter(Boolean).join(", ");
  showStatus(
    `${pack.manifest.name} (sha256 checked), ${pack.backend} in this browser: ${ids * perId} faces in ` +
      `${(ms / 1000).toFixed(1)} s${moves ? `, moved: ${moves}` : ""}`,
  );
  return { images: ids * perId, ms };
}

const api: PreviewApi = {
  ready: pagePack.then((pack) => ({ backend: pack.backend, pack: pack.manifest.name, sha256: pack.sha256 })),
  async renderPng(face) {
    return toBase64(encodePng(await renderFace(await pagePack, face)));
  },
  renderGrid,
};
(globalThis as unknown as { vec2face: PreviewApi }).vec2face = api;

element<HTMLSelectElement>("device").value = device;
element("device").addEventListener("change", () => {
  params.set("device", element<HTMLSelectElement>("device").value);
  location.search = params.toString();
});
for (const id of ["yaw", "age"]) {
  element(id).addEventListener("input", () => element(`${id}_value`).textContent = element<HTMLInputElement>(id).value);
}
element("controls").addEventListener("submit", (event) => {
  event.preventDefault();
  renderGrid().catch((error) => showStatus(String(error)));
});
pagePack.then((pack) => {
  element<HTMLInputElement>("yaw").disabled = !pack.directions.yaw;
  element<HTMLInputElement>("age").disabled = !pack.directions.age;
  if (params.get("render") !== "0") return renderGrid();
}).catch((error) => showStatus(`Cannot load the pack: ${error?.message ?? error}`));
