/**
 * Least privilege, enforced by a real nats-server with the launcher's generated users: every
 * service user can do its own work and the server refuses it anything else. Each row is one
 * action outside the user's grants; a control row per user proves its credential works.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Bucket, Consumer, Subject, TRAIN_STREAM, agentUser } from "@trainyard/contracts";
import { startNats, writeNatsCredentials, type NatsCredentials, type Supervised } from "@trainyard/stack";
import { connectNats, ensureConsumer } from "./nats.js";
import { openKv } from "./stores.js";
import { provisionTopology, DEVELOPMENT_TOPOLOGY } from "./topology.js";

let dir: string;
let nats: Supervised;
let url: string;
let creds: NatsCredentials;
const open: NatsConnection[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-permissions-"));
  creds = writeNatsCredentials(join(dir, "auth"), ["gpu-1", "gpu-2"]);
  const started = await startNats(join(dir, "nats"), () => undefined, undefined, { authConf: creds.authConf });
  nats = started.process;
  url = started.url;
  const admin = await as("admin");
  await provisionTopology(admin, DEVELOPMENT_TOPOLOGY);
  // a callback secret the notifier alone may read back
  await (await openKv(admin, Bucket.callbackTargets)).put("job-1", JSON.stringify({ secret: "sk_live_x" }));
});

after(async () => {
  for (const nc of open) await nc.close().catch(() => undefined);
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function as(user: string): Promise<NatsConnection> {
  const seed = creds.seedFiles[user];
  assert.ok(seed, `a seed for ${user}`);
  const nc = await connectNats(url, `permissions-${user}`, { user, nkeySeedFile: seed });
  open.push(nc);
  return nc;
}

/** How long the server gets to report a violation; a permitted action is reported never. */
const VIOLATION_WAIT_MS = 1000;

/**
 * Runs `action` and reports whether the server refused it: a permissions violation reported on
 * the connection (publish, subscribe; the server sends it shortly after the action) or as the
 * action's own error (a request whose subject is not granted gets no answer).
 */
async function refused(nc: NatsConnection, action: () => Promise<unknown>): Promise<string | null> {
  const violation = new Promise<string>((resolve) => {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "error" && /permission/i.test(String(s.error))) return resolve(String(s.error));
      }
    })();
  });
  const outcome = action().then(
    () => null,
    (err: unknown) => (/permission|timeout|no responders/i.test(String(err)) ? String(err) : null),
  );
  const wait = new Promise<null>((resolve) => setTimeout(() => resolve(null), VIOLATION_WAIT_MS));
  const thrown = await Promise.race([outcome, violation]);
  return thrown ?? Promise.race([violation, wait]);
}

const publish = (subject: string) => async (nc: NatsConnection) => nc.publish(subject, "x");
const subscribe = (subject: string) => async (nc: NatsConnection) => {
  const sub = nc.subscribe(subject);
  await nc.flush();
  // a refused subscription is closed with the violation as its error
  await Promise.race([
    sub.closed.then((err) => {
      if (err) throw err;
    }),
    new Promise((r) => setTimeout(r, 200)),
  ]);
};
const readKv = (bucket: (typeof Bucket)[keyof typeof Bucket], key: string) => async (nc: NatsConnection) =>
  (await openKv(nc, bucket as never)).get(key, { timeout: 1000 } as never);
const createConsumer = (name: string, filter: string) => async (nc: NatsConnection) =>
  ensureConsumer(await (await import("@nats-io/jetstream")).jetstreamManager(nc), {
    stream: TRAIN_STREAM,
    name,
    filterSubjects: [filter],
    ackWaitMs: 1000,
  });

type Action = (nc: NatsConnection) => Promise<unknown>;

