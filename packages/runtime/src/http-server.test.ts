import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { createHttpServer, HTTP_SERVER_LIMITS, listenOn } from "./http-server.js";

/** A raw TCP client: what a slowloris or a flood sends, byte by byte. */
async function rawClient(port: number): Promise<{ socket: Socket; closed: Promise<number>; received: () => string }> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  let text = "";
  socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
  socket.on("error", () => undefined);
  const opened = Date.now();
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now() - opened)));
  return { socket, closed, received: () => text };
}

describe("createHttpServer", () => {
  const limits = { ...HTTP_SERVER_LIMITS, headersTimeoutMs: 1_000, requestTimeoutMs: 2_000, maxConnections: 3 };
  const server = createHttpServer((_req, res) => res.end("ok"), limits);
  let port = 0;
  before(async () => {
    await listenOn(server, "127.0.0.1", 0);
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test("a slowloris client, a header line now and then, is cut off with 408 once the header bound passes", async () => {
    const client = await rawClient(port);
    client.socket.write("GET / HTTP/1.1\r\nHost: x\r\n");
    // one more header line every 300 ms, never the blank line that ends them
    const drip = setInterval(() => client.socket.writable && client.socket.write(`X-Drip-${Date.now()}: 1\r\n`), 300);
    try {
      const heldMs = await Promise.race([
        client.closed,
        new Promise<number>((resolve) => setTimeout(() => resolve(-1), 10_000)),
      ]);
      assert.ok(heldMs > 0, "the server closed the connection");
      assert.match(client.received(), /^HTTP\/1\.1 408/, "answered 408 Request Timeout");
    } finally {
      clearInterval(drip);
      client.socket.destroy();
    }
  });

  test("a complete request on time is served", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok");
  });

  test("connections over maxConnections are closed as they are accepted", async () => {
    const held = await Promise.all([rawClient(port), rawClient(port), rawClient(port)]);
    try {
      // give the server the three connections before the fourth arrives
      await new Promise((resolve) => setTimeout(resolve, 100));
      const extra = await rawClient(port);
      extra.socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      const closedMs = await Promise.race([
        extra.closed,
        new Promise<number>((resolve) => setTimeout(() => resolve(-1), 5_000)),
      ]);
      assert.ok(closedMs >= 0, "the fourth connection was closed");
      assert.equal(extra.received(), "", "and not served");
    } finally {
      for (const client of held) client.socket.destroy();
    }
  });
});
