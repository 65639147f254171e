/**
 * Third-party model files for tests, as published (before any rewrite): read
 * from `$VEC2FACE_FACEPLUGIN_DIR` when set, else from the vec2face cache,
 * pulled once with `npm pack` and sha256-checked like a pack's files.
 *
 * @module
 */
import { join } from "node:path";
import { fetchNpmFiles } from "./_npm_fetch.ts";
import { cacheDir } from "./model_pack.ts";
import { writeAtomic } from "./_fs.ts";
import { sha256 } from "./_hash.ts";

const PACKAGE = "faceplugin-face-recognition-js";
const VERSION = "0.0.1";

/** Published sha256 of the faceplugin files the tests use. */
export const FACEPLUGIN_SHA256: Record<string, string> = {
  "fr_feature.onnx": "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
  "fr_detect.onnx": "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854",
  "fr_landmark.onnx": "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258",
  "fr_pose.onnx": "72d032ec941b7153bf8d3f2c03a4c165453cc7e63d479041ec7c6ef087e5839d",
  "fr_gender.onnx": "a003e8392a617ca834c7ca2c01e0895f5c354217fb56cd0373935e6e9b9c396e",
};

/** The bytes of a faceplugin model file as published, e.g. `fr_feature.onnx`. */
export async function facepluginModel(file: string): Promise<Uint8Array> {
  const expected = FACEPLUGIN_SHA256[file];
  if (!expected) throw new RangeError(`Cannot load test model ${file}: current value is not a known faceplugin file`);
  const directory = Deno.env.get("VEC2FACE_FACEPLUGIN_DIR");
  const cached = join(cacheDir(), "sha256", `${expected}.onnx`);
  let bytes: Uint8Array | undefined;
  if (directory) bytes = await Deno.readFile(join(directory, file));
  else bytes = await Deno.readFile(cached).catch(() => undefined);
  if (!bytes) {
    bytes = (await fetchNpmFiles(PACKAGE, VERSION, [`package/model/${file}`])).get(`package/model/${file}`)!;
    await Deno.mkdir(join(cacheDir(), "sha256"), { recursive: true });
    await writeAtomic(cached, bytes, `${crypto.randomUUID()}.tmp`);
  }
  const actual = sha256(bytes);
  if (actual !== expected) throw new Error(`${file}: sha256 is ${actual}, expected ${expected}`);
  return bytes;
}
