import type { CallbackDelivery, RedeliveryRequest } from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import type { CallbackTargets } from "./adapters/callback-targets.js";
import type { DeliveryStore } from "./adapters/delivery-store.js";
import type { CallbackSender } from "./adapters/http-callback.js";
import { freshIntake, type JobIntake } from "./callback-intake.js";
import { intakeFromLog, isTerminalType, lineItemOf } from "./delivery-records.js";
import { JobLine, type LineChanges, type LineItem } from "./job-line.js";
import { attemptCallback, attemptRecord, reportAttempt } from "./callback-attempt.js";
import { verdictOf, type RetryPolicy } from "./retry-schedule.js";
import { Slots } from "./slots.js";

export interface SchedulerDeps {
  store: DeliveryStore;
  targets: CallbackTargets;
  sender: CallbackSender;
  /** Whether callbacks carry the PRD's `X-Callback-Secret` header (CALLBACK_SECRET_HEADER). */
  secretHeader: boolean;
  policy: RetryPolicy;
  /** Callback POSTs in flight at once, all jobs together. */
  concurrency: number;
  /**
   * How long a callback may wait on its JetStream message alone (unacknowledged) before it is
   * written to the outbox and the message acknowledged; well inside the consumer's ack wait.
   */
  holdMs: number;
  log: Logger;
  /** False once this replica may no longer deliver (its lease is lost); checked before each attempt. */
  mayDeliver(): boolean;
  now?: () => Date;
  random?: () => number;
  /** Jobs remembered once their line is empty; others are read back from the log when needed. */
  cacheSize?: number;
}

/** One job's callbacks: what its intake decided so far and the line of those still to send. */
export interface JobEntry {
  readonly jobId: string;
  intake: JobIntake;
  line: JobLine;
  /** The open callbacks in the line. */
  docs: Map<string, CallbackDelivery>;
  /** Writes of the job's attempts not yet durable. */
  writing: Set<Promise<void>>;
  pumping: boolean;
  rerun: boolean;
  timer: NodeJS.Timeout | null;
}

/** A callback whose only durable copy is its unacknowledged JetStream message. */
interface Held {
  ack: () => void;
  since: number;
}

const LEASE_RECHECK_MS = 1_000;

export type RedeliveryOutcome = "rescheduled" | "queued" | "not_found" | "after_terminal";

/**
 * Sends every job's callbacks, each job on its own: one attempt at a time per job, in the
 * job's order, while other jobs go on (a failing receiver holds back only its own job). Timers
 * wake a job when its next attempt is due.
 *
 * Durability: a new callback is first held on its unacknowledged JetStream message, so the
 * common case (delivered at the first attempt) costs one append to the log before the ack.
 * A callback that fails, or waits longer than `holdMs`, is written to the outbox and its
 * message acknowledged. A message is acknowledged only once its callback is durable, so a crash
 * loses nothing; it may re-send a progress callback (same webhook-id), but every callback of a
 * job is durably settled before the job's terminal one leaves, so never after that one.
 */
export class DeliveryScheduler {
  private readonly jobs = new Map<string, JobEntry>();
  private readonly held = new Map<string, Held>();
  /** The last write of each callback: a callback's writes are made one after the other. */
  private readonly writes = new Map<string, Promise<void>>();
  private readonly running = new Set<Promise<void>>();
  private readonly slots: Slots;
  private readonly now: () => Date;
  private sweeper: NodeJS.Timeout | null = null;
  private started = false;
  private stopped = false;

  constructor(private readonly deps: SchedulerDeps) {
    this.slots = new Slots(deps.concurrency);
    this.now = deps.now ?? (() => new Date());
  }

  /** The job's entry if it is in memory. */
  cached(jobId: string): JobEntry | undefined {
    const entry = this.jobs.get(jobId);
    if (entry) {
      // most recently used last, so eviction takes the oldest first
      this.jobs.delete(jobId);
      this.jobs.set(jobId, entry);
    }
    return entry;
  }

