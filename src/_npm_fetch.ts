/**
 * Takes files out of a published npm package without installing it: `npm pack`
 * downloads the tarball (with the user's registry, proxy and auth settings),
 * and a small tar reader picks the requested files out of it.
 *
 * @module
 */
import { gunzipSync } from "node:zlib";
import { Vec2FaceError } from "./errors.ts";
import { exists } from "./_fs.ts";

/** Options for {@linkcode fetchNpmFiles}. */
export interface FetchNpmFilesOptions {
  /** The npm executable; default `npm` (`npm.cmd` on Windows). */
  npmCommand?: string;
  /** Aborts the download; the call then rejects with a `Vec2FaceError` of code `aborted`. */
  signal?: AbortSignal;
}

// Last part of npm's stderr kept in error messages: enough for the `npm error` lines.
const STDERR_TAIL_CHARS = 2000;
const TAR_BLOCK = 512;

/**
 * Downloads `pkg@version` with `npm pack` into a temporary folder and returns
 * the requested files of its tarball, keyed by their tar path (npm tarballs put
 * everything under `package/`, e.g. `package/model/fr_feature.onnx`).
 * The temporary folder is always removed.
 *
 * Needs permission to run npm and to read and write the temporary folder.
 *
 * @example Fetch one file (needs npm and network)
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { fetchNpmFiles } from "./_npm_fetch.ts";
 * const files = await fetchNpmFiles("faceplugin-face-recognition-js", "0.0.1", ["package/package.json"]);
 * const manifest = JSON.parse(new TextDecoder().decode(files.get("package/package.json")));
 * assert.equal(manifest.version, "0.0.1");
 * ```
 *
 * @example Bad arguments are rejected before npm runs
 * ```ts
 * import assert from "node:assert/strict";
 * import { fetchNpmFiles } from "./_npm_fetch.ts";
 * await assert.rejects(fetchNpmFiles("Not A Package", "1.0.0", ["package/package.json"]), RangeError);
 * ```
 *
 * @param pkg npm package name, e.g. `faceplugin-face-recognition-js` or `@scope/name`.
 * @param version Version (or tag / range) to pack, e.g. `0.0.1`.
 * @param paths Tar paths to return, e.g. `package/model/fr_feature.onnx`.
 * @param options npm executable and abort signal.
 * @returns A map from each requested path to its bytes.
 * @throws {TypeError | RangeError} When an argument is malformed.
 * @throws {Vec2FaceError} `pull-failed` when npm fails or a path is missing; `aborted` when aborted.
 */
