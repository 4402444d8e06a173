/**
 * The promises a chaos run checks, each counted as violations. A check that could not be made
 * for a job is counted as "not checked", never as passed.
 */
import { HOST_FAULTS, type FaultRecord } from "./faults.js";
import type { LogBook } from "./log-book.js";
import { callbackStatus, type JobState, type Leftovers, type SeenCallback } from "./observe.js";
import { INVALID_DATASETS } from "./plan.js";
import { ATTEMPT_LIMITS } from "./world.js";
import type { JobRecord } from "./workload.js";

export const INVARIANTS = {
  "one-terminal-callback":
    "every accepted job has exactly one terminal callback (and one terminal event in JOB_EVENTS), and nothing new follows it",
  "valid-training-completes": "a valid training that is not cancelled ends completed (faults cost retries, not jobs)",
  "expected-outcome": "a broken dataset fails with a dataset error code; a DELETE answered 200 ends cancelled",
  "epochs-in-order": "progress epochs arrive in strictly increasing order, percentages never go back",
  "signatures-verify": "every callback the receiver got verifies (Standard Webhooks) and matches the contracts",
  "views-agree":
    "REST API, dashboard projection, rebuilt projection, JOB_EVENTS and the last callback agree on the terminal status",
  "nothing-left-behind": "no trainer process and no temporary file outlives its job",
  "artifacts-of-the-winner": "the downloaded model is the one the run that published `completed` trained",
} as const;
export type InvariantName = keyof typeof INVARIANTS;

export interface InvariantResult {
  name: InvariantName;
  description: string;
  /** Jobs (or, for signatures and leftovers, items) the check looked at. */
  checked: number;
  violations: number;
  notChecked: number;
  /** One line per violation or unchecked case. */
  details: string[];
}

export interface ExhaustedJob {
  jobId: string;
  faults: string[];
  error: string;
}

export interface Verdict {
  invariants: InvariantResult[];
  /** Valid trainings that failed only after the injected faults used up their attempts: not violations. */
  exhausted: ExhaustedJob[];
  /** Callbacks delivered more than once with the same webhook-id (at-least-once redeliveries; the app dedupes). */
  redeliveries: number;
  totalViolations: number;
}

export interface VerdictInput {
  jobs: JobRecord[];
  states: Map<string, JobState>;
  faults: FaultRecord[];
  rejectedCallbacks: string[];
  leftovers: Leftovers;
  logs: LogBook;
  /** The run's start (epoch ms): fault and job times are offsets from it. */
  startedAt: number;
}

