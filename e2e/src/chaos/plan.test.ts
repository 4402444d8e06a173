import assert from "node:assert/strict";
import { test } from "node:test";
import { FAULT_KINDS, planRun, type PlanOptions } from "./plan.js";
import { Prng } from "./prng.js";

const options: PlanOptions = {
  seed: 42,
  jobs: 20,
  faults: 30,
  windowMs: 300_000,
  cluster: true,
  agents: 2,
  schedulers: 2,
  datasetIdleTimeoutMs: 3_000,
};

test("the same seed gives the same plan, job ids and fault moments included", () => {
  assert.deepEqual(planRun(options), planRun({ ...options }));
  assert.notDeepEqual(planRun(options).jobs, planRun({ ...options, seed: 43 }).jobs, "another seed, another plan");
});

test("the generator's sequence is fixed: a seed replays on any machine", () => {
  const rng = new Prng(1);
  assert.deepEqual(
    Array.from({ length: 3 }, () => rng.int(0, 1_000_000)),
    Array.from(
      { length: 3 },
      (
        (r) => () =>
          r.int(0, 1_000_000)
      )(new Prng(1)),
    ),
  );
  assert.match(new Prng(7).uuid(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test("a short plan still covers every job kind and every fault kind", () => {
  const plan = planRun({ ...options, jobs: 3, faults: FAULT_KINDS.length });
  assert.deepEqual(new Set(plan.jobs.map((j) => j.kind)), new Set(["train", "cancel", "invalid"]));
  assert.deepEqual(new Set(plan.faults.map((f) => f.kind)), new Set(FAULT_KINDS));
});

test("faults stay within the window, in time order, on targets the stack has", () => {
  const plan = planRun(options);
  const times = plan.faults.map((f) => f.atMs);
  assert.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
  );
  assert.ok(times.every((t) => t >= 5_000 && t <= options.windowMs));
  for (const f of plan.faults) {
    if (f.kind === "kill-nats") assert.match(f.target, /^nats-[123]$/);
    if (f.kind === "kill-agent" || f.kind === "partition") assert.match(f.target, /^local-[12]$/);
    if (f.kind === "partition") assert.ok(f.durationMs > 30_000, "a partition outlasts the heartbeat's 30 s expiry");
  }
  const single = planRun({ ...options, cluster: false, kinds: ["kill-nats"] });
  assert.ok(single.faults.every((f) => f.target === "nats"));
});
