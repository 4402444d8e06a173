/**
 * Injects the planned faults into a running world, each at its moment. Faults on one target
 * (an agent, a service, the NATS servers, a work folder) take turns, so an agent is never killed
 * while it is paused and never two NATS nodes are down at once; faults on different targets
 * overlap freely.
 */
import { readdirSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fillFilesystem } from "@trainyard/stack";
import type { FaultKind, PlannedFault } from "./plan.js";
import type { ChaosWorld } from "./world.js";

export interface FaultRecord {
  fault: PlannedFault;
  /** What it hit: the planned target, or for agent faults the agent that was running a trainer then. */
  target: string;
  status: "injected" | "skipped" | "error";
  note: string;
  /** Offsets from the run's start. */
  startedAtMs: number | null;
  endedAtMs: number | null;
  /** Jobs whose trainer (or agent) the fault hit, as far as the injector could tell. */
  jobsHit: string[];
}

/** How long a fault aimed at an agent waits for some agent to be training, so that it meets a job. */
const TRAINER_WAIT_MS = 30_000;

/** Kinds that take a job's host away: each costs the job one of its runs. */
export const HOST_FAULTS: ReadonlySet<FaultKind> = new Set(["kill-agent", "partition"]);
/** Kinds aimed at one agent's processes; they take turns per agent. */
const AGENT_FAULTS: ReadonlySet<FaultKind> = new Set(["kill-agent", "kill-trainer", "partition"]);

export class FaultInjector {
  readonly records: FaultRecord[] = [];
  private readonly turns = new Map<string, Promise<void>>();
  /** Agent faults under way or waiting, per agent. */
  private readonly engaged = new Map<string, number>();

  constructor(
    private readonly world: ChaosWorld,
    private readonly startedAt: number,
    private readonly say: (line: string) => void,
  ) {}

  /** Runs every fault at its moment; resolves once all of them are over and their targets restored. */
  async inject(faults: readonly PlannedFault[]): Promise<void> {
    await Promise.all(
      faults.map(async (fault) => {
        await sleep(Math.max(0, this.startedAt + fault.atMs - Date.now()));
        await this.schedule(fault).catch((err: unknown) =>
          this.say(`fault #${fault.index} ${fault.kind} could not be scheduled: ${String(err)}`),
        );
      }),
    );
  }

  /** Picks the fault's target and runs it in that target's turn; a failure is recorded, never thrown. */
  private async schedule(fault: PlannedFault): Promise<void> {
    const record: FaultRecord = {
      fault,
      target: fault.target,
      status: "injected",
      note: "",
      startedAtMs: null,
      endedAtMs: null,
      jobsHit: [],
    };
    this.records.push(record);
    const aimsAtAgent =
      AGENT_FAULTS.has(fault.kind) || (fault.kind === "disk-full" && fault.target.startsWith("agent:"));
    if (aimsAtAgent) await this.trainerRunning(TRAINER_WAIT_MS);
    if (AGENT_FAULTS.has(fault.kind)) {
      record.target = this.busyAgent(fault.target, record, true);
      this.engaged.set(record.target, (this.engaged.get(record.target) ?? 0) + 1);
    } else if (fault.kind === "disk-full" && fault.target.startsWith("agent:")) {
      record.target = `agent:${this.busyAgent(fault.target.slice(6), record, false)}`;
    }
    try {
      await this.inTurn(turnOf(fault.kind, record.target), () => this.one(record));
    } finally {
      if (AGENT_FAULTS.has(fault.kind)) this.engaged.set(record.target, (this.engaged.get(record.target) ?? 1) - 1);
    }
  }

  private async inTurn(key: string, action: () => Promise<void>): Promise<void> {
    const previous = this.turns.get(key) ?? Promise.resolve();
    const mine = previous.then(action, action);
    this.turns.set(
      key,
      mine.catch(() => undefined),
    );
    await mine;
  }

  private now(): number {
    return Date.now() - this.startedAt;
  }

  /** Waits until some agent runs a trainer, for at most `timeoutMs`. */
  private async trainerRunning(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const pids = () => this.world.stack.agents.map((a) => this.world.agent(a.agentId).pid);
    while (Date.now() < deadline && !pids().some((pid) => trainersOf(pid).length > 0)) await sleep(500);
  }

  /**
   * The planned agent if a trainer runs there, else the next agent that runs one (and, for an
   * agent fault, has no other agent fault under way), else the planned one: a fault on an idle
   * agent tests little. The switch is noted in the record.
   */
  private busyAgent(planned: string, record: FaultRecord, exclusive: boolean): string {
    const ids = this.world.stack.agents.map((a) => a.agentId);
    const start = Math.max(0, ids.indexOf(planned));
    const order = [...ids.slice(start), ...ids.slice(0, start)];
    const busy = order.find(
      (id) =>
        (!exclusive || id === planned || !this.engaged.get(id)) && trainersOf(this.world.agent(id).pid).length > 0,
    );
    if (busy && busy !== planned) record.note = `${planned} idle or under another fault, ${busy} instead; `;
    return busy ?? planned;
  }

  private async one(record: FaultRecord): Promise<void> {
    const { fault } = record;
    record.startedAtMs = this.now();
    try {
      await this.apply(fault, record);
    } catch (err) {
      record.status = "error";
      record.note = `${record.note} ${String((err as Error).message ?? err)}`.trim();
    }
    record.endedAtMs = this.now();
    const hit = record.jobsHit.length ? ` jobs ${record.jobsHit.map((j) => j.slice(0, 8)).join(",")}` : "";
    this.say(
      `[${(record.startedAtMs / 1000).toFixed(1)}s] fault #${fault.index} ${fault.kind} ${record.target}` +
        `${fault.mode ? ` (${fault.mode})` : ""}: ${record.status}${hit}${record.note ? ` — ${record.note}` : ""}`,
    );
  }

