/**
 * A full dataset work folder is the platform's fault, never the app's dataset (reliability
 * finding 2, seeds 4, 7 and 8 of the chaos runner): the intake is retried later and nothing is
 * reported until the download succeeds. The work folder is a real tmpfs filled to its last byte
 * (needs root, as the chaos runner's disk-full fault does), the service the real one against a
 * real nats-server and an HTTP file server.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { JobEvent, Subject } from "@trainyard/contracts";
import { connectNats, createLogger, parseEnv, publishJson } from "@trainyard/runtime";
import { fillFilesystem, startNats, type Supervised } from "@trainyard/stack";
import { Env } from "./env.js";
import { startDatasetService, type DatasetService } from "./service.js";
import { trainRequested } from "./testing/train-request.js";
import { datasetZip, sampleDataset } from "./testing/yolo-fixture.js";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const zip = datasetZip(sampleDataset(), "full-disk-dataset");
let served = 0;
const files = createServer((_req, res) => {
  served++;
  res.writeHead(200, { "content-type": "application/zip", "content-length": zip.length }).end(zip);
});

let tmp = "";
let workDir = "";
let mounted = false;
let nats: { url: string; process: Supervised };
let nc: NatsConnection;
let service: DatasetService | null = null;
const seen: Array<{ subject: string; data: { job_id?: string } }> = [];

/** Polls `ok` every 50 ms; fails naming `what` after `timeoutMs`. */
async function until(ok: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}; events: ${JSON.stringify(seen)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

before(async () => {
  if (!isRoot) return;
  tmp = await mkdtemp(join(tmpdir(), "dataset-full-disk-"));
  workDir = join(tmp, "work");
  await mkdir(workDir);
  await run("mount", ["-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", workDir]);
  mounted = true;
  nats = await startNats(join(tmp, "nats"), () => {});
  await new Promise<void>((resolve) => files.listen(0, "127.0.0.1", resolve));
  nc = await connectNats(nats.url, "dataset-full-disk-test");
  for (const subject of [Subject.jobEventWildcard, Subject.datasetReady])
    nc.subscribe(subject, { callback: (_err, msg) => void seen.push({ subject: msg.subject, data: msg.json() }) });
  const env = parseEnv(Env, {
    NATS_URL: nats.url,
    LOG_LEVEL: "silent",
    DATASET_WORK_DIR: workDir,
    OUTBOUND_ALLOW_PRIVATE: "true",
  });
  service = await startDatasetService(env, createLogger("dataset", "silent"));
});

after(async () => {
  await service?.stop();
  await nc?.close();
  await nats?.process.stop();
  files.closeAllConnections();
  await new Promise<void>((resolve) => files.close(() => resolve()));
  if (mounted) await run("umount", [workDir]).catch(() => run("umount", ["-l", workDir]));
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("dataset service with a full work folder", { skip: isRoot ? false : "needs root to mount a tmpfs" }, () => {
  it("chaos seeds 4, 7 and 8: retries the intake later instead of failing it with DATASET_DOWNLOAD_FAILED, and completes it once there is room", async () => {
    const filler = join(workDir, ".filler");
    await fillFilesystem(filler);
    const port = (files.address() as AddressInfo).port;
    const request = trainRequested(`http://127.0.0.1:${port}/dataset.zip?token=signed`);
    const ofJob = () => seen.filter((s) => s.data.job_id === request.job_id);
    const failed = () => ofJob().filter((s) => s.subject.endsWith(".failed"));
    await publishJson(jetstream(nc), Subject.trainRequested, request, request.job_id);

    // the first delivery's download meets ENOSPC; the message comes again after its delay
    await until(() => served >= 2, "the intake to download again after the full disk refused the first", 40_000);
    assert.deepEqual(failed(), [], "nothing reported to the app while the disk is full");
    assert.ok(
      !ofJob().some((s) => s.subject === Subject.datasetReady),
      "no dataset handed on from a download that could not be written",
    );

    await rm(filler);
    await until(
      () => ofJob().some((s) => s.subject === Subject.datasetReady),
      "train.dataset.ready once the disk has room",
      40_000,
    );
    assert.deepEqual(failed(), [], "the job never failed");
    const last = JobEvent.parse(
      ofJob()
        .filter((s) => s.subject !== Subject.datasetReady)
        .at(-1)?.data,
    );
    assert.ok(last.type === "phase" && last.percentage === 5, `validated at last: ${JSON.stringify(last)}`);
  });
});
