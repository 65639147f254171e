/**
 * A Web Worker of the render pool (`_render_pool.ts`): loads the pack the
 * handler serves (checked by sha256) on the same backend, and runs
 * {@linkcode InThreadRenderer} jobs for the main thread, which stays free to
 * answer requests. Internal: no entry point exports it.
 *
 * Messages in: `init {location, device, sha256, threads}`, `job {id, kind, job}`
 * (kind `sample`, `png`, `pilot`), `open {id, job}` (a shard), `read {id}`,
 * `cancel {id, shard}`. Messages out: `ready`, `failed {error}`, `result {id, value}`,
 * `error {id, error}`, `piece {id, bytes}` (null after the end), `cancelled {id}`.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { Device } from "./_backend.ts";
import { InThreadRenderer, type ShardReader } from "./_renderer.ts";
import { loadPack, type ModelPack } from "./model_pack.ts";

/** An error as it crosses to the main thread: its class, message and code. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
}

function wire(error: unknown): WireError {
  if (error instanceof Error || error instanceof DOMException) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === "string" ? { code } : {}) };
  }
  return { name: "Error", message: String(error) };
}

let pack: ModelPack | undefined;
let renderer: InThreadRenderer | undefined;
const aborts = new Map<number, AbortController>();
const shards = new Map<number, ShardReader>();

self.onmessage = async (event: MessageEvent) => {
  const message = event.data;
  switch (message.type) {
    case "init": {
      try {
        pack = await loadPack(message.location, { device: message.device as Device, threads: message.threads });
        if (pack.sha256 !== message.sha256 || pack.backend !== message.device) {
          throw new Error(
            `Cannot start a render worker: current pack is ${pack.sha256} on ${pack.backend}, ` +
              `not ${message.sha256} on ${message.device}`,
          );
        }
        renderer = new InThreadRenderer(pack);
        self.postMessage({ type: "ready" });
      } catch (error) {
        self.postMessage({ type: "failed", error: wire(error) });
      }
      return;
    }
    case "job": {
      const abort = new AbortController();
      aborts.set(message.id, abort);
      try {
        const value = message.kind === "sample"
          ? await renderer!.sample(message.job, abort.signal)
          : message.kind === "png"
          ? await renderer!.png(message.job, abort.signal)
          : await renderer!.pilot();
        self.postMessage({ type: "result", id: message.id, value });
      } catch (error) {
        self.postMessage({ type: "error", id: message.id, error: wire(error) });
      } finally {
        aborts.delete(message.id);
      }
      return;
    }
    case "open":
      shards.set(message.id, renderer!.shard(message.job));
      return;
    case "read": {
      const reader = shards.get(message.id);
      if (!reader) return;
      try {
        const bytes = await reader.read();
        if (bytes === null) shards.delete(message.id);
        // A copy: the piece may be a view of a larger buffer, which a transfer would detach (or clone whole).
        const copy = bytes?.slice() ?? null;
        self.postMessage({ type: "piece", id: message.id, bytes: copy }, copy ? [copy.buffer] : []);
      } catch (error) {
        shards.delete(message.id);
        self.postMessage({ type: "error", id: message.id, error: wire(error) });
      }
      return;
    }
    case "cancel": {
      aborts.get(message.id)?.abort(new DOMException("The job was cancelled", "AbortError"));
      if (!message.shard) return;
      const reader = shards.get(message.id);
      shards.delete(message.id);
      await reader?.cancel();
      self.postMessage({ type: "cancelled", id: message.id });
      return;
    }
  }
};
