/**
 * Publishing through a NATS outage, against a real nats-server: which failures count as
 * transient (each produced for real, not constructed), and a publish that keeps trying while its
 * stream has no leader lands exactly once when the stream answers again.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { startNats, type Supervised } from "@trainyard/stack";
import { connectNats } from "./nats.js";
import { isTransientNatsError, publishJson, retryTransient } from "./publish.js";

let dir: string;
let nats: { url: string; process: Supervised };
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let streamNo = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-publish-"));
  nats = await startNats(join(dir, "nats"), () => undefined);
  nc = await connectNats(nats.url, "publish-test");
  // a short request timeout keeps the failing cases quick
  js = jetstream(nc, { timeout: 500 });
  jsm = await jetstreamManager(nc);
});

after(async () => {
  await nc?.close();
  await nats?.process.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A subject no stream holds yet, and a function that creates the stream holding it. */
function unstoredSubject(): { subject: string; createStream: () => Promise<string> } {
  const name = `PUBLISH_TEST_${++streamNo}`;
  const subject = `publish-test.${streamNo}`;
  return {
    subject,
    createStream: async () => {
      await jsm.streams.add({ name, subjects: [subject], duplicate_window: 60_000_000_000 });
      return name;
    },
  };
}

/** What `work` rejects with. */
async function failureOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (err) {
    return err;
  }
  assert.fail("expected the call to fail");
}

describe("isTransientNatsError", () => {
  test("no responders (a stream without a leader) is transient", async () => {
    const { subject } = unstoredSubject();
    const err = await failureOf(() => js.publish(subject, "{}"));
    assert.ok(isTransientNatsError(err), `expected transient: ${String(err)}`);
  });

  test("a request nobody answers in time is transient", async () => {
    const silent = nc.subscribe("publish-test.silent", { callback: () => undefined });
    try {
      const err = await failureOf(() => nc.request("publish-test.silent", "", { timeout: 200 }));
      assert.ok(isTransientNatsError(err), `expected transient: ${String(err)}`);
    } finally {
      silent.unsubscribe();
    }
  });

  test("a closed connection is transient", async () => {
    const closed = await connectNats(nats.url, "publish-test-closed");
    await closed.close();
    const err = await failureOf(() => jetstream(closed).publish("publish-test.closed", "{}"));
    assert.ok(isTransientNatsError(err), `expected transient: ${String(err)}`);
  });

  test("a refused expectation and ordinary errors are not", async () => {
    const { subject, createStream } = unstoredSubject();
    await createStream();
    const refused = await failureOf(() => js.publish(subject, "{}", { expect: { lastSequence: 99 } }));
    assert.ok(!isTransientNatsError(refused), `expected not transient: ${String(refused)}`);
    assert.ok(!isTransientNatsError(new Error("timeout")), "a message alone is not a NATS timeout");
    assert.ok(!isTransientNatsError("timeout"));
  });
});

describe("publishJson with a retry", () => {
  test("keeps trying while the stream does not answer, then stores the message once", async () => {
    const { subject, createStream } = unstoredSubject();
    let created: Promise<string> | undefined;
    const retries: number[] = [];
    await publishJson(js, subject, { n: 1 }, "msg-1", {
      forMs: 20_000,
      onRetry: (_err, attempt) => {
        retries.push(attempt);
        // the stream's leader is back after the first failure
        created ??= createStream();
      },
    });
    const name = await created;
    assert.ok(name, "the first try failed and was tried again");
    assert.equal(retries[0], 1);
    const info = await jsm.streams.info(name);
    assert.equal(info.state.messages, 1, "stored once");
    const again = await js.publish(subject, JSON.stringify({ n: 1 }), { msgID: "msg-1" });
    assert.equal(again.duplicate, true, "the message id makes a repeat a no-op");
  });

  test("without a retry the first failure is thrown", async () => {
    const { subject } = unstoredSubject();
    const err = await failureOf(() => publishJson(js, subject, { n: 1 }, "msg-2"));
    assert.ok(isTransientNatsError(err));
  });

  test("gives up after its time with the last failure", async () => {
    const { subject } = unstoredSubject();
    const started = Date.now();
    let tries = 0;
    const err = await failureOf(() =>
      publishJson(js, subject, { n: 1 }, "msg-3", { forMs: 1_000, onRetry: () => void tries++ }),
    );
    assert.ok(isTransientNatsError(err), `the publish's own failure: ${String(err)}`);
    assert.ok(tries >= 1, "it was tried again");
    assert.ok(Date.now() - started < 5_000, "it stopped trying after its time");
  });

  test("gives up at once when its signal aborts", async () => {
    const { subject } = unstoredSubject();
    const stop = new AbortController();
    const started = Date.now();
    const err = await failureOf(() =>
      publishJson(js, subject, { n: 1 }, "msg-4", { forMs: 60_000, signal: stop.signal, onRetry: () => stop.abort() }),
    );
    assert.ok(isTransientNatsError(err), `the publish's own failure: ${String(err)}`);
    assert.ok(Date.now() - started < 5_000, "no waiting after the abort");
  });
});

describe("retryTransient", () => {
  test("does not repeat work that failed for good", async () => {
    const { subject, createStream } = unstoredSubject();
    await createStream();
    let calls = 0;
    await assert.rejects(
      retryTransient(
        () => {
          calls++;
          return js.publish(subject, "{}", { expect: { lastSequence: 99 } });
        },
        { forMs: 10_000 },
      ),
    );
    assert.equal(calls, 1);
  });
});