export function judge(input: VerdictInput): Verdict {
  const accepted = input.jobs.filter((j) => j.accepted);
  const results = new Map<InvariantName, InvariantResult>(
    (Object.keys(INVARIANTS) as InvariantName[]).map((name) => [
      name,
      { name, description: INVARIANTS[name], checked: 0, violations: 0, notChecked: 0, details: [] },
    ]),
  );
  const violate = (name: InvariantName, jobId: string | null, detail: string) => {
    const r = results.get(name)!;
    r.violations++;
    r.details.push(`${jobId ? `${jobId}: ` : ""}${detail}${jobId ? context(input, jobId) : ""}`);
  };
  const unchecked = (name: InvariantName, jobId: string, why: string) => {
    const r = results.get(name)!;
    r.notChecked++;
    r.details.push(`${jobId}: not checked — ${why}`);
  };
  const checked = (name: InvariantName, n = 1) => (results.get(name)!.checked += n);
  const exhausted: ExhaustedJob[] = [];
  let redeliveries = 0;

  for (const record of accepted) {
    const { job } = record;
    const state = input.states.get(job.jobId);
    if (!state) continue;
    const { unique, repeats } = dedupe(state.callbacks);
    redeliveries += repeats;
    const terminalAt = unique.findIndex((c) => c.body.type !== "training_progress");
    const terminals = unique.filter((c) => c.body.type !== "training_progress");
    const last = terminals[0]?.body;
    const status = callbackStatus(last);

    checked("one-terminal-callback");
    if (terminals.length !== 1) {
      violate(
        "one-terminal-callback",
        job.jobId,
        `${terminals.length} terminal callbacks (${terminals.map((t) => t.body.type).join(", ") || "none"})`,
      );
    } else if (terminalAt !== unique.length - 1) {
      violate(
        "one-terminal-callback",
        job.jobId,
        `${unique.length - 1 - terminalAt} callback(s) after the terminal one: ${unique
          .slice(terminalAt + 1)
          .map(shape)
          .join(", ")}`,
      );
    } else if (state.stream.completed + state.stream.failed !== 1) {
      violate(
        "one-terminal-callback",
        job.jobId,
        `JOB_EVENTS holds ${state.stream.completed} completed and ${state.stream.failed} failed events`,
      );
    }

    checked("epochs-in-order");
    const epochs = unique.flatMap((c) =>
      c.body.type === "training_progress" && c.body.progress.phase === "training"
        ? [c.body.progress.current_epoch ?? -1]
        : [],
    );
    const percentages = unique.flatMap((c) =>
      c.body.type === "training_progress" ? [c.body.progress.percentage] : [],
    );
    if (epochs.some((e, i) => i > 0 && e <= (epochs[i - 1] ?? -Infinity))) {
      violate("epochs-in-order", job.jobId, `epochs arrived as ${epochs.join(", ")}`);
    } else if (percentages.some((p, i) => i > 0 && p < (percentages[i - 1] ?? -Infinity))) {
      violate("epochs-in-order", job.jobId, `percentages arrived as ${percentages.join(", ")}`);
    }

    const cancelled = record.cancelStatus === 200;
    if (job.dataset === "valid" && !cancelled) {
      checked("valid-training-completes");
      if (status === "failed" && last?.type === "training_failed") {
        const hits = input.faults.filter((f) => f.status === "injected" && f.jobsHit.includes(job.jobId));
        const error = `${last.error.code} ${last.error.message}: ${last.error.details}`;
        const hitNames = hits.map((f) => `#${f.fault.index} ${f.fault.kind}`);
        const endedAt = terminals[0]?.at ?? Date.now();
        const usedUp = attemptsUsedUpByFaults(input, job.jobId, last.error.message, last.error.details, hits, endedAt);
        if (usedUp) exhausted.push({ jobId: job.jobId, faults: usedUp, error });
        else
          violate(
            "valid-training-completes",
            job.jobId,
            `ended failed: ${error.slice(0, 300)} (faults into it: ${hitNames.join(", ") || "none"})`,
          );
      } else if (status !== "completed") {
        violate("valid-training-completes", job.jobId, `ended ${status ?? "without a terminal callback"}`);
      }
    }

    if (job.dataset !== "valid") {
      checked("expected-outcome");
      const allowed: readonly string[] = INVALID_DATASETS[job.dataset];
      const code = last?.type === "training_failed" ? last.error.code : null;
      if (cancelled ? status !== "cancelled" && status !== "failed" : !code || !allowed.includes(code)) {
        violate(
          "expected-outcome",
          job.jobId,
          `dataset ${job.dataset} ended ${status ?? "without a terminal callback"}${code ? ` (${code})` : ""}; expected ${allowed.join(" or ")}`,
        );
      }
    } else if (cancelled) {
      checked("expected-outcome");
      if (status !== "cancelled")
        violate(
          "expected-outcome",
          job.jobId,
          `DELETE answered 200 but the job ended ${status ?? "without a terminal callback"}`,
        );
    }

    checked("views-agree");
    const views = {
      callback: status,
      rest: state.rest,
      dashboard: state.dashboard,
      rebuilt: state.rebuilt,
      stream: state.stream.status,
    };
    if (new Set(Object.values(views)).size !== 1) {
      violate(
        "views-agree",
        job.jobId,
        Object.entries(views)
          .map(([k, v]) => `${k}=${v ?? "none"}`)
          .join(" "),
      );
    }

    if (status === "completed") {
      checked("artifacts-of-the-winner");
      const completions = input.logs.completions.get(job.jobId) ?? [];
      const winner = completions[0];
      const downloaded = state.modelSha256;
      const whose = (sha: string | null) =>
        completions.find((c) => c.modelSha256 !== null && c.modelSha256 === sha)?.process ?? "no completing run";
      if (!downloaded) {
        violate(
          "artifacts-of-the-winner",
          job.jobId,
          `the model could not be downloaded: ${state.modelError ?? "no URL"}`,
        );
      } else if (
        state.outcomeAttempt !== null &&
        attemptOf(state.modelObject) !== null &&
        attemptOf(state.modelObject) !== state.outcomeAttempt
      ) {
        violate(
          "artifacts-of-the-winner",
          job.jobId,
          `the completed event names ${state.modelObject}, but run ${state.outcomeAttempt} claimed the outcome`,
        );
      } else if (completions.length > 1) {
        violate(
          "artifacts-of-the-winner",
          job.jobId,
          `${completions.length} runs logged "job completed" (${completions.map((c) => `${c.process} best.pt ${c.modelSha256?.slice(0, 12) ?? "?"}`).join(", ")}); ` +
            `the downloaded model ${downloaded.slice(0, 12)} is the one of ${whose(downloaded)}`,
        );
      } else if (!winner?.modelSha256) {
        unchecked(
          "artifacts-of-the-winner",
          job.jobId,
          `no best.pt of the completing run (${winner?.process ?? "no completion logged"}) was found to compare`,
        );
      } else if (winner.modelSha256 !== downloaded) {
        violate(
          "artifacts-of-the-winner",
          job.jobId,
          `downloaded model sha256 ${downloaded.slice(0, 12)} is not the best.pt of ${winner.process} that completed it (${winner.modelSha256.slice(0, 12)})`,
        );
      }
    }
  }

  const signatures = results.get("signatures-verify")!;
  signatures.checked =
    input.jobs.reduce((n, j) => n + (input.states.get(j.job.jobId)?.callbacks.length ?? 0), 0) +
    input.rejectedCallbacks.length;
  for (const reason of input.rejectedCallbacks) violate("signatures-verify", null, reason);

  const left = results.get("nothing-left-behind")!;
  left.checked = accepted.length;
  for (const t of input.leftovers.trainers) violate("nothing-left-behind", null, `trainer still running: ${t}`);
  for (const f of input.leftovers.files) violate("nothing-left-behind", null, `temporary file left: ${f}`);

  const invariants = [...results.values()];
  return { invariants, exhausted, redeliveries, totalViolations: invariants.reduce((n, r) => n + r.violations, 0) };
}

