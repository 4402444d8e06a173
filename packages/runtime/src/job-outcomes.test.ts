/**
 * The job-outcomes bucket against a real nats-server: the first claim wins, for every claimant;
 * an agent's claim is its run's, and runs the scheduler replaced are fenced out.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  Bucket,
  SUPERSEDED,
  terminalEventId,
  type JobEventOf,
  type JobOutcome,
  type TerminalJobEvent,
} from "@trainyard/contracts";
import { startNats, type Supervised } from "@trainyard/stack";
import { openJobOutcomes, publishOutcome } from "./job-outcomes.js";
import { connectNats } from "./nats.js";
import { openKv } from "./stores.js";

let dir: string;
let nats: Supervised;
let nc: NatsConnection;
let others: NatsConnection[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-outcomes-"));
  const started = await startNats(join(dir, "nats"), () => undefined);
  nats = started.process;
  nc = await connectNats(started.url, "outcomes-test");
  // claimants on their own connections, as the gateway, the dataset service and agents are
  others = await Promise.all([1, 2, 3].map((i) => connectNats(started.url, `outcomes-test-${i}`)));
});

after(async () => {
  for (const conn of [nc, ...(others ?? [])]) await conn?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

test("racing claims of different outcomes all resolve to the one that was stored first", async () => {
  const claimants = await Promise.all(others.map((conn) => openJobOutcomes(conn)));
  const wanted: JobOutcome[] = ["completed", "cancelled", "failed"];
  for (let round = 0; round < 20; round++) {
    const jobId = randomUUID();
    const answers = await Promise.all(claimants.map((c, i) => c.claim(jobId, wanted[(i + round) % 3]!)));
    assert.equal(
      new Set(answers).size,
      1,
      `round ${round}: every claimant sees one outcome, got ${answers.join(", ")}`,
    );
    const again = await (await openJobOutcomes(nc)).claim(jobId, "failed");
    assert.equal(again, answers[0], "a later claim gets the outcome that holds");
  }
});

test("publishOutcome publishes with the terminal message id only while its outcome holds", async () => {
  const outcomes = await openJobOutcomes(nc);
  const published: Array<{ event: JobEventOf<"completed" | "failed">; msgId: string }> = [];
  const publish = async (event: JobEventOf<"completed" | "failed">, msgId: string) => {
    published.push({ event, msgId });
  };
  const failed = (jobId: string, code: "CANCELLED" | "UNKNOWN_ERROR"): JobEventOf<"failed"> => ({
    type: "failed",
    job_id: jobId,
    at: new Date().toISOString(),
    error: { code, message: "m", details: "d", phase: "training", epoch: 2 },
    partial_metrics: null,
  });

  const cancelled = randomUUID();
  assert.equal(await outcomes.claim(cancelled, "cancelled"), "cancelled");
  assert.equal(await publishOutcome(outcomes, publish, failed(cancelled, "UNKNOWN_ERROR")), "cancelled");
  assert.equal(published.length, 0, "a failure after a cancel is not published");
  assert.equal(await publishOutcome(outcomes, publish, failed(cancelled, "CANCELLED")), "cancelled");
  assert.equal(published.length, 1, "the CANCELLED failure is published (again, after a crash, it is deduplicated)");
  assert.equal(published[0]!.msgId, terminalEventId(cancelled));

  const broken = randomUUID();
  assert.equal(await publishOutcome(outcomes, publish, failed(broken, "UNKNOWN_ERROR")), "failed");
  assert.equal(await outcomes.claim(broken, "cancelled"), "failed", "a cancel after the failure finds it failed");
  assert.equal(published.length, 2);
});

/** A run's terminal event, as an agent claims it. */
const completedBy = (jobId: string, attempt: number): TerminalJobEvent => ({
  type: "completed",
  job_id: jobId,
  at: new Date().toISOString(),
  started_at: new Date().toISOString(),
  duration_seconds: 1,
  model: { name: "m", object_name: `${jobId}/attempt-${attempt}/best.pt`, size_bytes: 3 },
  final_metrics: {
    mAP50: 0.5,
    "mAP50-95": 0.3,
    precision: 0.6,
    recall: 0.4,
    box_loss: 1,
    cls_loss: 1,
    dfl_loss: 1,
    best_epoch: 1,
    total_epochs: 1,
  },
  artifacts: { confusion_matrix: null, pr_curve: null, f1_curve: null, results_csv: null, training_logs: null },
  dataset_info: { total_images: 2, train_images: 1, val_images: 1, classes: ["a"], class_distribution: { a: 2 } },
});

