import assert from "node:assert/strict";
import { edit } from "./edit.ts";
import { Vec2FaceError } from "./errors.ts";
import { FIXTURE_PACK, loadPack } from "./model_pack.ts";
import { sample } from "./sample.ts";
import { cosineSimilarity, norm } from "./vectors.ts";

await using pack = await loadPack(undefined, { device: "wasm" });
const { vectors } = await sample(4, { prior: pack.prior, threshold: pack.manifest.separationThreshold, seed: 5 });

Deno.test("edit: an unreachable yaw ends unreached after exactly the budget, with the best face found", async () => {
  const result = await edit(vectors[0], { yaw: 170 }, { pack, budget: 20, seed: 1 });
  assert.equal(result.status, "unreached");
  assert.equal(result.calls, 20);
  assert.ok(result.errors.yaw! > 60, `yaw error ${result.errors.yaw}`);
  // The second reading of yaw is taken whenever yaw is a target (the default pack has a landmark model).
  assert.ok(Number.isFinite(result.attributes.landmarkYaw), `landmark yaw ${result.attributes.landmarkYaw}`);
  assert.ok(Math.abs(norm(result.vector) - norm(vectors[0])) < 1e-3 * norm(vectors[0]), "the norm is kept");
  assert.equal(result.image.width, 112);
});

Deno.test("edit: minIdentity 0.99 with yaw 60 cannot be met and says so within the budget", async () => {
  const result = await edit(vectors[1], { yaw: 60 }, { pack, budget: 16, minIdentity: 0.99, seed: 2 });
  assert.equal(result.status, "unreached");
  assert.ok(result.calls <= 16);
});

Deno.test("edit: a gender change is reached, keeping identity, and the result says what it measured", async () => {
  const { female } = (await edit(vectors[2], { quality: 0 }, { pack, budget: 2, seed: 3 })).start;
  const target = female > 0.5 ? "male" : "female";
  const result = await edit(vectors[2], { gender: target }, { pack, budget: 96, seed: 3 });
  console.log(
    `gender ${female.toFixed(2)} -> ${result.attributes.female.toFixed(2)} (${target}), identity ${
      result.identity.toFixed(3)
    }, ${result.calls} calls`,
  );
  assert.equal(result.status, "reached");
  assert.ok(result.errors.gender! <= 0.3);
  assert.ok(result.identity >= 0.6);
  assert.ok(cosineSimilarity(result.vector, vectors[2]) < 0.9999, "the vector moved");
  assert.ok(result.calls <= 96);
});

Deno.test("edit: the same seed gives the same search", async () => {
  const a = await edit(vectors[3], { age: 70 }, { pack, budget: 12, seed: 9 });
  const b = await edit(vectors[3], { age: 70 }, { pack, budget: 12, seed: 9 });
  assert.deepEqual(a.vector, b.vector);
  assert.equal(a.calls, b.calls);
});

Deno.test("edit: bad targets and options are rejected before any rendering; abort stops it", async () => {
  await assert.rejects(edit(vectors[0], { hair: 3 } as never, { pack }), /Cannot edit attribute hair/);
  await assert.rejects(edit(vectors[0], { gender: "x" } as never, { pack }), /Cannot edit gender towards x/);
  await assert.rejects(edit(vectors[0], { gender: 2 }, { pack }), RangeError);
  await assert.rejects(edit(vectors[0], {}, { pack }), /without targets/);
  await assert.rejects(edit(vectors[0], { yaw: 10 }, { pack, budget: 1 }), /budget 1/);
  await assert.rejects(edit(vectors[0], { yaw: 10 }, { pack, minIdentity: 2 }), /minIdentity 2/);
  await assert.rejects(edit(new Float32Array(3), { yaw: 10 }, { pack }), TypeError);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    edit(vectors[0], { yaw: 10 }, { pack, signal: controller.signal }),
    (error) => error instanceof Vec2FaceError && error.code === "aborted",
  );
});

Deno.test("edit: a pack without attribute models fails with a domain error naming what is missing", async () => {
  await using fixture = await loadPack(FIXTURE_PACK, { device: "wasm" });
  const vector = new Float32Array(fixture.prior.mean);
  await assert.rejects(
    edit(vector, { age: 40 }, { pack: fixture, budget: 4 }),
    (error) => error instanceof Vec2FaceError && /directions|attributes/.test(error.message),
  );
});
