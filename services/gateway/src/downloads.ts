import { Readable } from "node:stream";
import { Router } from "express";
import type { Logger } from "@trainyard/runtime";
import { verifyDownloadPath } from "@trainyard/runtime";
import type { Bus } from "./adapters/bus.js";
import { sendError } from "./http-errors.js";

const JOB_ID = "[0-9a-fA-F-]{36}";
const ARTIFACT_FILE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Model and artifact downloads. They are reached through URLs the notifier signed
 * (`expires` + `signature`), so an app can fetch them without the API secret until they expire.
 */
export function downloadRouter(artifacts: Pick<Bus, "getArtifact">, secret: string, log: Logger): Router {
  const router = Router();
  router.get(new RegExp(`^/models/(${JOB_ID})\\.pt$`), async (req, res) => {
    const jobId = String(req.params[0]);
    await serve(req.path, `${jobId}/best.pt`, `${jobId}.pt`, req.query, res);
  });
  router.get(new RegExp(`^/artifacts/(${JOB_ID})/([^/]+)$`), async (req, res) => {
    const jobId = String(req.params[0]);
    const file = String(req.params[1]);
    if (!ARTIFACT_FILE.test(file) || file.startsWith(".")) return sendError(res, 404, "NOT_FOUND", "Not found");
    await serve(req.path, `${jobId}/${file}`, file, req.query, res);
  });
  return router;

  async function serve(
    path: string,
    objectName: string,
    fileName: string,
    query: Record<string, unknown>,
    res: import("express").Response,
  ): Promise<void> {
    const expires = typeof query.expires === "string" ? query.expires : undefined;
    const signature = typeof query.signature === "string" ? query.signature : undefined;
    if (!verifyDownloadPath(secret, path, expires, signature)) {
      return sendError(res, 403, "UNAUTHORIZED", "Download link is invalid or has expired");
    }
    const object = await artifacts.getArtifact(objectName);
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
