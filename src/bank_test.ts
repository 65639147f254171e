import assert from "node:assert/strict";
import { checkBankRows, decodeBank, encodeBank } from "./bank.ts";

/** A `.npy` file as NumPy writes it: v1.0 header padded to 16 bytes (older NumPy), `descr` little-endian floats. */
function numpyFile(descr: "<f4" | "<f8", rows: number, columns: number, value: (i: number) => number): Uint8Array {
  const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${rows}, ${columns}), }`;
  const padded = header + " ".repeat((16 - ((10 + header.length + 1) % 16)) % 16) + "\n";
  const size = descr === "<f8" ? 8 : 4;
  const bytes = new Uint8Array(10 + padded.length + rows * columns * size);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(bytes.buffer).setUint16(8, padded.length, true);
  bytes.set(new TextEncoder().encode(padded), 10);
  const view = new DataView(bytes.buffer, 10 + padded.length);
  for (let i = 0; i < rows * columns; i++) {
    if (size === 8) view.setFloat64(i * 8, value(i), true);
    else view.setFloat32(i * 4, value(i), true);
  }
  return bytes;
}

Deno.test("decodeBank reads external float32 and float64 [N, 512] files (e.g. center_feature_examples.npy)", () => {
  const value = (i: number) => Math.sin(i) * 3;
  for (const descr of ["<f4", "<f8"] as const) {
    const vectors = decodeBank(numpyFile(descr, 3, 512, value), { dim: 512, name: `${descr}.npy` });
    assert.equal(vectors.length, 3, descr);
    assert.ok(vectors.every((vector) => vector instanceof Float32Array && vector.length === 512));
    assert.equal(vectors[2][7], Math.fround(value(2 * 512 + 7)), descr);
  }
});

Deno.test("decodeBank round trips float16 banks", () => {
  const vectors = [Float32Array.from({ length: 512 }, (_, i) => (i % 7) - 3)];
  const bytes = encodeBank(vectors, { half: true });
  assert.match(new TextDecoder().decode(bytes.subarray(10, 60)), /'descr': '<f2'/);
  assert.deepEqual(decodeBank(bytes, { dim: 512 }), vectors);
});

Deno.test("decodeBank: the wrong dimension names the file, the wanted and the actual shape", () => {
  const bytes = encodeBank([new Float32Array(256), new Float32Array(256)]);
  assert.throws(
    () => decodeBank(bytes, { dim: 512, name: "small.npy" }),
    (error) =>
      error instanceof RangeError &&
      error.message === "Cannot load bank small.npy as [count, 512] vectors: current shape is [2, 256]",
  );
  assert.equal(decodeBank(bytes).length, 2, "any dimension without dim");
});

Deno.test("decodeBank: NaN and infinite values name the row and column", () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const vectors = [new Float32Array(512), new Float32Array(512)];
    vectors[1][9] = bad;
    assert.throws(
      () => decodeBank(encodeBank(vectors), { name: "bad.npy" }),
      (error) =>
        error instanceof RangeError &&
        error.message === `Cannot load bank bad.npy as finite vectors: current value at row 1, column 9 is ${bad}`,
    );
  }
  // float64 beyond the float32 range is infinite as float32: refused too.
  assert.throws(() => decodeBank(numpyFile("<f8", 1, 4, () => 1e300)), /row 0, column 0 is Infinity/);
});

Deno.test("decodeBank: truncated files and bytes that are not .npy", () => {
  const bytes = encodeBank([new Float32Array(512), new Float32Array(512)]);
  assert.throws(
    () => decodeBank(bytes.slice(0, bytes.length - 100), { name: "cut.npy" }),
    (error) =>
      error instanceof RangeError &&
      /^Cannot load bank cut\.npy: cannot read \.npy of shape \(2, 512\) <f4: current file is truncated \(3996 of 4096 data bytes\)$/
        .test(error.message),
  );
  assert.throws(() => decodeBank(bytes.slice(0, 30)), /^TypeError: Cannot load bank: cannot read \.npy header/);
  assert.throws(
    () => decodeBank(new TextEncoder().encode("id,x\n1,2\n"), { name: "bank.csv" }),
    (error) => error instanceof TypeError && /^Cannot load bank bank\.csv: .*\\x93NUMPY/.test(error.message),
  );
});

Deno.test("checkBankRows refuses zero vectors and near-copies, naming the rows; distinct rows pass", () => {
  const value = (i: number) => Math.sin(i * 0.37) * 3;
  const distinct = decodeBank(numpyFile("<f4", 20, 512, value));
  checkBankRows(distinct);
  assert.throws(
    () => checkBankRows([new Float32Array(512), new Float32Array(512), new Float32Array(512)]),
    {
      name: "RangeError",
      message: "Cannot use bank as identities: current rows 0, 1, 2 are zero vectors (norm 0 or not finite)",
    },
  );
  assert.throws(
    () => checkBankRows([distinct[0], new Float32Array(512), distinct[1]]),
    /current row 1 is a zero vector/,
  );
  const copies = [...distinct.slice(0, 5), distinct[3].map((x) => x * 2)];
  assert.throws(() => checkBankRows(copies), {
    message:
      "Cannot use bank as distinct identities: current rows 3 and 5 are the same vector (cosine 1.0000 >= 0.999)",
  });
  // Close but not copies (cosine about 0.99): a bank sampled at a high threshold is kept.
  const near = distinct[0].map((x, i) => x + (i % 2 ? 0.3 : -0.3));
  checkBankRows([distinct[0], near]);
});
