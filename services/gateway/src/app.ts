import express, { type NextFunction, type Request, type Response } from "express";
import { TrainRequest } from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import type { Bus } from "./adapters/bus.js";
import type { JobStore } from "./adapters/job-store.js";
import { bearerMatches } from "./auth.js";
import { downloadRouter } from "./downloads.js";
import { issuesOf, sendError } from "./http-errors.js";
import { acceptJob } from "./jobs.js";
import { toJobView } from "./job-view.js";

export interface AppDeps {
  store: JobStore;
  bus: Bus;
  log: Logger;
  apiSecret: string;
  downloadSecret: string;
  maxQueuedJobs: number;
  typicalJobSeconds: number;
  version: string;
  now(): Date;
}

/** The gateway's REST API. Routes validate, call the domain and map the result; nothing more. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(express.json({ limit: "256kb" }));

  app.get("/health", async (_req, res) => {
    const [active, queued, capacity] = await Promise.all([
      deps.store.count("training"),
      deps.store.count("queued"),
      deps.bus.capacity(),
    ]);
    res.json({
      status: "healthy",
      timestamp: deps.now().toISOString(),
      version: deps.version,
      gpu_available: capacity.gpu,
      active_jobs: active,
      queue_size: queued,
    });
  });

  app.use(downloadRouter(deps.bus.artifacts, deps.downloadSecret, deps.log));

  app.use("/api", (req, res, next) => {
    if (bearerMatches(req.header("authorization"), deps.apiSecret)) return next();
    res.setHeader("WWW-Authenticate", "Bearer");
    sendError(res, 401, "UNAUTHORIZED", "Invalid API key");
  });

  app.post("/api/v1/train", async (req, res) => {
    const parsed = TrainRequest.safeParse(req.body);
    if (!parsed.success) {
      return sendError(res, 400, "INVALID_PAYLOAD", "Invalid payload", issuesOf(parsed.error));
    }
    const result = await acceptJob(deps, parsed.data);
    switch (result.kind) {
      case "accepted":
        deps.log.info({ job_id: parsed.data.job_id }, "job queued");
        return res.status(202).json(result.body);
      case "exists":
        return sendError(res, 409, "JOB_EXISTS", `Job ID ${parsed.data.job_id} already exists`);
      case "queue_full":
        return sendError(res, 503, "QUEUE_FULL", `Service unavailable: queue is full (${result.queued} jobs waiting)`);
    }
  });

  app.get("/api/v1/jobs/:jobId", async (req, res) => {
    const record = await deps.store.get(req.params.jobId);
    if (!record) return sendError(res, 404, "JOB_NOT_FOUND", "Job not found");
    res.json(toJobView(record));
  });

  app.use((_req, res) => sendError(res, 404, "NOT_FOUND", "Not found"));

  // Express 5 forwards rejected promises here; a malformed JSON body is the client's fault.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (isBodyParseError(err)) return sendError(res, 400, "INVALID_PAYLOAD", "Request body is not valid JSON");
    deps.log.error({ err }, "request failed");
    sendError(res, 500, "INTERNAL_ERROR", "Internal error");
  });
  return app;
}

function isBodyParseError(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { type?: string }).type === "entity.parse.failed";
}
