import {
  artifactFileOf,
  TrainingCompletedCallback,
  TrainingFailedCallback,
  TrainingProgressCallback,
  type ArtifactObjects,
  type Callback,
  type JobEvent,
  type JobEventOf,
} from "@trainyard/contracts";
import { signDownloadPath } from "@trainyard/runtime";
import type { z } from "zod";

/** How download links in `training_completed` are made: gateway paths signed for a while. */
export interface DownloadLinks {
  /** The gateway's public origin, without a trailing slash. */
  publicBaseUrl: string;
  secret: string;
  ttlHours: number;
}

/** A callback body that does not match its contract: a bug here, never something to send. */
export class CallbackContractError extends Error {
  override name = "CallbackContractError";
}

const HOUR_MS = 60 * 60 * 1000;
const BYTES_PER_MB = 1024 * 1024;
const NO_METRICS = { current: null, best: null };
const NO_READINGS = { gpu_utilization: null, memory_used_gb: null, temperature_c: null };

/**
 * The PRD callback (4.2) a job event becomes, or null for events the app is not told about
 * (`queued`, `assigned`). Pure: the same event always gives the same body, so a retried callback is
 * byte-identical; links expire relative to the event's time, not the attempt's.
 */
export function callbackFor(event: JobEvent, links: DownloadLinks): Callback | null {
  switch (event.type) {
    case "queued":
    case "assigned":
      return null;
    case "phase":
      return checked(TrainingProgressCallback, {
        type: "training_progress",
        job_id: event.job_id,
        timestamp: event.at,
        progress: {
          percentage: event.percentage,
          current_epoch: null,
          total_epochs: event.total_epochs,
          phase: event.phase,
          eta_seconds: null,
        },
        metrics: NO_METRICS,
        resources: NO_READINGS,
      });
    case "epoch":
      return checked(TrainingProgressCallback, {
        type: "training_progress",
        job_id: event.job_id,
        timestamp: event.at,
        progress: {
          percentage: event.percentage,
          current_epoch: event.epoch,
          total_epochs: event.total_epochs,
          phase: "training",
          eta_seconds: event.eta_seconds,
        },
        metrics: event.metrics,
        resources: event.resources,
      });
    case "completed":
      return completedCallback(event, links);
    case "failed":
      return checked(TrainingFailedCallback, {
        type: "training_failed",
        job_id: event.job_id,
        timestamp: event.at,
        status: "failed",
        error: event.error,
        partial_metrics: event.partial_metrics,
      });
    default:
      return unreachable(event);
  }
}

function completedCallback(event: JobEventOf<"completed">, links: DownloadLinks): Callback {
  const expiresAt = new Date(Date.parse(event.at) + links.ttlHours * HOUR_MS);
  const link = (path: string) => links.publicBaseUrl + signDownloadPath(links.secret, path, expiresAt);
  const artifact = (objectName: string | null) =>
    objectName === null ? null : link(`/artifacts/${artifactPath(event.job_id, objectName)}`);
  const artifacts: Record<keyof ArtifactObjects, string | null> = {
    confusion_matrix: artifact(event.artifacts.confusion_matrix),
    pr_curve: artifact(event.artifacts.pr_curve),
    f1_curve: artifact(event.artifacts.f1_curve),
    results_csv: artifact(event.artifacts.results_csv),
    training_logs: artifact(event.artifacts.training_logs),
  };
  return checked(TrainingCompletedCallback, {
    type: "training_completed",
    job_id: event.job_id,
    timestamp: event.at,
    status: "completed",
    duration_seconds: event.duration_seconds,
    model: {
      name: event.model.name,
      download_url: link(`/models/${event.job_id}.pt`),
      size_mb: Math.round((event.model.size_bytes / BYTES_PER_MB) * 100) / 100,
      format: "pytorch",
      expires_at: expiresAt.toISOString(),
    },
    final_metrics: event.final_metrics,
    artifacts,
    dataset_info: event.dataset_info,
  });
}

/**
 * `<job_id>/<file>` as a URL path, each segment percent-encoded; the signature covers this
 * encoded form, which is what the gateway sees as the request path. The object's run folder
 * (`<job_id>/attempt-<n>/<file>`) is left out: the gateway serves the file of the run whose
 * claim won, the one that published this event. An object of another job would leak that
 * job's files, so it is refused.
 */
function artifactPath(jobId: string, objectName: string): string {
  const file = artifactFileOf(jobId, objectName);
  if (file === null) {
    throw new CallbackContractError(`artifact ${JSON.stringify(objectName)} is not a file of job ${jobId}`);
  }
  return [jobId, file].map(encodeURIComponent).join("/");
}

function checked<S extends z.ZodType<Callback>>(schema: S, body: z.input<S>): Callback {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new CallbackContractError(`callback body violates its contract: ${issues}`);
  }
  return result.data;
}

function unreachable(event: never): never {
  throw new CallbackContractError(`unknown job event ${JSON.stringify(event)}`);
}
