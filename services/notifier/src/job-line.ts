import { retryDelayMs, type AttemptVerdict, type RetryPolicy } from "./retry-schedule.js";

/** One callback waiting in its job's line. */
export interface LineItem {
  id: string;
  /** Stream sequence of the job event: progress callbacks leave in this order. */
  seq: number;
  /** `training_completed` or `training_failed`: always last, never folded away. */
  terminal: boolean;
  /** Failed attempts counted against the schedule. */
  failures: number;
  /** Epoch milliseconds before which it is not sent. */
  dueAt: number;
  /** Redelivered by an operator: sent as asked, never folded into a newer callback. */
  pinned: boolean;
}

export type SettledStatus = "delivered" | "dead_lettered" | "gone" | "superseded";

/** A callback that left the line, and why. */
export interface Settled {
  id: string;
  status: SettledStatus;
  reason: string | null;
}

/** A callback that stays in the line with a new schedule. */
export interface Rescheduled {
  id: string;
  status: "pending" | "retrying";
  failures: number;
  dueAt: number;
  reason: string | null;
}

export interface LineChanges {
  settled: Settled[];
  rescheduled: Rescheduled[];
  /** The receiver answered 410: the job takes no more callbacks. */
  gone: boolean;
}

export type NextStep =
  { kind: "send"; item: LineItem } | { kind: "wait"; until: number } | { kind: "busy" } | { kind: "idle" };

const none = (): LineChanges => ({ settled: [], rescheduled: [], gone: false });

/**
 * The callbacks of one job that are still to be delivered, and the rules they leave by. Pure:
 * no clock, no I/O; the scheduler persists the changes each call returns.
 *
 * Invariants: one attempt at a time per job; callbacks leave in order (progress by sequence,
 * the terminal one last), so no progress callback is ever sent after the job's terminal one;
 * while the receiver is failing, stale progress callbacks are superseded by the newest one,
 * which takes over their place in the retry schedule; the terminal callback is never superseded.
 */
export class JobLine {
  private readonly items: LineItem[] = [];
  private inFlight: string | null = null;
  /** The job's last attempt failed: its receiver is failing. */
  private failing = false;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  get size(): number {
    return this.items.length;
  }

  has(id: string): boolean {
    return this.items.some((item) => item.id === id);
  }

  /** Ids in the order they will be sent. */
  ids(): string[] {
    return this.items.map((item) => item.id);
  }

  /** Adds a callback in its place; while the receiver fails, older progress callbacks fold into the newest. */
  admit(item: LineItem): LineChanges {
    if (this.has(item.id)) return none();
    const copy = { ...item };
    const terminalAt = this.items.findIndex((i) => i.terminal);
    if (copy.terminal) {
      this.items.push(copy);
    } else {
      const end = terminalAt === -1 ? this.items.length : terminalAt;
      let at = end;
      while (at > 0 && this.items[at - 1]!.seq > copy.seq && !this.items[at - 1]!.terminal) at--;
      this.items.splice(at, 0, copy);
    }
    // a callback restored with failed attempts means the receiver was failing when we stopped
    if (copy.failures > 0) this.failing = true;
    const changes = none();
    if (copy.terminal) this.dropProgressAfter(copy, changes);
    if (this.failing) this.coalesce(changes);
    return changes;
  }

  /** What the job's line does next at `now`. */
  next(now: number): NextStep {
    if (this.inFlight !== null) return { kind: "busy" };
    const head = this.items[0];
    if (!head) return { kind: "idle" };
    if (head.dueAt > now) return { kind: "wait", until: head.dueAt };
    return { kind: "send", item: head };
  }

  /** Marks the head as being attempted. */
  begin(id: string): void {
    if (this.items[0]?.id !== id || this.inFlight !== null) throw new Error(`callback ${id} is not the line's head`);
    this.inFlight = id;
  }

