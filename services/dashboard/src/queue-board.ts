import { queuePlaces, typicalJobSeconds, type Logger, type QueueSnapshot } from "@trainyard/runtime";
import type { QueueView } from "./job-wire.js";

/** Completed jobs whose durations make the typical job length (as the gateway's). */
export const RECENT_JOBS = 20;

export interface QueueBoardDeps {
  /** The scheduler's queue as last seen (`watchQueue`). */
  queue: { snapshot(): QueueSnapshot };
  /** From the projection: `eta_seconds` of the training jobs, durations of the latest completed ones. */
  readInputs(recent: number): Promise<{ runningEtas: Array<number | null>; recentDurations: number[] }>;
  /** Training slots of the online agents that take jobs. */
  slots(): number;
  /** ESTIMATED_JOB_SECONDS: the job length assumed before any job has completed. */
  fallbackJobSeconds: number;
  /** Called with the new view each time it changed. */
  changed(view: QueueView): void;
  log: Logger;
  /** Changes within this many milliseconds make one refresh. */
  settleMs: number;
  now?: () => Date;
}

/**
 * The queue the overview shows: the scheduler's waiting jobs in order, each with its expected
 * start, computed by the same rules as the gateway's `queue_position` and `estimated_start_time`.
 * Anything the view depends on (the queue, a job's status or ETA, the agents) calls `invalidate`;
 * changes close together make one refresh, and refreshes never overlap.
 */
export class QueueBoard {
  readonly #deps: QueueBoardDeps;
  readonly #now: () => Date;
  #view: QueueView;
  #timer: NodeJS.Timeout | null = null;
  #refreshing: Promise<void> | null = null;
  #again = false;
  #stopped = false;

  constructor(deps: QueueBoardDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? (() => new Date());
    this.#view = { waiting: [], assigned: [], next_start_time: this.#now().toISOString() };
  }

  view(): QueueView {
    return this.#view;
  }

  /** Something the view depends on changed: it is refreshed within `settleMs`. */
  invalidate(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.refresh();
    }, this.#deps.settleMs);
    this.#timer.unref();
  }

  /** Recomputes the view now (once more after the running refresh, if one runs); a failed read keeps the last view. */
  async refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#refreshing = this.#compute()
      .catch((err: unknown) => this.#deps.log.warn({ err }, "queue estimates not refreshed; the last ones stay"))
      .finally(() => (this.#refreshing = null));
    await this.#refreshing;
    if (this.#again && !this.#stopped) {
      this.#again = false;
      await this.refresh();
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  async #compute(): Promise<void> {
    const { runningEtas, recentDurations } = await this.#deps.readInputs(RECENT_JOBS);
    const snapshot = this.#deps.queue.snapshot();
    const places = queuePlaces(snapshot, {
      runningEtas,
      slots: this.#deps.slots(),
      jobSeconds: typicalJobSeconds(recentDurations, this.#deps.fallbackJobSeconds),
    });
    const now = this.#now().getTime();
    const at = (seconds: number) => new Date(now + Math.round(seconds * 1000)).toISOString();
    const view: QueueView = {
      waiting: places.waiting.map(({ jobId, startsIn }) => ({ job_id: jobId, estimated_start_time: at(startsIn) })),
      assigned: [...snapshot.placed],
      next_start_time: at(places.nextStartsIn),
    };
    if (JSON.stringify(view) === JSON.stringify(this.#view)) return;
    this.#view = view;
    if (!this.#stopped) this.#deps.changed(view);
  }
}
