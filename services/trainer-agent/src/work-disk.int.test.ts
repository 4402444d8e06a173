/**
 * A full agent work folder is the host's fault (reliability finding 1; seed 8 of the chaos runner
 * lost 8 jobs on one agent in 15 s): the job it breaks is handed back, not failed, the agent takes
 * no new job while the folder is full, and both run once there is room. The whole stack runs
 * for real (NATS, FerretDB, every service, the Python trainer); the agent's work folder is a
 * tmpfs filled to its last byte, as the chaos runner's disk-full fault does (needs root).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import type { Callback } from "@trainyard/contracts";
import {
  exampleTrainRequest,
  fillFilesystem,
  makeSyntheticDataset,
  serveFiles,
  startCallbackReceiver,
  startStack,
  type CallbackReceiver,
  type FileServer,
  type Stack,
} from "@trainyard/stack";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const TIMEOUT_MS = 5 * 60_000;

let dir = "";
let agentDir = "";
let mounted = false;
let stack: Stack | null = null;
let files: FileServer | null = null;
let receiver: CallbackReceiver | null = null;
const secret = `sk_test_${randomBytes(12).toString("hex")}`;
/** The agent's log lines, parsed, in order. */
const agentLines: Array<{ msg?: string; job_id?: string; reason?: string }> = [];

before(async () => {
  if (!isRoot) return;
  dir = await mkdtemp(join(tmpdir(), "trainyard-agent-disk-"));
  const stackDir = join(dir, "stack");
  agentDir = join(stackDir, "agent-local-1");
  await mkdir(agentDir, { recursive: true });
  // mounted before the agent starts writing to it
  await run("mount", ["-t", "tmpfs", "-o", "size=512m,mode=0755", "tmpfs", agentDir]);
  mounted = true;
  const log = createWriteStream(join(dir, "stack.log"));
  stack = await startStack({
    runDir: stackDir,
    agents: 1,
    env: { AGENT_DEVICES: "cpu,cpu", AGENT_WORK_DIR_MIN_FREE_MB: "16", CHECKPOINT_UPLOAD_SHARE: "1" },
    sink: (name, line) => {
      log.write(`${name} | ${line}\n`);
      if (name === "trainer-agent" && line.startsWith("{")) agentLines.push(JSON.parse(line) as (typeof agentLines)[0]);
    },
  });
  await makeSyntheticDataset({ out: join(dir, "shapes.zip"), train: 8, val: 4, size: 64, seed: 8 });
  files = await serveFiles(dir);
  receiver = await startCallbackReceiver(secret);
  console.log(`stack logs: ${join(dir, "stack.log")}`);
});

after(async () => {
  await receiver?.close();
  await files?.close();
  await stack?.stop();
  if (mounted) await run("umount", [agentDir]).catch(() => run("umount", ["-l", agentDir]));
});

async function submit(epochs: number): Promise<string> {
  assert.ok(stack && files && receiver);
  const request = exampleTrainRequest({
    datasetUrl: files.urlOf("shapes.zip"),
    callbackUrl: receiver.url,
    callbackSecret: secret,
    epochs,
    imageSize: 64,
    batchSize: 4,
  });
  const res = await stack.api("/api/v1/train", { method: "POST", body: JSON.stringify(request) });
  assert.equal(res.status, 202, `POST /train: ${await res.text()}`);
  return request.job_id;
}

const callbacksOf = (jobId: string): Callback[] =>
  (receiver?.received ?? []).filter((c) => c.body.job_id === jobId).map((c) => c.body);
const phasesOf = (jobId: string) =>
  callbacksOf(jobId).flatMap((c) => (c.type === "training_progress" ? [c.progress.phase] : []));
const epochsOf = (jobId: string) =>
  callbacksOf(jobId).flatMap((c) =>
    c.type === "training_progress" && c.progress.phase === "training" ? [c.progress.current_epoch] : [],
  );
/** The agent's hand-backs for its full work folder, by its runs and by the guard in front of them. */
const diskHandBacks = () => agentLines.filter((l) => l.msg === "retry later" && l.reason === "work folder full").length;

/** Waits for the agent's log to satisfy `ok`, polling; fails naming `what`. */
async function untilLogged(ok: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}; see ${join(dir, "stack.log")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("trainer-agent with a full work folder", { skip: isRoot ? false : "needs root to mount a tmpfs" }, () => {
  test("chaos seeds 2445, 3, 4, 7 and 8: the running job is handed back, not failed; no new job is taken; both complete once there is room", async () => {
    assert.ok(receiver);
    const running = await submit(6);
    await receiver.waitFor(() => epochsOf(running).includes(1), TIMEOUT_MS, "the first job's epoch 1");
    const filler = join(agentDir, ".filler");
    await fillFilesystem(filler);
    // the trainer cannot save its next epoch; the agent hands the job back, and its redeliveries
    // meet the full folder too (every 10 s)
    await untilLogged(
      () =>
        agentLines.some((l) => l.job_id === running && l.msg === "work folder full: job handed back for another run"),
      "the running job to be handed back",
    );
    await untilLogged(
      () => agentLines.some((l) => l.msg === "work folder full: taking no new job until there is room"),
      "the agent to stop taking jobs",
    );
    const waiting = await submit(1);
    // the second job is validated and queued while the first keeps being handed back
    await receiver.waitFor(
      () => callbacksOf(waiting).some((c) => c.type === "training_progress" && c.progress.percentage >= 5),
      TIMEOUT_MS,
      "the second job's dataset to be validated",
    );
    const handedBack = diskHandBacks();
    await untilLogged(
      () => diskHandBacks() >= handedBack + 2,
      "two more hand-backs of the first job while the folder is full",
    );
    assert.deepEqual(
      [running, waiting].flatMap((id) => callbacksOf(id).filter((c) => c.type === "training_failed")),
      [],
      "no job failed for the full disk",
    );
    assert.ok(
      !phasesOf(waiting).includes("preparing"),
      `the second job was not started on the full agent, although a slot was free: ${phasesOf(waiting).join(", ")}`,
    );

    await rm(filler);
    for (const jobId of [running, waiting]) {
      await receiver.waitFor(
        () => callbacksOf(jobId).some((c) => c.type === "training_completed" || c.type === "training_failed"),
        TIMEOUT_MS,
        `job ${jobId} to end once there is room`,
      );
      const ended = callbacksOf(jobId).filter((c) => c.type === "training_completed" || c.type === "training_failed");
      assert.deepEqual(
        ended.map((c) => c.type),
        ["training_completed"],
        `job ${jobId} completed: ${JSON.stringify(ended)}`,
      );
    }
    assert.deepEqual(epochsOf(running), [1, 2, 3, 4, 5, 6], "the first job's epochs reported in order, each once");
    assert.ok(
      agentLines.some((l) => l.msg === "work folder has room again: taking jobs"),
      "the agent announced it takes jobs again",
    );
  });
});
