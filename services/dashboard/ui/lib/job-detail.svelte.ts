import type { ClientMessage, DeliveryView, JobDetail, ServerMessage } from "../../src/job-wire.js";
import { api } from "./dashboard-client.js";
import { MetricHistory } from "../../src/metric-history.js";

/** The job page's job: detail, metric history, callback log, and the cancel action. */
export class JobDetailState {
  jobId = $state<string | null>(null);
  job = $state<JobDetail | null>(null);
  /** Not reactive itself (a 1,000-epoch history is not proxied); `historyVersion` says when it changed. */
  readonly history = new MetricHistory();
  historyVersion = $state(0);
  deliveries = $state<DeliveryView[]>([]);
  missing = $state(false);
  cancel = $state<{ busy: boolean; problem: string | null }>({ busy: false, problem: null });

  /** Follows `jobId`; the returned messages tell the server. */
  open(jobId: string): ClientMessage[] {
    if (this.jobId === jobId) return [];
    const previous = this.jobId;
    this.jobId = jobId;
    this.job = null;
    this.history.clear();
    this.historyVersion++;
    this.deliveries = [];
    this.missing = false;
    this.cancel = { busy: false, problem: null };
    return [
      ...(previous ? [{ type: "unsubscribe" as const, job_id: previous }] : []),
      { type: "subscribe", job_id: jobId },
    ];
  }

  close(): ClientMessage[] {
    const previous = this.jobId;
    this.jobId = null;
    this.job = null;
    return previous ? [{ type: "unsubscribe", job_id: previous }] : [];
  }

  /** After a reconnect: follow the job again, asking only for history rows newer than those held. */
  resume(): ClientMessage[] {
    return this.jobId ? [{ type: "subscribe", job_id: this.jobId, since_seq: this.history.maxSeq }] : [];
  }

  receive(message: ServerMessage): void {
    switch (message.type) {
      case "job_snapshot":
        if (message.job.job_id !== this.jobId) return;
        if (message.since_seq === 0) this.history.clear();
        for (const point of message.points) this.history.upsert(point);
        this.historyVersion++;
        this.#show(message.job);
        this.deliveries = message.deliveries;
        return;
      case "job_detail":
        if (message.job.job_id === this.jobId) this.#show(message.job);
        return;
      case "epoch":
        if (message.job_id === this.jobId && this.history.upsert(message.point)) this.historyVersion++;
        return;
      case "deliveries":
        if (message.job_id === this.jobId) this.deliveries = message.deliveries;
        return;
      case "job_missing":
        if (message.job_id === this.jobId) this.missing = true;
        return;
      default:
        return;
    }
  }

  async requestCancel(): Promise<void> {
    const jobId = this.jobId;
    if (!jobId) return;
    this.cancel = { busy: true, problem: null };
    try {
      await api.cancel(jobId);
      this.cancel = { busy: false, problem: null };
    } catch (err) {
      this.cancel = { busy: false, problem: err instanceof Error ? err.message : String(err) };
    }
  }

  /** The live feed and a snapshot can race; the event sequence orders them (a cancel keeps it). */
  #show(job: JobDetail): void {
    if (!this.job || job.last_event_seq >= this.job.last_event_seq) this.job = job;
  }
}
