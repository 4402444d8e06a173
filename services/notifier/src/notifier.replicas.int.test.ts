import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Consumer, JOB_EVENTS_STREAM } from "@trainyard/contracts";
import { startRecordingReceiver, type RecordingReceiver } from "./testing/recording-receiver.js";
import { completedEvent, epochEvent, phaseEvent } from "./testing/job-events.js";
import { label, ofJob, startWorld, verified, type World } from "./testing/world.js";

const WAIT_MS = 15_000;

describe("notifier replicas and take-over", () => {
  let world: World;
  let hook: RecordingReceiver;

  before(async () => {
    world = await startWorld("replicas");
    hook = await startRecordingReceiver();
  });

  after(async () => {
    await hook?.close();
    await world?.close();
  });

  it("a second replica stands by while the first delivers, then takes over when it stops", async () => {
    const first = await world.startNotifier();
    await first.active;
    const second = await world.startNotifier();
    let secondActive = false;
    void second.active.then(() => (secondActive = true));

    const before = await world.startJob(hook.url);
    await world.publish(phaseEvent(before.jobId, { phase: "downloading", percentage: 5 }));
    await world.publish(completedEvent(before.jobId));
    await hook.waitFor((all) => all.filter(ofJob(before.jobId)).length >= 2, WAIT_MS, "the first job's callbacks");
    assert.equal(secondActive, false, "only one replica holds the delivery lease");

    await first.stop();
    await second.active;
    const afterwards = await world.startJob(hook.url);
    await world.publish(epochEvent(afterwards.jobId, 1));
    await world.publish(completedEvent(afterwards.jobId));
    await hook.waitFor((all) => all.filter(ofJob(afterwards.jobId)).length >= 2, WAIT_MS, "the second job's callbacks");

    const ids = hook.requests.map((r) => String(r.headers["webhook-id"]));
    assert.equal(new Set(ids).size, ids.length, `every callback is sent once: ${ids.join(", ")}`);
    assert.deepEqual(
      hook.requests.filter(ofJob(afterwards.jobId)).map((r) => label(verified(r, afterwards.secret))),
      ["progress training 50", "training_completed"],
    );
    await second.stop();
  });

  it("handles at once the events a predecessor received but never acknowledged", async () => {
    // what a replica killed mid-batch leaves: events delivered to the durable consumer, unacknowledged
    const job = await world.startJob(hook.url, 3);
    for (let epoch = 1; epoch <= 3; epoch++) await world.publish(epochEvent(job.jobId, epoch, 3));
    await world.publish(completedEvent(job.jobId));
    const consumer = await world.js.consumers.get(JOB_EVENTS_STREAM, Consumer.notifier);
    const taken = await consumer.fetch({ max_messages: 5, expires: 2_000 });
    let held = 0;
    for await (const _msg of taken) if (++held === 5) break;
    assert.equal(held, 5, "the queued event, three epochs and the completion are held unacknowledged");

    const started = performance.now();
    const notifier = await world.startNotifier();
    await hook.waitFor((all) => all.filter(ofJob(job.jobId)).length >= 4, WAIT_MS, "the held job's callbacks");
    const took = performance.now() - started;
    assert.ok(took < 10_000, `handled after ${Math.round(took)} ms, not after the 60 s ack wait`);
    assert.deepEqual(
      hook.requests.filter(ofJob(job.jobId)).map((r) => label(verified(r, job.secret))),
      [1, 2, 3]
        .map((epoch) => `progress training ${epochEvent(job.jobId, epoch, 3).percentage}`)
        .concat("training_completed"),
    );
    await notifier.stop();
  });
});
