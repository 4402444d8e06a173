import { Router } from "express";
import {
  CallbackId,
  CallbackListQuery,
  JobId,
  type CallbackDeliveryList,
  type RedeliveryAccepted,
} from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import type { Bus } from "./adapters/bus.js";
import type { CallbackLog } from "./adapters/callback-log.js";
import type { JobStore } from "./adapters/job-store.js";
import { allowOnly } from "./api-router.js";
import { toCallbackDeliveryView } from "./callback-view.js";
import { HttpError } from "./http-errors.js";
import { parseParam, parseQuery } from "./request-validation.js";

export interface CallbacksDeps {
  store: JobStore;
  callbacks: CallbackLog;
  bus: Pick<Bus, "requestRedelivery">;
  log: Logger;
  now(): Date;
}

/**
 * The callback delivery log of a job under /api/v1 (authentication is the caller's): every
 * callback with its attempts, and an operator's redelivery of one of them.
 */
export function callbacksRouter(deps: CallbacksDeps): Router {
  const router = Router();

  router.get("/jobs/:jobId/callbacks", async (req, res) => {
    const jobId = parseParam(JobId, "job_id", req.params.jobId);
    const query = parseQuery(CallbackListQuery, req.query);
    const [job, page] = await Promise.all([deps.store.get(jobId), deps.callbacks.list(jobId, query)]);
    if (!job && page.total === 0) throw new HttpError(404, "JOB_NOT_FOUND", "Job not found");
    const body: CallbackDeliveryList = {
      job_id: jobId,
      total: page.total,
      callbacks: page.callbacks.map(toCallbackDeliveryView),
    };
    res.json(body);
  });

  router.post("/jobs/:jobId/callbacks/:callbackId/redeliver", async (req, res) => {
    const jobId = parseParam(JobId, "job_id", req.params.jobId);
    const callbackId = parseParam(CallbackId, "callback_id", req.params.callbackId);
    const callback = await deps.callbacks.get(jobId, callbackId);
    if (!callback) throw new HttpError(404, "CALLBACK_NOT_FOUND", "Callback not found for this job");
    // the app must never see progress after the job's end: the notifier refuses it too
    if (callback.type === "training_progress" && (await deps.callbacks.terminalDelivered(jobId))) {
      throw new HttpError(
        409,
        "JOB_FINISHED",
        "The job's terminal callback was delivered; a progress callback cannot be sent after it",
      );
    }
    const requestedAt = deps.now().toISOString();
    await deps.bus.requestRedelivery({ job_id: jobId, callback_id: callbackId, requested_at: requestedAt });
    deps.log.info({ job_id: jobId, callback_id: callbackId }, "callback redelivery requested");
    const body: RedeliveryAccepted = {
      job_id: jobId,
      callback_id: callbackId,
      status: "redelivery_requested",
      requested_at: requestedAt,
    };
    res.status(202).json(body);
  });

  allowOnly(router, "/jobs/:jobId/callbacks", ["GET"]);
  allowOnly(router, "/jobs/:jobId/callbacks/:callbackId/redeliver", ["POST"]);
  return router;
}