  /** Records how the attempt of `id` ended. */
  settle(id: string, verdict: AttemptVerdict, now: number): LineChanges {
    if (this.inFlight !== id) throw new Error(`callback ${id} is not being attempted`);
    this.inFlight = null;
    const item = this.items.find((i) => i.id === id)!;
    const changes = none();
    switch (verdict.kind) {
      case "delivered":
        this.failing = false;
        this.remove(item, "delivered", null, changes);
        break;
      case "gone":
        this.failing = false;
        changes.gone = true;
        this.remove(item, "gone", "the receiver answered 410 Gone", changes);
        for (const other of [...this.items]) {
          this.remove(other, "gone", `the receiver answered 410 Gone to ${id}`, changes);
        }
        break;
      case "refused":
        this.failing = true;
        this.remove(item, "dead_lettered", verdict.reason, changes);
        break;
      case "failed": {
        this.failing = true;
        item.failures += 1;
        const delay = retryDelayMs(item.failures, this.policy, verdict.retryAfterMs, this.random);
        if (delay === null) {
          this.remove(item, "dead_lettered", `${item.failures} failed attempts; last: ${verdict.reason}`, changes);
        } else {
          item.dueAt = now + delay;
          changes.rescheduled.push({
            id,
            status: "retrying",
            failures: item.failures,
            dueAt: item.dueAt,
            reason: verdict.reason,
          });
          this.coalesce(changes);
        }
        break;
      }
    }
    return changes;
  }

  /** An operator's redelivery of a callback still in the line: due now, with a fresh schedule. */
  retryNow(id: string, now: number, reason: string): LineChanges {
    const item = this.items.find((i) => i.id === id);
    const changes = none();
    if (!item) return changes;
    item.failures = 0;
    item.dueAt = now;
    item.pinned = true;
    if (this.inFlight !== id) {
      changes.rescheduled.push({ id, status: "pending", failures: 0, dueAt: now, reason });
    }
    return changes;
  }

  private remove(item: LineItem, status: SettledStatus, reason: string | null, changes: LineChanges): void {
    const at = this.items.indexOf(item);
    if (at !== -1) this.items.splice(at, 1);
    changes.settled.push({ id: item.id, status, reason });
  }

  /** A late terminal callback: progress callbacks published after it are not sent. */
  private dropProgressAfter(terminal: LineItem, changes: LineChanges): void {
    for (const item of [...this.items]) {
      if (!item.terminal && item.seq > terminal.seq && item.id !== this.inFlight && !item.pinned) {
        this.remove(item, "superseded", `published after the terminal callback ${terminal.id}`, changes);
      }
    }
  }

  /** Folds every waiting progress callback but the newest into it; the newest inherits their schedule. */
  private coalesce(changes: LineChanges): void {
    const progress = this.items.filter((i) => !i.terminal && !i.pinned && i.id !== this.inFlight);
    if (progress.length < 2) return;
    const newest = progress.reduce((a, b) => (b.seq > a.seq ? b : a));
    for (const stale of progress) {
      if (stale === newest) continue;
      newest.failures = Math.max(newest.failures, stale.failures);
      newest.dueAt = Math.max(newest.dueAt, stale.dueAt);
      this.remove(stale, "superseded", `superseded by ${newest.id} while the receiver was failing`, changes);
    }
    // the newest may have been rescheduled by this same call: one entry, with its latest schedule
    const prior = changes.rescheduled.find((r) => r.id === newest.id);
    const entry: Rescheduled = {
      id: newest.id,
      status: newest.failures > 0 ? "retrying" : "pending",
      failures: newest.failures,
      dueAt: newest.dueAt,
      reason: prior?.reason ?? (newest.failures > 0 ? "waiting for the receiver to recover" : null),
    };
    const kept = changes.rescheduled.filter((r) => r.id !== newest.id && !changes.settled.some((s) => s.id === r.id));
    changes.rescheduled.splice(0, changes.rescheduled.length, ...kept, entry);
  }
}
