/**
 * The queue end to end, through public interfaces: three trainer-agents with 1, 1 and 2 CPU
 * slots and eight real (tiny) Ultralytics trainings submitted at once. While jobs wait, the
 * gateway's GET /api/v1/jobs/{id} reports each one's place in the scheduler's queue and an
 * estimated start; places only ever move forward. Afterwards the dashboard's job list shows on
 * which slot each job ran and when: no slot ever ran two jobs at once, and every job completed.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { JobView, type TrainRequest } from "@trainyard/contracts";
import { repoRoot, supervise, type Supervised } from "@trainyard/stack";
import { startE2eRun, until, type E2eRun } from "./support.js";

const JOBS = 8;
/** local-1 and local-2 have one CPU slot each (the stack's agents), local-3 two. */
const SLOTS = ["local-1/0", "local-2/0", "local-3/0", "local-3/1"];
const TIMEOUT_MS = 8 * 60_000;
const POLL_MS = 250;

let run: E2eRun;
let thirdAgent: Supervised | undefined;

before(async () => {
  run = await startE2eRun({
    name: "queue",
    stack: { agents: 2, env: { AGENT_DEVICES: "cpu" } },
    datasets: { "shapes.zip": { train: 8, val: 4, size: 64, seed: 7 } },
  });
  // the launcher gives every agent the same settings; the two-slot agent is started here
  const python = join(repoRoot, ".venv", "bin", "python");
  thirdAgent = supervise("agent-local-3", process.execPath, [join(repoRoot, "services/trainer-agent/dist/main.js")], {
    env: {
      ...process.env,
      NATS_URL: run.stack.natsUrl,
      NATS_NKEY_SEED_FILE: await run.stack.nats.addAgent("local-3"),
      AGENT_ID: "local-3",
      AGENT_WORK_DIR: join(run.stackDir, "agent-local-3"),
      AGENT_DEVICES: "cpu,cpu",
      TRAINER_PYTHON: existsSync(python) ? python : "python3",
    },
    sink: run.sink,
  });
});

after(async () => {
  await thirdAgent?.stop();
  await run?.close();
});

/** What one GET of a job showed. */
interface Sighting {
  at: number;
  status: JobView["status"];
  position: number | null | undefined;
  startsAt: number | null;
}

