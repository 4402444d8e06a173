import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import type { JobEvent } from "@trainyard/contracts";
import {
  AT,
  assignedEvent,
  completedEvent,
  epochEvent,
  failedEvent,
  happyPath,
  phaseEvent,
  queuedJob,
} from "./job-fixtures.js";
import { ProjectedJob, type EpochRecord } from "./projected-job.js";
import { apply, withChanges } from "./projection.js";

const id = randomUUID();
const AT_LATER = "2025-01-20T10:45:00.000Z";

/** The projection as the store holds it: the job document and its history rows by epoch. */
interface State {
  job: ProjectedJob;
  epochs: Map<number, EpochRecord>;
}

/**
 * Delivers `events` as the projector does, each with its stream sequence (1, 2, … unless
 * given), applying the store's rules: a job update only for a newer sequence, a history row
 * only over an older one.
 */
function deliver(start: ProjectedJob | State, events: JobEvent[], seqs = events.map((_, i) => i + 1)): State {
  let state: State = "job" in start ? start : { job: start, epochs: new Map() };
  events.forEach((event, i) => {
    const projected = apply(state.job, event, seqs[i] ?? 0);
    if (!projected) return;
    const epochs = new Map(state.epochs);
    const point = projected.point;
    if (point && (epochs.get(point.epoch)?.seq ?? 0) < point.seq) epochs.set(point.epoch, point);
    state = { job: withChanges(state.job, projected.changes), epochs };
  });
  return state;
}
const fold = (record: ProjectedJob, events: JobEvent[], seqs?: number[]) => deliver(record, events, seqs).job;

/** A training run of `n` epochs, as its services publish it. */
function run(jobId: string, n: number): JobEvent[] {
  return [
    phaseEvent(jobId, "downloading", 5),
    assignedEvent(jobId),
    phaseEvent(jobId, "preparing", 10),
    ...Array.from({ length: n }, (_, i) =>
      epochEvent(jobId, i + 1, Math.min(94, (100 * (i + 1)) / n), "2025-01-20T10:40:00.000Z", n),
    ),
    phaseEvent(jobId, "validating", 95),
    completedEvent(jobId),
  ];
}