  private async apply(fault: PlannedFault, record: FaultRecord): Promise<void> {
    const { world } = this;
    switch (fault.kind) {
      case "kill-service":
      case "kill-nats":
      case "kill-mongo": {
        const tries = await restartHard(world, fault.target, fault.durationMs);
        record.note += `down ${fault.durationMs} ms${tries > 1 ? `, restarted on try ${tries}` : ""}`;
        return;
      }
      case "kill-agent": {
        const agent = world.agent(record.target);
        record.jobsHit = trainersOf(agent.pid).map((t) => t.jobId);
        const tries = await restartHard(world, agent.name, fault.durationMs);
        record.note += `down ${fault.durationMs} ms${tries > 1 ? `, restarted on try ${tries}` : ""}`;
        return;
      }
      case "kill-trainer": {
        const trainer = trainersOf(world.agent(record.target).pid)[0];
        if (!trainer) {
          record.status = "skipped";
          record.note += "no trainer was running";
          return;
        }
        // the trainer alone, not its agent: a crash the agent must notice and retry
        process.kill(trainer.pid, "SIGKILL");
        record.jobsHit = [trainer.jobId];
        record.note += `trainer pid ${trainer.pid}`;
        return;
      }
      case "partition": {
        const pid = world.agent(record.target).pid;
        if (pid === undefined) throw new Error(`agent ${record.target} has no pid`);
        record.jobsHit = trainersOf(pid).map((t) => t.jobId);
        // the agent alone: its trainer keeps running while its heartbeat expires
        process.kill(pid, "SIGSTOP");
        try {
          await sleep(fault.durationMs);
        } finally {
          process.kill(pid, "SIGCONT");
        }
        record.note += `agent paused ${fault.durationMs} ms${record.jobsHit.length ? " while its trainer ran on" : ""}`;
        return;
      }
      case "receiver":
        await world.receiver.setMode(fault.mode as "error" | "down" | "hang");
        try {
          await sleep(fault.durationMs);
        } finally {
          await world.receiver.setMode("ok");
        }
        record.note += `${fault.mode} for ${fault.durationMs} ms`;
        return;
      case "dataset-server":
        world.files.disrupt({
          kind: fault.mode as "drop" | "stall",
          transfers: fault.transfers ?? 1,
          stallMs: fault.durationMs,
        });
        record.note += `armed for the next ${fault.transfers} transfer(s)`;
        return;
      case "disk-full": {
        const folder = world.disks.dirs.get(record.target);
        if (!folder) {
          record.status = "skipped";
          record.note += world.disks.note;
          return;
        }
        if (record.target.startsWith("agent:")) {
          record.jobsHit = trainersOf(world.agent(record.target.slice(6)).pid).map((t) => t.jobId);
        }
        const filler = join(folder, ".chaos-filler");
        try {
          const filled = await fillFilesystem(filler);
          record.note += `${Math.round(filled / 1024 ** 2)} MiB filled for ${fault.durationMs} ms`;
          await sleep(fault.durationMs);
        } finally {
          await rm(filler, { force: true });
        }
        return;
      }
      default:
        throw new Error(`unknown fault kind ${String(fault.kind satisfies never)}`);
    }
  }
}

/** Faults that must not overlap share a turn key: one per agent, one for all NATS nodes, one per other target. */
function turnOf(kind: FaultKind, target: string): string {
  switch (kind) {
    case "kill-agent":
    case "kill-trainer":
    case "partition":
      return `agent:${target}`;
    case "disk-full":
      return `disk:${target}`;
    case "kill-nats":
      return "nats";
    case "kill-service":
    case "kill-mongo":
    case "receiver":
    case "dataset-server":
      return target;
    default:
      return kind satisfies never;
  }
}

/**
 * SIGKILLs the named process's group (the process and whatever it spawned, as a dying host) and
 * starts it again after `downMs`; a start that fails (its dependencies are down too) is tried
 * again. Returns the number of tries.
 */
async function restartHard(world: ChaosWorld, name: string, downMs: number): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      await world.stack.restart(name, { hard: true, duringOutage: () => sleep(attempt === 1 ? downMs : 2_000) });
      return attempt;
    } catch (err) {
      if (attempt >= 10) throw err;
    }
  }
}

/** A trainer process and the job it trains. */
export interface TrainerProcess {
  pid: number;
  jobId: string;
}

/** The trainers an agent (its pid) started: its children, each leading its own process group; from /proc. */
export function trainersOf(agentPid: number | undefined): TrainerProcess[] {
  if (agentPid === undefined) return [];
  return allTrainers().filter((t) => t.ppid === agentPid);
}

/** Every trainer process on this machine whose command line names a path containing `under`. */
export function trainersUnder(under: string): TrainerProcess[] {
  return allTrainers().filter((t) => t.cmdline.includes(under));
}

function allTrainers(): Array<TrainerProcess & { ppid: number; cmdline: string }> {
  const found: Array<TrainerProcess & { ppid: number; cmdline: string }> = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (!cmdline.includes("trainyard_trainer")) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // fields after the command name (which may hold spaces): state ppid pgrp …
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const args = cmdline.split("\0");
      const jobFile = args[args.indexOf("--job") + 1] ?? "";
      found.push({ pid: Number(entry), ppid: Number(fields[1]), cmdline, jobId: basename(dirname(jobFile)) });
    } catch {
      // exited while we looked
    }
  }
  return found;
}
