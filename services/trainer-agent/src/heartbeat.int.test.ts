import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { AgentHeartbeat, Bucket } from "@trainyard/contracts";
import { connectNats, createLogger, openKv, type KV } from "@trainyard/runtime";
import { startNats, type Supervised } from "@trainyard/stack";
import { startHeartbeat } from "./heartbeat.js";

let tmp = "";
let nats: { url: string; process: Supervised };
let nc: NatsConnection;
let agents: KV;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "heartbeat-"));
  nats = await startNats(join(tmp, "nats"), () => {});
  nc = await connectNats(nats.url, "heartbeat-test");
  agents = await openKv(nc, Bucket.agents);
});

after(async () => {
  await nc?.close();
  await nats?.process.stop();
  await rm(tmp, { recursive: true, force: true });
});

const log = createLogger("heartbeat-test", "silent");

function start(agentId: string, isDraining: () => boolean) {
  const beat = { agent_id: agentId, host: "test-host", slots: [], started_at: new Date().toISOString() };
  return startHeartbeat(agents, beat, async () => [], isDraining, 60_000, log);
}

async function entryOf(agentId: string): Promise<AgentHeartbeat | null> {
  const entry = await agents.get(agentId);
  return entry?.operation === "PUT" ? AgentHeartbeat.parse(entry.json()) : null;
}

describe("agent heartbeat in KV agents, against real NATS", () => {
  it("registers at once and announces draining without waiting for the next beat", async () => {
    let draining = false;
    const heartbeat = start("agent-drain", () => draining);
    await heartbeat.first;
    assert.equal((await entryOf("agent-drain"))?.draining, false, "a new agent takes work");
    draining = true;
    await heartbeat.beatNow();
    assert.equal((await entryOf("agent-drain"))?.draining, true, "the scheduler reads draining at once");
    await heartbeat.stop();
  });

  it("deregisters on stop even with a beat still in flight: no entry keeps a stopped agent alive", async () => {
    const heartbeat = start("agent-stop", () => true);
    await heartbeat.first;
    void heartbeat.beatNow(); // e.g. the draining announcement of a shutdown, not awaited
    await heartbeat.stop();
    assert.equal(await entryOf("agent-stop"), null, "no heartbeat once stopped");
  });
});
