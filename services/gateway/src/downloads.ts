import { Readable } from "node:stream";
import { Router } from "express";
import { artifactAttemptOf, jobArtifact, runArtifact } from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import { verifyDownloadPath } from "@trainyard/runtime";
import type { Bus } from "./adapters/bus.js";
import type { JobStore } from "./adapters/job-store.js";
import { sendError } from "./http-errors.js";

const JOB_ID = "[0-9a-fA-F-]{36}";
const ARTIFACT_FILE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Model and artifact downloads. They are reached through URLs the notifier signed
 * (`expires` + `signature`), so an app can fetch them without the API secret until they expire.
 * A link names the job and the file; the file served is the one of the run whose outcome claim
 * won (`<job>/attempt-<n>/<file>`), never that of a run the scheduler replaced.
 */
export function downloadRouter(
  deps: { bus: Pick<Bus, "getArtifact" | "outcomeOf">; store: Pick<JobStore, "get"> },
  secret: string,
  log: Logger,
): Router {
  const router = Router();
  router.get(new RegExp(`^/models/(${JOB_ID})\\.pt$`), async (req, res) => {
    const jobId = String(req.params[0]);
    await serve(req.path, jobId, "best.pt", `${jobId}.pt`, req.query, res);
  });
  router.get(new RegExp(`^/artifacts/(${JOB_ID})/([^/]+)$`), async (req, res) => {
    const jobId = String(req.params[0]);
    const file = String(req.params[1]);
    if (!ARTIFACT_FILE.test(file) || file.startsWith(".")) return sendError(res, 404, "NOT_FOUND", "Not found");
    await serve(req.path, jobId, file, file, req.query, res);
  });
  return router;

  /**
   * The run whose files the job's links name: the one that claimed its outcome; once that claim
   * has expired (it lives a week past the job's end), the run the projection's model names; null
   * for a job whose files have no run folder (finished before runs had folders).
   */
  async function winningRun(jobId: string): Promise<number | null> {
    const claim = await deps.bus.outcomeOf(jobId);
    if (claim) return claim.attempt;
    const model = (await deps.store.get(jobId))?.model_object;
    return model ? artifactAttemptOf(jobId, model) : null;
  }

  async function serve(
    path: string,
    jobId: string,
    file: string,
    fileName: string,
    query: Record<string, unknown>,
    res: import("express").Response,
  ): Promise<void> {
    const expires = typeof query.expires === "string" ? query.expires : undefined;
    const signature = typeof query.signature === "string" ? query.signature : undefined;
    if (!verifyDownloadPath(secret, path, expires, signature)) {
      return sendError(res, 403, "UNAUTHORIZED", "Download link is invalid or has expired");
    }
    const run = await winningRun(jobId);
    const objectName = run === null ? jobArtifact(jobId, file) : runArtifact(jobId, run, file);
    const object = await deps.bus.getArtifact(objectName);
    if (!object) return sendError(res, 404, "NOT_FOUND", "Not found");
    res.setHeader(
      "Content-Type",
      fileName.endsWith(".png")
        ? "image/png"
        : fileName.endsWith(".csv")
          ? "text/csv"
          : fileName.endsWith(".txt")
            ? "text/plain; charset=utf-8"
            : "application/octet-stream",
    );
    res.setHeader("Content-Length", String(object.info.size));
    res.setHeader("Content-Disposition", `attachment; filename="${fileName}"`);
    const body = Readable.fromWeb(object.data);
    body.on("error", (err) => {
      log.error({ err, object: objectName }, "download stream failed");
      res.destroy(err);
    });
    body.pipe(res);
  }
}
