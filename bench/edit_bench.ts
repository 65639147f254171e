// Edit acceptance (issue 5): on N sampled identities of a pack, edit towards a target (default yaw 45)
// and report how many land within a tolerance with identity >= minIdentity (the landmark reading of yaw agreeing too;
// also counted by the pose model alone), and the generator calls used;
// then the unreachable cases (yaw 170; minIdentity 0.99 with yaw 60) on a few identities.
//
//   deno run -A bench/edit_bench.ts [--ids 100] [--yaw 45] [--within 7] [--budget 200] [--pack DIR]
//     [--device auto] [--seed 1] [--unreachable 5]
import { parseArgs } from "node:util";
import { checkDevice } from "../src/_backend.ts";
import { edit, type EditTargets, LANDMARK_YAW_SLACK } from "../src/edit.ts";
import { expectedLandmarkYaw } from "../src/estimators/pose.ts";
import { DEFAULT_PACK, loadPack } from "../src/model_pack.ts";
import { sample } from "../src/sample.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    ids: { type: "string", default: "100" },
    yaw: { type: "string", default: "45" },
    within: { type: "string", default: "7" },
    budget: { type: "string", default: "200" },
    "min-identity": { type: "string", default: "0.6" },
    pack: { type: "string", default: DEFAULT_PACK },
    device: { type: "string", default: "auto" },
    seed: { type: "string", default: "1" },
    unreachable: { type: "string", default: "5" },
  },
});
const ids = Number(values.ids), yaw = Number(values.yaw), within = Number(values.within);
const budget = Number(values.budget), minIdentity = Number(values["min-identity"]);
await using pack = await loadPack(values.pack, { device: checkDevice(values.device) });
const { vectors } = await sample(ids, {
  prior: pack.prior,
  threshold: pack.manifest.separationThreshold,
  seed: Number(values.seed),
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const started = performance.now();
let hits = 0, poseModelHits = 0;
const calls: number[] = [], errors: number[] = [], identities: number[] = [];
for (let i = 0; i < ids; i++) {
  const result = await edit(vectors[i], { yaw }, { pack, budget, minIdentity, seed: i });
  const error = result.errors.yaw!;
  // A hit needs the landmark reading of yaw to agree as well (the pose network alone can be fooled by texture).
  const landmarkYaw = result.attributes.landmarkYaw;
  const landmarkAgrees = landmarkYaw === undefined ||
    Math.abs(landmarkYaw - expectedLandmarkYaw(yaw)) <= within + LANDMARK_YAW_SLACK;
  if (error <= within && result.identity >= minIdentity) poseModelHits++;
  if (error <= within && landmarkAgrees && result.identity >= minIdentity) hits++;
  calls.push(result.calls);
  errors.push(error);
  identities.push(result.identity);
  console.error(
    `${i}: ${result.status} yaw ${result.start.yaw.toFixed(1)} -> ${result.attributes.yaw.toFixed(1)} ` +
      `(landmarks ${landmarkYaw?.toFixed(1)}; input ${result.pose.yaw.toFixed(0)}), identity ${
        result.identity.toFixed(3)
      }, ${result.calls} calls`,
  );
}
const seconds = (performance.now() - started) / 1000;
console.log(`pack ${pack.manifest.name} (${pack.backend}), ${ids} identities, yaw target ${yaw}, budget ${budget}\n`);
console.log("| measure | value |\n|---|---|");
console.log(
  `| within ${within} deg (landmark reading within ${within + LANDMARK_YAW_SLACK} of real faces' ${
    expectedLandmarkYaw(yaw).toFixed(1)
  }) and identity >= ${minIdentity} | ${hits}/${ids} (${(100 * hits / ids).toFixed(1)} %) |`,
);
console.log(
  `| within ${within} deg by the pose model alone | ${poseModelHits}/${ids} (${
    (100 * poseModelHits / ids).toFixed(1)
  } %) |`,
);
console.log(`| median yaw error (deg) | ${median(errors).toFixed(2)} |`);
console.log(`| median identity cosine | ${median(identities).toFixed(3)} |`);
console.log(`| median generator calls | ${median(calls)} |`);
console.log(`| seconds per edit | ${(seconds / ids).toFixed(2)} |`);

const unreachable = Number(values.unreachable);
for (
  const [label, targets, min] of [["yaw 170", { yaw: 170 }, minIdentity], [
    "yaw 60, minIdentity 0.99",
    { yaw: 60 },
    0.99,
  ]] as [
    string,
    EditTargets,
    number,
  ][]
) {
  const statuses: string[] = [];
  const used: number[] = [];
  for (let i = 0; i < unreachable; i++) {
    const result = await edit(vectors[i], targets, { pack, budget, minIdentity: min, seed: i });
    statuses.push(result.status);
    used.push(result.calls);
  }
  console.log(`| ${label}: statuses (calls) | ${statuses.map((s, i) => `${s} (${used[i]})`).join(", ")} |`);
}