/** A seeded pseudo-random generator, so a failing order can be reproduced. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("projection.apply", () => {
  it("ignores an event whose sequence the record already holds (redelivery)", () => {
    const record = { ...queuedJob(id), last_event_seq: 7 };
    assert.equal(apply(record, epochEvent(id, 1, 50), 7), null);
    assert.equal(apply(record, epochEvent(id, 1, 50), 3), null);
    assert.notEqual(apply(record, epochEvent(id, 1, 50), 8), null);
  });

  it("assigned records the agent and slot and leaves the job queued", () => {
    assert.deepEqual(apply(queuedJob(id), assignedEvent(id), 1), {
      changes: { last_event_seq: 1, agent_id: "gpu-host-1", slot: { index: 0, device: "cuda:0", name: "NVIDIA H100" } },
      point: null,
    });
  });

  it("phase downloading sets phase, progress and dataset info; the job is still queued", () => {
    const next = fold(queuedJob(id), [phaseEvent(id, "downloading", 5)]);
    assert.equal(next.status, "queued");
    assert.equal(next.phase, "downloading");
    assert.equal(next.progress, 5);
    assert.equal(next.started_at, null);
    assert.deepEqual(next.dataset_info?.classes, ["poste", "cabo"]);
  });

  it("phase preparing starts training once: started_at keeps the first start", () => {
    const first = fold(queuedJob(id), [phaseEvent(id, "preparing", 10, "2025-01-20T10:31:00.000Z")]);
    assert.equal(first.status, "training");
    assert.equal(first.started_at?.toISOString(), "2025-01-20T10:31:00.000Z");
    const again = fold(first, [phaseEvent(id, "preparing", 10, "2025-01-20T11:00:00.000Z")], [2]);
    assert.equal(again.started_at?.toISOString(), "2025-01-20T10:31:00.000Z");
  });

  it("progress and phase never go backwards", () => {
    const at60 = { ...queuedJob(id), status: "training" as const, phase: "training" as const, progress: 60 };
    assert.equal(fold(at60, [phaseEvent(id, "preparing", 10)]).progress, 60);
    assert.equal(fold(at60, [phaseEvent(id, "preparing", 10)]).phase, "training");
    assert.equal(fold(at60, [epochEvent(id, 1, 50)]).progress, 60);
    const validating = fold(at60, [phaseEvent(id, "validating", 95)]);
    assert.deepEqual([validating.phase, validating.progress], ["validating", 95]);
    assert.equal(fold(validating, [epochEvent(id, 2, 94)], [2]).phase, "validating", "a late epoch keeps validating");
  });

  it("epoch updates status, epoch counters, eta and metrics, and writes one history row", () => {
    const { job, epochs } = deliver(queuedJob(id), [epochEvent(id, 1, 50)]);
    assert.equal(job.status, "training");
    assert.equal(job.phase, "training");
    assert.equal(job.current_epoch, 1);
    assert.equal(job.total_epochs, 2);
    assert.equal(job.progress, 50);
    assert.equal(job.eta_seconds, 30);
    assert.equal(job.metrics?.current?.mAP50, 0.4);
    assert.ok(!("history" in job), "the history lives in job_epochs, not in the document");
    const row = epochs.get(1);
    assert.equal(row?._id, `${id}:1`);
    assert.deepEqual(
      [
        row?.seq,
        row?.mAP50,
        row?.["mAP50-95"],
        row?.box_loss,
        row?.cls_loss,
        row?.dfl_loss,
        row?.precision,
        row?.recall,
      ],
      [1, 0.4, 0.2, 1, 0.5, 0.9, 0.7, 0.6],
    );
  });

  it("a reordered (late) epoch fills its history row but does not move the current epoch back", () => {
    const { job, epochs } = deliver(queuedJob(id), [epochEvent(id, 2, 94), epochEvent(id, 1, 50)]);
    assert.equal(job.current_epoch, 2);
    assert.equal(job.metrics?.current?.mAP50, 0.8, "the metrics stay those of epoch 2");
    assert.equal(job.eta_seconds, 0);
    assert.equal(job.progress, 94);
    assert.deepEqual([...epochs.keys()].sort(), [1, 2]);
  });

  it("a repeated epoch (a restarted run) replaces its history row instead of adding one", () => {
    const restarted = { ...epochEvent(id, 1, 50), metrics: { ...epochEvent(id, 1, 50).metrics, current: null } };
    const { epochs } = deliver(queuedJob(id), [epochEvent(id, 1, 50), epochEvent(id, 2, 94), restarted]);
    assert.deepEqual(
      [...epochs.values()].map((p) => [p.epoch, p.mAP50, p.seq]),
      [
        [1, null, 3],
        [2, 0.8, 2],
      ],
    );
  });

  it("gaps: epochs without the phases before them, or a completion with nothing before it, still project", () => {
    const skipped = deliver(queuedJob(id), [epochEvent(id, 1, 25, AT_LATER, 4), epochEvent(id, 4, 94, AT_LATER, 4)]);
    assert.equal(skipped.job.status, "training");
    assert.equal(skipped.job.started_at?.toISOString(), AT_LATER);
    assert.equal(skipped.job.current_epoch, 4);
    assert.deepEqual([...skipped.epochs.keys()], [1, 4]);
    const direct = fold(queuedJob(id), [completedEvent(id)]);
    assert.equal(direct.status, "completed");
    assert.equal(direct.started_at?.toISOString(), completedEvent(id).started_at);
  });

  it("completed finishes the job with progress 100, final metrics, model, artifacts and dataset", () => {
    const next = fold(queuedJob(id), happyPath(id));
    assert.equal(next.status, "completed");
    assert.equal(next.progress, 100);
    assert.equal(next.phase, null);
    assert.equal(next.eta_seconds, 0);
    assert.equal(next.final_metrics?.best_epoch, 2);
    assert.equal(next.model_object, `${id}/best.pt`);
    assert.equal(next.artifacts?.confusion_matrix, `${id}/confusion_matrix.png`);
    assert.equal(next.dataset_info?.total_images, 12);
    assert.equal(next.duration_seconds, 60);
    assert.ok(next.finished_at instanceof Date);
    assert.equal(next.last_event_seq, 6);
    assert.doesNotThrow(() => ProjectedJob.parse(next), "the projected record still matches its schema");
  });

  it("failed records the error and the finish time, keeping progress", () => {
    const next = fold(queuedJob(id), [epochEvent(id, 1, 50), failedEvent(id)]);
    assert.equal(next.status, "failed");
    assert.equal(next.error?.code, "TRAINING_DIVERGED");
    assert.equal(next.progress, 50);
    assert.equal(next.eta_seconds, null);
    assert.ok(next.finished_at instanceof Date);
  });

  it("a failure with code CANCELLED makes the job cancelled", () => {
    assert.equal(fold(queuedJob(id), [failedEvent(id, "CANCELLED")]).status, "cancelled");
  });

  it("a finished job never returns to training; late events only advance the sequence", () => {
    const done = fold(queuedJob(id), happyPath(id));
    assert.deepEqual(apply(done, epochEvent(id, 2, 94), 7), { changes: { last_event_seq: 7 }, point: null });
    assert.deepEqual(apply(done, failedEvent(id), 8), { changes: { last_event_seq: 8 }, point: null });
  });

  it("a job the gateway cancelled stays cancelled while its trainer stops, and ends as a replay would", () => {
    const events = [...run(id, 3).slice(0, 4), epochEvent(id, 2, 66, AT_LATER, 3), failedEvent(id, "CANCELLED")];
    const live = deliver(queuedJob(id), events.slice(0, 4));
    // the gateway's DELETE writes this directly; the stream never hears of it
    const marked = { ...live.job, status: "cancelled" as const, finished_at: new Date(AT_LATER), eta_seconds: null };
    const stopping = deliver({ ...live, job: marked }, events.slice(4, 5), [5]);
    assert.equal(stopping.job.status, "cancelled", "an epoch finished while stopping does not reopen the job");
    assert.equal(stopping.job.current_epoch, 2);
    const ended = deliver(stopping, events.slice(5), [6]);
    const replayed = deliver(queuedJob(id), events);
    assert.deepEqual(ended, replayed, "live and rebuilt projections agree");
    assert.equal(ended.job.status, "cancelled");
    assert.equal(ended.job.error?.code, "CANCELLED");
    assert.equal(ended.job.finished_at?.toISOString(), AT);
  });

  it("a job cancelled just as it completed ends completed, as its callbacks say", () => {
    const marked = { ...fold(queuedJob(id), [phaseEvent(id, "preparing", 10)]), status: "cancelled" as const };
    assert.equal(fold(marked, [completedEvent(id)], [2]).status, "completed");
  });

  it("redelivering any prefix of the stream gives the same projection as delivering it once", () => {
    const events = happyPath(id);
    const once = deliver(queuedJob(id), events);
    // the consumer re-reads events 2..4 after a crash, with their original sequences
    const withReplay = deliver(queuedJob(id), [...events.slice(0, 4), ...events.slice(1)], [1, 2, 3, 4, 2, 3, 4, 5, 6]);
    assert.deepEqual(withReplay, once);
  });

  it("duplicates, drops and reorderings of a 30-epoch run never move a job backwards", () => {
    const events = run(id, 30);
    const inOrder = deliver(queuedJob(id), events);
    for (let seed = 1; seed <= 40; seed++) {
      const rand = random(seed);
      // each event keeps its stream sequence; some are delivered twice, some late, some lost
      const deliveries = events.flatMap((event, i) => {
        if (rand() < 0.05) return [];
        return rand() < 0.2
          ? [
              { event, seq: i + 1 },
              { event, seq: i + 1 },
            ]
          : [{ event, seq: i + 1 }];
      });
      for (let i = deliveries.length - 1; i > 0; i--) {
        if (rand() < 0.3) {
          const j = Math.floor(rand() * (i + 1));
          [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
        }
      }
      let state: State = { job: queuedJob(id), epochs: new Map() };
      for (const { event, seq } of deliveries) {
        const next = deliver(state, [event], [seq]);
        const [before, after] = [state.job, next.job];
        assert.ok(after.progress >= before.progress, `seed ${seed}: progress went back at seq ${seq}`);
        assert.ok((after.current_epoch ?? 0) >= (before.current_epoch ?? 0), `seed ${seed}: epoch went back`);
        if (before.status === "completed") assert.equal(after.status, "completed", `seed ${seed}: reopened`);
        if (before.status === "training") assert.notEqual(after.status, "queued", `seed ${seed}: back to queued`);
        state = next;
      }
      assert.ok(state.job.last_event_seq <= inOrder.job.last_event_seq);
    }
  });

  it("the same stream delivered twice from the start (a rebuild) gives identical documents", () => {
    const events = run(id, 12);
    const first = deliver(queuedJob(id), events);
    const rebuilt = deliver(queuedJob(id), events);
    assert.deepEqual(rebuilt, first);
    const again = deliver(first, events);
    assert.deepEqual(again, first, "replaying over the finished projection changes nothing");
  });
});
