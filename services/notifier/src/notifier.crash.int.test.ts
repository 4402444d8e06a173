/**
 * The notifier as a real process (`node services/notifier/dist/main.js`), killed with SIGKILL
 * in the middle of a retry sequence and restarted: no callback is lost, none arrives out of its
 * job's order, and a duplicate only ever repeats a webhook-id already seen.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { repoRoot, supervise, type Supervised } from "@trainyard/stack";
import type { RecordedRequest } from "./testing/recording-receiver.js";
import { startRecordingReceiver, type RecordingReceiver } from "./testing/recording-receiver.js";
import { completedEvent, epochEvent, phaseEvent } from "./testing/job-events.js";
import { DOWNLOAD_LINKS, eventually, ofJob, startWorld, verified, type TestJob, type World } from "./testing/world.js";

const WAIT_MS = 20_000;
const HEALTHY_EPOCHS = 12;

describe("notifier killed with SIGKILL and restarted", () => {
  let world: World;
  let flaky: RecordingReceiver;
  let healthy: RecordingReceiver;
  let running: Supervised | null = null;

  /** Starts the real notifier process; resolves once it holds the lease and delivers. */
  const startProcess = async (): Promise<Supervised> => {
    let ready: () => void = () => undefined;
    const delivering = new Promise<void>((resolve) => (ready = resolve));
    const proc = supervise("notifier", process.execPath, [join(repoRoot, "services/notifier/dist/main.js")], {
      env: {
        ...process.env,
        NATS_URL: world.natsUrl,
        MONGO_URL: world.mongoUrl,
        PUBLIC_BASE_URL: DOWNLOAD_LINKS.publicBaseUrl,
        DOWNLOAD_URL_SECRET: DOWNLOAD_LINKS.secret,
        CALLBACK_RETRY_SCHEDULE: "150ms,300ms,600ms,1200ms,2400ms,4800ms",
        CALLBACK_RETRY_JITTER: "0",
        CALLBACK_TIMEOUT_MS: "2000",
        NOTIFIER_LEASE_TTL: "1s",
        OUTBOUND_ALLOW_PRIVATE: "true",
        LOG_LEVEL: "info",
      },
      sink: (_name, line) => {
        if (line.includes('"msg":"delivering callbacks"')) ready();
        if (process.env.NOTIFIER_TEST_LOGS) console.log(line);
      },
    });
    await Promise.race([
      delivering,
      proc.exited.then((code) => assert.fail(`the notifier exited during start-up (code ${code})`)),
    ]);
    return proc;
  };

  const killNine = async (proc: Supervised) => {
    process.kill(-proc.child.pid!, "SIGKILL");
    await proc.exited;
  };

  before(async () => {
    world = await startWorld("crash");
    flaky = await startRecordingReceiver((i) => (i < 5 ? 503 : 204));
    healthy = await startRecordingReceiver();
  });

  after(async () => {
    await running?.stop();
    await Promise.all([flaky?.close(), healthy?.close()]);
    await world?.close();
  });

  /** Requests of one job in arrival order, each verified, as `<webhook-id> <type>`. */
  const arrivals = (requests: RecordedRequest[], job: TestJob) =>
    requests.filter(ofJob(job.jobId)).map((r) => {
      const callback = verified(r, job.secret);
      return { id: String(r.headers["webhook-id"]), type: callback.type, body: r.body };
    });

  it("delivers every callback after a kill -9 mid-retry, in order, duplicates only with the same id", async () => {
    running = await startProcess();
    const retried = await world.startJob(flaky.url, 2);
    const steady = await world.startJob(healthy.url, HEALTHY_EPOCHS);
    await world.publish(phaseEvent(retried.jobId, { phase: "downloading", percentage: 5 }));
    await flaky.waitFor((all) => all.length >= 2, WAIT_MS, "the first callback's first retry");

    // a burst for a healthy job right before the kill: some of it is likely still unacknowledged
    await world.publish(
      phaseEvent(steady.jobId, { phase: "downloading", percentage: 5, total_epochs: HEALTHY_EPOCHS }),
    );
    await world.publish(phaseEvent(steady.jobId, { phase: "preparing", percentage: 10, total_epochs: HEALTHY_EPOCHS }));
    await Promise.all(
      Array.from({ length: HEALTHY_EPOCHS }, (_, i) => i + 1).map((epoch) =>
        world.publish(epochEvent(steady.jobId, epoch, HEALTHY_EPOCHS)),
      ),
    );
    await killNine(running);
    running = null;

    // while it is dead: the rest of both jobs, and a straggler after the retried job's end
    await world.publish(
      phaseEvent(steady.jobId, { phase: "validating", percentage: 95, total_epochs: HEALTHY_EPOCHS }),
    );
    await world.publish(completedEvent(steady.jobId));
    await world.publish(phaseEvent(retried.jobId, { phase: "preparing", percentage: 10 }));
    await world.publish(epochEvent(retried.jobId, 1));
    await world.publish(epochEvent(retried.jobId, 2));
    await world.publish(completedEvent(retried.jobId));
    await world.publish(epochEvent(retried.jobId, 3, 3));

    running = await startProcess();
    await eventually(
      "every callback of both jobs settled",
      async () => {
        const docs = [...(await world.deliveries(retried.jobId)), ...(await world.deliveries(steady.jobId))];
        return (
          docs.length === 5 + HEALTHY_EPOCHS + 4 && docs.every((d) => d.status !== "pending" && d.status !== "retrying")
        );
      },
      WAIT_MS,
    );

    for (const [job, receiver] of [
      [retried, flaky],
      [steady, healthy],
    ] as const) {
      const got = arrivals(receiver.requests, job);
      const docs = await world.deliveries(job.jobId);
      const byId = new Map(docs.map((d) => [d._id, d]));
      for (const arrival of got) {
        const doc = byId.get(arrival.id);
        assert.ok(doc, `${arrival.id} is a logged callback`);
        assert.equal(arrival.body, doc.body, "a duplicate repeats the same id with the same body");
      }
      const firstArrivals = got.filter((a, i) => got.findIndex((b) => b.id === a.id) === i);
      const seqs = firstArrivals.map((a) => byId.get(a.id)!.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        `job ${job.jobId}: callbacks arrive in order`,
      );
      const terminalAt = got.findIndex((a) => a.type === "training_completed");
      assert.ok(terminalAt !== -1, "the terminal callback arrives");
      assert.ok(
        got.slice(terminalAt).every((a) => a.type === "training_completed"),
        `no progress after the terminal callback: ${got.map((a) => a.type).join(", ")}`,
      );
      for (const doc of docs) {
        assert.ok(doc.status === "delivered" || doc.status === "superseded", `${doc._id} ended ${doc.status}`);
        if (doc.status === "delivered")
          assert.ok(
            got.some((a) => a.id === doc._id),
            `${doc._id} arrived`,
          );
      }
    }
    const steadyDocs = await world.deliveries(steady.jobId);
    assert.ok(
      steadyDocs.every((d) => d.status === "delivered"),
      "a healthy receiver gets every callback: nothing is folded or lost",
    );
    assert.equal(steadyDocs.length, HEALTHY_EPOCHS + 4);
  });
});
