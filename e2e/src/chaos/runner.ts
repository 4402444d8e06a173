/**
 * One chaos run: plan from the seed, start the world, run the workload while injecting the
 * faults, let everything settle, read every view and judge the invariants.
 */
import { execFileSync } from "node:child_process";
import { repoRoot } from "@trainyard/stack";
import { FaultInjector } from "./faults.js";
import { judge } from "./invariants.js";
import { callbackStatus, callbacksByJob, leftovers, observe, waitUntil, type JobState } from "./observe.js";
import { planRun, type FaultKind } from "./plan.js";
import { faultSummary, jobSummary, type ChaosReport } from "./report.js";
import { Workload } from "./workload.js";
import { DATASET_IDLE_TIMEOUT_MS, startWorld } from "./world.js";

export interface ChaosOptions {
  seed: number;
  jobs: number;
  faults: number;
  cluster: boolean;
  /** Submissions and faults are spread over this many minutes; by default a quarter of a minute per job. */
  minutes?: number;
  agents?: number;
  schedulers?: number;
  /** Fault kinds to draw from (all by default). */
  kinds?: readonly FaultKind[];
  /** How long to wait, after the last fault, for every job's terminal callback. */
  settleMinutes?: number;
  say?: (line: string) => void;
}

/** The CLI line that replays a run with these options. */
export function replayCommand(o: ChaosOptions): string {
  return [
    "node e2e/dist/chaos/run.js",
    `--seed ${o.seed} --jobs ${o.jobs} --faults ${o.faults}`,
    o.minutes !== undefined ? `--minutes ${o.minutes}` : "",
    o.cluster ? "--cluster" : "",
    o.agents !== undefined && o.agents !== 2 ? `--agents ${o.agents}` : "",
    o.schedulers !== undefined && o.schedulers !== 2 ? `--schedulers ${o.schedulers}` : "",
    o.kinds ? `--kinds ${o.kinds.join(",")}` : "",
  ]
    .filter(Boolean)
    .join(" ");
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const say = o.say ?? ((line: string) => console.log(line));
  const agents = o.agents ?? 2;
  const schedulers = o.schedulers ?? 2;
  const windowMs = Math.round((o.minutes ?? Math.max(1, o.jobs / 4)) * 60_000);
  const settleMs = Math.round((o.settleMinutes ?? 10) * 60_000);
  const plan = planRun({
    seed: o.seed,
    jobs: o.jobs,
    faults: o.faults,
    windowMs,
    cluster: o.cluster,
    agents,
    schedulers,
    datasetIdleTimeoutMs: DATASET_IDLE_TIMEOUT_MS,
    ...(o.kinds ? { kinds: o.kinds } : {}),
  });
  const world = await startWorld({ seed: o.seed, agents, schedulers, cluster: o.cluster, say });
  const started = new Date();
  try {
    const t0 = Date.now();
    say(
      `seed ${o.seed}: ${plan.jobs.length} jobs and ${plan.faults.length} faults over ${Math.round(windowMs / 1000)} s`,
    );
    const workload = new Workload(world, t0, say);
    const injector = new FaultInjector(world, t0, say);
    await Promise.all([workload.run(plan.jobs), injector.inject(plan.faults)]);

    const accepted = workload.records.filter((r) => r.accepted).map((r) => r.job.jobId);
    say(
      `faults over; waiting up to ${Math.round(settleMs / 1000)} s for the terminal callbacks of ${accepted.length} jobs…`,
    );
    const finished = (jobId: string, byJob: ReturnType<typeof callbacksByJob>) =>
      (byJob.get(jobId) ?? []).some((c) => c.body.type !== "training_progress");
    await waitUntil(async () => {
      const byJob = callbacksByJob(world);
      return accepted.every((id) => finished(id, byJob));
    }, settleMs);
    // quiet for a moment: anything still sent after a terminal callback arrives before the checks
    let count = -1;
    await waitUntil(async () => {
      const now = world.receiver.received.length;
      const quiet = now === count;
      count = now;
      return quiet;
    }, 30_000).then(() => new Promise((r) => setTimeout(r, 5_000)));
    await world.logs.settled();

    const states = new Map<string, JobState>((await observe(world, accepted, say)).map((s) => [s.jobId, s] as const));
    const left = await leftovers(world, 60_000);
    // callbacks that arrived while the views were read still count
    const byJob = callbacksByJob(world);
    for (const state of states.values()) state.callbacks = byJob.get(state.jobId) ?? [];
    const verdict = judge({
      jobs: workload.records,
      states,
      faults: injector.records,
      rejectedCallbacks: world.receiver.rejected,
      leftovers: left,
      logs: world.logs,
      startedAt: t0,
    });
    const statusOf = (jobId: string) =>
      callbackStatus(states.get(jobId)?.callbacks.find((c) => c.body.type !== "training_progress")?.body);
    return {
      seed: o.seed,
      replay: replayCommand(o),
      options: { ...plan.options, settleMs },
      startedAt: started.toISOString(),
      code: codeUnderTest(),
      durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
      runDir: world.dir,
      logPath: world.logPath,
      workFolders: world.disks.note,
      jobs: jobSummary(workload.records, statusOf),
      faults: {
        planned: plan.faults.length,
        byKind: faultSummary(injector.records),
        disruptedTransfers: world.files.transfers.filter((t) => t.disrupted).length,
        log: injector.records
          .sort((a, b) => a.fault.index - b.fault.index)
          .map((r) => ({
            index: r.fault.index,
            kind: r.fault.kind,
            target: r.target,
            mode: r.fault.mode,
            atMs: r.startedAtMs ?? r.fault.atMs,
            status: r.status,
            note: r.note,
            jobsHit: r.jobsHit,
          })),
      },
      verdict,
    };
  } finally {
    await world.close();
  }
}

/** The commit under test and, since the services run from their builds, whether their sources differ from it. */
function codeUnderTest(): string {
  try {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: repoRoot, encoding: "utf8" }).trim();
    const commit = git("rev-parse", "--short", "HEAD");
    const changed = git("status", "--porcelain", "--", "services", "packages", "python-trainer")
      .split("\n")
      .filter(Boolean).length;
    return changed ? `${commit} + ${changed} uncommitted file(s)` : commit;
  } catch {
    return "unknown (no git)";
  }
}
