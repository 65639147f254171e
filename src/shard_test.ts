import assert from "node:assert/strict";
import { unzipSync } from "fflate";
import { ZipShardStream } from "./shard.ts";

async function zipOf(entries: { path: string; bytes: Uint8Array }[]): Promise<Uint8Array> {
  const stream = ReadableStream.from(entries).pipeThrough(new ZipShardStream());
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("zip shards hold the entries STOREd, byte-identical across runs", async () => {
  const entries = [
    { path: "000000/000.jpg", bytes: new Uint8Array([1, 2, 3, 4]) },
    { path: "000001/000.jpg", bytes: crypto.getRandomValues(new Uint8Array(5000)) },
  ];
  const first = await zipOf(entries);
  const second = await zipOf(entries);
  assert.deepEqual(first, second);
  const files = unzipSync(first);
  assert.deepEqual(Object.keys(files), ["000000/000.jpg", "000001/000.jpg"]);
  assert.deepEqual(files["000001/000.jpg"], entries[1].bytes);
  // STORE: the archive is the payload plus headers, nothing compressed.
  assert.ok(first.length > 5004 && first.length < 5004 + 400);
});

Deno.test("a bad entry errors the stream", async () => {
  const stream = ReadableStream.from([{ path: 3 }] as unknown as { path: string; bytes: Uint8Array }[]);
  await assert.rejects(new Response(stream.pipeThrough(new ZipShardStream())).arrayBuffer(), /Cannot add a zip entry/);
});