  /** A job whose first event this is: nothing to read back. */
  fresh(jobId: string): JobEntry {
    return this.cached(jobId) ?? this.create(jobId, freshIntake());
  }

  /** The job's entry, read back from the delivery log when it is not in memory. */
  async load(jobId: string): Promise<JobEntry> {
    const known = this.cached(jobId);
    if (known) return known;
    const docs = await this.deps.store.loadJob(jobId);
    const entry = this.cached(jobId) ?? this.create(jobId, intakeFromLog(docs));
    for (const doc of docs) {
      if (doc.status === "pending" || doc.status === "retrying") this.enter(entry, doc);
    }
    this.pump(entry);
    return entry;
  }

  /** Puts the open callbacks found at start-up back in their lines. */
  async restore(open: CallbackDelivery[]): Promise<void> {
    const byJob = new Map<string, CallbackDelivery[]>();
    for (const doc of open) byJob.set(doc.job_id, [...(byJob.get(doc.job_id) ?? []), doc]);
    for (const [jobId, docs] of byJob) {
      // a redelivered callback is older than the rest of its job's log: read the whole job
      if (docs.some((d) => d.redelivered_at !== null)) {
        await this.load(jobId);
        continue;
      }
      docs.sort((a, b) => a.seq - b.seq);
      const entry = this.create(jobId, intakeFromLog(docs));
      for (const doc of docs) this.enter(entry, doc);
    }
  }

  /** Whether this callback is held on its unacknowledged JetStream message. */
  isHeld(callbackId: string): boolean {
    return this.held.has(callbackId);
  }

  /** A redelivery of a held callback's message: either acknowledgement will do, the newest is kept. */
  rehold(callbackId: string, ack: () => void): void {
    const held = this.held.get(callbackId);
    if (held) held.ack = ack;
  }

  /**
   * Adds a callback to its job's line and sends it when its turn comes. With `ack`, the callback
   * is held on its JetStream message, acknowledged once the callback is in the log or outbox;
   * without, its open document is durable already.
   */
  admit(entry: JobEntry, doc: CallbackDelivery, ack?: () => void): void {
    if (ack) this.held.set(doc._id, { ack, since: Date.now() });
    if (entry.intake.gone && doc.redelivered_at === null) {
      // the receiver answered 410 while this callback was on its way in
      entry.docs.set(doc._id, doc);
      void this.persistLogged(entry, {
        settled: [
          { id: doc._id, status: "gone", reason: "the receiver answered 410 Gone to an earlier callback of this job" },
        ],
        rescheduled: [],
        gone: true,
      });
      return;
    }
    this.enter(entry, doc);
    this.pump(entry);
  }

  /** Starts sending (after start-up recovery put every known callback in its line). */
  start(): void {
    this.started = true;
    this.sweeper = setInterval(() => this.spillOverdue(), Math.max(10, Math.floor(this.deps.holdMs / 2)));
    for (const entry of this.jobs.values()) this.pump(entry);
  }

  /** Stops sending; attempts in flight finish and are recorded. Held callbacks stay unacknowledged. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const entry of this.jobs.values()) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.timer = null;
    }
    this.slots.releaseAll();
    await Promise.all([...this.running]);
    await Promise.allSettled([...this.writes.values()]);
  }

  /** An operator's redelivery: the callback is sent again, with a fresh schedule, in its job's order. */
  async redeliver(request: RedeliveryRequest): Promise<RedeliveryOutcome> {
    const entry = await this.load(request.job_id);
    const now = this.now();
    const reason = `redelivery requested at ${request.requested_at}`;
    const open = entry.docs.get(request.callback_id);
    if (open) {
      open.redelivered_at = now;
      await this.persist(entry, entry.line.retryNow(request.callback_id, now.getTime(), reason));
      this.pump(entry);
      return "rescheduled";
    }
    await this.deps.store.barrier();
    const logged = await this.deps.store.findLogged(request.callback_id);
    if (!logged || logged.job_id !== request.job_id) return "not_found";
    if (!isTerminalType(logged.type) && (await this.deps.store.terminalDelivered(request.job_id))) {
      return "after_terminal";
    }
    if (entry.docs.has(logged._id)) return "rescheduled";
    const doc: CallbackDelivery = {
      ...logged,
      status: "pending",
      failures: 0,
      reason,
      revision: logged.revision + 1,
      redelivered_at: now,
      updated_at: now,
      next_attempt_at: now,
    };
    await this.write(doc._id, () => this.deps.store.open(doc));
    entry.intake.gone = false;
    this.admit(entry, doc);
    return "queued";
  }

