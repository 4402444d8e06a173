/**
 * The app's side of a chaos run: it submits each planned job at its moment and cancels the ones
 * planned for it, retrying as a well-behaved client does while the gateway is down or answers 5xx
 * (both calls are idempotent: a POST of a job id that already exists is a 409, a DELETE repeats).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { PlannedJob } from "./plan.js";
import type { ChaosWorld } from "./world.js";

/** How long a client keeps retrying one call before it gives up. */
const CALL_DEADLINE_MS = 120_000;

export interface JobRecord {
  job: PlannedJob;
  /** 202, or 409 on a retry after an earlier try landed; false when the POST never got through. */
  accepted: boolean;
  /** Every answer the POST got, in order (`503`, `ECONNREFUSED`, `202`…). */
  submitAnswers: string[];
  acceptedAtMs: number | null;
  /** For a cancelled job: the DELETE's final status (200 cancelled, 409 already finished), or null. */
  cancelStatus: number | null;
  cancelAnswers: string[];
  cancelledAtMs: number | null;
}

export class Workload {
  readonly records: JobRecord[] = [];

  constructor(
    private readonly world: ChaosWorld,
    private readonly startedAt: number,
    private readonly say: (line: string) => void,
  ) {}

  /** Submits (and cancels) every job at its moment; resolves once every call has been answered or given up. */
  async run(jobs: readonly PlannedJob[]): Promise<void> {
    await Promise.all(jobs.map((job) => this.one(job)));
  }

  private now(): number {
    return Date.now() - this.startedAt;
  }

  private async one(job: PlannedJob): Promise<void> {
    const record: JobRecord = {
      job,
      accepted: false,
      submitAnswers: [],
      acceptedAtMs: null,
      cancelStatus: null,
      cancelAnswers: [],
      cancelledAtMs: null,
    };
    this.records.push(record);
    await sleep(Math.max(0, this.startedAt + job.submitAtMs - Date.now()));
    const request = this.world.request(job);
    const submitted = await this.call(
      "POST",
      "/api/v1/train",
      JSON.stringify(request),
      record.submitAnswers,
      (status, body) => status === 202 || (status === 409 && body.includes("JOB_EXISTS")),
    );
    record.accepted = submitted !== null;
    record.acceptedAtMs = submitted !== null ? this.now() : null;
    this.say(
      `[${(this.now() / 1000).toFixed(1)}s] job #${job.index} ${job.jobId.slice(0, 8)} ${job.kind}` +
        `${job.dataset === "valid" ? ` ${job.epochs} epoch(s)` : ` ${job.dataset}`}: ${record.accepted ? "accepted" : "NOT accepted"} (${record.submitAnswers.join(" ")})`,
    );
    if (!record.accepted || job.cancelAfterMs === null) return;
    await sleep(job.cancelAfterMs);
    const status = await this.call(
      "DELETE",
      `/api/v1/jobs/${job.jobId}`,
      undefined,
      record.cancelAnswers,
      (s) => s === 200 || s === 409,
    );
    record.cancelStatus = status;
    record.cancelledAtMs = this.now();
    this.say(
      `[${(this.now() / 1000).toFixed(1)}s] job #${job.index} ${job.jobId.slice(0, 8)} DELETE: ${record.cancelAnswers.join(" ")}`,
    );
  }

  /** One API call, retried on network errors, 5xx and 429 until `done` accepts an answer; that answer's status, or null. */
  private async call(
    method: string,
    path: string,
    body: string | undefined,
    answers: string[],
    done: (status: number, body: string) => boolean,
  ): Promise<number | null> {
    const deadline = Date.now() + CALL_DEADLINE_MS;
    for (let attempt = 1; Date.now() < deadline; attempt++) {
      try {
        const res = await this.world.stack.api(path, {
          method,
          ...(body ? { body } : {}),
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        answers.push(String(res.status));
        if (done(res.status, text)) return res.status;
        if (res.status < 500 && res.status !== 429) return null; // the client's mistake: retrying will not help
      } catch (err) {
        answers.push(errorName(err));
      }
      await sleep(Math.min(5_000, 500 * attempt));
    }
    return null;
  }
}

function errorName(err: unknown): string {
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code ?? (err as Error).name ?? "error";
}
