// The preview page in headless Chromium with the default pack: checks that
// the page's faces are the server's /v1/render.png bytes, times the grid and
// saves a screenshot (the README's docs/preview.png).
//
//   deno run -A tools/preview_screenshot.ts [--out docs/preview.png] [--device wasm|webgpu|auto] [--yaw D] [--age Y]
import { parseArgs } from "node:util";
import { createHandler } from "../src/http.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { Chromium, findChromium } from "../src/web/_chromium.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: "docs/preview.png" },
    device: { type: "string", default: "auto" },
    yaw: { type: "string", default: "0" },
    age: { type: "string", default: "0" },
  },
});
const binary = findChromium();
if (!binary) throw new Error("Cannot take the screenshot: current PATH has no chromium (apt-get install chromium)");
await using pack = await loadPack(DEFAULT_PACK, { device: "wasm" });
await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, createHandler({ pack }));
const origin = `http://127.0.0.1:${server.addr.port}`;
const browser = await Chromium.launch(binary);
try {
  const page = await browser.page();
  const started = performance.now();
  await page.navigate(`${origin}/?device=${values.device}&render=0`);
  const ready = await page.evaluate("window.vec2face.ready") as { backend: string };
  const loadMs = performance.now() - started;
  const face = { seed: 1, identity: 3, image: 4, perId: 5 };
  const base64 = await page.evaluate(`window.vec2face.renderPng(${JSON.stringify(face)})`) as string;
  const rendered = await fetch(`${origin}/v1/render.png?identity=3&image=4&per_id=5&seed=1`);
  if (rendered.status !== 200) throw new Error(`Cannot compare: the server answered ${await rendered.text()}`);
  const fromServer = new Uint8Array(await rendered.arrayBuffer());
  const inPage = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const identical = inPage.length === fromServer.length && inPage.every((byte, i) => byte === fromServer[i]);
  const grid = await page.evaluate(
    `window.vec2face.renderGrid({ seed: 1, ids: 4, perId: 5, yaw: ${Number(values.yaw)}, age: ${Number(values.age)} })`,
  ) as {
    images: number;
    ms: number;
  };
  await Deno.writeFile(values.out, await page.screenshot(880, 640));
  console.log(JSON.stringify({
    pack: pack.manifest.name,
    backend: ready.backend,
    loadMs: Math.round(loadMs),
    images: grid.images,
    msPerImage: Math.round(grid.ms / grid.images),
    byteIdentical: identical,
    screenshot: values.out,
  }));
  page.close();
  if (!identical) Deno.exitCode = 1;
} finally {
  await browser.close();
}
