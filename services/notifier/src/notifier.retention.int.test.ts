/**
 * Retention of callback targets, against real NATS (per-message TTL) and FerretDB: a finished
 * job's target expires once the notifier has taken in its terminal event, a running job's stays.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startRecordingReceiver, type RecordingReceiver } from "./testing/recording-receiver.js";
import { completedEvent, epochEvent, phaseEvent } from "./testing/job-events.js";
import { eventually, ofJob, startWorld, type World } from "./testing/world.js";

const TARGET_TTL_MS = 1_000;

describe("notifier: callback target retention (real NATS and FerretDB)", () => {
  let world: World;
  let hook: RecordingReceiver;

  before(async () => {
    world = await startWorld("retention");
    hook = await startRecordingReceiver();
    await (
      await world.startNotifier({ targetTtlMs: TARGET_TTL_MS })
    ).active;
  });

  after(async () => {
    await hook?.close();
    await world?.close();
  });

  it("a finished job's target expires after the TTL from its terminal event; a running job's is kept", async () => {
    const present = async (jobId: string) => (await world.targets.get(jobId))?.operation === "PUT";
    const running = await world.startJob(hook.url);
    const finished = await world.startJob(hook.url);
    await world.publish(phaseEvent(running.jobId, { phase: "preparing", percentage: 10 }));
    await world.publish(epochEvent(running.jobId, 1));
    await world.publish(phaseEvent(finished.jobId, { phase: "preparing", percentage: 10 }));
    await world.publish(completedEvent(finished.jobId));

    await eventually("the finished job's training_completed reaches its receiver", async () =>
      hook.requests.filter(ofJob(finished.jobId)).some((r) => r.body.includes("training_completed")),
    );
    await eventually("the finished job's callback target expires", async () => !(await present(finished.jobId)));
    assert.equal(await present(running.jobId), true, "the running job's callback target is kept");
    assert.ok(
      hook.requests.some(ofJob(running.jobId)),
      "the running job's callbacks went out with its target (it was there all along)",
    );
  });
});
