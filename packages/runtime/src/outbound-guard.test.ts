import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { fetch } from "undici";
import {
  checkOutboundUrl,
  guardedAgent,
  guardedLookup,
  isPrivateAddress,
  OutboundUrlError,
  type OutboundPolicy,
} from "./outbound-guard.js";

const STRICT: OutboundPolicy = { allowPrivate: false };
const LOCAL: OutboundPolicy = { allowPrivate: true };

describe("isPrivateAddress", () => {
  for (const ip of [
    "127.0.0.1",
    "10.1.2.3",
    "169.254.169.254",
    "192.168.1.1",
    "172.16.5.4",
    "100.64.0.1",
    "0.0.0.0",
    "::1",
    "::",
    "::ffff:127.0.0.1",
    "::FFFF:10.0.0.1",
    "::ffff:7f00:1",
    "::ffff:a9fe:a9fe",
    "fd00::1",
    "fe80::1",
    "not-an-ip",
  ]) {
    test(`${ip} is private`, () => assert.equal(isPrivateAddress(ip), true, `expected ${ip} to be treated as private`));
  }
  for (const ip of ["8.8.8.8", "1.1.1.1", "172.32.0.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"]) {
    test(`${ip} is public`, () => assert.equal(isPrivateAddress(ip), false, `expected ${ip} to be public`));
  }
});

describe("checkOutboundUrl", () => {
  const refused = (raw: string, policy: OutboundPolicy, pattern: RegExp) =>
    assert.throws(
      () => checkOutboundUrl(raw, policy),
      (err: unknown) => err instanceof OutboundUrlError && pattern.test(err.message),
      `expected ${raw} to be refused with ${String(pattern)}`,
    );

  test("refuses file: and ftp: URLs", () => {
    refused("file:///etc/passwd", LOCAL, /scheme file:/);
    refused("ftp://example.com/data.zip", LOCAL, /scheme ftp:/);
  });

  test("refuses credentials in the URL", () => {
    refused("https://user:pass@example.com/data.zip", LOCAL, /credentials/);
    refused("https://user@example.com/data.zip", LOCAL, /credentials/);
  });

  test("refuses something that is not a URL", () => refused("not a url", LOCAL, /not a valid URL/));

  test("refuses literal private addresses when private networks are not allowed", () => {
    refused("http://127.0.0.1:8080/data.zip", STRICT, /127\.0\.0\.1/);
    refused("http://169.254.169.254/latest/meta-data/", STRICT, /169\.254\.169\.254/);
    refused("http://[::1]/x", STRICT, /::1/);
    refused("http://[::ffff:127.0.0.1]/x", STRICT, /not reachable/);
    refused("http://2130706433/x", STRICT, /127\.0\.0\.1/);
    refused("http://0x7f.1/x", STRICT, /127\.0\.0\.1/);
  });

  test("accepts a private address when allowed, and public hosts always", () => {
    assert.equal(checkOutboundUrl("http://127.0.0.1:8080/data.zip", LOCAL).port, "8080");
    assert.equal(checkOutboundUrl("https://example.com/data.zip?token=x", STRICT).hostname, "example.com");
    assert.equal(checkOutboundUrl("https://8.8.8.8/x", STRICT).hostname, "8.8.8.8");
  });
});

function lookupOnce(policy: OutboundPolicy, host: string): Promise<{ err: Error | null; address: string }> {
  return new Promise((resolve) => {
    guardedLookup(policy)(host, {}, (err, address) =>
      resolve({ err, address: typeof address === "string" ? address : JSON.stringify(address) }),
    );
  });
}

describe("guardedLookup", () => {
  test('refuses "localhost" when private networks are not allowed', async () => {
    const { err } = await lookupOnce(STRICT, "localhost");
    assert.ok(err instanceof OutboundUrlError, `expected an OutboundUrlError, got ${String(err)}`);
    assert.match(err.message, /localhost resolves only to non-public addresses/);
  });

  test('resolves "localhost" to a loopback address when allowed', async () => {
    const { err, address } = await lookupOnce(LOCAL, "localhost");
    assert.equal(err, null, `expected no error, got ${String(err)}`);
    assert.ok(["127.0.0.1", "::1"].includes(address), `expected a loopback address, got ${address}`);
  });

  test("passes the resolver's own error through", async () => {
    const { err } = await lookupOnce(LOCAL, "no-such-host.invalid");
    assert.ok(err && !(err instanceof OutboundUrlError), `expected a DNS error, got ${String(err)}`);
  });
});

describe("guardedAgent: a real HTTP request by name", () => {
  let server: Server;
  let port: number;

  before(async () => {
    server = createServer((_req, res) => res.end("inside"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test("never connects to a name that resolves to loopback when private networks are refused", async () => {
    const agent = guardedAgent(STRICT);
    try {
      await assert.rejects(
        fetch(`http://localhost:${port}/`, { dispatcher: agent }),
        (err: unknown) => err instanceof Error && /non-public/.test(`${err.message} ${String(err.cause)}`),
        "expected the request to fail in the guarded DNS lookup",
      );
    } finally {
      await agent.close();
    }
  });

  test("connects when private networks are allowed", async () => {
    const agent = guardedAgent(LOCAL);
    try {
      const res = await fetch(`http://localhost:${port}/`, { dispatcher: agent });
      assert.equal(await res.text(), "inside", "expected the local server's answer");
    } finally {
      await agent.close();
    }
  });
});
