import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { TrainerEvent } from "@trainyard/contracts";

export interface TrainerRun {
  /** Events in the order the trainer wrote them; a line that breaks the protocol is reported as a failure. */
  events: AsyncIterable<TrainerEvent>;
  /** Exit code, or the signal that ended the trainer. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops the trainer (SIGTERM, then SIGKILL after `graceMs`). */
  kill(graceMs?: number): void;
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
 * Ultralytics prints can be mistaken for an event.
 */
export function startTrainer(launch: TrainerLaunch): TrainerRun {
  const logFd = openSync(launch.logFile, "a");
  const child = spawn(launch.python, ["-m", "trainyard_trainer", "--job", launch.jobFile, "--events-fd", "3"], {
    cwd: launch.cwd,
    env: launch.env,
    stdio: ["ignore", logFd, logFd, "pipe"],
  });
  closeSync(logFd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  const eventStream = child.stdio[3] as Readable;
  return {
    events: parseEvents(eventStream),
    exited,
    kill(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"), graceMs).unref();
    },
  };
}

async function* parseEvents(stream: Readable): AsyncIterable<TrainerEvent> {
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    let parsed: ReturnType<typeof TrainerEvent.safeParse>;
    try {
      parsed = TrainerEvent.safeParse(JSON.parse(line));
    } catch {
      parsed = TrainerEvent.safeParse(undefined);
    }
    if (parsed.success) {
      yield parsed.data;
    } else {
      yield {
        type: "failed",
        code: "UNKNOWN_ERROR",
        message: "trainer broke its event protocol",
        details: `unexpected event line: ${line.slice(0, 300)}`,
        epoch: null,
      };
      return;
    }
  }
}
