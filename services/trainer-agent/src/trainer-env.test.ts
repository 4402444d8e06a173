import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { repoRoot } from "@trainyard/stack";
import { startTrainer } from "./adapters/trainer-process.js";
import { trainerEnvironment } from "./trainer-env.js";

/** An agent's environment as deployed: its secrets and settings beside what a trainer needs. */
const AGENT_ENV: NodeJS.ProcessEnv = {
  PATH: "/usr/local/bin:/usr/bin:/bin",
  HOME: "/home/trainyard",
  LANG: "C.UTF-8",
  LD_LIBRARY_PATH: "/usr/local/cuda/lib64",
  CUDA_VISIBLE_DEVICES: "0,1",
  NVIDIA_DRIVER_CAPABILITIES: "compute,utility",
  OMP_NUM_THREADS: "4",
  PYTORCH_CUDA_ALLOC_CONF: "expandable_segments:True",
  TRAINYARD_WEIGHTS_DIR: "/weights",
  AGENT_ID: "gpu-7",
  NATS_URL: "nats://nats-1:4222",
  NATS_USER: "agent-gpu-7",
  NATS_PASSWORD: "s3cret-nats-password",
  NATS_NKEY_SEED_FILE: "/run/secrets/nkey_agent",
  NATS_CREDS_FILE: "/run/secrets/agent.creds",
  API_SECRET: "api-secret-0123456789abcdef",
  DOWNLOAD_URL_SECRET: "download-secret-0123456789",
  AWS_SECRET_ACCESS_KEY: "aws-secret",
  ULTRALYTICS_API_KEY: "ultralytics-key",
};
const SECRET_NAMES = [
  "AGENT_ID",
  "NATS_URL",
  "NATS_USER",
  "NATS_PASSWORD",
  "NATS_NKEY_SEED_FILE",
  "NATS_CREDS_FILE",
  "API_SECRET",
  "DOWNLOAD_URL_SECRET",
  "AWS_SECRET_ACCESS_KEY",
  "ULTRALYTICS_API_KEY",
];

describe("trainerEnvironment", () => {
  test("passes what Python, PyTorch, CUDA and the trainer need, and sets it offline", () => {
    const env = trainerEnvironment(AGENT_ENV);
    for (const name of [
      "PATH",
      "HOME",
      "LANG",
      "LD_LIBRARY_PATH",
      "CUDA_VISIBLE_DEVICES",
      "NVIDIA_DRIVER_CAPABILITIES",
      "OMP_NUM_THREADS",
      "PYTORCH_CUDA_ALLOC_CONF",
      "TRAINYARD_WEIGHTS_DIR",
    ]) {
      assert.equal(env[name], AGENT_ENV[name], `${name} passed on`);
    }
    assert.equal(env.YOLO_OFFLINE, "true");
    assert.equal(env.PYTHONUNBUFFERED, "1");
  });

  test("passes none of the agent's own settings or secrets", () => {
    const env = trainerEnvironment(AGENT_ENV);
    assert.deepEqual(
      SECRET_NAMES.filter((name) => name in env),
      [],
    );
  });
});

describe("the trainer process the agent starts", () => {
  const python = join(repoRoot, ".venv", "bin", "python");
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trainer-env-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("its /proc/<pid>/environ holds no secret of the agent's", async () => {
    const secrets = { ...process.env, ...Object.fromEntries(SECRET_NAMES.map((name) => [name, AGENT_ENV[name]])) };
    // no job file: the trainer fails at once, after its environment was read here
    const run = startTrainer({
      python,
      jobFile: join(dir, "missing-job.json"),
      logFile: join(dir, "logs.txt"),
      cwd: dir,
      env: trainerEnvironment(secrets),
    });
    assert.ok(run.pid, "the trainer started");
    const environ = (await readFile(`/proc/${run.pid}/environ`, "utf8")).split("\0").filter(Boolean);
    await run.exited;
    const names = environ.map((entry) => entry.slice(0, entry.indexOf("=")));
    assert.ok(names.includes("PATH") && names.includes("YOLO_OFFLINE"), `a trainer's environment: ${names.join(", ")}`);
    assert.deepEqual(
      SECRET_NAMES.filter((name) => names.includes(name)),
      [],
    );
    for (const name of SECRET_NAMES) {
      const value = AGENT_ENV[name] ?? "";
      assert.ok(!environ.some((entry) => entry.includes(value)), `the value of ${name} appears nowhere`);
    }
  });
});

describe("a trainer whose agent is SIGKILLed", () => {
  const python = join(repoRoot, ".venv", "bin", "python");
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trainer-bond-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("dies with it: no trainer outlives its agent, though nothing else stops it", async () => {
    // the job file is a FIFO nobody writes: the trainer waits on it for ever, unless its agent's death ends it
    const jobFile = join(dir, "job.json");
    execFileSync("mkfifo", [jobFile]);
    const agentScript = join(dir, "agent.mjs");
    const dist = new URL(".", import.meta.url).pathname;
    await writeFile(
      agentScript,
      [
        `import { startTrainer } from ${JSON.stringify(join(dist, "adapters", "trainer-process.js"))};`,
        `import { trainerEnvironment } from ${JSON.stringify(join(dist, "trainer-env.js"))};`,
        `const launch = ${JSON.stringify({ python, jobFile, logFile: join(dir, "logs.txt"), cwd: dir })};`,
        `const run = startTrainer({ ...launch, env: trainerEnvironment(process.env) });`,
        `console.log(String(run.pid));`,
        `setInterval(() => {}, 1000);`,
      ].join("\n"),
    );
    const agent = spawn(process.execPath, [agentScript], { stdio: ["ignore", "pipe", "inherit"] });
    const [line] = (await once(agent.stdout, "data")) as [Buffer];
    const trainerPid = Number(line.toString().trim());
    assert.ok(trainerPid > 0, `the agent started a trainer: ${line.toString()}`);
    const alive = (pid: number) =>
      existsSync(`/proc/${pid}`) && !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
    // by then the trainer has started Python, armed its parent-death signal and waits on the job file
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.ok(alive(trainerPid), "the trainer runs while its agent does");

    agent.kill("SIGKILL"); // the agent alone, not its trainer's process group
    await once(agent, "exit");
    await until(() => !alive(trainerPid), "the trainer to die with its agent");
  });
});

/** Polls `ok` every 50 ms for up to 10 s. */
async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