  private create(jobId: string, intake: JobIntake): JobEntry {
    const entry: JobEntry = {
      jobId,
      intake,
      line: new JobLine(this.deps.policy, this.deps.random),
      docs: new Map(),
      writing: new Set(),
      pumping: false,
      rerun: false,
      timer: null,
    };
    this.jobs.set(jobId, entry);
    this.evictIdle();
    return entry;
  }

  private enter(entry: JobEntry, doc: CallbackDelivery): void {
    if (entry.docs.has(doc._id)) return;
    entry.docs.set(doc._id, doc);
    const changes = entry.line.admit(lineItemOf(doc, this.now().getTime()));
    if (changes.settled.length > 0 || changes.rescheduled.length > 0) void this.persistLogged(entry, changes);
  }

  /** Forgets the oldest jobs with nothing left to send once there are more than the cache holds. */
  private evictIdle(): void {
    const capacity = this.deps.cacheSize ?? 10_000;
    if (this.jobs.size <= capacity) return;
    for (const [jobId, entry] of this.jobs) {
      if (this.jobs.size <= capacity) break;
      if (entry.docs.size === 0 && !entry.pumping && entry.timer === null && entry.writing.size === 0) {
        this.jobs.delete(jobId);
      }
    }
  }

  private pump(entry: JobEntry): void {
    if (!this.started || this.stopped) return;
    if (entry.pumping) {
      entry.rerun = true;
      return;
    }
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
    entry.pumping = true;
    const run: Promise<void> = this.run(entry)
      .catch((err: unknown) => this.deps.log.error({ job_id: entry.jobId, err }, "callback delivery failed"))
      .finally(() => {
        this.running.delete(run);
        entry.pumping = false;
        if (entry.rerun) {
          entry.rerun = false;
          this.pump(entry);
        }
      });
    this.running.add(run);
  }

  private async run(entry: JobEntry): Promise<void> {
    for (;;) {
      entry.rerun = false;
      if (this.stopped) return;
      const step = entry.line.next(this.now().getTime());
      if (step.kind === "wait") return this.wake(entry, step.until);
      if (step.kind !== "send") return;
      // the lease is in doubt (a slow renewal): look again shortly; if it is lost, this scheduler stops
      if (!this.deps.mayDeliver()) return this.wake(entry, this.now().getTime() + LEASE_RECHECK_MS);
      await this.slots.acquire();
      try {
        // the line may have changed while waiting for a slot (a newer callback superseded the head)
        const ready = entry.line.next(this.now().getTime());
        if (this.stopped || ready.kind !== "send" || !this.deps.mayDeliver()) continue;
        await this.attempt(entry, ready.item);
      } finally {
        this.slots.release();
      }
    }
  }

  private wake(entry: JobEntry, at: number): void {
    entry.timer = setTimeout(
      () => {
        entry.timer = null;
        this.pump(entry);
      },
      Math.max(0, at - this.now().getTime()),
    );
  }

