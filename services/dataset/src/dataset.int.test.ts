import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  Bucket,
  CancellationRequest,
  Consumer,
  DatasetReady,
  JobEvent,
  Subject,
  TRAIN_STREAM,
  type TrainRequested,
} from "@trainyard/contracts";
import { connectNats, createLogger, openKv, openObjectStore, parseEnv, publishJson } from "@trainyard/runtime";
import { startNats, type Supervised } from "@trainyard/stack";
import { Env } from "./env.js";
import { startDatasetService, type DatasetService } from "./service.js";
import { trainRequested } from "./testing/train-request.js";
import { datasetZip, SAMPLE_INFO, sampleDataset } from "./testing/yolo-fixture.js";

const validZip = datasetZip(sampleDataset(), "poste-dataset");
const validSha256 = createHash("sha256").update(validZip).digest("hex");
const withoutYaml = datasetZip(Object.fromEntries(Object.entries(sampleDataset()).filter(([p]) => p !== "data.yaml")));
const archives: Record<string, Buffer> = {
  "/valid.zip": validZip,
  "/same-again.zip": validZip,
  "/private.zip": validZip,
  "/allow-listed.zip": validZip,
  // the local headers survive, the central directory does not: unreadable
  "/corrupted.zip": validZip.subarray(0, 200),
  "/no-yaml.zip": withoutYaml,
};
const requestsByPath = new Map<string, number>();
/** Bytes `/endless.zip` declares; it sends 1 KiB, then one byte per 50 ms until the client hangs up. */
const ENDLESS_BYTES = 1024 ** 2;
/** Each `/endless.zip` response: resolves with the bytes it sent once the client has closed it. */
const endlessHangUps: Array<Promise<number>> = [];
const files = createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://files").pathname;
  requestsByPath.set(path, (requestsByPath.get(path) ?? 0) + 1);
  if (path === "/endless.zip") {
    let sent = 1024;
    res.writeHead(200, { "content-type": "application/zip", "content-length": ENDLESS_BYTES });
    res.write(Buffer.alloc(sent));
    const drip = setInterval(() => res.write("x", () => sent++), 50);
    endlessHangUps.push(
      new Promise((resolve) =>
        res.once("close", () => {
          clearInterval(drip);
          resolve(sent);
        }),
      ),
    );
    return;
  }
  const body = archives[path];
  if (body) res.writeHead(200, { "content-type": "application/zip", "content-length": body.length }).end(body);
  else res.writeHead(404).end("not found");
});

interface Seen {
  subject: string;
  data: unknown;
}

/** Records job events and dataset-ready commands in arrival order; waits for one with a deadline. */
class Recorder {
  readonly seen: Seen[] = [];
  private waiters: Array<() => void> = [];

  constructor(nc: NatsConnection) {
    for (const subject of [Subject.jobEventWildcard, Subject.datasetReady]) {
      nc.subscribe(subject, {
        callback: (_err, msg) => {
          this.seen.push({ subject: msg.subject, data: msg.json() });
          for (const wake of this.waiters.splice(0)) wake();
        },
      });
    }
  }

  forJob(jobId: string): Seen[] {
    return this.seen.filter((s) => (s.data as { job_id?: string }).job_id === jobId);
  }

