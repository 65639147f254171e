// Config `base` of training/vec2face.py must load the official Vec2Face state dict with strict=True: its parameter
// names and shapes equal official-vec2face-base.keys.tsv (training/check_keys.py, torch). Runs where the training
// tools' Python (/usr/bin/python3 with torch) is installed; elsewhere it is ignored, as the runtime needs no Python.
import assert from "node:assert/strict";

const PYTHON = "/usr/bin/python3";
const script = new URL("./check_keys.py", import.meta.url).pathname;
const keys = new URL("./official-vec2face-base.keys.tsv", import.meta.url).pathname;

async function run(args: string[]): Promise<{ code: number; stdout: string }> {
  const { code, stdout } = await new Deno.Command(PYTHON, { args, stderr: "inherit" }).output();
  return { code, stdout: new TextDecoder().decode(stdout) };
}

async function hasTorch(): Promise<boolean> {
  try {
    return (await new Deno.Command(PYTHON, { args: ["-c", "import torch"], stderr: "null" }).output()).success;
  } catch {
    return false; // no such interpreter
  }
}

Deno.test({
  name: "config base has exactly the official checkpoint's parameter names and shapes; a changed key list fails",
  ignore: !(await hasTorch()),
  async fn() {
    const matching = await run([script]);
    assert.equal(matching.code, 0, matching.stdout);
    assert.match(matching.stdout, /^OK 349 tensors, 174\.1M parameters$/m);

    // the check must see a difference: one shape changed, one name dropped
    const lines = (await Deno.readTextFile(keys)).split("\n");
    const shapeRow = lines.findIndex((line) => line.startsWith("decoder_embed.weight\t"));
    const nameRow = lines.findIndex((line) => line.startsWith("norm.bias\t"));
    assert.ok(shapeRow > 0 && nameRow > 0, "the key list has decoder_embed.weight and norm.bias");
    lines[shapeRow] = "decoder_embed.weight\t(768, 512)";
    lines.splice(nameRow, 1);
    const changed = await Deno.makeTempFile({ suffix: ".tsv" });
    try {
      await Deno.writeTextFile(changed, lines.join("\n"));
      const differing = await run([script, changed]);
      assert.equal(differing.code, 1, differing.stdout);
      assert.match(differing.stdout, /shape differs: +decoder_embed\.weight tsv \(768, 512\) model \(768, 768\)/);
      assert.match(differing.stdout, /extra in model: +norm\.bias/);
    } finally {
      await Deno.remove(changed);
    }
  },
});
