import { join } from "node:path";
import {
  terminalEventId,
  type ArtifactObjects,
  type EpochMetrics,
  type ErrorCode,
  type JobAssignment,
  type TrainerEvent,
} from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import type { RunDeps } from "./training-run.js";

/** What the agent knows of a job's training so far, for a failure's partial metrics. */
export interface RunProgress {
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

/** Uploads best.pt, the plots, results.csv and the training log; their object names for the completed event. */
export async function uploadResults(
  deps: RunDeps,
  jobId: string,
  done: Extract<TrainerEvent, { type: "completed" }>,
  logFile: string,
): Promise<{ model: string; modelBytes: number; artifacts: ArtifactObjects }> {
  const upload = async (file: string | null, name: string): Promise<string | null> => {
    if (!file) return null;
    await deps.files.uploadArtifact(`${jobId}/${name}`, file);
    return `${jobId}/${name}`;
  };
  try {
    const model = `${jobId}/best.pt`;
    const modelBytes = await deps.files.uploadArtifact(model, done.best_pt);
    const artifacts: ArtifactObjects = {
      confusion_matrix: await upload(done.artifacts.confusion_matrix, "confusion_matrix.png"),
      pr_curve: await upload(done.artifacts.pr_curve, "pr_curve.png"),
      f1_curve: await upload(done.artifacts.f1_curve, "f1_curve.png"),
      results_csv: await upload(done.artifacts.results_csv, "results.csv"),
      training_logs: await upload(logFile, "logs.txt"),
    };
    return { model, modelBytes, artifacts };
  } catch (err) {
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
 * is kept in the artifacts store and the failure carries the metrics of the last epoch.
 */
export async function reportCancelled(
  deps: RunDeps,
  job: JobAssignment,
  jobDir: string,
  state: RunProgress,
  log: Logger,
): Promise<void> {
  await deps.files.uploadArtifact(`${job.job_id}/logs.txt`, join(jobDir, "logs.txt")).catch((err: unknown) => {
    log.debug({ err }, "no training log to keep");
  });
  const total = job.model_config.epochs;
  await deps.publish(
    {
      type: "failed",
      job_id: job.job_id,
      at: deps.now().toISOString(),
      error: {
        code: "CANCELLED",
        message: "Training job cancelled by the user",
        details:
          state.epoch === null
            ? "The job was cancelled before its first epoch finished."
            : `The job was cancelled after epoch ${state.epoch} of ${total}; partial metrics and logs were kept.`,
        phase: state.epoch === null ? "preparing" : "training",
        epoch: state.epoch,
      },
      partial_metrics: state.metrics,
    },
    terminalEventId(job.job_id),
  );
  log.info({ epoch: state.epoch }, "job cancelled, trainer stopped");
}
