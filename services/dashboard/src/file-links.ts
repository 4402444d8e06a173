import { artifactFileOf } from "@trainyard/contracts";
import { signDownloadPath } from "@trainyard/runtime";
import type { FileKind } from "./job-wire.js";
import type { ProjectedJob } from "./projected-job.js";

/** How long a link the dashboard hands out stays valid: enough to start a download, not to share it. */
export const LINK_TTL_MS = 15 * 60 * 1000;

/**
 * Gateway download links of a job's files, signed with the gateway's DOWNLOAD_URL_SECRET exactly
 * as the notifier signs the ones in `training_completed` (`/models/<job>.pt`,
 * `/artifacts/<job>/<file>`). They are minted per request, so none sits stale in a page.
 */
export class FileLinks {
  constructor(private readonly opts: { publicBaseUrl: string; secret: string; now?: () => number }) {}

  /** The signed URL of `kind`, or null when the job has no such file. */
  link(record: Pick<ProjectedJob, "_id" | "status" | "model_object" | "artifacts">, kind: FileKind): string | null {
    const path = filePath(record, kind);
    if (path === null) return null;
    const expiresAt = new Date((this.opts.now?.() ?? Date.now()) + LINK_TTL_MS);
    return this.opts.publicBaseUrl.replace(/\/+$/, "") + signDownloadPath(this.opts.secret, path, expiresAt);
  }
}

/** The gateway path of a job's file; null when the job has none, or the object is not the job's own. */
export function filePath(
  record: Pick<ProjectedJob, "_id" | "status" | "model_object" | "artifacts">,
  kind: FileKind,
): string | null {
  if (kind === "model") return record.status === "completed" && record.model_object ? `/models/${record._id}.pt` : null;
  const objects = record.artifacts;
  if (!objects) return null;
  const objectName = {
    logs: objects.training_logs,
    results_csv: objects.results_csv,
    confusion_matrix: objects.confusion_matrix,
    pr_curve: objects.pr_curve,
    f1_curve: objects.f1_curve,
  }[kind];
  if (!objectName) return null;
  // the gateway serves the file of the run that won the job (its folder is not in the link)
  const file = artifactFileOf(record._id, objectName);
  if (file === null) return null;
  return `/artifacts/${encodeURIComponent(record._id)}/${encodeURIComponent(file)}`;
}