/** A job of the dashboard's list (`/api/jobs`), the fields this test reads. */
interface DashboardJob {
  job_id: string;
  status: string;
  agent_id: string | null;
  slot: { index: number } | null;
  started_at: string | null;
  finished_at: string | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function request(i: number): TrainRequest {
  return {
    // one or two epochs: jobs end at different times, so places move one at a time
    ...run.job(1 + (i % 2), { name: `queue-${i}` }),
    resources: { device: "cpu", workers: 0 },
  };
}

const completed = (jobId: string) => run.callbacksOf(jobId).some((b) => b.type === "training_completed");

test(
  "eight jobs on three agents (1, 1 and 2 slots): places move forward, no slot runs two jobs, all complete",
  { timeout: TIMEOUT_MS + 60_000 },
  async () => {
    const deadline = Date.now() + TIMEOUT_MS;
    // every slot online before the first job, so that all four are used
    const onlineSlots = async () => {
      const { agents } = await run.dashboard<{
        agents: Array<{ agent_id: string; online: boolean; slots: unknown[] }>;
      }>("/api/overview");
      return agents.filter((a) => a.online).flatMap((a) => a.slots.map((_, i) => `${a.agent_id}/${i}`));
    };
    await until(
      onlineSlots,
      (online) => SLOTS.every((slot) => online.includes(slot)),
      `the slots ${SLOTS.join(", ")} online`,
      deadline - Date.now(),
    );

    const requests = Array.from({ length: JOBS }, (_, i) => request(i));
    for (const r of requests) await run.submit(r);

    const sightings = new Map<string, Sighting[]>(requests.map((r) => [r.job_id, []]));
    /** Each job's places in the dashboard's queue, as its overview showed them. */
    const dashboardPlaces = new Map<string, number[]>();
    const open = new Set(requests.map((r) => r.job_id));
    while (open.size > 0) {
      assert.ok(Date.now() < deadline, `expected every job to finish; still open: ${[...open].join(", ")}`);
      const { queue } = await run.dashboard<{ queue: { waiting: Array<{ job_id: string }> } }>("/api/overview");
      queue.waiting.forEach(({ job_id: jobId }, i) =>
        dashboardPlaces.set(jobId, [...(dashboardPlaces.get(jobId) ?? []), i + 1]),
      );
      for (const jobId of open) {
        const res = await run.stack.api(`/api/v1/jobs/${jobId}`);
        assert.equal(res.status, 200, `GET /jobs/${jobId}`);
        const view = JobView.parse(await res.json());
        const at = Date.now();
        const startsAt = view.estimated_start_time ? Date.parse(view.estimated_start_time) : null;
        sightings.get(jobId)?.push({ at, status: view.status, position: view.queue_position, startsAt });
        if (view.status === "failed" || view.status === "cancelled") assert.fail(`job ${jobId} ${view.status}`);
        if (view.status === "completed" && completed(jobId)) open.delete(jobId);
      }
      await sleep(POLL_MS);
    }

    // every job completed, with exactly one terminal callback
    for (const { job_id: jobId } of requests) {
      const terminal = run.callbacksOf(jobId).filter((b) => b.type !== "training_progress");
      assert.deepEqual(
        terminal.map((b) => b.type),
        ["training_completed"],
        `expected one training_completed callback for ${jobId}`,
      );
    }

    // a queued job always has its estimate and, once in the queue, a position
    const waitingJobs: string[] = [];
    let movedForward = false;
    let waitShrank = false;
    for (const [jobId, seen] of sightings) {
      const queued = seen.filter((s) => s.status === "queued");
      for (const s of queued) {
        assert.ok(s.startsAt !== null && Number.isFinite(s.startsAt), `expected an estimated start for ${jobId}`);
        assert.ok(s.position !== undefined, `expected queue_position present on a queued job ${jobId}`);
      }
      for (const s of seen.filter((x) => x.status !== "queued")) {
        assert.equal(s.position, undefined, `expected no queue_position once ${jobId} is ${s.status}`);
      }
      const waiting = queued.filter(
        (s): s is Sighting & { position: number; startsAt: number } => typeof s.position === "number",
      );
      if (waiting.length === 0) continue;
      waitingJobs.push(jobId);
      const positions = waiting.map((s) => s.position);
      for (let i = 1; i < positions.length; i++) {
        assert.ok(
          (positions[i] ?? 0) <= (positions[i - 1] ?? 0),
          `expected ${jobId}'s position never to increase, saw ${positions.join(" → ")}`,
        );
      }
      assert.ok(
        (positions.at(-1) ?? Infinity) <= SLOTS.length,
        `expected ${jobId} to reach the front (a place a freeing slot takes), last at ${positions.at(-1)}`,
      );
      if ((positions.at(-1) ?? 0) < (positions[0] ?? 0)) movedForward = true;
      const distinct = positions.filter((p, i) => p !== positions[i - 1]);
      // the expected wait shrinks as the jobs ahead run: ETAs and finished jobs replace the default length
      const firstWait = (waiting[0]?.startsAt ?? 0) - (waiting[0]?.at ?? 0);
      const lastWait = (waiting.at(-1)?.startsAt ?? 0) - (waiting.at(-1)?.at ?? 0);
      assert.ok(
        lastWait <= firstWait + 5_000,
        `expected ${jobId}'s expected wait not to grow: ${firstWait} ms first, ${lastWait} ms last`,
      );
      if (lastWait < firstWait) waitShrank = true;
      console.log(
        `${jobId}: places ${distinct.join(" → ")}, expected wait ${Math.round(firstWait / 1000)} s → ` +
          `${Math.round(lastWait / 1000)} s`,
      );
    }
    assert.ok(
      waitingJobs.length >= JOBS - SLOTS.length,
      `expected at least ${JOBS - SLOTS.length} jobs seen waiting with a position (four slots for eight jobs), ` +
        `saw ${waitingJobs.length}`,
    );
    assert.ok(movedForward, "expected some waiting job to move forward in the queue");
    assert.ok(waitShrank, "expected some waiting job's estimated start to come closer");

    // the dashboard's queue reads the same source: the same jobs wait there, moving forward only
    for (const [jobId, places] of dashboardPlaces) {
      assert.ok(sightings.has(jobId), `expected only this test's jobs in the dashboard's queue, saw ${jobId}`);
      assert.ok(
        places.every((p, i) => i === 0 || p <= (places[i - 1] ?? 0)),
        `expected ${jobId}'s place on the dashboard never to increase, saw ${places.join(" → ")}`,
      );
    }
    assert.ok(
      dashboardPlaces.size >= JOBS - SLOTS.length,
      `expected the dashboard to show at least ${JOBS - SLOTS.length} jobs waiting, saw ${dashboardPlaces.size}`,
    );

    // which slot ran each job, and when, as the dashboard shows it
    const { jobs } = await run.dashboard<{ jobs: DashboardJob[] }>("/api/jobs");
    const ours = jobs.filter((j) => sightings.has(j.job_id));
    assert.equal(ours.length, JOBS, "expected the dashboard to list every job");
    const bySlot = new Map<string, Array<{ jobId: string; start: number; end: number }>>();
    for (const j of ours) {
      assert.ok(
        j.agent_id && j.slot && j.started_at && j.finished_at,
        `expected a slot and times: ${JSON.stringify(j)}`,
      );
      const key = `${j.agent_id}/${j.slot.index}`;
      const runs = bySlot.get(key) ?? [];
      runs.push({ jobId: j.job_id, start: Date.parse(j.started_at), end: Date.parse(j.finished_at) });
      bySlot.set(key, runs);
    }
    assert.deepEqual([...bySlot.keys()].sort(), SLOTS, "expected every slot of the three agents used");
    for (const [slot, runs] of bySlot) {
      runs.sort((a, b) => a.start - b.start);
      for (let i = 1; i < runs.length; i++) {
        const [before, next] = [runs[i - 1], runs[i]];
        assert.ok(
          before && next && before.end <= next.start,
          `expected slot ${slot} to run one job at a time: ${JSON.stringify(runs)}`,
        );
      }
    }
    const [a, b] = [bySlot.get("local-3/0") ?? [], bySlot.get("local-3/1") ?? []];
    assert.ok(
      a.some((x) => b.some((y) => x.start < y.end && y.start < x.end)),
      "expected the two-slot agent to run two jobs at once, one per slot",
    );
  },
);
