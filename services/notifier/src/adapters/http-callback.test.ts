import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { AttemptResult } from "../retry-schedule.js";
import { createHttpCallbackSender } from "./http-callback.js";

interface Received {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A real local receiver; `answer` decides each response by path. */
async function startReceiver(
  answer: (path: string, res: ServerResponse) => void,
): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      received.push({ path: req.url ?? "", headers: req.headers, body });
      answer(req.url ?? "", res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received, server };
}

describe("http callback sender", () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const sender = createHttpCallbackSender({ timeoutMs: 500, policy: { allowPrivate: true } });
  const guarded = createHttpCallbackSender({ timeoutMs: 500, policy: { allowPrivate: false } });
  const allowListed = createHttpCallbackSender({
    timeoutMs: 500,
    policy: { allowPrivate: false, allowHosts: [], allowCidrs: ["127.0.0.0/8"] },
  });

  before(async () => {
    receiver = await startReceiver((path, res) => {
      if (path === "/ok") res.writeHead(204).end();
      else if (path === "/redirect") res.writeHead(307, { location: "/ok" }).end();
      else if (path === "/busy") res.writeHead(429, { "retry-after": "3" }).end("slow down");
      else if (path === "/chatty") res.writeHead(200).end("x".repeat(1024 * 1024));
      // "/hang": never answers
    });
  });

  after(async () => {
    await Promise.all([sender.close(), guarded.close(), allowListed.close()]);
    receiver.server.closeAllConnections();
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  const post = (path: string) => ({
    url: receiver.url + path,
    headers: { "Content-Type": "application/json", "X-Job-ID": "job-1" },
    body: Buffer.from('{"type":"training_progress"}'),
  });
  /** The answer without its latency, which varies. */
  const bare = (result: AttemptResult) => {
    assert.ok(result.latencyMs >= 0, "every attempt reports its latency");
    const { latencyMs: _latency, ...rest } = result;
    return rest;
  };

  it("POSTs the exact body and headers and reports the status", async () => {
    const before = receiver.received.length;
    assert.deepEqual(bare(await sender.post(post("/ok"))), { kind: "response", status: 204, retryAfterMs: null });
    const got = receiver.received[before];
    assert.ok(got, "the receiver should have seen the POST");
    assert.equal(got.body, '{"type":"training_progress"}');
    assert.equal(got.headers["content-type"], "application/json");
    assert.equal(got.headers["x-job-id"], "job-1");
  });

  it("does not follow redirects", async () => {
    const before = receiver.received.length;
    assert.deepEqual(bare(await sender.post(post("/redirect"))), { kind: "response", status: 307, retryAfterMs: null });
    assert.equal(receiver.received.length, before + 1, "only the first URL may be requested");
  });

  it("reports Retry-After", async () => {
    assert.deepEqual(bare(await sender.post(post("/busy"))), { kind: "response", status: 429, retryAfterMs: 3_000 });
  });

  it("reports the status of an answer too large to read, without reading it all", async () => {
    assert.deepEqual(bare(await sender.post(post("/chatty"))), { kind: "response", status: 200, retryAfterMs: null });
    assert.deepEqual(bare(await sender.post(post("/ok"))), { kind: "response", status: 204, retryAfterMs: null });
  });

  it("times out a receiver that never answers", async () => {
    const started = Date.now();
    const result = await sender.post(post("/hang"));
    assert.deepEqual(bare(result), { kind: "network-error", message: "no answer within 500 ms", timedOut: true });
    assert.ok(result.latencyMs >= 450, `the attempt lasted the timeout, not ${result.latencyMs} ms`);
    assert.ok(Date.now() - started < 5_000, "the timeout should cut the attempt short");
  });

  it("reports a refused connection as a network error", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const result = await sender.post({ ...post("/ok"), url: `http://127.0.0.1:${port}/ok` });
    assert.equal(result.kind, "network-error");
  });

  it("refuses private addresses unless allowed, before connecting", async () => {
    const before = receiver.received.length;
    assert.equal((await guarded.post(post("/ok"))).kind, "refused");
    const byName = await guarded.post({ ...post("/ok"), url: receiver.url.replace("127.0.0.1", "localhost") + "/ok" });
    assert.equal(byName.kind, "refused", `a name resolving to loopback must be refused, got ${JSON.stringify(byName)}`);
    assert.equal((await guarded.post({ ...post("/ok"), url: "file:///etc/passwd" })).kind, "refused");
    assert.equal(receiver.received.length, before, "nothing may reach the receiver");
  });

  it("reaches a private address on the allow-list (OUTBOUND_ALLOW_LIST), as the dataset service does", async () => {
    const result = await allowListed.post(post("/ok"));
    assert.equal(result.kind === "response" && result.status, 204, JSON.stringify(result));
  });
});
