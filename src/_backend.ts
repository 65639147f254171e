// All onnxruntime code lives here: the device table, environment set-up before the
// first session, and one-run-at-a-time sessions. Other modules only see OnnxSession.
import { Vec2FaceError } from "./errors.ts";

/** Where models run: `auto` picks the fastest available backend. */
export type Device = "auto" | "webgpu" | "wasm" | "native";
/** The backend that actually ran a session. */
export type Backend = "webgpu" | "wasm" | "native";

/** The devices accepted by {@linkcode resolveBackend}. */
export const DEVICES: readonly Device[] = ["auto", "webgpu", "wasm", "native"];

/** A tensor handed to or returned by a session, backend-neutral. */
export interface TensorData {
  /** Element type. */
  type: "float32" | "int64";
  /** Flat row-major values. */
  data: Float32Array | BigInt64Array;
  /** Shape. */
  dims: readonly number[];
}

/** A float32 tensor returned by {@linkcode OnnxSession.run}. */
export interface FloatTensor {
  /** Flat row-major values. */
  data: Float32Array;
  /** Shape. */
  dims: readonly number[];
}

/** Options for {@linkcode createSession}. */
export interface SessionOptions {
  /** Requested device; default `auto`. */
  device?: Device;
  /**
   * CPU threads. Native default: the number of cores. Wasm default: 1, as
   * measured here: 2 threads ran fr_feature 1.7x slower (222 vs 128 ms) and made
   * results depend on the batch size (1.8e-5 difference at batch 1).
   */
  threads?: number;
}

// deno-lint-ignore no-explicit-any
type OrtModule = any;

const modules: Partial<Record<Backend, Promise<OrtModule>>> = {};
let wasmThreadsSet: number | undefined;

function cores(): number {
  return Math.max(1, navigator.hardwareConcurrency ?? 1);
}

/** Checks the device name and throws a RangeError naming the accepted values. */
export function checkDevice(device: unknown): Device {
  if (typeof device !== "string" || !(DEVICES as readonly string[]).includes(device)) {
    throw new RangeError(
      `Cannot select device as ${JSON.stringify(device)}: current value is not one of ${DEVICES.join(", ")}`,
    );
  }
  return device as Device;
}

/** True when a WebGPU adapter exists that is not a software fallback (e.g. llvmpipe). */
export async function hasHardwareWebGpu(): Promise<boolean> {
  // On Linux a GPU shows as /dev/dri or /dev/nvidia*; without either, asking for an adapter only finds llvmpipe, and
  // wgpu's GL probe prints "XDG_RUNTIME_DIR is invalid or not set" on machines without a desktop session.
  if (Deno.build.os === "linux" && !gpuDeviceNodes()) return false;
  const adapter = await requestAdapter();
  if (!adapter) return false;
  const fallback = adapter.isFallbackAdapter ?? adapter.info?.isFallbackAdapter ?? false;
  return !fallback;
}

/** Whether Linux shows a GPU device node; true when that cannot be read (then the adapter probe decides). */
function gpuDeviceNodes(): boolean {
  try {
    return [...Deno.readDirSync("/dev")].some((entry) => entry.name === "dri" || entry.name.startsWith("nvidia"));
  } catch {
    return true;
  }
}

// deno-lint-ignore no-explicit-any
async function requestAdapter(): Promise<any> {
  // deno-lint-ignore no-explicit-any
  const gpu = (navigator as any).gpu;
  if (!gpu) return null;
  try {
    return await gpu.requestAdapter();
  } catch {
    return null;
  }
}

function loadModule(backend: Backend): Promise<OrtModule> {
  modules[backend] ??= (async () => {
    if (backend === "native") return await import("onnxruntime-node");
    if (backend === "wasm") return await import("onnxruntime-web");
    // The webgpu bundle inlines its loader as a blob: URL, which Deno refuses;
    // pointing it at the packaged files makes it import them from disk instead.
    const ort = await import("onnxruntime-web/webgpu");
    ort.env.wasm.wasmPaths = {
      mjs: import.meta.resolve("onnxruntime-web/ort-wasm-simd-threaded.asyncify.mjs"),
      wasm: import.meta.resolve("onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm"),
    };
    ort.env.wasm.numThreads = 1;
    return ort;
  })();
  return modules[backend]!;
}

