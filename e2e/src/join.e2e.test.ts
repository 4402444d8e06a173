/**
 * A GPU host joins with one command. A stack with its one agent runs; a separate folder holding
 * what a clone holds (the repository's files, nothing installed or built) runs
 * `bash scripts/join.sh --nats … --creds …` with a credential issued by `addAgent`. The agent it
 * starts heartbeats, takes the next job once the stack's own agent is drained, and SIGTERM
 * leaves no process of it behind. Bad input fails with a message that says what to fix, before
 * anything is installed where it can. The folder reuses this machine's pnpm store and the
 * project's `.venv` (TRAINER_PYTHON), as a host with its own venv would: no torch download.
 */
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
} from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import type { Callback } from "@trainyard/contracts";
import { freePort, repoRoot, supervise, writeNatsCredentials, type Supervised } from "@trainyard/stack";
import { startE2eRun, until, type E2eRun } from "./support.js";

const AGENT = "joined-1";
/** A fresh folder installs the agent's workspace and builds it first. */
const JOIN_TIMEOUT_MS = 10 * 60_000;
const TRAINING_TIMEOUT_MS = 5 * 60_000;

let run: E2eRun;
/** The new host's copy of the repository. */
let hostDir: string;
let workDir: string;
let seed: string;
/** join.sh's environment: this machine's, with the project's venv as the host's own Python. */
let hostEnv: NodeJS.ProcessEnv;
const joins: JoinedHost[] = [];

before(async () => {
  run = await startE2eRun({ name: "join", datasets: { "small.zip": { train: 8, val: 4, size: 64, seed: 11 } } });
  hostDir = join(run.dir, "host");
  workDir = join(run.stackDir, `agent-${AGENT}`);
  copyRepositoryFiles(hostDir);
  seed = await run.stack.nats.addAgent(AGENT);
  hostEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(NATS|AGENT|TRAINER)_/.test(key)));
  hostEnv.TRAINER_PYTHON = join(repoRoot, ".venv", "bin", "python");
});

after(async () => {
  for (const host of joins) await host.proc.stop();
  await run?.close();
  if (hostDir) await rm(hostDir, { recursive: true, force: true });
});

/**
 * Copies the files git has for this working tree (tracked, or new and not ignored): what a clone
 * of it holds, without node_modules, builds or venvs, and with edits not yet committed.
 */
function copyRepositoryFiles(to: string): void {
  const listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: repoRoot,
    encoding: "utf8",
  });
  for (const path of listed.split("\0").filter(Boolean)) {
    const from = join(repoRoot, path);
    if (!existsSync(from)) continue; // deleted in the working tree
    mkdirSync(dirname(join(to, path)), { recursive: true });
    copyFileSync(from, join(to, path));
  }
}

interface JoinedHost {
  proc: Supervised;
  /** join.sh's output, then the agent's. */
  lines: string[];
  exitCode: number | null | undefined;
}

/** Starts the one command in the host's folder. */
function startJoin(args: string[]): JoinedHost {
  const host: JoinedHost = { proc: undefined as unknown as Supervised, lines: [], exitCode: undefined };
  host.proc = supervise("join", "bash", ["scripts/join.sh", ...args], {
    cwd: hostDir,
    env: hostEnv,
    sink: (name, line) => {
      host.lines.push(line);
      run.sink(name, line);
    },
  });
  void host.proc.exited.then((code) => (host.exitCode = code));
  joins.push(host);
  return host;
}

/** Runs join.sh to its end, expecting it to fail; returns what it printed. */
async function joinFails(args: string[]): Promise<string> {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn("bash", ["scripts/join.sh", ...args], { cwd: hostDir, env: hostEnv });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("close", (exitCode) => resolve({ code: exitCode, output }));
  });
  for (const line of output.split("\n")) run.sink("join-refused", line);
  assert.equal(code, 1, `join.sh ${args.join(" ")} should fail; it printed:\n${output}`);
  return output;
}

interface DashboardAgent {
  agent_id: string;
  online: boolean;
  draining: boolean;
  slots: Array<{ device: string }>;
}
const agents = async () => (await run.dashboard<{ agents: DashboardAgent[] }>("/api/overview")).agents;

/** Waits for the joined agent's heartbeat on the dashboard; fails at once when join.sh exits instead. */
async function heartbeatOf(host: JoinedHost): Promise<DashboardAgent> {
  const all = await until(
    async () => {
      if (host.exitCode !== undefined) {
        throw new Error(
          `join.sh exited (${host.exitCode}) before ${AGENT} joined:\n${host.lines.slice(-25).join("\n")}`,
        );
      }
      return agents();
    },
    (list) => list.some((a) => a.agent_id === AGENT && a.online),
    `${AGENT}'s heartbeat`,
    JOIN_TIMEOUT_MS,
  );
  return all.find((a) => a.agent_id === AGENT)!;
}

/** Processes running from the host's folder or its agent's work dir (by working folder or command line). */
function processesOfHost(): string[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const cwd = readlinkSync(`/proc/${pid}/cwd`);
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        return [hostDir, workDir].some((dir) => cwd.startsWith(dir) || cmdline.includes(dir));
      } catch {
        return false; // exited while we looked
      }
    });
}

