/**
 * The preview page of `serve` (issue 22.5): `/` is a plain HTML page whose
 * module (`/preview.js`) renders faces in the browser with onnxruntime-web
 * (wasm; webgpu when the browser has an adapter), from the pack's files
 * (`/v1/pack/{file}`, sha256-checked in the page) and onnxruntime-web's own
 * files (`/ort/{file}`). The routes serve whitelisted files only: the pack's
 * `manifest.json` and its own files (never third-party ones), and the six
 * onnxruntime-web files the page loads.
 *
 * `/preview.js` is `src/web/preview.bundle.js`, committed: built by
 * `deno bundle` (see {@linkcode PREVIEW_BUNDLE_COMMAND}), not at request time,
 * so the page works where the server may not run subprocesses (edge mode:
 * `deno serve --deny-run`) or download esbuild; `src/web/preview_test.ts`
 * fails when the committed bundle differs from a fresh one.
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { HttpError } from "./http.ts";
import type { FileRole, ModelPack } from "./model_pack.ts";
import { sha256 } from "./_hash.ts";

// http.ts imports these handlers for its route table and this module imports
// HttpError from http.ts: a cycle that is safe because both sides only use
// the other's bindings when a request comes, never while the modules load.

/** What the preview routes need of the handler: its pack. */
export interface PreviewServer {
  /** The pack whose files the page renders with. */
  readonly pack: ModelPack;
}

/**
 * The command that builds `src/web/preview.bundle.js` from `src/web/preview.ts`
 * (run from the repository root). onnxruntime stays outside the bundle: the
 * page's import map points `onnxruntime-web` at `/ort/`.
 *
 * @example The bundle is for browsers, with onnxruntime outside
 * ```ts
 * import assert from "node:assert/strict";
 * import { PREVIEW_BUNDLE_COMMAND } from "./http_preview.ts";
 * assert.ok(PREVIEW_BUNDLE_COMMAND.includes("--platform=browser"));
 * assert.ok(PREVIEW_BUNDLE_COMMAND.includes("--external=onnxruntime-web"));
 * ```
 */
export const PREVIEW_BUNDLE_COMMAND: readonly string[] = [
  "bundle",
  "--quiet",
  "--platform=browser",
  "--external=onnxruntime-web",
  "--external=onnxruntime-web/*",
  "--external=onnxruntime-node",
  "--output=src/web/preview.bundle.js",
  "src/web/preview.ts",
];

/** The onnxruntime-web files the page loads: the wasm and webgpu entries and their wasm builds. */
const ORT_FILES: Readonly<Record<string, string>> = {
  "ort.wasm.min.mjs": "text/javascript",
  "ort.webgpu.min.mjs": "text/javascript",
  "ort-wasm-simd-threaded.mjs": "text/javascript",
  "ort-wasm-simd-threaded.wasm": "application/wasm",
  "ort-wasm-simd-threaded.asyncify.mjs": "text/javascript",
  "ort-wasm-simd-threaded.asyncify.wasm": "application/wasm",
};

