import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import {
  Callback,
  TrainingCompletedCallback,
  TrainingFailedCallback,
  TrainingProgressCallback,
} from "@trainyard/contracts";
import { verifyDownloadPath } from "@trainyard/runtime";
import { callbackFor, CallbackContractError, type DownloadLinks } from "./callback-mapping.js";
import { AT, assignedEvent, completedEvent, epochEvent, failedEvent, phaseEvent } from "./testing/job-events.js";

const links: DownloadLinks = {
  publicBaseUrl: "http://127.0.0.1:8080",
  secret: "download-secret-0123456789",
  ttlHours: 168,
};
const jobId = randomUUID();

/** Asserts `url` is a gateway link to `path` whose signature verifies at the event's time. */
function assertSignedLink(url: string | null, path: string): void {
  assert.ok(url, `expected a link to ${path}`);
  const parsed = new URL(url);
  assert.equal(parsed.origin, links.publicBaseUrl);
  assert.equal(parsed.pathname, path);
  const expires = parsed.searchParams.get("expires") ?? undefined;
  const signature = parsed.searchParams.get("signature") ?? undefined;
  assert.ok(
    verifyDownloadPath(links.secret, path, expires, signature, new Date(AT)),
    `signature of ${path} should verify`,
  );
  assert.ok(
    !verifyDownloadPath("another-secret-0123456789", path, expires, signature, new Date(AT)),
    "a wrong secret must not verify",
  );
}

describe("callbackFor", () => {
  it("maps a phase event to training_progress with empty metrics and readings", () => {
    const body = callbackFor(phaseEvent(jobId, { phase: "preparing", percentage: 10, total_epochs: 100 }), links);
    const progress = TrainingProgressCallback.parse(body);
    assert.deepEqual(progress, {
      type: "training_progress",
      job_id: jobId,
      timestamp: AT,
      progress: { percentage: 10, current_epoch: null, total_epochs: 100, phase: "preparing", eta_seconds: null },
      metrics: { current: null, best: null },
      resources: { gpu_utilization: null, memory_used_gb: null, temperature_c: null },
    });
  });

  it("maps an epoch event to training_progress with its metrics and resources", () => {
    const event = epochEvent(jobId, 1, 4);
    const progress = TrainingProgressCallback.parse(callbackFor(event, links));
    assert.deepEqual(progress.progress, {
      percentage: 25,
      current_epoch: 1,
      total_epochs: 4,
      phase: "training",
      eta_seconds: 90,
    });
    assert.deepEqual(progress.metrics, event.metrics);
    assert.deepEqual(progress.resources, event.resources);
  });

  it("maps completed to training_completed with signed, expiring download links", () => {
    const event = completedEvent(jobId);
    const completed = TrainingCompletedCallback.parse(callbackFor(event, links));
    assert.equal(completed.status, "completed");
    assert.equal(completed.timestamp, AT);
    assert.equal(completed.duration_seconds, 3600);
    assert.equal(completed.model.name, "poste-detector-v1");
    assert.equal(completed.model.format, "pytorch");
    assert.equal(completed.model.size_mb, 45.2, "47 395 635 bytes are 45.20 MB");
    assert.equal(completed.model.expires_at, "2025-01-27T11:45:30.000Z", "links last 168 h from the event");
    assertSignedLink(completed.model.download_url, `/models/${jobId}.pt`);
    assertSignedLink(completed.artifacts.confusion_matrix, `/artifacts/${jobId}/confusion_matrix.png`);
    assertSignedLink(completed.artifacts.pr_curve, `/artifacts/${jobId}/pr_curve.png`);
    assertSignedLink(completed.artifacts.results_csv, `/artifacts/${jobId}/results.csv`);
    assertSignedLink(completed.artifacts.training_logs, `/artifacts/${jobId}/logs.txt`);
    assert.equal(completed.artifacts.f1_curve, null, "an artifact that was not produced stays null");
    assert.deepEqual(completed.final_metrics, event.final_metrics);
    assert.deepEqual(completed.dataset_info, event.dataset_info);
  });

  it("expires links after the configured time", () => {
    const completed = TrainingCompletedCallback.parse(callbackFor(completedEvent(jobId), { ...links, ttlHours: 1 }));
    const url = new URL(completed.model.download_url);
    const path = url.pathname;
    const expires = url.searchParams.get("expires") ?? undefined;
    const signature = url.searchParams.get("signature") ?? undefined;
    const later = new Date(Date.parse(AT) + 61 * 60 * 1000);
    assert.equal(completed.model.expires_at, "2025-01-20T12:45:30.000Z");
    assert.ok(
      !verifyDownloadPath(links.secret, path, expires, signature, later),
      "a link must not verify after it expired",
    );
  });

  it("maps failed to training_failed", () => {
    const event = failedEvent(jobId);
    const failed = TrainingFailedCallback.parse(callbackFor(event, links));
    assert.deepEqual(failed, {
      type: "training_failed",
      job_id: jobId,
      timestamp: AT,
      status: "failed",
      error: event.error,
      partial_metrics: null,
    });
  });

  it("sends nothing for assigned", () => {
    assert.equal(callbackFor(assignedEvent(jobId), links), null);
  });

  it("produces only bodies that validate against the Callback contract", () => {
    for (const event of [phaseEvent(jobId), epochEvent(jobId, 2), completedEvent(jobId), failedEvent(jobId)]) {
      const result = Callback.safeParse(callbackFor(event, links));
      assert.ok(result.success, `${event.type}: ${result.error?.message}`);
    }
  });

  it("fails loudly instead of producing a body that breaks the contract", () => {
    assert.throws(
      () => callbackFor(completedEvent(jobId), { ...links, publicBaseUrl: "not a url" }),
      (err: unknown) => err instanceof CallbackContractError && /download_url/.test(err.message),
    );
  });

  it("links a run's files by job and file name: the gateway serves those of the run that won", () => {
    const run = (file: string) => `${jobId}/attempt-2/${file}`;
    const event = completedEvent(jobId, {
      model: { ...completedEvent(jobId).model, object_name: run("best.pt") },
      artifacts: {
        ...completedEvent(jobId).artifacts,
        results_csv: run("results.csv"),
        training_logs: run("logs.txt"),
      },
    });
    const completed = TrainingCompletedCallback.parse(callbackFor(event, links));
    assertSignedLink(completed.model.download_url, `/models/${jobId}.pt`);
    assertSignedLink(completed.artifacts.results_csv, `/artifacts/${jobId}/results.csv`);
    assertSignedLink(completed.artifacts.training_logs, `/artifacts/${jobId}/logs.txt`);
  });

  it("refuses an artifact that belongs to another job", () => {
    const other = randomUUID();
    const event = completedEvent(jobId, {
      artifacts: { ...completedEvent(jobId).artifacts, results_csv: `${other}/results.csv` },
    });
    assert.throws(() => callbackFor(event, links), CallbackContractError);
    const otherRun = completedEvent(jobId, {
      artifacts: { ...completedEvent(jobId).artifacts, results_csv: `${other}/attempt-1/results.csv` },
    });
    assert.throws(() => callbackFor(otherRun, links), CallbackContractError, "nor another job's run folder");
  });
});