/** What each user must be refused, beside the refusals every user shares. */
const outsideGrants: Record<string, Array<[string, Action]>> = {
  gateway: [
    ["read a callback secret", readKv(Bucket.callbackTargets, "job-1")],
    ["write an artifact", publish("$O.artifacts.C.abc")],
    ["assign a job to an agent", publish(Subject.assignment("gpu-1"))],
    ["publish a completed event", publish(Subject.jobEvent("job-1", "completed"))],
    ["forge a heartbeat", publish("$KV.agents.gpu-1")],
  ],
  dataset: [
    ["read a callback secret", readKv(Bucket.callbackTargets, "job-1")],
    ["assign a job", publish(Subject.assignment("gpu-1"))],
    ["publish a completed event", publish(Subject.jobEvent("job-1", "completed"))],
    ["write an artifact", publish("$O.artifacts.M.abc")],
  ],
  scheduler: [
    ["read a callback secret", readKv(Bucket.callbackTargets, "job-1")],
    ["publish a completed event", publish(Subject.jobEvent("job-1", "completed"))],
    ["write an artifact", publish("$O.artifacts.C.abc")],
    ["write a callback target", publish("$KV.callback-targets.job-1")],
  ],
  notifier: [
    ["publish any job event", publish(Subject.jobEvent("job-1", "completed"))],
    ["submit a training request", publish(Subject.trainRequested)],
    ["cancel a job", publish("$KV.cancellations.job-1")],
    ["write an artifact", publish("$O.artifacts.C.abc")],
  ],
  dashboard: [
    ["read a callback secret", readKv(Bucket.callbackTargets, "job-1")],
    ["submit a training request", publish(Subject.trainRequested)],
    ["publish a job event", publish(Subject.jobEvent("job-1", "epoch"))],
    ["cancel a job", publish("$KV.cancellations.job-1")],
  ],
  [agentUser("gpu-1")]: [
    ["forge another agent's heartbeat", publish("$KV.agents.gpu-2")],
    ["take another agent's assignments", createConsumer(Consumer.agent("gpu-2"), Subject.assignment("gpu-2"))],
    [
      "read another agent's assignments through its own consumer",
      createConsumer(Consumer.agent("gpu-1"), Subject.assignment("gpu-2")),
    ],
    ["assign itself a job", publish(Subject.assignment("gpu-1"))],
    ["read a callback secret", readKv(Bucket.callbackTargets, "job-1")],
    ["publish a queued event", publish(Subject.jobEvent("job-1", "queued"))],
    ["write a dataset", publish("$O.datasets.C.abc")],
  ],
};

/** What every service user is refused: another user's replies, raw stream traffic, admin API. */
const everyone: Array<[string, Action]> = [
  ["read every reply (_INBOX.>)", subscribe("_INBOX.>")],
  ["read the admin's replies", subscribe("_INBOX_admin.>")],
  ["listen to every subject", subscribe(">")],
  ["delete a stream", publish(`$JS.API.STREAM.DELETE.${TRAIN_STREAM}`)],
  ["purge the callback targets", publish("$JS.API.STREAM.PURGE.KV_callback-targets")],
];

/** One thing each user is allowed to do, proving its credential and grants work at all. */
const control: Record<string, Action> = {
  gateway: publish(Subject.trainRequested),
  dataset: publish(Subject.datasetReady),
  scheduler: publish(Subject.assignment("gpu-1")),
  notifier: readKv(Bucket.callbackTargets, "job-1"),
  dashboard: createConsumer(Consumer.dashboardRequests, Subject.trainRequested),
  [agentUser("gpu-1")]: createConsumer(Consumer.agent("gpu-1"), Subject.assignment("gpu-1")),
};

for (const [user, rows] of Object.entries(outsideGrants)) {
  describe(`NATS user ${user}`, () => {
    test("can do its own work", async () => {
      const nc = await as(user);
      assert.equal(await refused(nc, () => control[user]!(nc)), null, `${user} must be allowed its own work`);
    });
    for (const [what, action] of [...rows, ...everyone]) {
      test(`is refused: ${what}`, async () => {
        const nc = await as(user);
        const refusal = await refused(nc, () => action(nc));
        assert.ok(refusal, `the server must refuse ${user} to ${what}`);
      });
    }
  });
}

test("a client without credentials cannot connect", async () => {
  await assert.rejects(connectNats(url, "anonymous"), /authorization/i);
});

test("a client with an unknown nkey cannot connect", async () => {
  const stranger = writeNatsCredentials(join(dir, "stranger"));
  await assert.rejects(
    connectNats(url, "stranger", { user: "gateway", nkeySeedFile: stranger.seedFiles.gateway }),
    /authorization/i,
  );
});

test("the JetStream API of a consumer's messages is refused to a user who does not own it", async () => {
  const nc = await as("gateway");
  const js = jetstream(nc, { timeout: 1000 });
  const refusal = await refused(nc, async () => {
    const consumer = await js.consumers.get(TRAIN_STREAM, Consumer.dataset);
    await consumer.next({ expires: 1000 });
  });
  assert.ok(refusal, "gateway must not pull the dataset service's messages");
});
