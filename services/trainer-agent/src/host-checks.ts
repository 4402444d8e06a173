import { execFile } from "node:child_process";
import { basename } from "node:path";
import { promisify } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { TRAIN_STREAM, type Slot } from "@trainyard/contracts";
import { connectNats, type NatsAuth } from "@trainyard/runtime";

const run = promisify(execFile);

/** A host that cannot run this agent; the message says what to fix. */
export class PreflightError extends Error {
  override name = "PreflightError";
}

/** One line saying which slots the agent will offer and where they came from. */
export function describeSlots(slots: Slot[], setting: string): string {
  const list = slots.map((s) => (s.name === s.device ? s.device : `${s.device} (${s.name})`)).join(", ");
  if (setting !== "auto") return `slots from AGENT_DEVICES=${setting}: ${list}`;
  if (slots.every((s) => s.device === "cpu")) return "nvidia-smi found no GPU (or is not installed): one CPU slot";
  return `nvidia-smi found ${slots.length} GPU${slots.length === 1 ? "" : "s"}: ${list}`;
}

/** Looks for the trainer without importing Ultralytics (seconds, and it writes a settings file). */
const PYTHON_CHECK = `
import importlib.util, json, sys
missing = [m for m in ("trainyard_trainer", "ultralytics", "torch") if importlib.util.find_spec(m) is None]
if missing:
    print(json.dumps({"missing": missing}))
    sys.exit(0)
import torch
print(json.dumps({"missing": [], "torch": torch.__version__, "cuda_devices": torch.cuda.device_count() if torch.cuda.is_available() else 0}))
`;

export interface TrainerPython {
  torch: string;
  cudaDevices: number;
}

/**
 * Checks that `python` has the trainer, Ultralytics and torch, and that torch sees every GPU
 * the slots name (a CPU-only torch on a GPU host would fail every job).
 */
export async function checkTrainerPython(python: string, slots: Slot[]): Promise<TrainerPython> {
  let stdout: string;
  try {
    ({ stdout } = await run(python, ["-c", PYTHON_CHECK], { timeout: 120_000 }));
  } catch (err) {
    throw new PreflightError(`TRAINER_PYTHON=${python} does not run: ${(err as Error).message.split("\n")[0]}`);
  }
  const found = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as {
    missing: string[];
    torch?: string;
    cuda_devices?: number;
  };
  if (found.missing.length > 0) {
    throw new PreflightError(
      `TRAINER_PYTHON=${python} lacks ${found.missing.join(", ")}: install the trainer into it ` +
        `(${python} -m pip install -e python-trainer), or leave TRAINER_PYTHON unset to get .venv/`,
    );
  }
  const cudaDevices = found.cuda_devices ?? 0;
  const gpuIndices = slots.flatMap((s) => {
    const match = /^cuda(?::(\d+))?$/.exec(s.device);
    return match ? [Number(match[1] ?? 0)] : [];
  });
  if (gpuIndices.length > 0 && cudaDevices <= Math.max(...gpuIndices)) {
    throw new PreflightError(
      `torch ${found.torch} in ${python} sees ${cudaDevices} CUDA device(s), the slots need cuda:${Math.max(...gpuIndices)}: ` +
        "install a CUDA build of torch, or pass --devices cpu",
    );
  }
  return { torch: found.torch ?? "?", cudaDevices };
}

/** Who is joining where, for the messages of a failed NATS check. */
export interface NatsTarget {
  servers: string;
  agentId: string;
  auth: NatsAuth;
}

/**
 * Connects as the agent and reads the TRAIN stream through the agent's own reply inbox: this
 * proves the servers are reachable, accept the credential, know it as this agent's user, and
 * were provisioned.
 */
export async function checkNats(target: NatsTarget): Promise<void> {
  try {
    const nc = await connectNats(target.servers, `preflight-${target.agentId}`, target.auth);
    try {
      const jsm = await jetstreamManager(nc, { timeout: 10_000 });
      await jsm.streams.info(TRAIN_STREAM);
    } finally {
      await nc.close();
    }
  } catch (err) {
    throw new PreflightError(explainNatsFailure(err, target));
  }
}

/** What a failed connection or request as this agent means for the operator. */
export function explainNatsFailure(err: unknown, target: NatsTarget): string {
  const message = err instanceof Error ? err.message : String(err);
  const credential = target.auth.nkeySeedFile ?? target.auth.credsFile ?? "(none)";
  if (/authorization violation|authentication/i.test(message)) {
    return (
      `NATS at ${target.servers} refused the credential ${credential}: it is not a user there ` +
      "(issued from another credentials folder, or the servers were not reloaded after " +
      "`nats-auth --add-agent`: nats-server --signal reload)"
    );
  }
  if (/^nkeys:/.test(message)) {
    return `the credential ${credential} is not an nkey seed (${message}): pass the agent-<id>.nk file nats-auth wrote`;
  }
  if (/permissions violation/i.test(message)) {
    const issuedFor = /^agent-(.+)\.nk$/.exec(basename(credential))?.[1];
    const hint =
      issuedFor && issuedFor !== target.agentId
        ? `; its name says it was issued for ${issuedFor}: pass --agent-id ${issuedFor}`
        : `; issue one with \`nats-auth --add-agent ${target.agentId}\` (a shared pool credential needs NATS_USER=agent-pool)`;
    return `NATS accepted ${credential}, but it is not ${target.auth.user}'s credential${hint}`;
  }
  if (/stream not found/i.test(message)) {
    return `NATS at ${target.servers} has no ${TRAIN_STREAM} stream: run the provisioner first (node packages/runtime/dist/provision.js as admin)`;
  }
  return `cannot reach NATS at ${target.servers} as ${target.auth.user}: ${message}`;
}
