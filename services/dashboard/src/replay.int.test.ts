import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import {
  Consumer,
  JOB_EVENTS_STREAM,
  JOBS_COLLECTION,
  newJobRecord,
  Subject,
  TRAIN_STREAM,
  type JobEvent,
  type JobRecord,
} from "@trainyard/contracts";
import { publishJobEvent, publishJson } from "@trainyard/runtime";
import { assignedEvent, epochEvent, failedEvent, happyPath, phaseEvent, trainRequested } from "./job-fixtures.js";
import { EPOCHS_COLLECTION } from "./projected-job.js";
import { REQUESTS_CONSUMER } from "./projector.js";
import { startInfra, until, type Infra } from "./testing/live-fixture.js";

/** True once both projection consumers have nothing pending or in flight. */
async function caughtUp(infra: Infra): Promise<true | null> {
  for (const [stream, name] of [
    [JOB_EVENTS_STREAM, Consumer.dashboard],
    [TRAIN_STREAM, REQUESTS_CONSUMER],
  ] as const) {
    const info = await infra.jsm.consumers.info(stream, name).catch(() => null);
    if (!info || info.num_pending > 0 || info.num_ack_pending > 0) return null;
  }
  return true;
}

async function projection(infra: Infra) {
  const [jobs, epochs] = await Promise.all([
    infra.db.collection(JOBS_COLLECTION).find({}).sort({ _id: 1 }).toArray(),
    infra.db.collection(EPOCHS_COLLECTION).find({}).sort({ _id: 1 }).toArray(),
  ]);
  return { jobs, epochs };
}

describe("rebuilding the projection from the streams", () => {
  let infra: Infra;

  before(async () => {
    infra = await startInfra();
  });

  after(async () => {
    await infra?.stop();
  });

  it("replaying JOB_EVENTS and train.requested into an empty database yields the same documents", async () => {
    let dashboard = await infra.start();
    const jobs = infra.db.collection<JobRecord>(JOBS_COLLECTION);
    const created = new Date();
    const [done, failed, cancelled, waiting] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const runs: Record<string, JobEvent[]> = {
      [done]: happyPath(done),
      [failed]: [
        phaseEvent(failed, "downloading", 5),
        assignedEvent(failed),
        epochEvent(failed, 1, 50),
        failedEvent(failed),
      ],
      [cancelled]: [phaseEvent(cancelled, "downloading", 5), assignedEvent(cancelled), epochEvent(cancelled, 1, 50)],
      [waiting]: [phaseEvent(waiting, "downloading", 5)],
    };
    // as the gateway accepts each job: document, then queued and train.requested
    for (const jobId of Object.keys(runs)) {
      const request = trainRequested(jobId, created);
      await jobs.insertOne(newJobRecord({ job_id: jobId, model_config: request.model_config, now: created }));
      await publishJobEvent(
        infra.js,
        {
          type: "queued",
          job_id: jobId,
          at: request.requested_at,
          model_name: request.model_config.name,
          total_epochs: 2,
        },
        `${jobId}:queued`,
      );
      await publishJson(infra.js, Subject.trainRequested, request, jobId);
    }
    // interleaved, as concurrent jobs publish; one event published twice (a publisher retry past dedupe)
    const longest = Math.max(...Object.values(runs).map((r) => r.length));
    for (let i = 0; i < longest; i++) {
      for (const [jobId, events] of Object.entries(runs)) {
        const event = events[i];
        if (event) await publishJobEvent(infra.js, event, `${jobId}:${i}`);
      }
    }
    await publishJobEvent(infra.js, epochEvent(done, 1, 50), `${done}:again`);
    // the gateway's DELETE: the document directly, then (the job was training) the agent's CANCELLED
    await until("the cancelled job to train", async () =>
      (await jobs.findOne({ _id: cancelled, current_epoch: 1 })) ? true : null,
    );
    const cancelAt = new Date();
    await jobs.updateOne(
      { _id: cancelled },
      { $set: { status: "cancelled", finished_at: cancelAt, eta_seconds: null } },
    );
    await publishJobEvent(infra.js, epochEvent(cancelled, 2, 94), `${cancelled}:late-epoch`);
    await publishJobEvent(
      infra.js,
      failedEvent(cancelled, "CANCELLED", new Date().toISOString()),
      `${cancelled}:terminal`,
    );

    await until("the projection to catch up", () => caughtUp(infra));
    const live = await projection(infra);
    assert.equal(live.jobs.length, 4);
    assert.deepEqual(
      live.jobs.map((j) => [String(j._id), String(j.status)]).sort(),
      [
        [cancelled, "cancelled"],
        [done, "completed"],
        [failed, "failed"],
        [waiting, "queued"],
      ].sort(),
    );

    // Rebuild: an empty database, the dashboard's durable consumers gone, everything read again.
    await dashboard.stop();
    await infra.db.dropDatabase();
    await infra.jsm.consumers.delete(JOB_EVENTS_STREAM, Consumer.dashboard);
    await infra.jsm.consumers.delete(TRAIN_STREAM, REQUESTS_CONSUMER);
    dashboard = await infra.start({ missingJob: { attempts: 200, delayMs: 50 } });
    await until("the rebuild to catch up", async () =>
      (await caughtUp(infra)) && (await jobs.countDocuments()) === 4 ? true : null,
    );
    const rebuilt = await projection(infra);
    assert.deepEqual(rebuilt.jobs, live.jobs, "every job document is the same");
    assert.deepEqual(rebuilt.epochs, live.epochs, "every history row is the same");
    await dashboard.stop();
  });
});
