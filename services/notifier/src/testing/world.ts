/**
 * Fixture of the notifier's integration tests: a real nats-server and a real Mongo-wire server
 * (FerretDB) in a temp dir, helpers to register jobs and publish their events as the other
 * services do, and readers of the delivery log. Not a test file itself.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { MongoClient, type Db } from "mongodb";
import { Webhook } from "standardwebhooks";
import {
  Bucket,
  CALLBACK_DELIVERIES_COLLECTION,
  CALLBACK_OUTBOX_COLLECTION,
  Callback,
  CallbackDelivery,
  CallbackHeader,
  JobEvent,
  latestRevisions,
  PROJECTION_DB,
  Subject,
} from "@trainyard/contracts";
import { connectNats, createLogger, ensureStreams, openKv, type KV } from "@trainyard/runtime";
import { startFerret, startNats, type Supervised } from "@trainyard/stack";
import { startNotifier, type Notifier, type NotifierDeps } from "../notifier.js";
import type { RecordedRequest } from "./recording-receiver.js";

export const DOWNLOAD_LINKS = {
  publicBaseUrl: "http://127.0.0.1:8080",
  secret: "download-secret-0123456789",
  ttlHours: 168,
};

export interface TestJob {
  jobId: string;
  secret: string;
}

export interface World {
  dir: string;
  natsUrl: string;
  mongoUrl: string;
  nats: Supervised;
  nc: NatsConnection;
  js: JetStreamClient;
  db: Db;
  targets: KV;
  /** An in-process notifier over this world's servers; options override the test defaults. */
  startNotifier(overrides?: Partial<NotifierDeps>): Promise<Notifier>;
  /** Stores a job's callback target and publishes its `queued` event, as the gateway does. */
  startJob(url: string, totalEpochs?: number): Promise<TestJob>;
  /** Publishes a job event with a message id, as the services do; returns its stream sequence. */
  publish(event: JobEvent): Promise<number>;
  /** The job's callbacks in the delivery log (outbox and settled), in job order. */
  deliveries(jobId: string): Promise<CallbackDelivery[]>;
  close(): Promise<void>;
}

export async function startWorld(name: string): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), `notifier-${name}-`));
  const quiet = () => undefined;
  const [nats, ferret] = await Promise.all([
    startNats(join(dir, "nats"), quiet),
    startFerret(join(dir, "ferret"), quiet),
  ]);
  const nc = await connectNats(nats.url, `notifier-${name}-test`);
  const js = (await ensureStreams(nc)).jetstream();
  const targets = await openKv(nc, Bucket.callbackTargets);
  const mongo = await new MongoClient(ferret.url).connect();
  const db = mongo.db(PROJECTION_DB);
  const notifiers: Notifier[] = [];
  let published = 0;

  const world: World = {
    dir,
    natsUrl: nats.url,
    mongoUrl: ferret.url,
    nats: nats.process,
    nc,
    js,
    db,
    targets,
    async startNotifier(overrides = {}) {
      const notifier = await startNotifier({
        nc,
        db,
        log: createLogger("notifier", process.env.LOG_LEVEL ?? "silent"),
        links: DOWNLOAD_LINKS,
        retry: { scheduleMs: [50, 100, 200, 400, 800], jitter: 0 },
        http: { policy: { allowPrivate: true }, timeoutMs: 2_000 },
        concurrency: 16,
        replicaId: `test-${randomUUID().slice(0, 8)}`,
        leaseTtlMs: 1_500,
        targetTtlMs: 60_000,
        ...overrides,
      });
      notifiers.push(notifier);
      return notifier;
    },
    async startJob(url, totalEpochs = 2) {
      const jobId = randomUUID();
      const secret = `sk_test_${randomUUID()}`;
      await targets.put(jobId, JSON.stringify({ url, secret }));
      await world.publish({
        type: "queued",
        job_id: jobId,
        at: new Date().toISOString(),
        model_name: "poste-detector-v1",
        total_epochs: totalEpochs,
      });
      return { jobId, secret };
    },
    async publish(event) {
      const checked = JobEvent.parse(event);
      const ack = await js.publish(Subject.jobEvent(checked.job_id, checked.type), JSON.stringify(checked), {
        msgID: `${checked.job_id}:${checked.type}:${published++}`,
      });
      return ack.seq;
    },
    async deliveries(jobId) {
      const read = async (collection: string) =>
        (await db.collection(collection).find({ job_id: jobId }).toArray()).map((d) => CallbackDelivery.parse(d));
      return latestRevisions([
        ...(await read(CALLBACK_DELIVERIES_COLLECTION)),
        ...(await read(CALLBACK_OUTBOX_COLLECTION)),
      ]);
    },
    async close() {
      await Promise.allSettled(notifiers.map((n) => n.stop()));
      await Promise.allSettled([nc.close(), mongo.close()]);
      await Promise.allSettled([nats.process.stop(), ferret.process.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** The callback a request carried, after checking the PRD headers and the Standard Webhooks signature. */
export function verified(request: RecordedRequest, secret: string): Callback {
  const header = (name: string) => String(request.headers[name.toLowerCase()]);
  new Webhook(new TextEncoder().encode(secret), { format: "raw" }).verify(request.body, {
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

export const ofJob = (jobId: string) => (r: RecordedRequest) => r.headers["x-job-id"] === jobId;

/** A short label per callback: `progress <phase> <percentage>` or the terminal type. */
export function label(callback: Callback): string {
  return callback.type === "training_progress"
    ? `progress ${callback.progress.phase} ${callback.progress.percentage}`
    : callback.type;
}

/** Polls `check` until it returns true or `timeoutMs` passes; no fixed sleeps. */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
