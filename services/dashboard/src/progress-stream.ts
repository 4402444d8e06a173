import type { ServerResponse } from "node:http";
import type { Logger } from "@trainyard/runtime";
import { isFinished, isStopping } from "./projection.js";
import type { ProjectedJob } from "./projected-job.js";

/** How often an idle stream says it is alive (PRD 5.3 `heartbeat`), so proxies keep it open. */
export const SSE_HEARTBEAT_MS = 15_000;
/** A stream whose reader falls this far behind is closed; EventSource reconnects by itself. */
const MAX_UNSENT_BYTES = 256 * 1024;

/** The PRD 5.3 events of `GET /stream/progress/{job_id}`. */
export type ProgressEvent =
  | {
      event: "progress";
      data: {
        epoch: number | null;
        total_epochs: number;
        progress: number;
        phase: string | null;
        mAP50: number | null;
        loss: number | null;
        eta_seconds: number | null;
      };
    }
  | { event: "completed"; data: { status: "completed"; final_mAP50: number | null; model_url: string | null } }
  | { event: "failed"; data: { status: "failed" | "cancelled"; error: { code: string; message: string } | null } };

/**
 * The event a job's state makes: `progress` while it runs, `completed` (with a signed model link
 * when downloads are configured) or `failed` once it ended. A cancellation still stopping is
 * reported when its terminal event arrives.
 */
export function progressEvent(record: ProjectedJob, modelUrl: (record: ProjectedJob) => string | null): ProgressEvent {
  if (record.status === "completed") {
    return {
      event: "completed",
      data: {
        status: "completed",
        final_mAP50: record.final_metrics?.mAP50 ?? null,
        model_url: modelUrl(record),
      },
    };
  }
  if (isFinished(record.status) && !isStopping(record)) {
    return {
      event: "failed",
      data: {
        status: record.status === "cancelled" ? "cancelled" : "failed",
        error: record.error ? { code: record.error.code, message: record.error.message } : null,
      },
    };
  }
  const current = record.metrics?.current ?? null;
  return {
    event: "progress",
    data: {
      epoch: record.current_epoch,
      total_epochs: record.total_epochs,
      progress: record.progress,
      phase: record.phase,
      mAP50: current?.mAP50 ?? null,
      loss: current?.box_loss ?? null,
      eta_seconds: record.eta_seconds,
    },
  };
}

/** One Server-Sent Events frame; `id` lets a reconnecting EventSource say what it has seen. */
export function sseFrame(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

interface Stream {
  res: ServerResponse;
  jobId: string;
  lastSent: string;
}

/** Every open progress stream; the projection tells it about each changed job. */
export class ProgressStreams {
  readonly #streams = new Set<Stream>();
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly deps: { log: Logger; modelUrl: (record: ProjectedJob) => string | null },
    heartbeatMs = SSE_HEARTBEAT_MS,
  ) {
    this.#timer = setInterval(() => {
      const frame = sseFrame("heartbeat", { timestamp: new Date().toISOString() });
      for (const stream of this.#streams) this.#write(stream, frame);
    }, heartbeatMs);
    this.#timer.unref();
  }

  /**
   * Starts a stream at `record`'s state. `lastEventId` (the browser's Last-Event-ID on reconnect)
   * skips the state it already has; a finished job gets its final event and the stream ends.
   */
  open(res: ServerResponse, record: ProjectedJob, lastEventId: number | null): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write("retry: 3000\n\n");
    const stream: Stream = { res, jobId: record._id, lastSent: "" };
    this.#streams.add(stream);
    res.on("close", () => this.#streams.delete(stream));
    if (lastEventId === null || lastEventId < record.last_event_seq || isFinished(record.status)) {
      this.#send(stream, record);
    }
  }

  jobChanged(record: ProjectedJob): void {
    for (const stream of this.#streams) if (stream.jobId === record._id) this.#send(stream, record);
  }

  close(): void {
    clearInterval(this.#timer);
    for (const stream of this.#streams) stream.res.end();
    this.#streams.clear();
  }

  #send(stream: Stream, record: ProjectedJob): void {
    const { event, data } = progressEvent(record, this.deps.modelUrl);
    const text = JSON.stringify(data);
    // A job's document changes on events the stream does not show (assigned, a late event).
    if (text === stream.lastSent) return;
    stream.lastSent = text;
    this.#write(stream, sseFrame(event, data, record.last_event_seq));
    if (event !== "progress") {
      this.#streams.delete(stream);
      stream.res.end();
    }
  }

  #write(stream: Stream, frame: string): void {
    if (stream.res.writableLength > MAX_UNSENT_BYTES) {
      this.deps.log.warn({ job_id: stream.jobId }, "progress stream reader too slow; closed");
      this.#streams.delete(stream);
      stream.res.destroy();
      return;
    }
    stream.res.write(frame);
  }
}