describe("runs of a job (the partition case)", () => {
  test("a run's claim holds for that run only, and keeps its terminal event for the next run", async () => {
    const outcomes = await openJobOutcomes(nc);
    const jobId = randomUUID();
    const event = completedBy(jobId, 1);
    assert.equal(await outcomes.claimRun(jobId, "completed", { attempt: 1, event }), "completed");
    assert.equal(
      await outcomes.claimRun(jobId, "completed", { attempt: 1, event }),
      "completed",
      "the same run claiming again (a retry after a crash) still holds",
    );
    assert.equal(
      await outcomes.claimRun(jobId, "completed", { attempt: 2, event: completedBy(jobId, 2) }),
      SUPERSEDED,
      "another run completing the same job reports nothing",
    );
    const record = await outcomes.read(jobId);
    assert.equal(record?.attempt, 1, "the record names the run that won");
    assert.deepEqual(record?.event, event, "with the event it published, for a run after it to publish again");
    assert.equal(await outcomes.fence(jobId, 2).then((r) => r?.outcome), "completed", "a fence leaves an outcome");
  });

  test("a fence supersedes the runs before it; the run it announces claims as usual", async () => {
    const outcomes = await openJobOutcomes(nc);
    const jobId = randomUUID();
    assert.equal(await outcomes.fence(jobId, 2), null);
    assert.equal(await outcomes.fence(jobId, 2), null, "fencing again is a no-op");
    assert.equal(
      await outcomes.claimRun(jobId, "completed", { attempt: 1, event: completedBy(jobId, 1) }),
      SUPERSEDED,
      "the replaced run, still training, cannot end the job",
    );
    assert.equal(
      await outcomes.claimRun(jobId, "completed", { attempt: 2, event: completedBy(jobId, 2) }),
      "completed",
    );
    assert.equal((await outcomes.read(jobId))?.attempt, 2);
  });

  test("a cancel still wins by claiming first, and keeps the fence: a replaced run stays quiet", async () => {
    const outcomes = await openJobOutcomes(nc);
    const jobId = randomUUID();
    await outcomes.fence(jobId, 3);
    assert.equal(await outcomes.claim(jobId, "cancelled"), "cancelled");
    const cancelledRun = (attempt: number) =>
      outcomes.claimRun(jobId, "cancelled", { attempt, event: completedBy(jobId, attempt) });
    assert.equal(await cancelledRun(3), "cancelled", "the current run reports the cancellation");
    assert.equal(await cancelledRun(2), SUPERSEDED, "a replaced run does not");
    assert.equal(
      await outcomes.claimRun(jobId, "completed", { attempt: 3, event: completedBy(jobId, 3) }),
      "cancelled",
      "the current run finishing anyway finds the job cancelled",
    );
    assert.equal(await outcomes.claim(jobId, "failed"), "cancelled", "later claims find the cancel");
  });

  test("a fence racing the replaced run's claim: the claim either won before it or is superseded", async () => {
    const runs = await Promise.all(others.map((conn) => openJobOutcomes(conn)));
    for (let round = 0; round < 20; round++) {
      const jobId = randomUUID();
      const [fenced, claimed] = await Promise.all([
        runs[0]!.fence(jobId, 2),
        runs[1]!.claimRun(jobId, "completed", { attempt: 1, event: completedBy(jobId, 1) }),
      ]);
      if (claimed === "completed") {
        assert.equal(fenced?.attempt, 1, `round ${round}: a claim that won is what the fence found`);
      } else {
        assert.equal(claimed, SUPERSEDED, `round ${round}`);
        assert.equal(fenced, null, `round ${round}: the fence was first`);
      }
    }
  });

  test("a bare outcome, as stored before runs were numbered, reads as a claim naming no run", async () => {
    const jobId = randomUUID();
    const kv = await openKv(nc, Bucket.jobOutcomes);
    await kv.create(jobId, "failed");
    const outcomes = await openJobOutcomes(nc);
    assert.deepEqual(await outcomes.read(jobId), { outcome: "failed", attempt: null, fence: null, event: null });
    assert.equal(await outcomes.claim(jobId, "cancelled"), "failed");
  });
});
