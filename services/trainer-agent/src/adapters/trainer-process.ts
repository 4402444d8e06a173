import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { TRAINER_PROTOCOL_VERSION, TrainerEvent } from "@trainyard/contracts";

export interface TrainerRun {
  /**
   * Events in the order the trainer wrote them. A line that breaks the protocol (or speaks another
   * protocol version) ends the stream with an UNKNOWN_ERROR `error` event, and the trainer is killed.
   */
  events: AsyncIterable<TrainerEvent>;
  /** Exit code, or the signal that ended the trainer. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Stops the trainer: SIGTERM, which it answers at the next batch boundary with a CANCELLED
   * `error` event (exit code 3), then SIGKILL after `graceMs`.
   */
  kill(graceMs?: number): void;
  /** The trainer's process id (undefined when it could not be started). */
  pid?: number;
}

export interface TrainerLaunch {
  python: string;
  jobFile: string;
  /** Ultralytics' stdout and stderr go here: the job's training log. */
  logFile: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/**
 * Starts `python -m trainyard_trainer` with its events on file descriptor 3, so that nothing
 * Ultralytics prints can be mistaken for an event. The trainer leads its own process group, so a
 * stop reaches its data-loader workers too, and dies with this agent (TRAINYARD_AGENT_PID in its
 * environment arms the kernel's parent-death signal: python-trainer's agent_bond).
 */
export function startTrainer(launch: TrainerLaunch): TrainerRun {
  const logFd = openSync(launch.logFile, "a");
  const child = spawn(launch.python, ["-m", "trainyard_trainer", "--job", launch.jobFile, "--events-fd", "3"], {
    cwd: launch.cwd,
    env: launch.env,
    stdio: ["ignore", logFd, logFd, "pipe"],
    detached: true,
  });
  closeSync(logFd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  const eventStream = child.stdio[3] as Readable;
  const running = () => child.exitCode === null && child.signalCode === null;
  // the whole group: the trainer and the data-loader workers it started
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      child.kill(signal); // the group is gone already, or was never made
    }
  };
  const kill = (graceMs = 10_000) => {
    if (!running()) return;
    signalGroup("SIGTERM");
    setTimeout(() => running() && signalGroup("SIGKILL"), graceMs).unref();
  };
  return { events: parseEvents(eventStream, () => kill(0)), exited, kill, pid: child.pid };
}

type ErrorEvent = Extract<TrainerEvent, { type: "error" }>;

/** One event line, checked: the event, or the protocol failure that ends the stream. */
export type ParsedLine = { ok: true; event: TrainerEvent } | { ok: false; failure: ErrorEvent };

const KNOWN_TYPES = new Set(["phase", "epoch", "artifact", "log", "error", "done"]);

function broken(message: string, details: string): ParsedLine {
  return {
    ok: false,
    failure: {
      v: TRAINER_PROTOCOL_VERSION,
      type: "error",
      code: "UNKNOWN_ERROR",
      message,
      details,
      phase: "preparing",
      epoch: null,
      partial_metrics: null,
    },
  };
}

/**
 * Checks one event line. A different protocol major (`v`) is refused by name; an unknown event
 * type of this major is a later trainer's addition, passed on as a warning; anything else that
 * breaks the schema is a protocol violation.
 */
export function parseEventLine(line: string): ParsedLine {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return broken("trainer broke its event protocol", `not JSON: ${line.slice(0, 300)}`);
  }
  const fields = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
  if (fields.v !== TRAINER_PROTOCOL_VERSION) {
    const spoken = fields.v === undefined ? "1 (events without a v field)" : JSON.stringify(fields.v);
    return broken(
      "trainer speaks another event protocol version",
      `the trainer sent protocol version ${spoken}; this agent reads version ${TRAINER_PROTOCOL_VERSION}: ` +
        `install the trainer that matches this agent. Line: ${line.slice(0, 200)}`,
    );
  }
  const parsed = TrainerEvent.safeParse(raw);
  if (parsed.success) return { ok: true, event: parsed.data };
  if (typeof fields.type === "string" && !KNOWN_TYPES.has(fields.type)) {
    const message = `skipped an event of unknown type ${JSON.stringify(fields.type)} from a newer trainer`;
    return { ok: true, event: { v: TRAINER_PROTOCOL_VERSION, type: "log", level: "warning", message } };
  }
  const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
  return broken("trainer broke its event protocol", `${issues}; line: ${line.slice(0, 300)}`);
}

async function* parseEvents(stream: Readable, stop: () => void): AsyncIterable<TrainerEvent> {
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    const parsed = parseEventLine(line);
    if (parsed.ok) {
      yield parsed.event;
      continue;
    }
    stop(); // nothing it says after this can be trusted, and it must not go on training unwatched
    yield parsed.failure;
    return;
  }
}
