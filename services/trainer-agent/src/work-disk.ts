import { readFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { retryLater, type Outcome } from "@trainyard/runtime";

/** errno codes of a disk that takes no more writes: the host's fault, never the job's. */
const DISK_FULL_CODES = new Set(["ENOSPC", "EDQUOT"]);

/**
 * How a full disk reads once it passed through the trainer or a log line: Node's codes, Python's
 * `[Errno 28]` (ENOSPC) and `[Errno 122]` (EDQUOT) with their strerror texts, and PyTorch's
 * `torch.save` on a disk that took part of a checkpoint (its writer reports no errno: `file write
 * failed`, or `unexpected pos N vs M` once a write came up short).
 */
const DISK_FULL_TEXT =
  /\b(ENOSPC|EDQUOT)\b|No space left on device|Disk quota exceeded|\[Errno (28|122)\]|PytorchStreamWriter failed writing file|inline_container\.cc.*unexpected pos \d+ vs \d+/i;

/** The reason of a hand-back for a full work folder; its redeliveries are no trainer crash. */
export const WORK_FOLDER_FULL = "work folder full";

/** How long a job handed back for a full work folder waits before this host tries it again. */
export const DISK_HAND_BACK_MS = 10_000;

/**
 * Whether `err` (a Node error, a trainer's reported failure with its `details`, or either as the
 * `cause` of another) says a disk was full.
 */
export function isDiskFullError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    const { code, message, details, cause } = e as {
      code?: unknown;
      message?: unknown;
      details?: unknown;
      cause?: unknown;
    };
    if (typeof code === "string" && DISK_FULL_CODES.has(code)) return true;
    if ([message, details].some((text) => typeof text === "string" && DISK_FULL_TEXT.test(text))) return true;
    e = cause;
  }
  return typeof err === "string" && DISK_FULL_TEXT.test(err);
}

/** Free space on the filesystem holding the work folder. */
export interface DiskSpace {
  freeBytes: number;
  /** Free inodes; null where the filesystem does not count them. */
  freeInodes: number | null;
}

/** Whether a filesystem with `space` left counts as full: below `minFreeBytes`, or out of inodes. */
export function isFull(space: DiskSpace, minFreeBytes: number): boolean {
  return space.freeBytes < minFreeBytes || space.freeInodes === 0;
}

export interface WorkDiskOptions {
  readSpace(): Promise<DiskSpace>;
  /** Free bytes below which the work folder counts as full (AGENT_WORK_DIR_MIN_FREE_MB). */
  minFreeBytes: number;
  now(): number;
  /** Called when the folder turns full or has room again (not on every check). */
  onChange(full: boolean, space: DiskSpace | null): void;
  /**
   * A file that keeps the hand-back counts across restarts of the agent (in the work folder);
   * without it they live in memory only. An agent restarted after a full disk must not take the
   * deliveries it handed back for the disk for trainer crashes (chaos seed 401).
   */
  ledgerFile?: string;
}

/** A job's run on this agent: its assignment's attempt. */
export interface RunKey {
  job_id: string;
  attempt: number;
}

/**
 * What the agent knows of its work folder's room: whether it is full now, when it last was, and
 * how many deliveries of each run it handed back for it. A full work folder is the host's fault:
 * the runs it breaks are handed back (never failed), and while it is full the agent takes no new
 * job (its heartbeat says draining) and runs none of those handed back.
 */
export class WorkDisk {
  #full = false;
  #lastFullAt = Number.NEGATIVE_INFINITY;
  readonly #handBacks: Map<string, number>;
  /** The ledger file lags the counts (a write failed, as on a full disk): written again when there is room. */
  #unsaved = false;

  constructor(private readonly opts: WorkDiskOptions) {
    this.#handBacks = opts.ledgerFile ? readLedger(opts.ledgerFile) : new Map<string, number>();
  }

  /** Full as of the last check. */
  get full(): boolean {
    return this.#full;
  }

  /** Reads the free space now; true when the folder is full. A failed read keeps the last state. */
  async check(): Promise<boolean> {
    let space: DiskSpace;
    try {
      space = await this.opts.readSpace();
    } catch {
      return this.#full;
    }
    this.#set(isFull(space, this.opts.minFreeBytes), space);
    if (!this.#full && this.#unsaved) await this.#save();
    return this.#full;
  }

  /**
   * Whether a run that started at `startedAt` and failed with `err` failed for this host's disk:
   * the error says a disk was full, or the work folder is full now or was at some point since the
   * run started (a trainer that could not write its log fails saying nothing, and the space may
   * be back by the time its failure is seen).
   */
  async causedFailure(err: unknown, startedAt: Date): Promise<boolean> {
    if (isDiskFullError(err)) {
      this.#set(true, null);
      return true;
    }
    return (await this.check()) || this.#lastFullAt >= startedAt.getTime();
  }

  /** Deliveries of this run handed back for a full work folder: they count as no run of it. */
  handBacks(run: RunKey): number {
    return this.#handBacks.get(keyOf(run)) ?? 0;
  }

  /**
   * Runs a delivered assignment unless the work folder is full (then it is handed back untouched)
   * and counts the deliveries handed back for the disk, by the guard or by the run itself. A job
   * cancelled meanwhile is run all the same: its run reports the cancellation without the disk.
   */
  async guard(run: RunKey, isCancelled: () => Promise<boolean>, start: () => Promise<Outcome>): Promise<Outcome> {
    const key = keyOf(run);
    let outcome: Outcome;
    if ((await this.check()) && !(await isCancelled())) outcome = retryLater(DISK_HAND_BACK_MS, WORK_FOLDER_FULL);
    else outcome = await start();
    if (outcome.kind === "retry" && outcome.reason === WORK_FOLDER_FULL)
      this.#handBacks.set(key, (this.#handBacks.get(key) ?? 0) + 1);
    else if (outcome.kind === "ack" && this.#handBacks.has(key)) this.#handBacks.delete(key);
    else return outcome;
    await this.#save();
    return outcome;
  }

  /** Writes the counts to the ledger file (whole, then renamed); a failure leaves them for the next check. */
  async #save(): Promise<void> {
    const file = this.opts.ledgerFile;
    if (!file) return;
    try {
      await writeFile(`${file}.partial`, JSON.stringify(Object.fromEntries(this.#handBacks)));
      await rename(`${file}.partial`, file);
      this.#unsaved = false;
    } catch {
      this.#unsaved = true;
    }
  }

  #set(full: boolean, space: DiskSpace | null): void {
    if (full) this.#lastFullAt = this.opts.now();
    if (full === this.#full) return;
    this.#full = full;
    this.opts.onChange(full, space);
  }
}

const keyOf = (run: RunKey) => `${run.job_id}:${run.attempt}`;

/** The counts a previous process of this agent left; none when the file is missing or unreadable. */
function readLedger(file: string): Map<string, number> {
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as unknown;
    if (typeof parsed !== "object" || parsed === null) return new Map<string, number>();
    return new Map(
      Object.entries(parsed).filter((entry): entry is [string, number] => Number.isInteger(entry[1]) && entry[1] > 0),
    );
  } catch {
    return new Map<string, number>();
  }
}
