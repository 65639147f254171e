import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeBank, encodeBank } from "./src/bank.ts";
import { encodePng } from "./src/image/codec.ts";
import { loadPack } from "./src/model_pack.ts";
import { render } from "./src/render.ts";
import { sample } from "./src/sample.ts";

const CLI = new URL("./cli.ts", import.meta.url).pathname;

const FIXTURE = new URL("./models/fixture/", import.meta.url).pathname;

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

/** A 160x160 "photo": a generated face on a grey background, like a loosely cropped portrait. */
function photo(face: { width: number; height: number; data: Uint8Array }) {
  const side = 160, offset = 24;
  const data = new Uint8Array(side * side * 3).fill(120);
  for (let y = 0; y < face.height; y++) {
    data.set(face.data.subarray(y * face.width * 3, (y + 1) * face.width * 3), ((y + offset) * side + offset) * 3);
  }
  return { width: side, height: side, data };
}

Deno.test("cli edit: edits every vector of a bank within the budget and writes images, rows and the edited bank", async () => {
  const directory = await Deno.makeTempDir();
  try {
    await using pack = await loadPack(undefined, { device: "wasm" });
    const { vectors } = await sample(2, { prior: pack.prior, threshold: 0.476, seed: 4 });
    await Deno.writeFile(join(directory, "bank.npy"), encodeBank(vectors));
    const out = join(directory, "edited");
    const result = await cli(
      "edit",
      "--bank",
      join(directory, "bank.npy"),
      "--targets",
      "yaw=170,gender=f",
      "--budget",
      "6",
      "--out",
      out,
      "--device",
      "wasm",
    );
    assert.equal(result.code, 0, result.stderr);
    const rows = (await Deno.readTextFile(join(out, "edits.jsonl"))).trim().split("\n").map((line) => JSON.parse(line));
    assert.equal(rows.length, 2);
    for (const row of rows) {
      assert.equal(row.status, "unreached"); // yaw 170 is out of any face's reach
      assert.ok(row.calls <= 6);
      assert.ok("yaw" in row.errors && "gender" in row.errors);
      assert.ok((await Deno.stat(join(out, row.image))).size > 0);
    }
    const edited = decodeBank(await Deno.readFile(join(out, "edited.npy")));
    assert.equal(edited.length, 2);
    assert.match(result.stderr, /edited 2 identities/);

    const bad = await cli("edit", "--bank", join(directory, "bank.npy"), "--targets", "hair=3", "--out", out);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /error: Cannot read target hair=3/);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("cli generate --from-images: one identity per subfolder or top-level photo; faceless photos listed", async () => {
  const directory = await Deno.makeTempDir();
  try {
    await using pack = await loadPack(undefined, { device: "wasm" });
    const { vectors } = await sample(2, { prior: pack.prior, threshold: 0.476, seed: 8 });
    const faces = await render([vectors[0], vectors[0], vectors[1]], { pack, seed: 3 });
    const photos = join(directory, "photos");
    await Deno.mkdir(join(photos, "anna"), { recursive: true });
    await Deno.writeFile(join(photos, "anna", "1.png"), encodePng(photo(faces[0])));
    await Deno.writeFile(join(photos, "anna", "2.png"), encodePng(photo(faces[1])));
    await Deno.writeFile(join(photos, "bob.png"), encodePng(photo(faces[2])));
    await Deno.writeFile(
      join(photos, "blank.png"),
      encodePng({ width: 64, height: 64, data: new Uint8Array(64 * 64 * 3) }),
    );
    const out = join(directory, "dataset");
    const result = await cli(
      "generate",
      "--from-images",
      photos,
      "--ids",
      "2",
      "--per-id",
      "2",
      "--out",
      out,
      "--device",
      "wasm",
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /no face found in 1 photos/);
    const sources = JSON.parse(await Deno.readTextFile(join(out, "sources.json")));
    assert.deepEqual(sources.sources.map((s: { source: string; photos: number }) => [s.source, s.photos]), [
      ["anna", 2],
      ["bob.png", 1],
    ]);
    assert.deepEqual(sources.noFace, ["blank.png"]);
    assert.ok((await Deno.stat(join(out, "000001", "001.jpg"))).size > 0);

    const tooMany = await cli("generate", "--from-images", photos, "--ids", "5", "--per-id", "1", "--out", out + "2");
    assert.equal(tooMany.code, 2);
    assert.match(tooMany.stderr, /current folder gives 2/);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("cli generate --yaw, then eval: the rows record each image's edit and eval prints what they reached", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const data = join(directory, "yaw25");
    const generated = await cli(
      ..."generate --ids 1 --per-id 2 --yaw 25 --edit-budget 3 --seed 2 --device wasm --out".split(" "),
      data,
    );
    assert.equal(generated.code, 0, generated.stderr);
    const rows = (await Deno.readTextFile(join(data, "manifest.jsonl"))).trim().split("\n").map((line) =>
      JSON.parse(line)
    );
    assert.equal(rows.length, 2);
    for (const row of rows) {
      assert.deepEqual(row.edit.targets, { yaw: 25 });
      assert.ok(row.edit.calls <= 3 && Number.isFinite(row.edit.measured.yaw) && Number.isFinite(row.edit.identity));
    }

    // Any pack reads the rows: the fixture's evaluates faster.
    const report = join(directory, "report");
    const evaluated = await cli("eval", data, "--out", report, "--pack", FIXTURE, "--device", "wasm", "--no-judge");
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const yaws = rows.map((row) => row.edit.measured.yaw as number);
    const mean = (yaws[0] + yaws[1]) / 2, std = Math.abs(yaws[0] - yaws[1]) / 2;
    const within = yaws.filter((yaw) => Math.abs(yaw - 25) <= 7).length / 2;
    const reached = rows.filter((row) => row.edit.status === "reached").length;
    const identity = (rows[0].edit.identity + rows[1].edit.identity) / 2;
    const line = evaluated.stdout.split("\n").find((line) => line.startsWith("edits "));
    assert.equal(
      line,
      `edits yaw 25 deg: ${mean.toFixed(1)} +- ${std.toFixed(1)} deg (${(100 * within).toFixed(1)} % within 7 deg); ` +
        `${reached} of 2 reached, identity ${identity.toFixed(3)} (min ${
          Math.min(rows[0].edit.identity, rows[1].edit.identity).toFixed(3)
        }), ${((rows[0].edit.calls + rows[1].edit.calls) / 2).toFixed(1)} calls per image`,
    );
    const json = JSON.parse(await Deno.readTextFile(join(report, "report.json")));
    assert.equal(json.edits.images, 2);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
