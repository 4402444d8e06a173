/** The job-outcomes bucket against a real nats-server: the first claim wins, for every claimant. */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { terminalEventId, type JobEventOf, type JobOutcome } from "@trainyard/contracts";
import { startNats, type Supervised } from "@trainyard/stack";
import { openJobOutcomes, publishOutcome } from "./job-outcomes.js";
import { connectNats } from "./nats.js";

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
