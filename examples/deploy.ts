/**
 * The vec2face HTTP handler as a module with a default `fetch` export, the
 * shape Deno Deploy-style hosts (and `deno serve`) run:
 *
 * ```sh
 * deno serve -A --port 8000 examples/deploy.ts
 * curl 'http://localhost:8000/v1/shards/0.zip?ids=1000&per_id=50&shard_size=10&seed=1' -o shard-00000.zip
 * ```
 *
 * The pack loads on the first request (from `VEC2FACE_PACK`, a folder or URL;
 * default the bundled pack, which ships with the deployment) and runs on
 * `VEC2FACE_DEVICE` (default `wasm`: edge isolates have neither native addons
 * nor GPUs). One render at a time per isolate (`VEC2FACE_MAX_CONCURRENT`);
 * more get 429 and a client such as `cli.ts fetch` waits and tries again.
 * `VEC2FACE_WORKERS=1` renders in a Web Worker, so the isolate answers
 * health checks and 429s at once while it renders (where the host has Workers).
 *
 * @module
 */
import { checkDevice } from "../src/_backend.ts";
import { createHandler, HttpError } from "../src/http.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";

let handler: Promise<(request: Request) => Promise<Response>> | undefined;

async function load(): Promise<(request: Request) => Promise<Response>> {
  const pack = await loadPack(Deno.env.get("VEC2FACE_PACK") || DEFAULT_PACK, {
    device: checkDevice(Deno.env.get("VEC2FACE_DEVICE") || "wasm"),
  });
  const maxConcurrent = Number(Deno.env.get("VEC2FACE_MAX_CONCURRENT") || 1);
  // Render workers keep this isolate answering while it renders; off by default, as edge hosts may lack Workers.
  const workers = Number(Deno.env.get("VEC2FACE_WORKERS") || 0);
  return createHandler({ pack, limits: { maxImages: 2000, maxConcurrent, maxIdentities: 10_000 }, workers });
}

/**
 * Answers one request: the routes of `createHandler` (`/v1/healthz`,
 * `/v1/info`, `/v1/render.png`, `/v1/dataset.json`, `/v1/identities.npy`,
 * `/v1/shards/{k}.zip`, `/v1/shards/{k}.sha256`). A pack that fails to load
 * gives a JSON 503, and the next request tries again.
 *
 * @example Answer a health check
 * ```ts
 * import assert from "node:assert/strict";
 * import { FIXTURE_PACK } from "../src/model_pack.ts";
 * Deno.env.set("VEC2FACE_PACK", FIXTURE_PACK);
 * const { default: server } = await import("./deploy.ts");
 * const response = await server.fetch(new Request("http://localhost/v1/healthz"));
 * assert.equal(response.status, 200);
 * ```
 */
async function fetch(request: Request): Promise<Response> {
  handler ??= load();
  let handle: (request: Request) => Promise<Response>;
  try {
    handle = await handler;
  } catch (error) {
    handler = undefined;
    // The cause may name the server's files: it goes to the log, the client gets its class.
    console.error(error);
    const failure = new HttpError(503, `Cannot load the model pack: current load failed with ${(error as Error).name}`);
    return Response.json({ error: failure.message, status: failure.status }, { status: failure.status });
  }
  return await handle(request);
}

export default { fetch } satisfies Deno.ServeDefaultExport;
