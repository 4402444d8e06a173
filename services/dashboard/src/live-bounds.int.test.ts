import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { JOBS_COLLECTION } from "@trainyard/contracts";
import { publishJobEvent } from "@trainyard/runtime";
import { epochEvent, queuedJob } from "./job-fixtures.js";
import type { ServerMessage } from "./job-wire.js";
import type { ProjectedJob } from "./projected-job.js";
import { openFeed, startInfra, type Infra } from "./testing/live-fixture.js";

const EPOCHS = 1000;
/** Every live message stays this small, whatever the history length: updates are per-epoch deltas. */
const MAX_UPDATE_BYTES = 4096;

describe("live feed at 1,000 epochs", () => {
  let infra: Infra;

  before(async () => {
    infra = await startInfra();
  });

  after(async () => {
    await infra?.stop();
  });

  it("sends each epoch as a delta of bounded size; only a (re)subscription carries history", async () => {
    const dashboard = await infra.start();
    const jobId = randomUUID();
    const job: ProjectedJob = { ...queuedJob(jobId), total_epochs: EPOCHS, created_at: new Date() };
    job.model_config = { ...job.model_config, epochs: EPOCHS };
    await infra.db.collection<ProjectedJob>(JOBS_COLLECTION).insertOne(job);
    const overview = await openFeed(dashboard.url);
    const page = await openFeed(dashboard.url);
    page.send({ type: "subscribe", job_id: jobId });
    await page.waitFor("snapshot", (m) => m.type === "job_snapshot");

    const at = new Date().toISOString();
    for (let epoch = 1; epoch <= EPOCHS; epoch++) {
      const percentage = Math.min(94, Math.max(10, (100 * epoch) / EPOCHS));
      await publishJobEvent(infra.js, epochEvent(jobId, epoch, percentage, at, EPOCHS), `${jobId}:epoch:${epoch}`);
    }
    const isLast = (m: ServerMessage) => m.type === "epoch" && m.point.epoch === EPOCHS;
    await page.waitFor(`epoch ${EPOCHS}`, isLast);
    await overview.waitFor(`epoch ${EPOCHS} summary`, (m) => m.type === "job" && m.job.current_epoch === EPOCHS);

    const epochs = page.messages.filter((m) => m.type === "epoch");
    assert.equal(epochs.length, EPOCHS, "one delta per epoch");
    const updateSizes = [
      ...page.sizes.filter((_, i) => page.messages[i]?.type !== "job_snapshot"),
      ...overview.sizes.filter((_, i) => overview.messages[i]?.type !== "overview"),
    ];
    assert.ok(updateSizes.length >= 3 * EPOCHS, "epoch, detail and summary for every epoch");
    const largest = Math.max(...updateSizes);
    assert.ok(largest <= MAX_UPDATE_BYTES, `the largest live update is ${largest} bytes, over ${MAX_UPDATE_BYTES}`);
    const first = updateSizes.slice(0, 30).reduce((a, b) => Math.max(a, b), 0);
    const last = updateSizes.slice(-30).reduce((a, b) => Math.max(a, b), 0);
    assert.ok(last <= first + 64, `updates do not grow with the history (${first} → ${last} bytes)`);

    // A new page gets the whole history once; a reconnecting one only what it missed.
    const fresh = await openFeed(dashboard.url);
    fresh.send({ type: "subscribe", job_id: jobId });
    const full = await fresh.waitFor("full snapshot", (m) => m.type === "job_snapshot");
    assert.equal(full.type === "job_snapshot" && full.points.length, EPOCHS);
    const seqOf990 = epochs.find((m) => m.type === "epoch" && m.point.epoch === 990);
    const since = seqOf990?.type === "epoch" ? seqOf990.point.seq : 0;
    fresh.send({ type: "unsubscribe", job_id: jobId });
    fresh.send({ type: "subscribe", job_id: jobId, since_seq: since });
    const resumed = await fresh.waitFor("resumed snapshot", (m) => m.type === "job_snapshot" && m.since_seq === since);
    assert.deepEqual(
      resumed.type === "job_snapshot" && resumed.points.map((p) => p.epoch),
      Array.from({ length: 10 }, (_, i) => 991 + i),
    );
    for (const feed of [overview, page, fresh]) feed.close();
    await dashboard.stop();
  });
});
