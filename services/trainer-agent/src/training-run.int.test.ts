/**
 * A NATS outage is never a training failure (issue 15, defect 1): a job event or an upload that
 * NATS cannot take hands the job back for another run, and nothing is reported to the app. The
 * failures come from a real nats-server that has no stream for the subject (no responders, as
 * while a cluster elects a stream leader); only the trainer and the dataset archive, which these
 * cases never reach, are left out.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { JobAssignment, type JobEvent } from "@trainyard/contracts";
import {
  connectNats,
  createLogger,
  DEFAULT_ZIP_LIMITS,
  isTransientNatsError,
  publishJobEvent,
  type Delivery,
} from "@trainyard/runtime";
import { buildZip, exampleTrainRequest, memoryJobOutcomes, startNats, type Supervised } from "@trainyard/stack";
import { RunFailure, uploadResults } from "./job-results.js";
import { runAssignment, type RunDeps } from "./training-run.js";

let tmp = "";
let nats: { url: string; process: Supervised };
let nc: NatsConnection;
/** What a JetStream publish fails with while its stream has no leader: produced by the server. */
let noResponders: Error;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "training-run-"));
  nats = await startNats(join(tmp, "nats"), () => {});
  nc = await connectNats(nats.url, "training-run-test");
  noResponders = await jetstream(nc, { timeout: 1_000 })
    .publish("job.events.x.phase", "{}")
    .then(() => assert.fail("a stream took the event"))
    .catch((err: unknown) => err as Error);
  assert.ok(isTransientNatsError(noResponders), `the server's refusal is transient: ${String(noResponders)}`);
});

after(async () => {
  await nc?.close();
  await nats?.process.stop();
  await rm(tmp, { recursive: true, force: true });
});

const job = (): JobAssignment => {
  const {
    callback_url: _url,
    callback_secret: _secret,
    ...request
  } = exampleTrainRequest({
    datasetUrl: "https://storage.example.com/shapes.zip",
    callbackUrl: "https://app.example.com/hook",
    callbackSecret: "sk_test",
    epochs: 3,
    imageSize: 64,
    batchSize: 4,
  });
  return JobAssignment.parse({
    ...request,
    requested_at: "2025-01-01T00:00:00.000Z",
    dataset_object: "sha256/x.zip",
    dataset_root: "",
    dataset_sha256: "0".repeat(64),
    dataset_info: { total_images: 12, train_images: 8, val_images: 4, classes: ["a"], class_distribution: { a: 12 } },
    agent_id: "local-1",
    slot: { index: 0, device: "cpu", name: "CPU" },
    assigned_at: "2025-01-01T00:00:01.000Z",
  });
};

const delivery: Delivery = { subject: "train.assign.local-1", attempt: 1, streamSequence: 1, working: () => {} };

/** An agent's dependencies up to the dataset: this host holds the placement, nothing is cancelled. */
function agentDeps(overrides: Partial<RunDeps>): { deps: RunDeps; outcomes: ReturnType<typeof memoryJobOutcomes> } {
  const outcomes = memoryJobOutcomes();
  const deps = {
    agentId: "local-1",
    placementOf: async () => ({ agent_id: "local-1", attempt: 1 }),
    cancellation: async () => ({ signal: new AbortController().signal, release: () => {} }),
    shutdown: new AbortController().signal,
    outcomes,
    workDir: tmp,
    log: createLogger("training-run-test", "silent"),
    now: () => new Date("2025-01-01T00:10:00.000Z"),
    ...overrides,
  } as Partial<RunDeps> as RunDeps;
  return { deps, outcomes };
}

describe("runAssignment when NATS is away", () => {
  test("a job event NATS cannot take hands the job back: no outcome claimed, no failure published", async () => {
    const js = jetstream(nc, { timeout: 1_000 });
    const { deps, outcomes } = agentDeps({ publish: (event, msgId) => publishJobEvent(js, event, msgId) });
    const assignment = job();
    const outcome = await runAssignment(deps, assignment, delivery);
    assert.equal(outcome.kind, "retry", `handed back, not acked: ${JSON.stringify(outcome)}`);
    assert.equal(outcomes.claimed.get(assignment.job_id), undefined, "no outcome claimed for the job");
  });

  test("any other error still fails the job, as before", async () => {
    const published: JobEvent[] = [];
    const { deps, outcomes } = agentDeps({
      publish: async (event) => void published.push(event),
      files: {
        datasetArchive: () => Promise.reject(new Error("disk on fire")),
        uploadArtifact: () => Promise.reject(new Error("not used")),
      },
    });
    const assignment = job();
    const outcome = await runAssignment(deps, assignment, delivery);
    assert.equal(outcome.kind, "ack");
    assert.equal(outcomes.claimed.get(assignment.job_id), "failed");
    const failed = published.find((e) => e.type === "failed");
    assert.equal(failed?.type === "failed" ? failed.error.code : null, "UNKNOWN_ERROR");
  });
});

describe("runAssignment extracting the dataset", () => {
  test("applies the operator's DATASET_MAX_* limits, not the defaults", async () => {
    const archive = join(tmp, "four-entries.zip");
    await writeFile(
      archive,
      buildZip(
        ["images/train/a.jpg", "images/train/b.jpg", "labels/train/a.txt", "labels/train/b.txt"].map((name) => ({
          name,
          data: "x",
        })),
      ),
    );
    const published: JobEvent[] = [];
    const { deps } = agentDeps({
      publish: async (event) => void published.push(event),
      files: { datasetArchive: async () => archive, uploadArtifact: () => Promise.reject(new Error("not used")) },
      zipLimits: { ...DEFAULT_ZIP_LIMITS, maxEntries: 3 },
    });
    const outcome = await runAssignment(deps, job(), delivery);
    assert.equal(outcome.kind, "ack");
    const failed = published.find((e) => e.type === "failed");
    assert.ok(failed?.type === "failed", `the job failed: ${JSON.stringify(published)}`);
    assert.equal(failed.error.code, "DATASET_CORRUPTED");
    assert.match(failed.error.details ?? "", /4 entries, over the limit of 3/);
  });
});

describe("uploadResults when NATS is away", () => {
  const done = { type: "done", best_pt: "", final_metrics: {} } as unknown as Parameters<typeof uploadResults>[2];

  test("an upload NATS cannot take is passed on as it is, for the run to hand the job back", async () => {
    const logFile = join(tmp, "logs.txt");
    await writeFile(logFile, "log\n");
    const { deps } = agentDeps({
      files: {
        datasetArchive: () => Promise.reject(new Error("not used")),
        uploadArtifact: () => Promise.reject(noResponders),
      },
    });
    const err = await uploadResults(deps, { jobId: "job", attempt: 1 }, done, new Map(), logFile).catch(
      (e: unknown) => e,
    );
    assert.equal(err, noResponders, "not turned into 'could not store the trained model'");
  });

  test("an upload refused for good is a training failure", async () => {
    const { deps } = agentDeps({
      files: {
        datasetArchive: () => Promise.reject(new Error("not used")),
        uploadArtifact: () => Promise.reject(new Error("maximum bytes exceeded")),
      },
    });
    const err = await uploadResults(deps, { jobId: "job", attempt: 1 }, done, new Map(), join(tmp, "logs.txt")).catch(
      (e: unknown) => e,
    );
    assert.ok(err instanceof RunFailure && err.code === "UNKNOWN_ERROR", `a RunFailure: ${String(err)}`);
  });
});
