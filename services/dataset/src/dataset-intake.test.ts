import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { DatasetReady, JobEvent } from "@trainyard/contracts";
import { createLogger, extractZip } from "@trainyard/runtime";
import { DatasetError } from "./dataset-error.js";
import { intakeDataset, type IntakeDeps } from "./dataset-intake.js";
import { trainRequested } from "./testing/train-request.js";
import { datasetZip, sampleDataset } from "./testing/yolo-fixture.js";
import { buildZip } from "@trainyard/stack";
import { validateYoloDataset } from "./yolo-layout.js";

const scratch = await mkdtemp(join(tmpdir(), "dataset-intake-"));
after(() => rm(scratch, { recursive: true, force: true }));

const URL_WITH_TOKEN = "https://storage.example.com/datasets/abc.zip?token=secret";

/** Real extraction and validation; the download serves `archive` and NATS is recorded. */
function harness(archive: Buffer | (() => Promise<Buffer>), overrides: Partial<IntakeDeps> = {}) {
  const workDir = join(scratch, `work-${Math.random().toString(36).slice(2)}`);
  const events: Array<{ event: JobEvent; msgId: string }> = [];
  const ready: Array<{ ready: DatasetReady; msgId: string }> = [];
  const stored: string[] = [];
  const deps: IntakeDeps = {
    workDir,
    download: async (_url, destFile) => {
      const bytes = typeof archive === "function" ? await archive() : archive;
      await writeFile(destFile, bytes);
      return { bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
    },
    extract: (zipFile, destDir) => extractZip(zipFile, destDir),
    validate: validateYoloDataset,
    store: async (name) => {
      stored.push(name);
    },
    publishJobEvent: async (event, msgId) => {
      events.push({ event, msgId });
    },
    publishDatasetReady: async (r, msgId) => {
      ready.push({ ready: r, msgId });
    },
    isCancelled: async () => false,
    log: createLogger("dataset-test", "silent"),
    ...overrides,
  };
  return { deps, events, ready, stored, workDir };
}

const firstDelivery = { attempt: 1, working: () => {} };

function failure(events: Array<{ event: JobEvent }>) {
  assert.equal(events.length, 1, "expected exactly one job event");
  const event = events[0]?.event;
  assert.equal(event?.type, "failed");
  return event.error;
}

describe("intakeDataset", () => {
  it("stores the archive, then publishes phase downloading and train.dataset.ready", async () => {
    const zip = datasetZip(sampleDataset(), "dataset");
    const h = harness(zip);
    const request = trainRequested(URL_WITH_TOKEN);
    const outcome = await intakeDataset(request, firstDelivery, h.deps);
    assert.deepEqual(outcome, { kind: "ack" });
    assert.deepEqual(h.stored, [`${request.job_id}.zip`]);
    const phase = h.events[0]?.event;
    assert.equal(phase?.type, "phase");
    assert.equal(phase.phase, "downloading");
    assert.equal(phase.percentage, 5);
    assert.equal(phase.total_epochs, 3);
    assert.equal(phase.dataset_info?.total_images, 3);
    assert.equal(h.ready[0]?.msgId, `${request.job_id}:dataset-ready`);
    assert.equal(h.ready[0]?.ready.dataset_root, "dataset", "data.yaml sits in the archive's top-level folder");
    assert.equal(h.ready[0]?.ready.dataset_sha256, createHash("sha256").update(zip).digest("hex"));
    assert.deepEqual(await readdir(h.workDir), [], "the scratch folder is removed");
  });

  it("fails the job with DATASET_INVALID when an entry escapes the extraction folder", async () => {
    const zip = buildZip([
      { name: "data.yaml", data: "names: [a]\n" },
      // lands in the work folder itself if extracted: beside the job's scratch folder
      { name: "../../escaped.txt", data: "owned" },
    ]);
    const h = harness(zip);
    const outcome = await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, h.deps);
    assert.deepEqual(outcome, { kind: "ack" }, "a bad dataset is final, not retried");
    const error = failure(h.events);
    assert.equal(error.code, "DATASET_INVALID");
    assert.equal(error.phase, "dataset_validation");
    assert.match(error.message, /escapes the dataset folder/);
    assert.deepEqual(await readdir(h.workDir), [], "nothing written beside the scratch folder");
    assert.deepEqual(h.stored, []);
  });

  it("fails the job with DATASET_INVALID when the archive holds a symbolic link", async () => {
    const zip = buildZip([{ name: "data.yaml", data: "/etc/passwd", mode: 0o120777 }]);
    const h = harness(zip);
    await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, h.deps);
    assert.match(failure(h.events).message, /symbolic link/);
  });

  it("fails the job with DATASET_CORRUPTED when the archive is not a zip", async () => {
    const h = harness(Buffer.from("this is not a zip archive at all"));
    await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, h.deps);
    const error = failure(h.events);
    assert.equal(error.code, "DATASET_CORRUPTED");
    assert.equal(error.epoch, null);
  });

  it("retries a retryable download failure, and fails the job on the last attempt", async () => {
    const h = harness(Buffer.alloc(0), {
      download: async () => {
        throw new DatasetError("DATASET_DOWNLOAD_FAILED", "dataset server answered HTTP 503", undefined, true);
      },
      downloadAttempts: 3,
    });
    const request = trainRequested(URL_WITH_TOKEN);
    const early = await intakeDataset(request, { attempt: 1, working: () => {} }, h.deps);
    assert.equal(early.kind, "retry");
    assert.equal(h.events.length, 0, "no failure while attempts remain");
    const last = await intakeDataset(request, { attempt: 3, working: () => {} }, h.deps);
    assert.deepEqual(last, { kind: "ack" });
    const error = failure(h.events);
    assert.equal(error.code, "DATASET_DOWNLOAD_FAILED");
    assert.equal(error.phase, "dataset_download");
    assert.equal(h.events[0]?.msgId, `${request.job_id}:terminal`, "a failure is the job's one terminal event");
  });

  it("does nothing for a job cancelled before its dataset was fetched", async () => {
    let downloads = 0;
    const h = harness(datasetZip(sampleDataset()), {
      isCancelled: async () => true,
      download: async () => {
        downloads++;
        throw new Error("a cancelled job must not be downloaded");
      },
    });
    const outcome = await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, h.deps);
    assert.deepEqual(outcome, { kind: "ack" });
    assert.equal(downloads, 0, "no download for a cancelled job");
    assert.equal(h.events.length + h.ready.length, 0, "nothing published: the gateway told the app already");
  });

  it("hands nothing to the scheduler when the job is cancelled during the download", async () => {
    let checks = 0;
    const h = harness(datasetZip(sampleDataset()), { isCancelled: async () => ++checks > 1 });
    const outcome = await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, h.deps);
    assert.deepEqual(outcome, { kind: "ack" });
    assert.equal(h.ready.length, 0, "no train.dataset.ready for a cancelled job");
  });

  it("throws, publishing nothing, when the object store is unavailable", async () => {
    const h = harness(datasetZip(sampleDataset()), {
      store: async () => {
        throw new Error("no responders: object store unavailable");
      },
    });
    await assert.rejects(
      intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, h.deps),
      /object store unavailable/,
    );
    assert.deepEqual(h.events, []);
    assert.deepEqual(h.ready, []);
    assert.deepEqual(await readdir(h.workDir), [], "the scratch folder is removed after an error too");
  });

  it("keeps the delivery alive with in-progress acks during a long download", async () => {
    let beats = 0;
    let resume: () => void = () => {};
    const twoBeats = new Promise<void>((resolve) => (resume = resolve));
    const delivery = {
      attempt: 1,
      working: () => {
        if (++beats === 2) resume();
      },
    };
    // The download only finishes once two in-progress acks were sent.
    const h = harness(async () => twoBeats.then(() => datasetZip(sampleDataset())), { workingIntervalMs: 5 });
    const outcome = await intakeDataset(trainRequested(URL_WITH_TOKEN), delivery, h.deps);
    assert.deepEqual(outcome, { kind: "ack" });
    assert.ok(beats >= 2, `expected at least 2 in-progress acks, got ${beats}`);
  });
});
