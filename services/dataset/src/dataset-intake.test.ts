import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { JobEventOf } from "@trainyard/contracts";
import { ArchiveError } from "@trainyard/runtime";
import { memoryJobOutcomes } from "@trainyard/stack";
import { DownloadInterrupted } from "./adapters/download.js";
import { DatasetError } from "./dataset-error.js";
import { intakeDataset } from "./dataset-intake.js";
import { assertNothingLeft, failureOf, firstDelivery, intakeHarness, memoryStore } from "./testing/intake-harness.js";
import { trainRequested } from "./testing/train-request.js";
import { datasetZip, SAMPLE_INFO, sampleDataset } from "./testing/yolo-fixture.js";

const scratch = await mkdtemp(join(tmpdir(), "dataset-intake-"));
after(() => rm(scratch, { recursive: true, force: true }));

const URL_WITH_TOKEN = "https://storage.example.com/datasets/abc.zip?token=secret";
const phases = (events: Array<{ event: { type: string } }>) =>
  events.map((e) => e.event).filter((e): e is JobEventOf<"phase"> => e.type === "phase");

describe("intakeDataset", () => {
  it("reports download progress, stores the archive by digest, then publishes phase 5% and train.dataset.ready", async () => {
    const zip = datasetZip(sampleDataset(), "dataset");
    const sha256 = createHash("sha256").update(zip).digest("hex");
    const h = await intakeHarness(scratch, zip);
    const request = trainRequested(URL_WITH_TOKEN);
    const outcome = await intakeDataset(request, firstDelivery, h.deps);
    assert.deepEqual(outcome, { kind: "ack" });
    assert.deepEqual([...h.store.records.keys()], [sha256]);

    const progress = phases(h.events);
    assert.deepEqual(
      progress.map((p) => [p.percentage, p.bytes_downloaded, p.bytes_total]),
      [
        [0, 0, zip.length],
        [4, zip.length, zip.length],
        [5, zip.length, zip.length],
      ],
      "download progress within 0..4 %, then 5 % once validated",
    );
    assert.deepEqual(
      h.events.map((e) => e.msgId),
      [
        `${request.job_id}:phase-downloading:0`,
        `${request.job_id}:phase-downloading:4`,
        `${request.job_id}:phase-downloading`,
      ],
    );
    const last = progress.at(-1)!;
    assert.equal(last.phase, "downloading");
    assert.equal(last.total_epochs, 3);
    assert.deepEqual(last.dataset_info, SAMPLE_INFO);
    assert.equal(last.dataset_warnings, undefined);

    const ready = h.ready[0]!;
    assert.equal(ready.msgId, `${request.job_id}:dataset-ready`);
    assert.equal(ready.ready.dataset_object, `sha256/${sha256}.zip`);
    assert.equal(ready.ready.dataset_root, "dataset", "data.yaml sits in the archive's top-level folder");
    assert.equal(ready.ready.dataset_sha256, sha256);
    assert.deepEqual(ready.ready.dataset_splits, { train: ["images/train"], val: ["images/val"] });
    await assertNothingLeft(h);
  });

  it("validates the same archive once: a second job reuses the stored record", async () => {
    const zip = datasetZip(sampleDataset());
    const store = memoryStore();
    const first = await intakeHarness(scratch, zip, { store });
    await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, first.deps);
    const second = await intakeHarness(scratch, zip, { store });
    await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, second.deps);
    assert.deepEqual(first.calls, { inspect: 1, validate: 1 });
    assert.deepEqual(second.calls, { inspect: 0, validate: 0 }, "the second job neither inspects nor validates");
    assert.equal(store.puts, 1, "stored once");
    assert.deepEqual(second.ready[0]?.ready.dataset_info, first.ready[0]?.ready.dataset_info);
    assert.equal(second.ready[0]?.ready.dataset_object, first.ready[0]?.ready.dataset_object);
  });

  it("lenient mode: accepts labels Ultralytics would skip, with warnings sent along with dataset_info", async () => {
    const zip = datasetZip({ ...sampleDataset(), "labels/train/b.txt": "0 0.5 0.5 1 1\n9 0.5 0.5 1 1\n" });
    const store = memoryStore();
    const lenient = await intakeHarness(scratch, zip, { lenient: true, store });
    await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, lenient.deps);
    const warnings = [
      "labels/train/b.txt line 2: class 9 is out of range (data.yaml lists 2 classes)",
      "1 images will be skipped by the trainer",
    ];
    assert.deepEqual(lenient.ready[0]?.ready.dataset_warnings, warnings);
    assert.deepEqual(phases(lenient.events).at(-1)?.dataset_warnings, warnings);
    assert.equal(lenient.ready[0]?.ready.dataset_info.train_images, 1);

    // the stored record carries the warnings: a strict deployment validates again, and fails
    const strict = await intakeHarness(scratch, zip, { store });
    await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, strict.deps);
    assert.equal(strict.calls.validate, 1);
    const error = failureOf(strict);
    assert.equal(error.code, "DATASET_INVALID");
    assert.match(error.message, /labels\/train\/b\.txt line 2: class 9 is out of range/);
  });

  it("validates again when expected_structure asks for more than the stored record covers", async () => {
    const zip = datasetZip(sampleDataset());
    const store = memoryStore();
    await intakeDataset(
      trainRequested(URL_WITH_TOKEN),
      firstDelivery,
      (await intakeHarness(scratch, zip, { store })).deps,
    );
    const h = await intakeHarness(scratch, zip, { store });
    await intakeDataset(trainRequested(URL_WITH_TOKEN, { "images/test": true }), firstDelivery, h.deps);
    assert.equal(h.calls.validate, 1);
    assert.match(failureOf(h).message, /^Missing images\/test in dataset/);
  });

  it("a cancel that lands before the archive is inspected stops the inspection: nothing stored, nothing published", async () => {
    const cancel = new AbortController();
    const h = await intakeHarness(scratch, datasetZip(sampleDataset(), "dataset"), {
      // the recorded download ignores the signal, so the cancel takes effect at the inspection
      overrides: { watchCancellation: () => ({ signal: cancel.signal, release: () => {} }) },
    });
    cancel.abort();
    assert.deepEqual(await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, h.deps), { kind: "ack" });
    assert.equal(h.calls.inspect, 1, "the inspection was started");
    assert.equal(h.calls.validate, 0, "and stopped before validation");
    assert.equal(h.store.records.size, 0, "nothing was stored");
    assert.equal(h.events.filter((e) => e.event.type === "failed").length, 0, "the gateway reports the cancellation");
    assert.equal(h.ready.length, 0, "the job never reaches the scheduler");
  });

  it("publishes no failure for a job whose cancel claimed its outcome first (the gateway reported CANCELLED)", async () => {
    const outcomes = memoryJobOutcomes();
    const request = trainRequested(URL_WITH_TOKEN);
    outcomes.claimed.set(request.job_id, "cancelled");
    const h = await intakeHarness(scratch, datasetZip(sampleDataset(), "dataset").subarray(0, 200), {
      overrides: { outcomes },
    });
    assert.deepEqual(await intakeDataset(request, firstDelivery, h.deps), { kind: "ack" });
    assert.deepEqual(
      h.events.filter((e) => e.event.type === "failed"),
      [],
      "no failed event after the cancel",
    );
    assert.equal(outcomes.claimed.get(request.job_id), "cancelled", "the cancel's claim holds");
    assert.equal(h.ready.length, 0, "the truncated archive never reaches the scheduler");
  });

  it("fails the job with DATASET_DOWNLOAD_FAILED, in order after the progress already reported", async () => {
    const h = await intakeHarness(scratch, Buffer.alloc(0), {
      overrides: {
        download: async (_url, _dest, onProgress) => {
          onProgress(0, 1000);
          onProgress(600, 1000);
          throw new DatasetError("DATASET_DOWNLOAD_FAILED", "dataset server answered HTTP 503", "try later", true);
        },
      },
    });
    const request = trainRequested(URL_WITH_TOKEN);
    assert.deepEqual(await intakeDataset(request, firstDelivery, h.deps), { kind: "ack" });
    const error = failureOf(h);
    assert.equal(error.code, "DATASET_DOWNLOAD_FAILED");
    assert.equal(error.phase, "dataset_download");
    assert.deepEqual(
      h.events.map((e) => [e.event.type, e.msgId]),
      [
        ["phase", `${request.job_id}:phase-downloading:0`],
        ["phase", `${request.job_id}:phase-downloading:2`],
        ["failed", `${request.job_id}:terminal`],
      ],
    );
    await assertNothingLeft(h);
  });

  it("does nothing for a job cancelled before its dataset was fetched", async () => {
    let downloads = 0;
    const h = await intakeHarness(scratch, datasetZip(sampleDataset()), {
      overrides: {
        isCancelled: async () => true,
        download: async () => {
          downloads++;
          throw new Error("a cancelled job must not be downloaded");
        },
      },
    });
    assert.deepEqual(await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, h.deps), { kind: "ack" });
    assert.equal(downloads, 0, "no download for a cancelled job");
    assert.equal(h.events.length + h.ready.length, 0, "nothing published: the gateway told the app already");
  });

  it("hands nothing to the scheduler when the job is cancelled during the download", async () => {
    let checks = 0;
    const h = await intakeHarness(scratch, datasetZip(sampleDataset()), {
      overrides: { isCancelled: async () => ++checks > 1 },
    });
    assert.deepEqual(await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, h.deps), { kind: "ack" });
    assert.equal(h.ready.length, 0, "no train.dataset.ready for a cancelled job");
  });

  it("stops a running download when the job is cancelled, and acks without an event of its own", async () => {
    const cancelSwitch = new AbortController();
    let released = 0;
    let downloadSignal: AbortSignal | undefined;
    const h = await intakeHarness(scratch, Buffer.alloc(0), {
      overrides: {
        watchCancellation: () => ({ signal: cancelSwitch.signal, release: () => released++ }),
        download: (_url, _dest, onProgress, signal) => {
          downloadSignal = signal;
          onProgress(0, 1000);
          // the app cancels the job while the bytes trickle in
          queueMicrotask(() => cancelSwitch.abort());
          return new Promise((_, reject) =>
            signal.addEventListener("abort", () => reject(new DownloadInterrupted("download interrupted")), {
              once: true,
            }),
          );
        },
      },
    });
    const request = trainRequested(URL_WITH_TOKEN);
    assert.deepEqual(await intakeDataset(request, firstDelivery, h.deps), { kind: "ack" });
    assert.equal(downloadSignal?.aborted, true, "the download was handed the job's cancellation");
    assert.deepEqual(
      h.events.map((e) => e.msgId),
      [`${request.job_id}:phase-downloading:0`],
      "no failure: the gateway already sent the job's CANCELLED",
    );
    assert.equal(h.ready.length, 0, "no train.dataset.ready for a cancelled job");
    assert.equal(released, 1, "the cancellation watch is released");
    await assertNothingLeft(h);
  });

  it("acks a job cancelled during validation without reporting its bad dataset", async () => {
    const cancelSwitch = new AbortController();
    const h = await intakeHarness(scratch, datasetZip(sampleDataset()), {
      overrides: {
        watchCancellation: () => ({ signal: cancelSwitch.signal, release: () => {} }),
        inspect: async () => {
          cancelSwitch.abort();
          throw new ArchiveError("DATASET_INVALID", "bad archive");
        },
      },
    });
    assert.deepEqual(await intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, h.deps), { kind: "ack" });
    assert.ok(!h.events.some((e) => e.event.type === "failed"), "no DATASET_INVALID after the cancellation");
    assert.equal(h.ready.length, 0);
  });

  it("throws, publishing nothing final, when the object store is unavailable", async () => {
    const store = memoryStore();
    store.storeValidated = async () => {
      throw new Error("no responders: object store unavailable");
    };
    const h = await intakeHarness(scratch, datasetZip(sampleDataset()), { store });
    await assert.rejects(
      intakeDataset(trainRequested(URL_WITH_TOKEN), firstDelivery, h.deps),
      /object store unavailable/,
    );
    assert.deepEqual(
      h.events.map((e) => e.event.type === "phase" && e.event.percentage),
      [0, 4],
      "only download progress: no 5 %, no failure",
    );
    assert.deepEqual(h.ready, []);
    await assertNothingLeft(h);
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
    const h = await intakeHarness(scratch, async () => twoBeats.then(() => datasetZip(sampleDataset())), {
      overrides: { workingIntervalMs: 5 },
    });
    assert.deepEqual(await intakeDataset(trainRequested(URL_WITH_TOKEN), delivery, h.deps), { kind: "ack" });
    assert.ok(beats >= 2, `expected at least 2 in-progress acks, got ${beats}`);
  });
});
