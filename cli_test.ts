import { readTree } from "./src/_test_tree.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeBank, encodeBank } from "./src/bank.ts";
import { sha256 } from "./src/_hash.ts";
import { parsePrior } from "./src/prior.ts";
import { Random } from "./src/random.ts";
import { cliMessage, readShare } from "./cli.ts";

const CLI = new URL("./cli.ts", import.meta.url).pathname;
const FIXTURE = new URL("./models/fixture/", import.meta.url).pathname;
const DEFAULT = new URL("./models/vec2face-small/", import.meta.url).pathname;

async function cli(...args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

/** The run failed with exactly one line on stderr starting with "error:", matching `pattern`. */
function assertOneLineError(result: { code: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(result.code, 0, "non-zero exit");
  const lines = result.stderr.trim().split("\n").filter((line) => line.startsWith("error:"));
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], pattern);
  assert.ok(!/\n\s+at /.test(result.stderr), `no stack trace: ${result.stderr}`);
}

async function copyPack(directory: string): Promise<string> {
  const pack = join(directory, "pack");
  await Deno.mkdir(pack);
  for (const name of ["manifest.json", "generator.onnx", "prior.npy"]) {
    await Deno.copyFile(join(FIXTURE, name), join(pack, name));
  }
  return pack;
}

async function assertNothingComplete(out: string): Promise<void> {
  const names = await Array.fromAsync(Deno.readDir(out)).catch(() => []);
  assert.ok(!names.some((entry) => entry.name === "manifest.jsonl"), "no manifest.jsonl after a failure");
}