  /** Resolves with the job's messages once `done` holds for them, or fails after `timeoutMs`. */
  async waitFor(jobId: string, done: (seen: Seen[]) => boolean, what: string, timeoutMs = 15_000): Promise<Seen[]> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.forJob(jobId))) {
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`timed out waiting for ${what}; saw ${JSON.stringify(this.forJob(jobId))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.forJob(jobId);
  }
}

let tmp = "";
let nats: { url: string; process: Supervised };
let nc: NatsConnection;
let js: JetStreamClient;
let service: DatasetService;
let recorder: Recorder;
let baseUrl = "";

function envFor(allowPrivate: boolean, allowList = ""): Env {
  return parseEnv(Env, {
    NATS_URL: nats.url,
    LOG_LEVEL: "silent",
    DATASET_WORK_DIR: join(tmp, "work"),
    OUTBOUND_ALLOW_PRIVATE: String(allowPrivate),
    OUTBOUND_ALLOW_LIST: allowList,
  });
}

async function request(path: string): Promise<TrainRequested> {
  const req = trainRequested(`${baseUrl}${path}?token=signed-secret`);
  await publishJson(js, Subject.trainRequested, req, req.job_id);
  return req;
}

const hasFailure = (seen: Seen[]) => seen.some((s) => s.subject.endsWith(".failed"));

async function failureOf(path: string): Promise<Extract<JobEvent, { type: "failed" }>["error"]> {
  const req = await request(path);
  const seen = await recorder.waitFor(req.job_id, hasFailure, `a failed event for ${path}`);
  const others = seen.slice(0, -1).map((s) => JobEvent.parse(s.data));
  assert.ok(
    others.every((e) => e.type === "phase" && e.phase === "downloading" && e.percentage < 5),
    `before the failure only download progress, got ${JSON.stringify(others)}`,
  );
  const event = JobEvent.parse(seen.at(-1)?.data);
  assert.equal(event.type, "failed");
  assert.doesNotMatch(event.error.message, /signed-secret/, "the signed token never reaches an event");
  return event.error;
}

/** Resolves once the dataset consumer has no message pending or unacked; fails after 10 s. */
async function allAcked(): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const info = await jsm.consumers.info(TRAIN_STREAM, Consumer.dataset);
    if (info.num_ack_pending === 0 && info.num_pending === 0) return;
    assert.ok(Date.now() < deadline, `consumer still has ${info.num_ack_pending} unacked, ${info.num_pending} pending`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "dataset-int-"));
  nats = await startNats(join(tmp, "nats"), () => {});
  await new Promise<void>((resolve) => files.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  nc = await connectNats(nats.url, "dataset-int-test");
  js = jetstream(nc);
  recorder = new Recorder(nc);
  service = await startDatasetService(envFor(true), createLogger("dataset", "silent"));
});

after(async () => {
  await service?.stop();
  await nc?.close();
  await nats?.process.stop();
  files.closeAllConnections();
  await new Promise<void>((resolve) => files.close(() => resolve()));
  await rm(tmp, { recursive: true, force: true });
});

describe("dataset service against NATS JetStream and an HTTP file server", () => {
  it("stores a valid dataset by digest, publishes download progress, phase 5% and train.dataset.ready", async () => {
    const req = await request("/valid.zip");
    const seen = await recorder.waitFor(
      req.job_id,
      (s) => s.some((m) => m.subject === Subject.datasetReady),
      "train.dataset.ready",
    );
    const phaseSubject = Subject.jobEvent(req.job_id, "phase");
    assert.deepEqual(
      seen.map((s) => s.subject),
      [phaseSubject, phaseSubject, phaseSubject, Subject.datasetReady],
      "download progress (0 %, 4 %), then 5 % once validated, then the command for the scheduler",
    );
    const phases = seen.slice(0, 3).map((s) => JobEvent.parse(s.data));
    assert.deepEqual(
      phases.map((p) => p.type === "phase" && [p.phase, p.percentage, p.bytes_downloaded, p.bytes_total]),
      [
        ["downloading", 0, 0, validZip.length],
        ["downloading", 4, validZip.length, validZip.length],
        ["downloading", 5, validZip.length, validZip.length],
      ],
    );
    const phase = phases[2]!;
    assert.equal(phase.type, "phase");
    assert.deepEqual(phase.dataset_info, SAMPLE_INFO);

    const ready = DatasetReady.parse(seen[3]?.data);
    assert.equal(ready.dataset_object, `sha256/${validSha256}.zip`);
    assert.equal(ready.dataset_root, "poste-dataset");
    assert.equal(ready.dataset_sha256, validSha256);
    assert.deepEqual(ready.dataset_info, SAMPLE_INFO);
    assert.deepEqual(ready.dataset_splits, { train: ["images/train"], val: ["images/val"] });
    assert.deepEqual(ready.model_config, req.model_config);

    const store = await openObjectStore(nc, Bucket.datasets);
    const stored = await store.getBlob(ready.dataset_object);
    assert.ok(stored, `object ${ready.dataset_object} exists in the datasets store`);
    assert.equal(
      createHash("sha256").update(stored).digest("hex"),
      validSha256,
      "the stored archive is the downloaded one",
    );
  });

  it("stores and validates the same archive once when it is submitted again", async () => {
    const store = await openObjectStore(nc, Bucket.datasets);
    const before = await store.info(`sha256/${validSha256}.zip`);
    assert.ok(before, "stored by the previous job");
    const req = await request("/same-again.zip");
    const seen = await recorder.waitFor(
      req.job_id,
      (s) => s.some((m) => m.subject === Subject.datasetReady),
      "train.dataset.ready for the same archive",
    );
    const ready = DatasetReady.parse(seen.at(-1)?.data);
    assert.equal(ready.dataset_object, `sha256/${validSha256}.zip`);
    assert.deepEqual(ready.dataset_info, SAMPLE_INFO);
    const after = await store.info(ready.dataset_object);
    assert.equal(after?.nuid, before.nuid, "the archive's data was not stored again");
    assert.ok(after.revision > before.revision, "its reuse was recorded (the archive sweep spares it)");
    assert.equal((await store.list()).filter((o) => o.name.startsWith("sha256/")).length, 1);
  });

  it("fails a corrupted zip with DATASET_CORRUPTED", async () => {
    const error = await failureOf("/corrupted.zip");
    assert.equal(error.code, "DATASET_CORRUPTED");
    assert.equal(error.phase, "dataset_validation");
  });

  it("fails a zip without data.yaml with DATASET_INVALID and the PRD's message", async () => {
    const error = await failureOf("/no-yaml.zip");
    assert.equal(error.code, "DATASET_INVALID");
    assert.equal(error.message, "Missing data.yaml file in dataset");
    assert.equal(error.phase, "dataset_validation");
    assert.equal(error.epoch, null);
  });

  it("fails a 404 with DATASET_DOWNLOAD_FAILED", async () => {
    const error = await failureOf("/gone.zip");
    assert.equal(error.code, "DATASET_DOWNLOAD_FAILED");
    assert.equal(error.phase, "dataset_download");
    assert.match(error.message, /HTTP 404/);
  });

  it("stops the download of a job cancelled meanwhile and hands it to no one", async () => {
    const req = await request("/endless.zip");
    await recorder.waitFor(req.job_id, (s) => s.length > 0, "the download's first progress event");
    const hangUp = endlessHangUps.at(-1);
    assert.ok(hangUp, "the download reached the file server");
    const cancellations = await openKv(nc, Bucket.cancellations);
    const cancellation: CancellationRequest = { job_id: req.job_id, requested_at: new Date().toISOString() };
    await cancellations.put(req.job_id, JSON.stringify(cancellation));
    const sent = await Promise.race([
      hangUp,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("the download went on for 10 s after the cancellation")), 10_000),
      ),
    ]);
    assert.ok(sent < ENDLESS_BYTES, `the client hung up after ${sent} of ${ENDLESS_BYTES} bytes`);
    await allAcked();
    const seen = recorder.forJob(req.job_id);
    assert.ok(!seen.some((s) => s.subject === Subject.datasetReady), "the scheduler never sees a cancelled job");
    const events = seen.map((s) => JobEvent.parse(s.data));
    assert.ok(
      events.every((e) => e.type === "phase" && e.percentage < 5),
      `only download progress (the gateway reports the cancellation), got ${JSON.stringify(events)}`,
    );
  });

  it("acks every job and leaves no scratch files behind", async () => {
    await allAcked();
    assert.deepEqual(await readdir(join(tmp, "work")), []);
  });

  it("refuses a private address when private networks are not allowed, before any request", async () => {
    await service.stop();
    service = await startDatasetService(envFor(false), createLogger("dataset", "silent"));
    const error = await failureOf("/private.zip");
    assert.equal(error.code, "DATASET_DOWNLOAD_FAILED");
    assert.match(error.message, /127\.0\.0\.1 is not reachable/);
    assert.equal(requestsByPath.get("/private.zip"), undefined, "no request reached the file server");
  });

  it("reaches an address on OUTBOUND_ALLOW_LIST although private networks are refused", async () => {
    await service.stop();
    service = await startDatasetService(envFor(false, "127.0.0.1"), createLogger("dataset", "silent"));
    const req = await request("/allow-listed.zip");
    const seen = await recorder.waitFor(
      req.job_id,
      (s) => s.some((m) => m.subject === Subject.datasetReady),
      "train.dataset.ready through the allow-list",
    );
    assert.equal(DatasetReady.parse(seen.at(-1)?.data).dataset_sha256, validSha256);
  });
});
