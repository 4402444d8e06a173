import { join } from "node:path";
import {
  cancelledEvent,
  runArtifact,
  type ArtifactObjects,
  type EpochMetrics,
  type ErrorCode,
  type JobAssignment,
  type TrainerArtifactName,
  type TrainerEvent,
} from "@trainyard/contracts";
import { isTransientNatsError, publishOutcome, type Logger } from "@trainyard/runtime";
import type { RunDeps } from "./training-run.js";

/** What the agent knows of a job's training so far, for a failure's phase and partial metrics. */
export interface RunProgress {
  /** The trainer's phase, from its `phase` events: the final validation once it reported `validating`. */
  phase: "preparing" | "training" | "validating";
  epoch: number | null;
  metrics: EpochMetrics | null;
}

/** A failure the agent reports as a `failed` job event. */
export class RunFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: string,
    readonly phase: "preparing" | "training" | "validating" | "uploading",
  ) {
    super(message);
  }
}

/** Files a trainer announced with `artifact` events, by protocol name; the latest path of each wins. */
export type AnnouncedArtifacts = Map<TrainerArtifactName, string>;

/**
 * Uploads best.pt, every run file the trainer announced (under its protocol name, e.g.
 * `<job>/attempt-<n>/pr_curve.png`) and the training log into the run's own folder; returns the
 * object names of the completed event. last.pt is left alone: it is a resume point, not a result.
 */
export async function uploadResults(
  deps: RunDeps,
  run: { jobId: string; attempt: number },
  done: Extract<TrainerEvent, { type: "done" }>,
  announced: AnnouncedArtifacts,
  logFile: string,
): Promise<{ model: string; modelBytes: number; artifacts: ArtifactObjects }> {
  const stored = new Map<string, string>();
  const upload = async (file: string, name: string): Promise<string> => {
    const objectName = runArtifact(run.jobId, run.attempt, name);
    await deps.files.uploadArtifact(objectName, file);
    stored.set(name, objectName);
    return objectName;
  };
  try {
    const model = runArtifact(run.jobId, run.attempt, "best.pt");
    const modelBytes = await deps.files.uploadArtifact(model, done.best_pt);
    for (const [name, file] of announced) {
      if (name !== "best.pt" && name !== "last.pt") await upload(file, name);
    }
    const artifacts: ArtifactObjects = {
      confusion_matrix: stored.get("confusion_matrix.png") ?? null,
      pr_curve: stored.get("pr_curve.png") ?? null,
      f1_curve: stored.get("f1_curve.png") ?? null,
      results_csv: stored.get("results.csv") ?? null,
      training_logs: await upload(logFile, "logs.txt"),
    };
    return { model, modelBytes, artifacts };
  } catch (err) {
    // NATS away (after the uploads' own retries) is not the job's fault: the run hands it back
    if (isTransientNatsError(err)) throw err;
    throw new RunFailure(
      "UNKNOWN_ERROR",
      "could not store the trained model",
      String((err as Error).message),
      "uploading",
    );
  }
}

/**
 * Reports a cancelled job (PRD 17.4): its trainer is already stopped; the log it wrote so far
 * is kept in the artifacts store (the run's folder) and the failure carries the metrics of the
 * last epoch. Nothing is published if the job had already ended otherwise (its outcome was
 * claimed first) or this run was superseded.
 */
export async function reportCancelled(
  deps: RunDeps,
  job: JobAssignment,
  jobDir: string,
  state: RunProgress,
  log: Logger,
): Promise<void> {
  await deps.files
    .uploadArtifact(runArtifact(job.job_id, job.attempt, "logs.txt"), join(jobDir, "logs.txt"))
    .catch((err: unknown) => {
      log.debug({ err }, "no training log to keep");
    });
  const outcome = await publishOutcome(
    deps.outcomes,
    deps.publish,
    cancelledEvent(job.job_id, deps.now(), {
      details: cancelledDetails(state, job.model_config.epochs),
      phase: state.phase,
      epoch: state.epoch,
      partial_metrics: state.metrics,
    }),
    { attempt: job.attempt },
  );
  if (outcome === "cancelled") log.info({ phase: state.phase, epoch: state.epoch }, "job cancelled");
  else log.warn({ outcome }, "job cancelled after it had already ended: nothing more reported");
}

function cancelledDetails(state: RunProgress, total: number): string {
  if (state.epoch === null) return "The job was cancelled before its first epoch finished.";
  const when = state.phase === "validating" ? "during the final validation, " : "";
  return `The job was cancelled ${when}after epoch ${state.epoch} of ${total}; partial metrics and logs were kept.`;
}
