/**
 * DELETE /api/v1/jobs/{id} (PRD 7.3, 17.4), the gateway's side, against real NATS and FerretDB:
 * the job document, the cancellations bucket and the terminal CANCELLED event.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import {
  Bucket,
  CancellationRequest,
  JOB_EVENTS_STREAM,
  JobCancelled,
  JobEvent,
  JobView,
  Subject,
  terminalEventId,
  type JobOutcome,
  type JobStatus,
} from "@trainyard/contracts";
import { openJobOutcomes, openKv, type KV } from "@trainyard/runtime";
import { DependencyError } from "./adapters/dependency.js";
import { cancelJob } from "./cancellation.js";
import { call, expectError, expectStatus, newRequest, putJob, startHarness, type Harness } from "./testing/harness.js";

describe("DELETE /api/v1/jobs/{id}", () => {
  let h: Harness;
  let cancellations: KV;

  before(async () => {
    h = await startHarness();
    cancellations = await openKv(h.nc, Bucket.cancellations);
  });

  after(async () => {
    await h?.close();
  });

  const cancel = (jobId: string) => call(h, "DELETE", `/api/v1/jobs/${jobId}`);

  /** The job's `failed` event in JOB_EVENTS, or null. */
  async function failedEvent(jobId: string) {
    try {
      return await h.jsm.streams.getMessage(JOB_EVENTS_STREAM, { last_by_subj: Subject.jobEvent(jobId, "failed") });
    } catch {
      return null;
    }
  }

  async function cancellationOf(jobId: string) {
    const entry = await cancellations.get(jobId);
    return entry?.operation === "PUT" ? CancellationRequest.parse(entry.json()) : null;
  }

  test("a queued job: 200, cancelled at once, CANCELLED event with the terminal message id", async () => {
    const request = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "the job to cancel");
    const res = await cancel(request.job_id);
    expectStatus(res, 200, "cancelling a queued job");
    assert.deepEqual(JobCancelled.parse(res.body), {
      job_id: request.job_id,
      status: "cancelled",
      message: "Job cancelled successfully",
    });

    const view = JobView.parse((await call(h, "GET", `/api/v1/jobs/${request.job_id}`)).body);
    assert.equal(view.status, "cancelled", "expected a GET right after to show the job cancelled");
    assert.equal(view.eta_seconds, null);

    const message = await failedEvent(request.job_id);
    assert.ok(message, "expected a failed event in JOB_EVENTS");
    assert.equal(message.header?.get("Nats-Msg-Id"), terminalEventId(request.job_id), "expected <job>:terminal");
    const event = JobEvent.parse(message.json());
    assert.ok(event.type === "failed", "expected a failed event");
    assert.equal(event.error.code, "CANCELLED");
    assert.equal(event.error.phase, "cancelled", "expected no phase reached yet");
    assert.equal(event.partial_metrics, null);
    assert.ok(!message.string().includes(request.callback_secret), "expected no secret in the event");

    assert.equal((await cancellationOf(request.job_id))?.job_id, request.job_id, "expected a cancellations entry");
  });

  test("cancelling twice answers the same 200 and publishes nothing more", async () => {
    const request = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "the job to cancel");
    const first = await cancel(request.job_id);
    expectStatus(first, 200, "the first cancel");
    const lastSeq = (await h.jsm.streams.info(JOB_EVENTS_STREAM)).state.last_seq;
    const second = await cancel(request.job_id);
    expectStatus(second, 200, "the second cancel");
    assert.deepEqual(second.body, first.body, "expected the same body");
    assert.equal((await h.jsm.streams.info(JOB_EVENTS_STREAM)).state.last_seq, lastSeq, "expected no new event");
  });

  test("a downloading job: cancelled, its CANCELLED event names the dataset download phase", async () => {
    const job = await putJob(h, { status: "queued", phase: "downloading", progress: 5 });
    expectStatus(await cancel(job._id), 200, "cancelling a downloading job");
    const event = JobEvent.parse((await failedEvent(job._id))?.json());
    assert.ok(event.type === "failed" && event.error.phase === "dataset_download", "expected the download phase");
  });

  test("a training job: 200 and a cancellation for its agent, which publishes the terminal event itself", async () => {
    const job = await putJob(h, { status: "training", phase: "training", progress: 40, current_epoch: 4 });
    expectStatus(await cancel(job._id), 200, "cancelling a training job");
    const view = JobView.parse((await call(h, "GET", `/api/v1/jobs/${job._id}`)).body);
    assert.equal(view.status, "cancelled", "expected a GET right after to show the job cancelled");
    assert.equal(
      (await h.jobs.findOne({ _id: job._id }))?.status,
      "training",
      "expected the document left to the projector, its one writer",
    );
    assert.ok(await cancellationOf(job._id), "expected the cancellation in the bucket the agents watch");
    assert.equal(
      await failedEvent(job._id),
      null,
      "expected no event from the gateway: the agent adds partial metrics",
    );
  });

  for (const status of ["completed", "failed"] satisfies JobStatus[]) {
    test(`a ${status} job: 409 JOB_FINISHED, unchanged, no cancellation`, async () => {
      const job = await putJob(h, { status, progress: status === "completed" ? 100 : 30 });
      const error = expectError(await cancel(job._id), 409, "JOB_FINISHED", `cancelling a ${status} job`);
      assert.equal(error.detail, `Job already ${status}`);
      assert.equal((await h.jobs.findOne({ _id: job._id }))?.status, status, "expected the status unchanged");
      assert.equal(await cancellationOf(job._id), null, "expected no cancellation request");
      assert.equal(await failedEvent(job._id), null, "expected no event");
    });
  }

  test("a job that completed after being accepted (set in MongoDB): 409", async () => {
    const request = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "the job");
    await h.jobs.updateOne({ _id: request.job_id }, { $set: { status: "completed", progress: 100 } });
    expectError(await cancel(request.job_id), 409, "JOB_FINISHED", "cancelling the completed job");
  });

  for (const outcome of ["completed", "failed"] satisfies JobOutcome[]) {
    test(`a job whose agent claimed "${outcome}" before the projection shows it: 409, no cancellation`, async () => {
      // the race of a DELETE with the job's end: its agent claimed the outcome, its event is on the way
      const job = await putJob(h, { status: "training", phase: "validating", progress: 95, current_epoch: 3 });
      assert.equal(await (await openJobOutcomes(h.nc)).claim(job._id, outcome), outcome);
      const error = expectError(await cancel(job._id), 409, "JOB_FINISHED", "cancelling a job that just ended");
      assert.equal(error.detail, `Job already ${outcome}`);
      assert.equal(await cancellationOf(job._id), null, "expected no cancellation request");
      assert.equal(await failedEvent(job._id), null, "expected no event from the gateway");
    });
  }

  test("a cancel claims the job's outcome first: a completion claimed after it finds the job cancelled", async () => {
    const job = await putJob(h, { status: "training", phase: "training", progress: 60, current_epoch: 6 });
    expectStatus(await cancel(job._id), 200, "cancelling a training job");
    const agent = await openJobOutcomes(h.nc);
    assert.equal(await agent.claim(job._id, "completed"), "cancelled", "expected the agent to learn it was cancelled");
  });

  test("a DELETE whose CANCELLED event NATS did not take fails; repeated, it publishes the event", async () => {
    const request = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "the job to cancel");
    // NATS goes away after the claim and the cancellation request, as the event is published
    let refused = false;
    const flaky: typeof h.bus = {
      ...h.bus,
      publishJobEvent: (event, msgId) => {
        if (refused) return h.bus.publishJobEvent(event, msgId);
        refused = true;
        return Promise.reject(new DependencyError("nats", new Error("no answer within 5000 ms")));
      },
    };
    const deps = (bus: typeof h.bus) => ({ store: h.store, bus, now: () => new Date() });
    await assert.rejects(cancelJob(deps(flaky), request.job_id), DependencyError, "the DELETE answers 503");
    assert.ok(await cancellationOf(request.job_id), "the cancel was claimed and requested before the failure");
    assert.equal(await failedEvent(request.job_id), null, "no terminal event yet");

    // the app retries its DELETE: the job must not be left without its terminal event
    assert.equal((await cancelJob(deps(flaky), request.job_id)).kind, "cancelled");
    const event = JobEvent.parse((await failedEvent(request.job_id))?.json());
    assert.ok(event.type === "failed" && event.error.code === "CANCELLED", "the CANCELLED event is published");
  });

  test("an unknown job: 404 JOB_NOT_FOUND", async () => {
    expectError(await cancel(randomUUID()), 404, "JOB_NOT_FOUND", "an unknown job");
  });

  test("a cancelled job's id stays taken: POST it again is 409", async () => {
    const request = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "the job");
    expectStatus(await cancel(request.job_id), 200, "the cancel");
    expectError(await call(h, "POST", "/api/v1/train", { body: request }), 409, "JOB_EXISTS", "re-posting it");
  });
});