/** Reads a file next to this module (a `file:` or `https:` URL, as the library is run from disk or a registry). */
async function readAsset(url: URL): Promise<Uint8Array> {
  if (url.protocol === "file:") return await Deno.readFile(url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** A static file's answer, or a JSON 503 naming it (by its name in the repository, never a server path). */
async function asset(url: URL, name: string, contentType: string): Promise<Response> {
  let bytes: Uint8Array;
  try {
    bytes = await readAsset(url);
  } catch (cause) {
    throw new HttpError(503, `Cannot serve ${name}: current file is not readable here (${errorName(cause)})`, {
      cause,
    });
  }
  return new Response(bytes as Uint8Array<ArrayBuffer>, {
    headers: { "content-type": contentType, "cache-control": "no-cache" },
  });
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/**
 * `GET /`: the preview page (`src/web/preview.html`).
 *
 * @example The page loads the bundled module
 * ```ts
 * import assert from "node:assert/strict";
 * import { previewPage } from "./http_preview.ts";
 * const response = await previewPage();
 * assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
 * assert.match(await response.text(), /src="\/preview\.js"/);
 * ```
 */
export function previewPage(): Promise<Response> {
  return asset(new URL("./web/preview.html", import.meta.url), "src/web/preview.html", "text/html; charset=utf-8");
}

/**
 * `GET /preview.js`: the page's module, `src/web/preview.bundle.js` as committed.
 *
 * @example The bundle is JavaScript
 * ```ts
 * import assert from "node:assert/strict";
 * import { previewScript } from "./http_preview.ts";
 * const response = await previewScript();
 * assert.equal(response.headers.get("content-type"), "text/javascript; charset=utf-8");
 * assert.ok((await response.text()).length > 1000);
 * ```
 */
export function previewScript(): Promise<Response> {
  return asset(
    new URL("./web/preview.bundle.js", import.meta.url),
    "src/web/preview.bundle.js",
    "text/javascript; charset=utf-8",
  );
}

/** The `manifest.json` bytes of loaded packs (its sha256 is the pack's identity, so they are read again, as they were). */
const manifests = new WeakMap<ModelPack, Promise<Uint8Array>>();

function manifestBytes(pack: ModelPack): Promise<Uint8Array> {
  let bytes = manifests.get(pack);
  if (!bytes) {
    const base = /^(file|https?):/.test(pack.location) ? pack.location : pathToFileURL(resolve(pack.location)).href;
    bytes = readAsset(new URL("manifest.json", base.endsWith("/") ? base : `${base}/`)).then((read) => {
      if (sha256(read) !== pack.sha256) throw new Error("manifest.json changed since the pack loaded");
      return read;
    });
    manifests.set(pack, bytes);
    bytes.catch(() => manifests.delete(pack));
  }
  return bytes;
}

/**
 * `GET /v1/pack/{file}`: `manifest.json` of the handler's pack (the bytes
 * whose sha256 `/v1/info` reports) or one of the pack's own files by its
 * manifest path, the verified bytes the server renders with. Third-party
 * files and any other name: 404. `ETag` is the file's sha256; `If-None-Match`
 * naming it gets a 304.
 *
 * @example The fixture's manifest, then its generator
 * ```ts
 * import assert from "node:assert/strict";
 * import { packFile } from "./http_preview.ts";
 * import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
 * import { sha256 } from "./_hash.ts";
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * const request = new Request("http://localhost/v1/pack/manifest.json");
 * const manifest = await packFile({ pack }, request, new URL(request.url), /(.*)/.exec("manifest.json")!);
 * assert.equal(sha256(new Uint8Array(await manifest.arrayBuffer())), pack.sha256);
 * const generator = await packFile({ pack }, request, new URL(request.url), /(.*)/.exec("generator.onnx")!);
 * assert.equal(generator.headers.get("etag"), `"${pack.manifest.files.generator.sha256}"`);
 * await generator.body?.cancel();
 * ```
 */
export async function packFile(
  server: PreviewServer,
  request: Request,
  _url: URL,
  match: RegExpExecArray,
): Promise<Response> {
  const { pack } = server;
  const name = match[1];
  const own = Object.entries(pack.manifest.files).filter(([, file]) => file.path !== undefined);
  const role = own.find(([, file]) => file.path === name)?.[0] as FileRole | undefined;
  if (name !== "manifest.json" && role === undefined) {
    throw new HttpError(
      404,
      `Cannot serve pack file ${JSON.stringify(name.slice(0, 200))}: current pack serves only ` +
        ["manifest.json", ...own.map(([, file]) => file.path)].join(", "),
    );
  }
  const digest = role === undefined ? pack.sha256 : pack.manifest.files[role]!.sha256;
  const etag = `"${digest}"`;
  const named = request.headers.get("if-none-match")?.split(",").some((tag) => tag.trim() === etag);
  if (named) return new Response(null, { status: 304, headers: { etag } });
  let bytes: Uint8Array;
  try {
    bytes = role === undefined ? await manifestBytes(pack) : await pack.file(role);
  } catch (cause) {
    throw new HttpError(503, `Cannot serve pack file ${name}: current copy is not readable or has changed`, {
      cause,
    });
  }
  return new Response(bytes as Uint8Array<ArrayBuffer>, {
    headers: {
      "content-type": role === undefined ? "application/json" : "application/octet-stream",
      "cache-control": "no-cache",
      etag,
    },
  });
}

/**
 * `GET /ort/{file}`: one of the onnxruntime-web files the page loads (the
 * version this library runs, from its npm package); any other name: 404.
 *
 * @example The wasm entry, and a name that is not served
 * ```ts
 * import assert from "node:assert/strict";
 * import { ortFile } from "./http_preview.ts";
 * const request = new Request("http://localhost/ort/ort.wasm.min.mjs");
 * const entry = await ortFile({}, request, new URL(request.url), /(.*)/.exec("ort.wasm.min.mjs")!);
 * assert.equal(entry.headers.get("content-type"), "text/javascript");
 * await entry.body?.cancel();
 * await assert.rejects(() => ortFile({}, request, new URL(request.url), /(.*)/.exec("package.json")!), /404|serves only/);
 * ```
 */
export async function ortFile(
  _server: unknown,
  _request: Request,
  _url: URL,
  match: RegExpExecArray,
): Promise<Response> {
  const name = match[1];
  const contentType = ORT_FILES[name];
  if (!Object.hasOwn(ORT_FILES, name)) {
    throw new HttpError(
      404,
      `Cannot serve onnxruntime file ${JSON.stringify(name.slice(0, 200))}: current server serves only ` +
        Object.keys(ORT_FILES).join(", "),
    );
  }
  let file: Deno.FsFile | undefined;
  let url: URL;
  try {
    // An exported file of the package locates its dist folder, wherever npm packages live here.
    url = new URL(name, import.meta.resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm"));
    if (url.protocol === "file:") file = await Deno.open(url);
  } catch (cause) {
    throw new HttpError(503, `Cannot serve onnxruntime file ${name}: current file is not readable here`, { cause });
  }
  if (file === undefined) return await asset(url, `onnxruntime-web/dist/${name}`, contentType);
  return new Response(file.readable, {
    headers: { "content-type": contentType, "cache-control": "public, max-age=3600" },
  });
}