export async function fetchNpmFiles(
  pkg: string,
  version: string,
  paths: string[],
  options: FetchNpmFilesOptions = {},
): Promise<Map<string, Uint8Array>> {
  checkArguments(pkg, version, paths, options);
  const npmCommand = options.npmCommand ?? (Deno.build.os === "windows" ? "npm.cmd" : "npm");
  const spec = `${pkg}@${version}`;
  const signal = options.signal;
  if (signal?.aborted) throw aborted(spec, signal);
  const dir = await Deno.makeTempDir({ prefix: "vec2face-npm-" });
  try {
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command(npmCommand, {
        args: ["pack", spec, "--pack-destination", dir, "--json"],
        // Outside any project, so a local package.json or workspace cannot change what is packed.
        cwd: dir,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal,
      }).output();
    } catch (error) {
      if (signal?.aborted) throw aborted(spec, signal);
      const reason = error instanceof Deno.errors.NotFound ? `${npmCommand} was not found` : String(error);
      throw new Vec2FaceError("pull-failed", `Cannot run npm pack ${spec}: ${reason}`, { cause: error });
    }
    if (signal?.aborted) throw aborted(spec, signal);
    if (!output.success) {
      const stderr = new TextDecoder().decode(output.stderr).trim().slice(-STDERR_TAIL_CHARS);
      throw new Vec2FaceError(
        "pull-failed",
        `Cannot download ${spec} with npm pack (exit code ${output.code}): ${stderr}`,
      );
    }
    const tarball = await findTarball(dir, output.stdout, spec);
    const entries = readTar(gunzipSync(await Deno.readFile(tarball)));
    const files = new Map<string, Uint8Array>();
    for (const path of paths) {
      const data = entries.get(path);
      if (!data) {
        throw new Vec2FaceError(
          "pull-failed",
          `Cannot find ${path} in the npm package ${spec}: the tarball has no such file`,
        );
      }
      files.set(path, data.slice()); // a copy, so the whole tarball can be freed
    }
    return files;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function checkArguments(pkg: unknown, version: unknown, paths: unknown, options: FetchNpmFilesOptions): void {
  if (typeof pkg !== "string") {
    throw new TypeError(`Cannot fetch an npm package as ${describe(pkg)}: current value is not a string`);
  }
  // npm's own name rule; also keeps the spec from being read as a path, URL or flag.
  if (!/^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/.test(pkg)) {
    throw new RangeError(
      `Cannot fetch an npm package named ${JSON.stringify(pkg)}: current value is not a valid npm name`,
    );
  }
  if (typeof version !== "string" || version === "" || /\s/.test(version)) {
    throw new RangeError(
      `Cannot fetch ${pkg} at version ${describe(version)}: current value is not a version without spaces`,
    );
  }
  if (!Array.isArray(paths) || paths.some((path) => typeof path !== "string")) {
    throw new TypeError(
      `Cannot fetch files of ${pkg} as paths: current value is ${describe(paths)}, not an array of strings`,
    );
  }
  if (options.npmCommand !== undefined && (typeof options.npmCommand !== "string" || options.npmCommand === "")) {
    throw new TypeError(`Cannot run npm as ${describe(options.npmCommand)}: current value is not a command name`);
  }
}

/** Finds the .tgz written by npm pack: the file named in its JSON output, else the only .tgz in the folder. */
async function findTarball(dir: string, stdout: Uint8Array, spec: string): Promise<string> {
  try {
    const report = JSON.parse(new TextDecoder().decode(stdout));
    const filename = Array.isArray(report) ? report[0]?.filename : undefined;
    // Recent npm versions print the name with the scope's "@" and "/" replaced; take only the base name.
    if (typeof filename === "string") {
      const base = filename.split(/[\\/]/).pop()!;
      const path = `${dir}/${base}`;
      if (await exists(path)) return path;
    }
  } catch {
    // Older npm versions or lifecycle output can make stdout not JSON; fall back to the folder listing.
  }
  const tarballs: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".tgz")) tarballs.push(entry.name);
  }
  if (tarballs.length !== 1) {
    throw new Vec2FaceError(
      "pull-failed",
      `Cannot find the tarball of ${spec}: npm pack wrote ${tarballs.length} .tgz files`,
    );
  }
  return `${dir}/${tarballs[0]}`;
}

function aborted(spec: string, signal: AbortSignal): Vec2FaceError {
  return new Vec2FaceError("aborted", `Cannot download ${spec}: the download was aborted`, { cause: signal.reason });
}

/**
 * Reads an uncompressed tar archive (ustar, GNU long names, pax `path`
 * records) and returns its regular files by path. Directories, links and
 * other entries are skipped; a later entry with the same path wins.
 * The returned arrays are views into `bytes`.
 *
 * @example Read a one-file archive
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTar } from "./_npm_fetch.ts";
 * const archive = new Uint8Array(3 * 512);
 * const text = (s: string, at: number) => archive.set(new TextEncoder().encode(s), at);
 * text("package/a.txt", 0); // name
 * text("00000000002 ", 124); // size, octal
 * text("0", 156); // typeflag: regular file
 * text("ustar\u000000", 257); // magic and version
 * text("        ", 148); // checksum field counts as spaces while summing
 * text(archive.subarray(0, 512).reduce((sum, b) => sum + b, 0).toString(8).padStart(6, "0") + "\u0000 ", 148);
 * text("hi", 512); // data block
 * const files = readTar(archive);
 * assert.equal(new TextDecoder().decode(files.get("package/a.txt")), "hi");
 * ```
 *
 * @param bytes The tar archive.
 * @returns A map from each file path to its contents.
 * @throws {TypeError} When `bytes` is not a Uint8Array.
 * @throws {RangeError} When a header is corrupt or an entry runs past the end.
 */
