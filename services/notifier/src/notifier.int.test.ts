import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Bucket, Callback, CallbackHeader, type JobEvent } from "@trainyard/contracts";
import { connectNats, createLogger, ensureStreams, openKv, publishJobEvent, type KV } from "@trainyard/runtime";
import { startNats } from "@trainyard/stack";
import { Webhook } from "standardwebhooks";
import { startNotifier } from "./notifier.js";
import { startRecordingReceiver, type RecordedRequest } from "./testing/recording-receiver.js";
import { assignedEvent, completedEvent, epochEvent, phaseEvent } from "./testing/job-events.js";

const WAIT_MS = 15_000;

type Nats = Awaited<ReturnType<typeof startNats>>;
type Connection = Awaited<ReturnType<typeof connectNats>>;
type JetStream = ReturnType<Awaited<ReturnType<typeof ensureStreams>>["jetstream"]>;

/** The callback a request carried, after checking the PRD headers and the Standard Webhooks signature. */
function verified(request: RecordedRequest, secret: string): Callback {
  const header = (name: string) => String(request.headers[name.toLowerCase()]);
  new Webhook(secret, { format: "raw" }).verify(request.body, {
    "webhook-id": header(CallbackHeader.webhookId),
    "webhook-timestamp": header(CallbackHeader.webhookTimestamp),
    "webhook-signature": header(CallbackHeader.webhookSignature),
  });
  const callback = Callback.parse(JSON.parse(request.body));
  assert.equal(header("content-type"), "application/json");
  assert.equal(header(CallbackHeader.secret), secret);
  assert.equal(header(CallbackHeader.jobId), callback.job_id);
  assert.equal(header(CallbackHeader.type), callback.type);
  return callback;
}

const ofJob = (jobId: string) => (r: RecordedRequest) => r.headers["x-job-id"] === jobId;

describe("notifier with a real nats-server and a real HTTP receiver", () => {
  let dir: string;
  let nats: Nats;
  let nc: Connection;
  let js: JetStream;
  let targets: KV;
  let notifier: Awaited<ReturnType<typeof startNotifier>>;
  let published = 0;

  const publish = (event: JobEvent) => publishJobEvent(js, event, `${event.job_id}:${event.type}:${published++}`);
  const registerJob = async (url: string) => {
    const jobId = randomUUID();
    const secret = `sk_test_${randomUUID()}`;
    await targets.put(jobId, JSON.stringify({ url, secret }));
    return { jobId, secret };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "notifier-int-"));
    nats = await startNats(join(dir, "nats"), () => {});
    nc = await connectNats(nats.url, "notifier-int-test");
    js = (await ensureStreams(nc)).jetstream();
    targets = await openKv(nc, Bucket.callbackTargets);
    notifier = await startNotifier({
      nc,
      log: createLogger("notifier", process.env.LOG_LEVEL ?? "silent"),
      links: { publicBaseUrl: "http://127.0.0.1:8080", secret: "download-secret-0123456789", ttlHours: 168 },
      retry: { maxAttempts: 5, baseDelayMs: 50, maxDelayMs: 500 },
      http: { timeoutMs: 2_000, allowPrivate: true },
    });
  });

  after(async () => {
    await notifier?.stop();
    await nc?.close();
    await nats?.process.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("delivers a job's callbacks in order, signed, and nothing after the terminal one", async () => {
    const receiver = await startRecordingReceiver();
    try {
      const job = await registerJob(receiver.url);
      const sentinel = await registerJob(receiver.url);
      await publish(phaseEvent(job.jobId, { phase: "downloading", percentage: 5 }));
      await publish(assignedEvent(job.jobId));
      await publish(epochEvent(job.jobId, 1));
      await publish(epochEvent(job.jobId, 2));
      await publish(completedEvent(job.jobId));
      await publish(epochEvent(job.jobId, 3, 3)); // a straggler after the terminal event
      await publish(phaseEvent(sentinel.jobId));
      // stream order: once the sentinel arrives, everything published before it has been handled
      await receiver.waitFor((all) => all.some(ofJob(sentinel.jobId)), WAIT_MS, "the sentinel job's callback");

      const callbacks = receiver.requests.filter(ofJob(job.jobId)).map((r) => verified(r, job.secret));
      assert.deepEqual(
        callbacks.map((c) => (c.type === "training_progress" ? `${c.type} ${c.progress.percentage}` : c.type)),
        ["training_progress 5", "training_progress 50", "training_progress 94", "training_completed"],
      );
      const ids = receiver.requests.filter(ofJob(job.jobId)).map((r) => String(r.headers["webhook-id"]));
      assert.equal(new Set(ids).size, ids.length, `each event has its own webhook id: ${ids.join(", ")}`);
      for (const id of ids) assert.match(id, new RegExp(`^${job.jobId}:\\d+$`));
      verified(receiver.requests.find(ofJob(sentinel.jobId))!, sentinel.secret);
    } finally {
      await receiver.close();
    }
  });

  it("retries a callback the receiver answered 500, once more and before the job's next one", async () => {
    const receiver = await startRecordingReceiver((index) => (index === 0 ? 500 : 204));
    try {
      const job = await registerJob(receiver.url);
      await publish(phaseEvent(job.jobId, { phase: "preparing", percentage: 10 }));
      await publish(epochEvent(job.jobId, 1));
      // the epoch callback comes last: a delayed nak holds back everything after the failed event
      await receiver.waitFor((all) => all.length >= 3, WAIT_MS, "the failed, the retried and the next callback");

      const [failed, retried, next] = receiver.requests;
      assert.ok(failed && retried && next);
      assert.equal(receiver.requests.length, 3, "the retried callback is sent exactly once more");
      assert.equal(retried.body, failed.body, "a retry sends the same body");
      assert.equal(retried.headers["webhook-id"], failed.headers["webhook-id"], "a retry keeps the webhook id");
      const progress = verified(retried, job.secret);
      assert.equal(progress.type === "training_progress" && progress.progress.phase, "preparing");
      const following = verified(next, job.secret);
      assert.equal(following.type === "training_progress" && following.progress.current_epoch, 1);
      assert.notEqual(next.headers["webhook-id"], retried.headers["webhook-id"]);
    } finally {
      await receiver.close();
    }
  });
});
