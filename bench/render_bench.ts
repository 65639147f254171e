// Render throughput per backend on a pack (default: the bundled one).
//
//   deno run -A bench/render_bench.ts [--images 64] [--batch-size 16] [--backends wasm,native,webgpu] [--pack DIR]
//       [--torch CONFIG [--checkpoint FILE] [--frame-gate FILE]]
//
// Prints a table: generator-only images/s, and images/s including JPEG encoding.
// --torch adds torch eager on CPU for the pack's training config (training/bench_torch.py,
// /usr/bin/python3 with torch), with the same weights when --checkpoint gives them, and the pack's frame gate
// when --frame-gate does (training/checkpoints/frame_gate.npz for the bundled pack).
import { parseArgs } from "node:util";
import { type Backend, resolveBackend } from "../src/_backend.ts";
import { encodeJpeg } from "../src/image/codec.ts";
import { loadPack } from "../src/model_pack.ts";
import { render } from "../src/render.ts";
import { sample } from "../src/sample.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    images: { type: "string", default: "64" },
    "batch-size": { type: "string", default: "16" },
    backends: { type: "string", default: "wasm,native,webgpu" },
    pack: { type: "string" },
    torch: { type: "string" },
    checkpoint: { type: "string" },
    "frame-gate": { type: "string" },
  },
});
const count = Number(values.images);
const batchSize = Number(values["batch-size"]);
const rows: string[][] = [];
for (const backend of values.backends.split(",") as Backend[]) {
  try {
    await resolveBackend(backend);
  } catch (error) {
    rows.push([backend, "-", "-", `unavailable: ${(error as Error).message}`]);
    continue;
  }
  await using pack = await loadPack(values.pack, { device: backend });
  const { vectors } = await sample(count, { prior: pack.prior, threshold: pack.manifest.separationThreshold, seed: 1 });
  await render(vectors.slice(0, batchSize), { pack, batchSize }); // warm-up: session creation, shader compilation
  const started = performance.now();
  const images = await render(vectors, { pack, batchSize });
  const renderSeconds = (performance.now() - started) / 1000;
  const encodeStarted = performance.now();
  for (const image of images) await encodeJpeg(image, 90);
  const encodeSeconds = (performance.now() - encodeStarted) / 1000;
  rows.push([
    backend,
    (count / renderSeconds).toFixed(1),
    (count / (renderSeconds + encodeSeconds)).toFixed(1),
    `${count} images, batch ${batchSize}, JPEG ${(1000 * encodeSeconds / count).toFixed(2)} ms/image`,
  ]);
}
if (values.torch) {
  const script = new URL("../training/bench_torch.py", import.meta.url).pathname;
  const args = [script, "--config", values.torch, "--images", String(count), "--batch", String(batchSize)];
  if (values.checkpoint) args.push("--checkpoint", values.checkpoint);
  if (values["frame-gate"]) args.push("--frame-gate", values["frame-gate"]);
  const result = await new Deno.Command("/usr/bin/python3", { args, stderr: "inherit" }).output();
  if (result.success) {
    const { images_per_s: rate, threads } = JSON.parse(new TextDecoder().decode(result.stdout));
    rows.push([`torch eager (CPU, ${threads} threads)`, String(rate), "-", `config ${values.torch}, no JPEG`]);
  } else rows.push(["torch eager", "-", "-", `failed (exit ${result.code})`]);
}
const header = ["backend", "render img/s", "render+jpeg img/s", "notes"];
console.log(`| ${header.join(" | ")} |\n|${header.map(() => "---").join("|")}|`);
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