export function readTar(bytes: Uint8Array): Map<string, Uint8Array> {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Cannot read a tar archive as ${describe(bytes)}: current value is not a Uint8Array`);
  }
  const files = new Map<string, Uint8Array>();
  let nextPath: string | undefined; // from a GNU 'L' entry or a pax 'x' header, for the next entry
  let offset = 0;
  while (offset + TAR_BLOCK <= bytes.length) {
    const header = bytes.subarray(offset, offset + TAR_BLOCK);
    if (header.every((byte) => byte === 0)) break; // end-of-archive marker
    checkChecksum(header, offset);
    const size = readSize(header, offset);
    const dataStart = offset + TAR_BLOCK;
    if (dataStart + size > bytes.length) {
      throw new RangeError(`Cannot read a tar entry at byte ${offset}: current size ${size} runs past the end`);
    }
    const data = bytes.subarray(dataStart, dataStart + size);
    const type = String.fromCharCode(header[156]);
    if (type === "L") {
      nextPath = readString(data, 0, data.length);
    } else if (type === "x") {
      nextPath = readPaxPath(data) ?? nextPath;
    } else if (type === "g" || type === "K") {
      // Global pax header or GNU long link name: nothing this reader needs.
    } else {
      const path = nextPath ?? headerPath(header);
      nextPath = undefined;
      if (type === "0" || type === "\0" || type === "7") files.set(path, data);
    }
    offset = dataStart + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
  }
  return files;
}

function headerPath(header: Uint8Array): string {
  const name = readString(header, 0, 100);
  // The ustar prefix field; GNU tar ("ustar  ") uses those bytes for other things.
  const isUstar = readString(header, 257, 263) === "ustar" && header[262] === 0;
  const prefix = isUstar ? readString(header, 345, 500) : "";
  return prefix ? `${prefix}/${name}` : name;
}

function readSize(header: Uint8Array, offset: number): number {
  if (header[124] & 0x80) {
    // GNU base-256 encoding for sizes above 8 GiB.
    let size = header[124] & 0x7f;
    for (let i = 125; i < 136; i++) size = size * 256 + header[i];
    return size;
  }
  return readOctal(header, 124, 136, offset, "size");
}

function readOctal(header: Uint8Array, start: number, end: number, offset: number, field: string): number {
  const text = readString(header, start, end).trim();
  if (!/^[0-7]*$/.test(text)) {
    throw new RangeError(
      `Cannot read the tar ${field} at byte ${offset + start}: current value ${JSON.stringify(text)} is not octal`,
    );
  }
  return text === "" ? 0 : parseInt(text, 8);
}

function checkChecksum(header: Uint8Array, offset: number): void {
  const expected = readOctal(header, 148, 156, offset, "checksum");
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  if (sum !== expected) {
    throw new RangeError(
      `Cannot read the tar header at byte ${offset}: current checksum ${expected} does not match ${sum}`,
    );
  }
}

/** The `path` record of a pax extended header ("<length> path=<value>\n" records). */
function readPaxPath(data: Uint8Array): string | undefined {
  let path: string | undefined;
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const length = parseInt(new TextDecoder().decode(data.subarray(pos, space)), 10);
    if (!(length > 0) || pos + length > data.length) break;
    const record = new TextDecoder().decode(data.subarray(space + 1, pos + length - 1)); // without the "\n"
    if (record.startsWith("path=")) path = record.slice(5);
    pos += length;
  }
  return path;
}

function readString(bytes: Uint8Array, start: number, end: number): string {
  const field = bytes.subarray(start, end);
  const nul = field.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? field : field.subarray(0, nul));
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return value.constructor?.name ?? "an object";
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