/** SIGTERM to the agent join.sh became; resolves once it exited, with nothing of it left running. */
async function leave(host: JoinedHost): Promise<void> {
  process.kill(host.proc.child.pid!, "SIGTERM");
  const code = await Promise.race([
    host.proc.exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${AGENT} still ran 60 s after SIGTERM`)), 60_000),
    ),
  ]);
  assert.equal(code, 0, "the agent stopped cleanly");
  assert.deepEqual(processesOfHost(), [], "no process of the joined host is left");
  await until(
    agents,
    (all) => all.find((a) => a.agent_id === AGENT)?.online === false,
    `${AGENT} to leave the dashboard's online agents`,
  );
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const joinArgs = () => ["--nats", run.stack.natsUrl, "--creds", seed, "--agent-id", AGENT, "--work-dir", workDir];

test("an invalid agent id is refused before anything is installed", async () => {
  const output = await joinFails(["--nats", run.stack.natsUrl, "--creds", seed, "--agent-id", "gpu.3"]);
  assert.match(output, /invalid agent id "gpu\.3"/);
  assert.equal(existsSync(join(hostDir, "node_modules")), false, "nothing was installed");
});

test("a credential other users can read is refused, naming the fix", async () => {
  const open = join(run.dir, "open.nk");
  copyFileSync(seed, open);
  chmodSync(open, 0o644);
  const output = await joinFails(["--nats", run.stack.natsUrl, "--creds", open, "--agent-id", AGENT]);
  assert.match(output, /mode 644\): chmod 600/);
  assert.equal(existsSync(join(hostDir, "node_modules")), false, "nothing was installed");
});

test("a fresh folder joins with one command and takes the next job; SIGTERM leaves nothing behind", async () => {
  const started = Date.now();
  const host = startJoin(joinArgs());
  const beat = await heartbeatOf(host);
  const coldMs = Date.now() - started;
  console.log(
    `join, cold (fresh folder, warm pnpm store, TRAINER_PYTHON given): first heartbeat after ${seconds(coldMs)}`,
  );
  assert.ok(
    host.lines.some((l) => /^\[preflight\] (nvidia-smi found|slots from)/.test(l)),
    "join.sh says which devices it found",
  );
  assert.ok(beat.slots.length > 0, "the agent offers its slots");
  const cmdline = readFileSync(`/proc/${host.proc.child.pid}/cmdline`, "utf8");
  assert.match(
    cmdline,
    /services\/trainer-agent\/dist\/main\.js/,
    "join.sh became the agent (exec), so signals reach it",
  );
  assert.ok(
    lstatSync(join(hostDir, "services", "trainer-agent", "dist", "main.js")).isFile(),
    "the agent was built there",
  );
  assert.equal(existsSync(join(hostDir, "services", "gateway", "dist")), false, "only the agent was built");

  // the stack's own agent takes nothing more: the next job can only go to the joined one
  process.kill(run.agentProcess("local-1").child.pid!, "SIGUSR2");
  await until(agents, (all) => all.some((a) => a.agent_id === "local-1" && a.draining), "local-1 draining");
  const request = run.job(1);
  await run.submit(request);
  await run.receiver.waitFor(
    () => run.callbacksOf(request.job_id).some((b) => b.type !== "training_progress"),
    TRAINING_TIMEOUT_MS,
    "the job's terminal callback",
  );
  const terminal = run.callbacksOf(request.job_id).at(-1) as Callback;
  assert.equal(terminal.type, "training_completed", `the job completes: ${JSON.stringify(terminal)}`);
  const view = await run.dashboard<{ agent_id: string | null }>(`/api/jobs/${request.job_id}`);
  assert.equal(view.agent_id, AGENT, "the job ran on the joined agent");

  await leave(host);
});

test("joining again from the same folder (warm) is quick and leaves as cleanly", async () => {
  const started = Date.now();
  const host = startJoin(joinArgs());
  await heartbeatOf(host);
  console.log(`join, warm (installed and built): first heartbeat after ${seconds(Date.now() - started)}`);
  await leave(host);
});

test("a credential the servers do not know, another agent's, or no reachable server: the check says which", async () => {
  const otherFolder = writeNatsCredentials(join(run.dir, "other-nats-auth"), [AGENT]);
  const unknown = otherFolder.seedFiles[`agent-${AGENT}`]!;
  assert.match(
    await joinFails(["--nats", run.stack.natsUrl, "--creds", unknown, "--agent-id", AGENT]),
    /refused the credential/,
  );

  const asOther = await joinFails(["--nats", run.stack.natsUrl, "--creds", seed, "--agent-id", "other-1"]);
  assert.match(asOther, /not agent-other-1.s credential/);
  assert.match(asOther, /pass --agent-id joined-1/);

  const closed = `nats://127.0.0.1:${await freePort()}`;
  assert.match(
    await joinFails(["--nats", closed, "--creds", seed, "--agent-id", AGENT]),
    /cannot reach NATS at nats:\/\/127\.0\.0\.1/,
  );
});
