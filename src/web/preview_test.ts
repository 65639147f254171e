// The preview page in a real browser: headless Chromium renders faces with
// onnxruntime-web (wasm), and they must be byte for byte the server's
// /v1/render.png of the same (seed, identity, image, per_id).
import assert from "node:assert/strict";
import { createHandler } from "../http.ts";
import { PREVIEW_BUNDLE_COMMAND } from "../http_preview.ts";
import { FIXTURE_PACK, loadPack } from "../model_pack.ts";
import { Chromium, findChromium } from "./_chromium.ts";

const chromium = findChromium();
if (chromium === undefined) {
  console.log(
    "preview_test: SKIPPED the browser test: no chromium on PATH (.ci/run installs Debian's chromium where apt-get " +
      "runs as root; or set CHROMIUM to a Chromium binary)",
  );
}

Deno.test({
  name: "preview page: Chromium renders the server's /v1/render.png bytes (fixture pack, wasm)",
  ignore: chromium === undefined,
  async fn() {
    await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
    const handler = createHandler({ pack });
    await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
    const origin = `http://127.0.0.1:${server.addr.port}`;
    const browser = await Chromium.launch(chromium!);
    try {
      const page = await browser.page();
      await page.navigate(`${origin}/?device=wasm&render=0`);
      const ready = await page.evaluate("window.vec2face.ready") as { backend: string; sha256: string };
      assert.deepEqual({ backend: ready.backend, sha256: ready.sha256 }, { backend: "wasm", sha256: pack.sha256 });
      const faces = [
        { seed: 1, identity: 0, image: 0, perId: 4 },
        { seed: 1, identity: 2, image: 3, perId: 4 },
        { seed: 7, identity: 1, image: 1, perId: 2 },
      ];
      for (const face of faces) {
        const base64 = await page.evaluate(`window.vec2face.renderPng(${JSON.stringify(face)})`) as string;
        const inPage = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
        const query = `identity=${face.identity}&image=${face.image}&per_id=${face.perId}&seed=${face.seed}`;
        const response = await fetch(`${origin}/v1/render.png?${query}`);
        assert.equal(response.status, 200);
        const fromServer = new Uint8Array(await response.arrayBuffer());
        assert.deepEqual(inPage, fromServer, `page and server differ for ${query}`);
      }
      // The page's own grid renders too (and a shard link for the same dataset).
      const grid = await page.evaluate("window.vec2face.renderGrid({ seed: 1, ids: 2, perId: 3, yaw: 0, age: 0 })");
      assert.equal((grid as { images: number }).images, 6);
      const images = await page.evaluate("document.querySelectorAll('#grid img').length");
      assert.equal(images, 6);
      const link = await page.evaluate("document.getElementById('download').getAttribute('href')");
      assert.equal(link, "/v1/shards/0.zip?ids=2&per_id=3&shard_size=2&seed=1");
      const screenshotPath = Deno.env.get("VEC2FACE_PREVIEW_SCREENSHOT");
      if (screenshotPath) await Deno.writeFile(screenshotPath, await page.screenshot(900, 500));
      assert.deepEqual(page.console.filter((line) => line.startsWith("uncaught")), []);
      page.close();
    } catch (error) {
      throw new Error(`${(error as Error).message}\nChromium's output:\n${browser.log}`, { cause: error });
    } finally {
      await browser.close();
    }
  },
});

Deno.test("preview bundle: src/web/preview.bundle.js is what deno bundle makes of src/web/preview.ts", async () => {
  const root = new URL("../../", import.meta.url);
  const fresh = await Deno.makeTempFile({ prefix: "preview-bundle-", suffix: ".js" });
  try {
    const args = PREVIEW_BUNDLE_COMMAND.map((arg) => arg.startsWith("--output=") ? `--output=${fresh}` : arg);
    const { code, stderr } = await new Deno.Command(Deno.execPath(), { args, cwd: root, stdout: "null" }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    // esbuild's "// path" lines name each module's file, which depends on where npm packages live here.
    const withoutPaths = (text: string) => text.replace(/^\/\/ .*\n/gm, "");
    const committed = await Deno.readTextFile(new URL("src/web/preview.bundle.js", root));
    assert.ok(
      withoutPaths(committed) === withoutPaths(await Deno.readTextFile(fresh)),
      `src/web/preview.bundle.js is stale: rebuild it with \`deno ${PREVIEW_BUNDLE_COMMAND.join(" ")}\``,
    );
  } finally {
    await Deno.remove(fresh);
  }
});
