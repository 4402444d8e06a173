import express, { Router, type RequestHandler } from "express";
import { JobId, JobListQuery, TrainRequest, type JobList, type JobRecord } from "@trainyard/contracts";
import { outboundUrlRefusal, type Logger, type OutboundPolicy } from "@trainyard/runtime";
import type { Bus } from "./adapters/bus.js";
import type { JobStore } from "./adapters/job-store.js";
import { weakCallbackSettings, type CallbackPolicy } from "./callback-policy.js";
import { bearerKey } from "./auth.js";
import { cancelJob } from "./cancellation.js";
import { HttpError } from "./http-errors.js";
import { acceptJob } from "./jobs.js";
import { toJobSummary, toJobView } from "./job-view.js";
import { readQueueFields, type QueueSource } from "./queue-reader.js";
import { rateLimit, type RateLimiter } from "./rate-limit.js";
import { parseBody, parseParam, parseQuery } from "./request-validation.js";

export interface ApiDeps {
  store: JobStore;
  bus: Bus;
  /** The scheduler's queue, watched: queued jobs' positions. */
  queue: QueueSource;
  log: Logger;
  maxQueuedJobs: number;
  typicalJobSeconds: number;
  maxBodyBytes: number;
  /** Null when POST /train is not rate limited per client address. */
  trainLimiter: RateLimiter | null;
  /** Null when POST /train is not rate limited per API token. */
  tokenTrainLimiter: RateLimiter | null;
  callbackPolicy: OutboundPolicy;
  weakCallbacks: CallbackPolicy;
  now(): Date;
}

/** Seconds a client should wait after 503 QUEUE_FULL: jobs take minutes, so a minute is polite. */
const QUEUE_FULL_RETRY_AFTER_S = 60;

/** The job routes of PRD 7.1–7.4 under /api/v1 (authentication is the caller's). */
export function apiRouter(deps: ApiDeps): Router {
  const router = Router();
  const none: RequestHandler = (_req, _res, next) => next();
  // a request is refused as cheaply as possible: rate, media type and size before parsing
  const jsonBody = express.json({ limit: deps.maxBodyBytes, type: "application/json", strict: true });

  router.post(
    "/train",
    deps.trainLimiter ? rateLimit(deps.trainLimiter) : none,
    deps.tokenTrainLimiter ? rateLimit(deps.tokenTrainLimiter, (req) => bearerKey(req.header("authorization"))) : none,
    requireJson,
    jsonBody,
    async (req, res) => {
      const request = parseBody(TrainRequest, req.body);
      // the notifier would refuse it: the app hears of it now, not never
      const refusal = await outboundUrlRefusal(request.callback_url, deps.callbackPolicy);
      if (refusal) {
        throw new HttpError(400, "INVALID_PAYLOAD", "Invalid payload", [
          { path: "callback_url", message: `callbacks cannot be delivered there: ${refusal}` },
        ]);
      }
      const weak = weakCallbackSettings(request, deps.callbackPolicy.allowPrivate);
      if (weak.length && deps.weakCallbacks === "strict") {
        throw new HttpError(400, "INVALID_PAYLOAD", "Invalid payload", weak);
      }
      const result = await acceptJob(deps, request);
      switch (result.kind) {
        case "accepted":
          // named by field, never by value: the secret stays out of the log
          if (weak.length)
            deps.log.warn({ job_id: request.job_id, weak: weak.map((w) => w.path) }, "weak callback settings");
          deps.log.info({ job_id: request.job_id }, "job queued");
          res.status(202).json(result.body);
          return;
        case "exists":
          throw new HttpError(409, "JOB_EXISTS", `Job ID ${request.job_id} already exists`);
        case "queue_full":
          res.setHeader("Retry-After", String(QUEUE_FULL_RETRY_AFTER_S));
          throw new HttpError(503, "QUEUE_FULL", `Service unavailable: queue is full (${result.queued} jobs waiting)`);
      }
    },
  );

  router.get("/jobs", async (req, res) => {
    const query = parseQuery(JobListQuery, req.query);
    const page = await deps.store.list(query);
    const jobs = await Promise.all(page.jobs.map((record) => withCancellation(deps, record)));
    const queue = await readQueueFields(deps, jobs);
    const body: JobList = { total: page.total, jobs: jobs.map((job) => toJobSummary(job, queue.get(job._id))) };
    res.json(body);
  });

  router.get("/jobs/:jobId", async (req, res) => {
    const jobId = parseParam(JobId, "job_id", req.params.jobId);
    const record = await deps.store.get(jobId);
    if (!record) throw new HttpError(404, "JOB_NOT_FOUND", "Job not found");
    const job = await withCancellation(deps, record);
    const view = toJobView(job, (await readQueueFields(deps, [job])).get(job._id));
    res.json(view.status === "cancelled" ? { ...view, eta_seconds: null } : view);
  });

  router.delete("/jobs/:jobId", async (req, res) => {
    const jobId = parseParam(JobId, "job_id", req.params.jobId);
    const result = await cancelJob(deps, jobId);
    switch (result.kind) {
      case "cancelled":
        deps.log.info({ job_id: jobId }, "job cancelled");
        res.json(result.body);
        return;
      case "not_found":
        throw new HttpError(404, "JOB_NOT_FOUND", "Job not found");
      case "finished":
        throw new HttpError(409, "JOB_FINISHED", `Job already ${result.status}`);
    }
  });

  allowOnly(router, "/train", ["POST"]);
  allowOnly(router, "/jobs", ["GET"]);
  allowOnly(router, "/jobs/:jobId", ["GET", "DELETE"]);
  return router;
}

/** 415 for a body that is not JSON; a request without a body goes on, to fail validation. */
const requireJson: RequestHandler = (req, _res, next) => {
  const empty = req.headers["content-length"] === "0";
  if (!empty && req.is("application/json") === false) {
    return next(
      new HttpError(415, "UNSUPPORTED_MEDIA_TYPE", "Request body must be application/json", [
        { path: "(body)", message: "Content-Type must be application/json" },
      ]),
    );
  }
  next();
};

/** Answers 405 with Allow for the other methods of a known path. */
export function allowOnly(router: Router, path: string, methods: string[]): void {
  router.all(path, (req, res, next) => {
    if (req.method === "OPTIONS" || (req.method === "HEAD" && methods.includes("GET"))) return next();
    res.setHeader("Allow", methods.join(", "));
    next(new HttpError(405, "METHOD_NOT_ALLOWED", `Method ${req.method} is not allowed here`));
  });
}

/** The record as the client must see it: `cancelled` once requested, before the projection catches up. */
async function withCancellation<R extends Pick<JobRecord, "_id" | "status">>(
  deps: Pick<ApiDeps, "bus">,
  record: R,
): Promise<R> {
  if (record.status === "completed" || record.status === "failed" || record.status === "cancelled") return record;
  // the projection answers alone while NATS is unreachable: reads need only MongoDB
  const requested = await deps.bus.isCancellationRequested(record._id).catch(() => false);
  return requested ? { ...record, status: "cancelled" } : record;
}
