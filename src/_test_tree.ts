/**
 * Test helper: every file under a folder, by path relative to it, for
 * byte-for-byte comparisons of dataset trees.
 *
 * @module
 */
import { join } from "node:path";

/** Reads every file under `root` into a map keyed by its `/`-separated relative path. */
export async function readTree(root: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const walk = async (directory: string, prefix: string) => {
    for await (const entry of Deno.readDir(directory)) {
      const path = join(directory, entry.name);
      if (entry.isDirectory) await walk(path, `${prefix}${entry.name}/`);
      else files.set(`${prefix}${entry.name}`, await Deno.readFile(path));
    }
  };
  await walk(root, "");
  return files;
}