Deno.test("cli generate writes N x M JPEGs, the manifest and the bank, and says which backend ran", async () => {
  const out = await Deno.makeTempDir();
  try {
    const result = await cli("generate", "--ids", "3", "--per-id", "4", "--out", out, "--device", "native");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /backend: native/);
    assert.match(result.stderr, /wrote 12 images of 3 identities/);
    const rows = (await Deno.readTextFile(join(out, "manifest.jsonl"))).trim().split("\n");
    assert.equal(rows.length, 12);
    const bank = JSON.parse(await Deno.readTextFile(join(out, "identities.json")));
    assert.equal(bank.count, 3);
    assert.equal(bank.packSha256, sha256(await Deno.readFile(join(DEFAULT, "manifest.json"))));
    const jpeg = await Deno.readFile(join(out, "000002", "003.jpg"));
    assert.deepEqual([...jpeg.slice(0, 2)], [0xff, 0xd8]);
    assert.equal(JSON.parse(rows[11]).sha256, sha256(jpeg));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("cli bad input: one-line errors, non-zero exit, nothing partial looking complete", async (t) => {
  const directory = await Deno.makeTempDir();
  const out = join(directory, "out");
  const generate = ["generate", "--out", out, "--device", "wasm"];
  try {
    await t.step("--ids 0", async () => {
      assertOneLineError(await cli(...generate, "--ids", "0", "--per-id", "2"), /identity count --ids 0/);
    });
    await t.step("--per-id -1", async () => {
      assertOneLineError(await cli(...generate, "--ids", "2", "--per-id", "-1"), /images per identity --per-id -1/);
    });
    await t.step("--ids abc", async () => {
      assertOneLineError(
        await cli(...generate, "--ids", "abc", "--per-id", "1"),
        /--ids abc: current value is not an integer/,
      );
    });
    await t.step("unknown --device", async () => {
      const result = await cli("generate", "--ids", "1", "--per-id", "1", "--out", out, "--device", "tpu");
      assertOneLineError(result, /device as "tpu".*auto, webgpu, wasm, native/);
    });
    await t.step("unknown flag", async () => {
      assertOneLineError(await cli(...generate, "--ids", "1", "--per-id", "1", "--idz", "3"), /idz/);
    });
    await t.step("--out pointing at a file", async () => {
      const file = join(directory, "file.txt");
      await Deno.writeTextFile(file, "keep me");
      assertOneLineError(
        await cli("generate", "--ids", "1", "--per-id", "1", "--out", file, "--device", "wasm"),
        /it is a file/,
      );
      assert.equal(await Deno.readTextFile(file), "keep me");
    });
    await t.step("corrupt model file (bytes changed): sha256 mismatch names file and expected hash", async () => {
      const pack = await copyPack(await Deno.makeTempDir({ dir: directory }));
      const bytes = await Deno.readFile(join(pack, "generator.onnx"));
      bytes[bytes.length >> 1] ^= 0xff;
      await Deno.writeFile(join(pack, "generator.onnx"), bytes);
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--pack", pack, "--overwrite");
      assertOneLineError(result, /generator\.onnx: sha256 is [0-9a-f]{64}, expected [0-9a-f]{64}/);
      await assertNothingComplete(out);
    });
    await t.step("sha256 mismatch in the manifest", async () => {
      const pack = await copyPack(await Deno.makeTempDir({ dir: directory }));
      const manifest = JSON.parse(await Deno.readTextFile(join(pack, "manifest.json")));
      const expected = "0".repeat(64);
      manifest.files.prior.sha256 = expected;
      await Deno.writeTextFile(join(pack, "manifest.json"), JSON.stringify(manifest));
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--pack", pack, "--overwrite");
      assertOneLineError(result, new RegExp(`prior\\.npy: sha256 is [0-9a-f]{64}, expected ${expected}`));
    });
    await t.step("a model that is not ONNX (hash matches) fails when the session is made", async () => {
      const pack = await copyPack(await Deno.makeTempDir({ dir: directory }));
      const garbage = new TextEncoder().encode("not an onnx model");
      await Deno.writeFile(join(pack, "generator.onnx"), garbage);
      const manifest = JSON.parse(await Deno.readTextFile(join(pack, "manifest.json")));
      manifest.files.generator.sha256 = sha256(garbage);
      await Deno.writeTextFile(join(pack, "manifest.json"), JSON.stringify(manifest));
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--pack", pack, "--overwrite");
      assertOneLineError(result, /Cannot create a wasm session/);
      await assertNothingComplete(out);
    });
    await t.step("a missing model file", async () => {
      const pack = await copyPack(await Deno.makeTempDir({ dir: directory }));
      await Deno.remove(join(pack, "generator.onnx"));
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--pack", pack, "--overwrite");
      assertOneLineError(result, /Cannot read model pack file .*generator\.onnx/);
    });
    await t.step("a bank with vectors of the wrong length", async () => {
      const bank = join(directory, "short.npy");
      await Deno.writeFile(bank, encodeBank([new Float32Array(511)]));
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--bank", bank, "--overwrite");
      assertOneLineError(
        result,
        /Cannot load bank .*short\.npy as \[count, 512\] vectors: current shape is \[1, 511\]/,
      );
      await assertNothingComplete(out);
    });
    await t.step("a bank of 256-d vectors for a 512-d pack", async () => {
      const bank = join(directory, "256.npy");
      await Deno.writeFile(bank, encodeBank([new Float32Array(256), new Float32Array(256)]));
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--bank", bank, "--overwrite");
      assert.equal(result.code, 2, result.stderr);
      assertOneLineError(result, /as \[count, 512\] vectors: current shape is \[2, 256\]/);
      await assertNothingComplete(out);
    });
    await t.step("a truncated bank: one line, exit 2, and --overwrite leaves the old folder alone", async () => {
      const bank = join(directory, "truncated.npy");
      const bytes = encodeBank([new Float32Array(512), new Float32Array(512)]);
      await Deno.writeFile(bank, bytes.slice(0, bytes.length - 10));
      const previous = join(directory, "previous");
      await Deno.mkdir(previous);
      await Deno.writeTextFile(join(previous, "keep.txt"), "keep me");
      const result = await cli(
        "generate",
        ...["--ids", "1", "--per-id", "1", "--out", previous, "--device", "wasm", "--bank", bank, "--overwrite"],
      );
      assert.equal(result.code, 2, result.stderr);
      assertOneLineError(result, /Cannot load bank .*truncated\.npy: .*current file is truncated/);
      await assertNothingComplete(previous);
      assert.equal(await Deno.readTextFile(join(previous, "keep.txt")), "keep me");
    });
    await t.step("a bank with NaN", async () => {
      const bank = join(directory, "nan.npy");
      const vector = new Float32Array(512);
      vector[7] = NaN;
      await Deno.writeFile(bank, encodeBank([vector]));
      const result = await cli(...generate, "--ids", "1", "--per-id", "1", "--bank", bank, "--overwrite");
      assertOneLineError(
        result,
        /Cannot load bank .*nan\.npy as finite vectors: current value at row 0, column 7 is NaN/,
      );
      await assertNothingComplete(out);
    });
    await t.step(
      "an all-zero bank: one line naming the rows, and --overwrite leaves the old folder alone",
      async () => {
        const bank = join(directory, "zeros.npy");
        await Deno.writeFile(bank, encodeBank([new Float32Array(512), new Float32Array(512)]));
        const previous = join(directory, "previous-zeros");
        await Deno.mkdir(previous);
        await Deno.writeTextFile(join(previous, "keep.txt"), "keep me");
        const result = await cli(
          "generate",
          ...["--ids", "2", "--per-id", "1", "--out", previous, "--device", "wasm", "--bank", bank, "--overwrite"],
        );
        assertOneLineError(result, /Cannot use bank as identities: current rows 0, 1 are zero vectors/);
        assert.equal(await Deno.readTextFile(join(previous, "keep.txt")), "keep me");
      },
    );
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("cli embed: photos without a face are listed, not fatal; a missing folder is one line", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const { encodePng } = await import("./src/image/codec.ts");
    await Deno.mkdir(join(directory, "photos"));
    const blank = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(180) };
    await Deno.writeFile(join(directory, "photos", "blank.png"), encodePng(blank));
    const out = join(directory, "features.npy");
    const result = await cli("embed", "--align", join(directory, "photos"), "--out", out, "--device", "native");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /wrote 0 features .*1 photos without a face/);
    const sidecar = JSON.parse(await Deno.readTextFile(join(directory, "features.json")));
    assert.deepEqual(sidecar.noFace, [join(directory, "photos", "blank.png")]);
    assertOneLineError(await cli("embed", "--align", join(directory, "nowhere"), "--out", out), /nowhere/);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("cli sample --half writes a float16 bank that generate --bank takes", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const bank = join(directory, "bank.npy");
    const sampled = await cli("sample", "--n", "3", "--out", bank, "--half", "--seed", "4");
    assert.equal(sampled.code, 0, sampled.stderr);
    const bytes = await Deno.readFile(bank);
    const header = new TextDecoder().decode(bytes.subarray(10, 10 + new DataView(bytes.buffer).getUint16(8, true)));
    assert.match(header, /'descr': '<f2'/);
    assert.match(header, /'shape': \(3, 512\)/);
    assert.equal(JSON.parse(await Deno.readTextFile(join(directory, "bank.json"))).count, 3);

    const out = join(directory, "out");
    const result = await cli(
      "generate",
      "--ids",
      "3",
      "--per-id",
      "1",
      "--out",
      out,
      "--bank",
      bank,
      "--device",
      "wasm",
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await Deno.readTextFile(join(out, "manifest.jsonl"))).trim().split("\n").length, 3);
    // The dataset's bank (float32) holds the float16 bank's values exactly.
    assert.deepEqual(decodeBank(await Deno.readFile(join(out, "identities.npy"))), decodeBank(bytes));
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("cli prior fit: writes a prior that parses, prints cosine statistics; bad flags exit 2", async (t) => {
  const directory = await Deno.makeTempDir();
  try {
    // 300 features of 12 people: a random centre each, plus noise.
    const random = Random.from(11);
    const gaussian = () => Float32Array.from({ length: 512 }, () => random.normal());
    const centres = Array.from({ length: 12 }, gaussian);
    const people = Array.from({ length: 300 }, (_, i) => i % 12);
    const features = people.map((person) => {
      const noise = gaussian();
      return centres[person].map((value, k) => value + 0.5 * noise[k]);
    });
    const featuresPath = join(directory, "features.npy");
    await Deno.writeFile(featuresPath, encodeBank(features));
    const groupsPath = join(directory, "features.json"); // the sidecar of cli.ts embed
    const files = people.map((person, i) => `/photos/person${person}/${i}.jpg`);
    await Deno.writeTextFile(groupsPath, JSON.stringify({ files, noFace: [] }));
    const priorPath = join(directory, "prior.npy");
    const fit = ["prior", "fit", "--out", priorPath, "--draws", "100"];

    await t.step("with --groups: fitted on the 12 centres", async () => {
      const result = await cli(...fit, "--features", featuresPath, "--groups", groupsPath);
      assert.equal(result.code, 0, result.stderr);
      const prior = parsePrior(await Deno.readFile(priorPath));
      assert.equal(prior.dim, 512);
      assert.match(result.stdout, /features: 300 of 512 values; centres: 12 groups; fitted on 12 vectors/);
      assert.match(result.stdout, /prior draws \(100\): pairwise cosine -?\d\.\d{4} \+- \d\.\d{4}; P\(cos > 0\.3\)/);
      assert.match(result.stdout, /real centres \(12\): .*P\(cos > 0\.476, pack\) = \d/);
      assert.ok(!(await Array.fromAsync(Deno.readDir(directory))).some((entry) => entry.name.endsWith(".tmp")));
    });
    await t.step("without --groups: fitted on every feature, a random subset compared", async () => {
      const result = await cli(...fit, "--features", featuresPath, "--seed", "3");
      assert.equal(result.code, 0, result.stderr);
      assert.equal(parsePrior(await Deno.readFile(priorPath)).dim, 512);
      assert.match(result.stdout, /fitted on 300 vectors/);
      assert.match(result.stdout, /real features \(random subset\) \(100\)/);
    });

    await t.step("--images: embeds the photos, saves the features; no face at all is one error line", async () => {
      const { encodePng } = await import("./src/image/codec.ts");
      await Deno.mkdir(join(directory, "photos", "person0"), { recursive: true });
      const blank = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(180) };
      await Deno.writeFile(join(directory, "photos", "person0", "blank.png"), encodePng(blank));
      const saved = join(directory, "saved.npy");
      const result = await cli(
        ...["prior", "fit", "--images", join(directory, "photos"), "--per-folder", "--out", join(directory, "p.npy")],
        ...["--save-features", saved, "--device", "native", "--threads", "1"],
      );
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stdout, /photos: 1, embedded 0, skipped 1 without a face/);
      assertOneLineError(result, /Cannot fit a prior on fewer than 2 features: current count is 0/);
      const sidecar = JSON.parse(await Deno.readTextFile(join(directory, "saved.json")));
      assert.deepEqual(sidecar.noFace, [join(directory, "photos", "person0", "blank.png")]);
      assert.deepEqual(decodeBank(await Deno.readFile(saved)), []);
    });

    const usage = async (args: string[], pattern: RegExp) => {
      const result = await cli(...args);
      assert.equal(result.code, 2, result.stderr);
      assertOneLineError(result, pattern);
    };
    await t.step("missing --out", async () => {
      await usage(
        ["prior", "fit", "--features", featuresPath],
        /Cannot fit a prior without --out: current value is missing/,
      );
    });
    await t.step("both --features and --images", async () => {
      await usage(
        [...fit, "--features", featuresPath, "--images", directory],
        /exactly one of --features and --images: current value is both/,
      );
    });
    await t.step("neither --features nor --images", async () => {
      await usage(fit, /exactly one of --features and --images: current value is neither/);
    });
    await t.step("--groups without --features", async () => {
      await usage([...fit, "--images", directory, "--groups", groupsPath], /Cannot use --groups without --features/);
    });
    await t.step("--per-folder with --features", async () => {
      await usage([...fit, "--features", featuresPath, "--per-folder"], /Cannot use --per-folder without --images/);
    });
    await t.step("groups of the wrong length", async () => {
      const short = join(directory, "short.json");
      await Deno.writeTextFile(short, JSON.stringify([1, 2, 3]));
      await usage([...fit, "--features", featuresPath, "--groups", short], /current length is 3 for 300 features/);
    });
    await t.step("--draws 1 and an unknown subcommand", async () => {
      await usage(["prior", "fit", "--out", priorPath, "--features", featuresPath, "--draws", "1"], /--draws 1/);
      await usage(["prior", "fits", "--out", priorPath], /Cannot run prior fits: current subcommand is not fit/);
    });
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

/** Unit lines in a run's progress journal; -1 before it exists. */
async function journaledUnits(out: string): Promise<number> {
  const text = await Deno.readTextFile(join(out, "progress.jsonl")).catch(() => undefined);
  return text === undefined ? -1 : text.split("\n").filter((line) => line.startsWith('{"unit"')).length;
}

/** Starts the CLI; it is stopped if it is still running at `deadline` (ms since the epoch). */
function spawnCli(deadline: number, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
  }).spawn();
}

async function cliWithin(deadline: number, args: string[]): Promise<{ code: number; stderr: string }> {
  const output = await spawnCli(deadline, args).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

// Issue 6 acceptance: kill -9 at three random (seeded) moments, resume each time, and the finished output is
// byte-identical to an uninterrupted run. The folder case is a 2,000-image run; the other formats are smaller to
// bound the time (src/generate_resume_test.ts covers every format with damaged files too). Each case has 5 minutes.
const KILL_CASES = [
  { format: "folder", ids: 100, perId: 20, units: 100 },
  { format: "recordio", ids: 30, perId: 10, units: 30 },
  { format: "zip", ids: 30, perId: 10, units: 8 },
  { format: "webdataset", ids: 30, perId: 10, units: 8 },
];
for (const [k, { format, ids, perId, units }] of KILL_CASES.entries()) {
  const name = `cli generate --resume after kill -9 at 3 random moments: ${
    ids * perId
  } images (${format}) byte-identical`;
  Deno.test(name, async () => {
    const directory = await Deno.makeTempDir();
    const deadline = Date.now() + 300_000;
    try {
      const args = (out: string, images = perId) => [
        ...["generate", "--ids", String(ids), "--per-id", String(images), "--out", out, "--format", format],
        ...["--shard-size", "4", "--seed", "7", "--pack", FIXTURE, "--device", "native"],
      ];
      const reference = join(directory, "reference");
      const uninterrupted = await cliWithin(deadline, args(reference));
      assert.equal(uninterrupted.code, 0, uninterrupted.stderr);

      const out = join(directory, "out");
      const random = Random.from(6, k);
      // Kill when this many units are journaled, plus 0-150 ms: from start-up to three quarters of the run.
      const targets = [0, 1, 2].map(() => Math.floor(random.float() * 0.75 * units)).sort((a, b) => a - b);
      for (const [kill, target] of targets.entries()) {
        const child = spawnCli(deadline, [...args(out), "--resume"]);
        let exited = false;
        child.status.then(() => exited = true);
        while (!exited && (await journaledUnits(out)) < target) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await new Promise((resolve) => setTimeout(resolve, random.int(150)));
        assert.ok(!exited, `kill ${kill + 1} (at ${target} units) came after the run ended`);
        child.kill("SIGKILL");
        const status = await child.output();
        assert.equal(status.signal, "SIGKILL", new TextDecoder().decode(status.stderr));
        await assertNothingComplete(out);

        if (kill === 0) {
          // Another spec than the interrupted run's: one line, nothing touched.
          const before = await readTree(out);
          const mixed = await cliWithin(deadline, [...args(out, perId + 1), "--resume"]);
          assertOneLineError(
            mixed,
            new RegExp(`Cannot resume .* with --per-id ${perId + 1}: current run there .*--per-id ${perId}`),
          );
          assert.deepEqual(await readTree(out), before);
        }
      }
      const resumed = await cliWithin(deadline, [...args(out), "--resume"]);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(resumed.stderr, new RegExp(`wrote ${ids * perId} images .*resumed: \\d+ kept, \\d+ rendered`));
      const [expected, actual] = [await readTree(reference), await readTree(out)];
      assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
      for (const [path, bytes] of expected) assert.deepEqual(actual.get(path), bytes, `${path} differs`);
    } finally {
      await Deno.remove(directory, { recursive: true });
    }
  });
}

Deno.test("cli generate: --resume with --overwrite and an unknown --format are usage errors", async () => {
  const out = await Deno.makeTempDir();
  try {
    const generate = ["generate", "--ids", "1", "--per-id", "1", "--out", out, "--pack", FIXTURE, "--device", "wasm"];
    const both = await cli(...generate, "--resume", "--overwrite");
    assert.equal(both.code, 2);
    assertOneLineError(both, /Cannot use --resume and --overwrite together: current options ask for both/);
    const format = await cli(...generate, "--format", "tfrecord");
    assert.equal(format.code, 2);
    assertOneLineError(
      format,
      /Cannot write format "tfrecord": current value is not one of folder, zip, webdataset, recordio/,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("cli eval: a 4 x 3 fixture dataset gives report.json, report.md and the PNGs", async () => {
  const directory = await Deno.makeTempDir();
  const data = join(directory, "data"), report = join(directory, "report");
  try {
    const made = await cli(
      "generate",
      ...["--ids", "4", "--per-id", "3", "--out", data, "--format", "webdataset", "--shard-size", "2"],
      ...["--pack", FIXTURE, "--device", "wasm"],
    );
    assert.equal(made.code, 0, made.stderr);
    const result = await cli("eval", data, "--out", report, "--pack", FIXTURE, "--device", "wasm", "--seed", "4");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /12 images \(webdataset\)/);
    assert.match(result.stdout, /^images 12 of 12 embedded, 4 identities$/m);
    // Both models, each with every identity metric: the pack's own, then the independent judge.
    const [own, judge] = result.stdout.split(/^model /m).slice(1);
    assert.match(own, /^\S+ \(the pack's model: the generator trains against it\), backend wasm$/m);
    assert.match(judge, /^face-api \(independent judge: no training here uses it\), backend wasm$/m);
    for (const block of [own, judge]) {
      assert.match(block, /^ {2}genuine -?\d\.\d{3} \(12 pairs\)$/m);
      assert.match(block, /^ {2}impostor -?\d\.\d{3} \(54 pairs\)$/m);
      assert.match(block, /^ {2}EER \d+\.\d\d % at -?\d\.\d{3}$/m);
      assert.match(block, /^ {2}unique identities at 0\.4: \d+\.\d\d %$/m);
      assert.match(block, /^ {2}Frechet distance to real faces -$/m);
    }
    assert.match(own, /^ {2}unique identities at 0\.476: \d+\.\d\d %$/m);
    assert.match(judge, /^ {2}unique identities at 0\.\d+ \(its LFW FAR 1e-3\): \d+\.\d\d %$/m);
    assert.match(judge, /^ {2}real faces \(LFW pairs\): accuracy 9\d\.\d\d %/m);
    assert.match(result.stdout, /^yaw\/pitch - \(no pose model\)$/m);
    assert.match(result.stdout, /^age\/gender\/quality - \(no attribute heads\)$/m);
    const json = JSON.parse(await Deno.readTextFile(join(report, "report.json")));
    assert.equal(json.dataset.layout, "webdataset");
    assert.equal(json.fidelity.count, 12);
    assert.equal(json.options.seed, 4);
    assert.deepEqual(json.judges.map((j: { independent: boolean }) => j.independent), [false, true]);
    assert.equal(json.judges[1].genuine.count, 12);
    const markdown = await Deno.readTextFile(join(report, "report.md"));
    assert.match(markdown, /\| genuine cosine \| .* all 12 pairs \|/);
    for (const png of ["similarity.png", "fidelity.png", "contact_sheet.png"]) {
      const bytes = await Deno.readFile(join(report, png));
      assert.deepEqual([...bytes.slice(1, 4)], [0x50, 0x4e, 0x47], png);
      assert.ok(markdown.includes(`](${png})`), png);
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("cli eval bad input: one-line errors before any work, nothing overwritten", async (t) => {
  const directory = await Deno.makeTempDir();
  const eval_ = (...args: string[]) => cli("eval", ...args, "--pack", FIXTURE, "--device", "wasm");
  try {
    const photos = join(directory, "photos");
    await Deno.mkdir(join(photos, "ann"), { recursive: true });
    await Deno.writeFile(join(photos, "ann", "1.jpg"), new Uint8Array([0xff, 0xd8]));
    await t.step("no dataset", async () => {
      assertOneLineError(await eval_(), /Cannot evaluate without a DATASET/);
    });
    await t.step("a dataset that does not exist", async () => {
      assertOneLineError(await eval_(join(directory, "nope")), /nope as a dataset: current path does not exist/);
    });
    await t.step("--out is a file, which is left as it was", async () => {
      const file = join(directory, "report.txt");
      await Deno.writeTextFile(file, "keep me");
      assertOneLineError(await eval_(photos, "--out", file), /report to .*report\.txt: current path is a file/);
      assert.equal(await Deno.readTextFile(file), "keep me");
    });
    await t.step("--pairs 0, --seed -1, --real missing", async () => {
      assertOneLineError(await eval_(photos, "--pairs", "0"), /--pairs\) 0/);
      assertOneLineError(await eval_(photos, "--seed", "-1"), /seed as -1/);
      assertOneLineError(await eval_(photos, "--real", join(directory, "gone")), /real faces at .*gone/);
    });
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("cli --shards: k/K, or K with JOB_COMPLETION_INDEX; one-line usage errors", () => {
  assert.equal(readShare(undefined, "1"), undefined);
  assert.deepEqual(readShare("1/3", undefined), { index: 1, count: 3 });
  assert.deepEqual(readShare("3", "0"), { index: 0, count: 3 });
  assert.deepEqual(readShare("1/3", "2"), { index: 1, count: 3 }, "k/K wins over the environment");
  const bad: [string, string | undefined, RegExp][] = [
    ["3/3", undefined, /--shards "3\/3": current value is not k\/K/],
    ["-1/3", undefined, /not k\/K/],
    ["a/b", undefined, /not k\/K/],
    ["", undefined, /not k\/K/],
    ["0", "0", /--shards 0: current value is below 1/],
    ["4", undefined, /--shards 4 without a worker index: current JOB_COMPLETION_INDEX is not set/],
    ["4", "", /JOB_COMPLETION_INDEX is not set/],
    ["4", "4", /JOB_COMPLETION_INDEX "4" with --shards 4: current value is not an integer in 0\.\.3/],
    ["4", "x", /JOB_COMPLETION_INDEX "x"/],
  ];
  for (const [text, env, pattern] of bad) assert.throws(() => readShare(text, env), pattern, text);
});

Deno.test("cli messages: the options a library message names become flags", () => {
  assert.equal(
    cliMessage("Cannot resume x with `perId` 2: current run there was started with `perId` 3 (use `overwrite`)"),
    "Cannot resume x with --per-id 2: current run there was started with --per-id 3 (use --overwrite)",
  );
  assert.equal(cliMessage("with `backend` native, no `edit`, `other`"), "with --device native, no edit targets, other");
});

Deno.test("cli models pull: an empty cache gets every third-party file of the pack and the judge, verified", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "models", "pull"],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", VEC2FACE_CACHE: cache },
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.match(stderr, /Pulling fr_feature\.onnx, fr_detect\.onnx, fr_landmark\.onnx, fr_pose\.onnx from npm/);
    assert.match(stderr, /judge @vladmandic\/face-api@1\.7\.15 \(ONNX [0-9a-f]{12}\) verified/);
    // Four faceplugin models (made batch-dynamic) and the judge's converted ONNX, named by their sha256.
    const names = (await Array.fromAsync(Deno.readDir(`${cache}/sha256`))).map((entry) => entry.name);
    assert.equal(names.length, 5, names.join());
    assert.ok(names.every((name) => /^[0-9a-f]{64}\.onnx$/.test(name)), names.join());
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("cli generate --overwrite: lists what it removes from a dataset folder; refuses a folder it did not write", async () => {
  const out = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(out, "notes.txt"), "someone's notes");
    const generate = ["generate", "--ids", "2", "--per-id", "1", "--out", out, "--pack", FIXTURE, "--device", "wasm"];
    const refused = await cli(...generate, "--overwrite");
    assert.equal(refused.code, 1);
    assertOneLineError(
      refused,
      /Cannot overwrite .*: current folder holds no manifest\.jsonl or progress journal .*nothing is removed: notes\.txt/,
    );
    assert.equal(await Deno.readTextFile(join(out, "notes.txt")), "someone's notes");
    await Deno.remove(join(out, "notes.txt"));
    assert.equal((await cli(...generate)).code, 0);
    const again = await cli(...generate, "--overwrite");
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stderr,
      /overwrite: removing .* \(5 entries: 000000, 000001, identities\.json, identities\.npy, manifest\.jsonl\)/,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
