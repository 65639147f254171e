/**
 * The file formats of vec2face datasets, as streams and readers: zip shards
 * ({@linkcode ZipShardStream}, {@linkcode zipEntries}), WebDataset tar shards
 * ({@linkcode TarShardStream}, {@linkcode readTar}), insightface's MXNet
 * RecordIO ({@linkcode RecordIOStream}, {@linkcode unpackRecord},
 * {@linkcode parseRecordIndex}), image codecs, identity banks (`.npy`), prior
 * files and model packs' `manifest.json` ({@linkcode PackManifest}) entries. `generateDataset` writes them
 * and `openDataset` reads them (main entry point); these are for writing or reading them yourself. The
 * secondary types of those calls are here too: a dataset's formats ({@linkcode DatasetFormat}), items
 * and images ({@linkcode DatasetItem}, {@linkcode DatasetImage}), plan, worker share and edit
 * ({@linkcode PlanOptions}, {@linkcode WorkerShare}, {@linkcode DatasetEdit}), the progress of
 * `generateDataset` and `fetchDataset` ({@linkcode GenerateProgress}, {@linkcode FetchProgress}) and
 * `fitPrior`'s options ({@linkcode FitPriorOptions}).
 *
 * @example A zip, a tar and a RecordIO stream of the same image, read back
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   packRecord,
 *   readTar,
 *   RecordIOStream,
 *   TarShardStream,
 *   unpackRecord,
 *   webDatasetEntries,
 *   zipEntries,
 *   ZipShardStream,
 * } from "./formats.ts";
 * const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xd9]);
 * const bytes = (stream: ReadableStream<Uint8Array>) => new Response(stream).arrayBuffer().then((b) => new Uint8Array(b));
 *
 * const zipPath = await Deno.makeTempFile({ suffix: ".zip" });
 * await Deno.writeFile(zipPath, ReadableStream.from([{ path: "000000/000.jpg", bytes: jpeg }]).pipeThrough(new ZipShardStream()));
 * assert.deepEqual((await zipEntries(zipPath)).map((entry) => [entry.path, entry.bytes]), [["000000/000.jpg", 4]]);
 * await Deno.remove(zipPath);
 *
 * const members = webDatasetEntries({ identity: 0, image: 0, sigma: 0.3, bytes: jpeg });
 * const tar = await bytes(ReadableStream.from(members).pipeThrough(new TarShardStream()));
 * assert.deepEqual(readTar(tar).get("000000_000.jpg"), jpeg);
 *
 * const rec = await bytes(ReadableStream.from([{ label: 0, id: 1, bytes: jpeg }]).pipeThrough(new RecordIOStream()));
 * assert.equal(rec.length % 4, 0);
 * assert.deepEqual(unpackRecord(packRecord({ label: 0, id: 1, bytes: jpeg })).bytes, jpeg);
 * ```
 *
 * @module
 */
export { type ShardEntry, ZipShardStream, ZipShardWriter } from "./src/shard.ts";
export { zipEntries } from "./src/fetch.ts";
export {
  readTar,
  tarHeader,
  TarShardStream,
  webDatasetEntries,
  webDatasetKey,
  type WebDatasetSample,
} from "./src/webdataset.ts";
export {
  frameRecord,
  headerRecord,
  identityRecord,
  imageRecordIndex,
  IR_HEADER_SIZE,
  packRecord,
  parseRecordIndex,
  propertyText,
  RECORDIO_MAGIC,
  type RecordIOEntry,
  RecordIOStream,
  unpackRecord,
} from "./src/recordio.ts";
export { decodeImage, encodeJpeg, encodePng, type RgbImage } from "./src/image/codec.ts";
export { type BankInfo, decodeBank, type DecodeBankOptions, encodeBank } from "./src/bank.ts";
export { encodePrior, type FitPriorOptions, parsePrior, type Prior } from "./src/prior.ts";
export { samplePath } from "./src/dataset/layout.ts";
export { DATASET_FORMATS, type DatasetFormat, type PlanOptions, type WorkerShare } from "./src/dataset/plan.ts";
export type { DatasetImage, DatasetItem, DatasetLayout } from "./src/read_dataset.ts";
export type { DatasetEdit } from "./src/dataset.ts";
export type { ManifestEdit } from "./src/journal.ts";
export type { GenerateProgress } from "./src/dataset/generate.ts";
export type { FetchProgress } from "./src/fetch.ts";
export type { FileRole, NpmSource, PackFile, PackManifest } from "./src/model_pack.ts";
export type { MaskRatio } from "./src/mask.ts";