/**
 * Whether a valid training failed only because the injected faults used up its attempts: the
 * scheduler gave it up as *Training host lost* after `SCHEDULER_MAX_ATTEMPTS` runs, and every
 * one of those runs' agents was taken away by an injected host fault (agent kill, partition)
 * while the run was placed there; or its agent gave it up after `AGENT_MAX_RUN_ATTEMPTS` trainer
 * deaths, each one an injected fault into the job. Returns the faults that did it, or null when
 * the failure is the platform's.
 */
function attemptsUsedUpByFaults(
  input: VerdictInput,
  jobId: string,
  message: string,
  details: string,
  hits: FaultRecord[],
  endedAt: number,
): string[] | null {
  if (message === "Training host lost") {
    const runs = [...(input.logs.placements.get(jobId) ?? [])].sort((a, b) => a.attempt - b.attempt);
    if (runs.length < ATTEMPT_LIMITS.schedulerMaxAttempts) return null;
    const causes = runs.map((run, i) => {
      const until = runs[i + 1]?.at ?? endedAt;
      return input.faults.find(
        (f) =>
          f.status === "injected" &&
          HOST_FAULTS.has(f.fault.kind) &&
          f.target === run.agentId &&
          input.startedAt + (f.startedAtMs ?? Infinity) <= until &&
          input.startedAt + (f.endedAtMs ?? -Infinity) >= run.at,
      );
    });
    if (causes.some((c) => c === undefined)) return null;
    return causes.map((c) => `#${c!.fault.index} ${c!.fault.kind} ${c!.target}`);
  }
  if (/trainer ended by/.test(details)) {
    const deaths = hits.filter((f) => f.fault.kind === "kill-trainer" || HOST_FAULTS.has(f.fault.kind));
    if (deaths.length < ATTEMPT_LIMITS.agentMaxRunAttempts) return null;
    return deaths.map((f) => `#${f.fault.index} ${f.fault.kind} ${f.target}`);
  }
  return null;
}

/** The run folder (`attempt-<n>`) an artifact object names, or null for the flat layout. */
function attemptOf(objectName: string | null): number | null {
  const match = /\/attempt-(\d+)\//.exec(objectName ?? "");
  return match ? Number(match[1]) : null;
}

/** Callbacks with their redeliveries (same webhook-id) dropped, and how many were dropped. */
function dedupe(callbacks: SeenCallback[]): { unique: SeenCallback[]; repeats: number } {
  const seen = new Set<string>();
  const unique = callbacks.filter((c) => !seen.has(c.webhookId) && seen.add(c.webhookId));
  return { unique, repeats: callbacks.length - unique.length };
}

function shape(c: SeenCallback): string {
  const b = c.body;
  return b.type === "training_progress" ? `progress ${b.progress.phase} ${b.progress.current_epoch ?? "-"}` : b.type;
}

/**
 * What a violation's reader needs next: the faults under way while the job lived (from its
 * acceptance to its terminal callback) and its warnings and errors from the stack's logs.
 */
function context(input: VerdictInput, jobId: string): string {
  const record = input.jobs.find((j) => j.job.jobId === jobId);
  const state = input.states.get(jobId);
  const from = record?.acceptedAtMs ?? 0;
  const terminal = state?.callbacks.find((c) => c.body.type !== "training_progress");
  const to = terminal ? terminal.at - input.startedAt : Infinity;
  const during = input.faults
    .filter((f) => f.status === "injected" && (f.startedAtMs ?? 0) <= to && (f.endedAtMs ?? Infinity) >= from)
    .map(
      (f) =>
        `#${f.fault.index} ${f.fault.kind} ${f.target}${f.fault.mode ? ` ${f.fault.mode}` : ""} ${secs(f.startedAtMs)}–${secs(f.endedAtMs)}`,
    );
  const lines = [
    `lived ${secs(from)}–${secs(Number.isFinite(to) ? to : null)}; faults meanwhile: ${during.join(", ") || "none"}`,
    ...(input.logs.lines.get(jobId) ?? []).slice(-12),
  ];
  return `\n      ${lines.join("\n      ")}`;
}

const secs = (ms: number | null | undefined) => (ms === null || ms === undefined ? "?" : `${(ms / 1000).toFixed(1)}s`);