  private async attempt(entry: JobEntry, item: LineItem): Promise<void> {
    const doc = entry.docs.get(item.id);
    if (!doc) throw new Error(`callback ${item.id} is in the line but not in the log`);
    // Every earlier callback of the job is durably settled before its terminal one leaves, so a
    // crash can re-send progress (same webhook-id) but never after the terminal callback.
    if (item.terminal) await Promise.all([...entry.writing]);
    entry.line.begin(item.id);
    const at = this.now();
    const result = await attemptCallback(doc, at, this.deps);
    const verdict = verdictOf(result);
    doc.attempts.push(attemptRecord(doc.attempts.length + 1, at, result));
    const changes = entry.line.settle(item.id, verdict, this.now().getTime());
    reportAttempt(this.deps.log, doc, result, verdict, changes);
    // the line has moved on already; the next progress callback need not wait for the log
    const persisted = this.persist(entry, changes);
    entry.writing.add(persisted);
    void persisted.then(
      () => entry.writing.delete(persisted),
      (err: unknown) => {
        entry.writing.delete(persisted);
        this.deps.log.error({ job_id: entry.jobId, callback_id: doc._id, err }, "could not record an attempt");
      },
    );
  }

  /** Applies a line's changes to the open documents and makes them durable. */
  private async persist(entry: JobEntry, changes: LineChanges): Promise<void> {
    const now = this.now();
    const writes: Array<Promise<void>> = [];
    for (const settled of changes.settled) {
      const doc = entry.docs.get(settled.id);
      if (!doc) continue;
      entry.docs.delete(settled.id);
      Object.assign(doc, {
        status: settled.status,
        reason: settled.reason,
        next_attempt_at: null,
        updated_at: now,
        revision: doc.revision + 1,
      });
      // a held callback goes straight to the log; one in the outbox moves there
      writes.push(
        this.write(doc._id, () =>
          this.held.has(doc._id) ? this.deps.store.logSettled(doc) : this.deps.store.settle(doc),
        ),
      );
    }
    for (const rescheduled of changes.rescheduled) {
      const doc = entry.docs.get(rescheduled.id);
      if (!doc) continue;
      Object.assign(doc, {
        status: rescheduled.status,
        failures: rescheduled.failures,
        reason: rescheduled.reason,
        next_attempt_at: new Date(rescheduled.dueAt),
        updated_at: now,
        revision: doc.revision + 1,
      });
      // a held callback that has to wait is written to the outbox
      writes.push(
        this.write(doc._id, () => (this.held.has(doc._id) ? this.deps.store.open(doc) : this.deps.store.save(doc))),
      );
    }
    if (changes.gone) entry.intake.gone = true;
    await Promise.all(writes);
  }

  private persistLogged(entry: JobEntry, changes: LineChanges): Promise<void> {
    return this.persist(entry, changes).catch((err: unknown) =>
      this.deps.log.error({ job_id: entry.jobId, err }, "could not record superseded callbacks"),
    );
  }

  /**
   * Runs `work` (a write of callback `id`) after the callback's previous write; once durable, a
   * held callback's JetStream message is acknowledged.
   */
  private write(id: string, work: () => Promise<void>): Promise<void> {
    const previous = this.writes.get(id) ?? Promise.resolve();
    const next = previous.then(work).then(() => {
      const held = this.held.get(id);
      this.held.delete(id);
      held?.ack();
    });
    this.writes.set(id, next);
    void next.then(
      () => this.writes.get(id) === next && this.writes.delete(id),
      () => this.writes.get(id) === next && this.writes.delete(id),
    );
    return next;
  }

  /** Writes callbacks held longer than `holdMs` (behind a slow job, say) to the outbox. */
  private spillOverdue(): void {
    const overdue = Date.now() - this.deps.holdMs;
    for (const [id, held] of this.held) {
      if (held.since > overdue || this.writes.has(id)) continue;
      const doc = this.jobs.get(id.slice(0, id.lastIndexOf(":")))?.docs.get(id);
      if (!doc) continue;
      void this.write(id, () => this.deps.store.open(doc)).catch((err: unknown) =>
        this.deps.log.error({ callback_id: id, err }, "could not write a waiting callback to the outbox"),
      );
    }
  }
}
