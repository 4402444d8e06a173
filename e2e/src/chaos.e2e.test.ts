/**
 * A short seeded chaos run, part of the test command: the real stack with two agents and two
 * scheduler replicas, six jobs (tiny trainings, a broken dataset, a cancel) and one fault of
 * every kind at moments drawn from the seed (SIGKILLed services, agents, trainer, NATS and
 * FerretDB; a failing, absent or hanging receiver; a broken dataset transfer; a full work
 * folder; a paused agent whose trainer runs on). It fails on any violated invariant and prints
 * the seed and the command that replays it. Longer runs: `node e2e/dist/chaos/run.js` (see
 * docs/reliability.md).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FAULT_KINDS } from "./chaos/plan.js";
import { formatReport } from "./chaos/report.js";
import { runChaos } from "./chaos/runner.js";

/** A seed whose plan submits a training at once, so every fault aimed at an agent meets a running trainer. */
const SEED = Number(process.env.CHAOS_SEED ?? 2445);

test(`a short chaos run (seed ${SEED}) keeps every invariant`, { timeout: 30 * 60_000 }, async () => {
  const report = await runChaos({
    seed: SEED,
    jobs: 6,
    faults: FAULT_KINDS.length,
    kinds: FAULT_KINDS,
    minutes: 2,
    cluster: false,
    settleMinutes: 8,
    say: (line) => console.log(`# ${line}`),
  });
  const text = formatReport(report);
  console.log(text.replace(/^/gm, "# "));
  assert.equal(report.jobs.accepted, report.jobs.planned, "every job was accepted (the client retries)");
  assert.equal(report.verdict.totalViolations, 0, `invariants violated:\n${text}`);
});
