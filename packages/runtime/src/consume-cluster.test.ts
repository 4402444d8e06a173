/**
 * The consumer loop on a real 3-node NATS cluster (R3 stream and consumer) when the node leading
 * its consumer is killed with SIGKILL: the loop's pull dies with that node without a word, and
 * the loop must pull again from the new leader within seconds, not after the client's default
 * 30-second pull expiry.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { startNatsCluster, type NatsCluster } from "@trainyard/stack";
import { z } from "zod";
import { ack, startConsumer } from "./consume.js";
import { createLogger } from "./logger.js";
import { connectNats } from "./nats.js";
import { publishJson } from "./publish.js";

const STREAM = "CONSUME_CLUSTER_TEST";
const CONSUMER = "loop";
/** Election of a new consumer leader (up to about 10 s) plus the loop's next pull, with room for a busy machine. */
const RESUME_WITHIN_MS = 22_000;

let dir: string;
let cluster: NatsCluster;
let admin: NatsConnection;
let jsm: JetStreamManager;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-consume-cluster-"));
  cluster = await startNatsCluster(join(dir, "cluster"), () => undefined);
  admin = await connectNats(cluster.url, "consume-cluster-admin");
  jsm = await jetstreamManager(admin);
  await jsm.streams.add({ name: STREAM, subjects: ["cc.>"], num_replicas: 3 });
  await jsm.consumers.add(STREAM, { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, num_replicas: 3 });
});

after(async () => {
  await admin?.close();
  for (const node of cluster?.nodes ?? []) await node.process.stop();
  await rm(dir, { recursive: true, force: true });
});

test("the loop resumes within seconds after the node leading its consumer is killed", async () => {
  const leader = (await jsm.consumers.info(STREAM, CONSUMER)).cluster?.leader;
  const victim = cluster.nodes.find((n) => n.name === leader);
  assert.ok(victim, `a node leads the consumer: ${leader}`);
  // the loop's own connection stays up on another node: only its pull dies with the leader
  const other = cluster.nodes.find((n) => n !== victim);
  assert.ok(other);
  const nc = await connectNats(other.url, "consume-cluster-loop");
  const js = jetstream(nc);
  const seen = new Map<number, number>();
  const loop = await startConsumer({
    js,
    stream: STREAM,
    consumer: CONSUMER,
    schema: z.object({ n: z.int() }),
    log: createLogger("consume-cluster-test", "silent"),
    handle: async ({ n }) => {
      seen.set(n, Date.now());
      return ack;
    },
  });
  const handled = async (n: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!seen.has(n)) {
      assert.ok(Date.now() < deadline, `message ${n} handled within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await publishJson(js, "cc.1", { n: 1 }, "1");
    await handled(1, 10_000);

    victim.process.kill("SIGKILL");
    await victim.process.exited;
    const killedAt = Date.now();
    // the stream may have lost its leader too: the publish waits for the election
    await publishJson(js, "cc.2", { n: 2 }, "2", { forMs: 30_000 });
    await handled(2, RESUME_WITHIN_MS - (Date.now() - killedAt));
  } finally {
    await loop.stop();
    await nc.close();
  }
});
