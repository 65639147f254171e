/**
 * Whether a complete dataset was rendered by this pack on this backend: its
 * first images rendered again here must have the sha256s its manifest gives.
 * Another backend rounds differently (and so writes other bytes), so a resume
 * on it must not report itself as the renderer, nor redo damaged images into
 * a dataset of mixed bytes.
 *
 * @module
 */
import { decodeBank } from "../bank.ts";
import { type DatasetEdit, generateSamples } from "../dataset.ts";
import { Vec2FaceError } from "../errors.ts";
import type { ManifestRow } from "../journal.ts";
import type { ModelPack } from "../model_pack.ts";
import { join } from "node:path";
import { FILES } from "./layout.ts";

/**
 * Renders the first 16 images of the complete dataset in `out` (its
 * manifest's first rows) with `pack` and throws `Vec2FaceError`
 * (`resume-mismatch`) when one's sha256 is not the manifest's: the dataset
 * was made on another backend (or by another build of the pack).
 *
 * @example A dataset made on wasm resumes on wasm
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateDataset } from "./generate.ts";
 * import { checkRenderedHere } from "./render_check.ts";
 * import { FIXTURE_PACK, loadPack } from "../model_pack.ts";
 * await using pack = await loadPack(FIXTURE_PACK, { device: "wasm" });
 * const out = await Deno.makeTempDir();
 * await generateDataset({ pack, out, ids: 1, perId: 2, seed: 3, overwrite: true });
 * await assert.doesNotReject(checkRenderedHere(out, { pack, seed: 3, perId: 2 }));
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function checkRenderedHere(
  out: string,
  options: { pack: ModelPack; seed: number; perId: number; edit?: DatasetEdit },
): Promise<void> {
  const { pack } = options;
  const rows = await firstRows(join(out, FILES.manifest), CHECKED_IMAGES);
  const bank = decodeBank(await Deno.readFile(join(out, FILES.bankNpy)));
  const wanted = new Map(rows.map((row) => [`${row.identity}/${row.image}`, row]));
  const samples = generateSamples({
    pack,
    identities: bank,
    perId: options.perId,
    seed: options.seed,
    start: rows[0].identity,
    end: rows[rows.length - 1].identity + 1,
    batchSize: CHECKED_IMAGES,
    edit: options.edit,
  });
  try {
    for await (const sample of samples) {
      const row = wanted.get(`${sample.identity}/${sample.image}`);
      if (row && row.sha256 !== sample.sha256) {
        throw new Vec2FaceError(
          "resume-mismatch",
          `Cannot resume ${out} on backend ${pack.backend}: current dataset's ${row.file} was rendered elsewhere ` +
            `(rendered here, its sha256 is ${sample.sha256.slice(0, 12)}, not the manifest's ` +
            `${row.sha256.slice(0, 12)}); resume on the backend that made it, or use \`overwrite\` to make it again`,
        );
      }
      wanted.delete(`${sample.identity}/${sample.image}`);
      if (wanted.size === 0) break;
    }
  } finally {
    await samples.return(undefined);
  }
}

/**
 * Images rendered again. Backends differ on only some images (wasm and native
 * on 1 of the first 6 of vec2face-small, 3 of 6 of the fixture pack), so one
 * image would often miss another backend; 16 find it unless it differs on
 * under ~1 in 6 images (then 5 % of the time), for ~0.5 s native, ~3 s wasm.
 */
const CHECKED_IMAGES = 16;

/** The first `count` rows of a manifest (fewer when it has fewer). */
async function firstRows(path: string, count: number): Promise<ManifestRow[]> {
  const rows: ManifestRow[] = [];
  const lines = (await Deno.open(path)).readable.pipeThrough(new TextDecoderStream());
  let text = "";
  for await (const chunk of lines) {
    text += chunk;
    if (text.split("\n").length > count) break;
  }
  for (const line of text.split("\n").slice(0, count)) {
    if (line.trim() !== "") rows.push(JSON.parse(line) as ManifestRow);
  }
  if (rows.length === 0) throw new RangeError(`Cannot check ${path}: current manifest has no rows`);
  return rows;
}