async function nativeAvailable(): Promise<boolean> {
  try {
    await loadModule("native");
    return true;
  } catch {
    delete modules.native;
    return false;
  }
}

/**
 * Maps a requested device to the backend that will run: `auto` is webgpu on a
 * hardware adapter, else native when onnxruntime-node loads, else wasm.
 * An explicit device that is not available raises `backend-unavailable`.
 */
export async function resolveBackend(device: Device = "auto"): Promise<Backend> {
  checkDevice(device);
  if (device === "auto") {
    if (await hasHardwareWebGpu()) return "webgpu";
    if (await nativeAvailable()) return "native";
    return "wasm";
  }
  if (device === "webgpu" && !(await requestAdapter())) {
    throw new Vec2FaceError("backend-unavailable", "Cannot use device webgpu: no WebGPU adapter was found");
  }
  if (device === "native" && !(await nativeAvailable())) {
    throw new Vec2FaceError(
      "backend-unavailable",
      "Cannot use device native: onnxruntime-node did not load (native addons not allowed here?)",
    );
  }
  return device;
}

/**
 * An onnxruntime inference session. Runs are queued: one at a time, as
 * onnxruntime-web sessions do not allow concurrent runs.
 */
export class OnnxSession {
  /** The backend that runs this session. */
  readonly backend: Backend;
  /** Input names of the graph. */
  readonly inputNames: readonly string[];
  /** Output names of the graph. */
  readonly outputNames: readonly string[];
  #ort: OrtModule;
  // deno-lint-ignore no-explicit-any
  #session: any;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  /** Wraps an onnxruntime session; use {@linkcode createSession} instead. */
  // deno-lint-ignore no-explicit-any
  constructor(backend: Backend, ort: OrtModule, session: any) {
    this.backend = backend;
    this.#ort = ort;
    this.#session = session;
    this.inputNames = [...session.inputNames];
    this.outputNames = [...session.outputNames];
  }

  /** Runs the graph; resolves with every output as float32. */
  run(feeds: Record<string, TensorData>): Promise<Record<string, FloatTensor>> {
    if (this.#disposed) throw new TypeError("Cannot run a session as it is disposed: current state is disposed");
    const next = this.#queue.then(async () => {
      const ortFeeds: Record<string, unknown> = {};
      for (const [name, t] of Object.entries(feeds)) {
        ortFeeds[name] = new this.#ort.Tensor(t.type, t.data, t.dims);
      }
      const results = await this.#session.run(ortFeeds);
      const out: Record<string, FloatTensor> = {};
      for (const name of this.outputNames) {
        const tensor = results[name];
        const data = tensor.data instanceof Float32Array
          ? tensor.data
          : Float32Array.from(tensor.data as ArrayLike<number>);
        out[name] = { data, dims: [...tensor.dims] };
        tensor.dispose?.();
      }
      return out;
    });
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Releases the session. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#queue;
    await this.#session.release?.();
  }

  /** Same as {@linkcode OnnxSession.dispose}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** Creates a session for an ONNX model on the requested device. */
export async function createSession(model: Uint8Array, options: SessionOptions = {}): Promise<OnnxSession> {
  const backend = await resolveBackend(options.device ?? "auto");
  const threads = options.threads ?? (backend === "wasm" ? 1 : cores());
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`Cannot use threads as ${threads}: current value is not a positive integer`);
  }
  const ort = await loadModule(backend);
  let session;
  try {
    if (backend === "native") {
      session = await ort.InferenceSession.create(model, {
        executionProviders: ["cpu"],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
      });
    } else if (backend === "wasm") {
      // numThreads is global to the wasm module and fixed at its first session.
      if (wasmThreadsSet === undefined) {
        ort.env.wasm.numThreads = threads;
        wasmThreadsSet = threads;
      }
      session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
    } else {
      session = await ort.InferenceSession.create(model, { executionProviders: ["webgpu"] });
    }
  } catch (cause) {
    throw new Vec2FaceError(
      "model-corrupt",
      `Cannot create a ${backend} session: ${(cause as Error).message ?? cause}`,
      { cause },
    );
  }
  return new OnnxSession(backend, ort, session);
}
