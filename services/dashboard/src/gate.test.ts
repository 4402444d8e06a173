import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { Access, LoginLimiter } from "./access.js";
import { Gate, LIVE_CONNECTIONS_PER_CLIENT, type GateOptions } from "./gate.js";

const request = (headers: Record<string, string>, remoteAddress = "10.0.0.9") => {
  const peer = { remoteAddress };
  return { headers, socket: peer, connection: peer } as unknown as IncomingMessage;
};
const gate = (options: Partial<GateOptions> = {}) =>
  new Gate({
    access: new Access({ token: "operator-token-0123456789", sessionTtlMs: 60_000 }),
    limiter: new LoginLimiter(10, 60_000),
    trustProxy: false,
    publicHosts: [],
    ...options,
  });

describe("Gate", () => {
  it("answers to IP addresses, localhost and its public names only", () => {
    const g = gate({ publicHosts: ["Trainyard.example.com"] });
    for (const host of ["127.0.0.1:8081", "[::1]:8081", "10.1.2.3", "localhost:8081", "trainyard.example.com."]) {
      assert.ok(g.hostAllowed(request({ host })), host);
    }
    for (const host of ["attacker.example", "trainyard.example.com.evil", "localhost.evil:8081", "", "a b"]) {
      assert.ok(!g.hostAllowed(request({ host })), host);
    }
    assert.ok(!g.hostAllowed(request({})), "no Host at all");
  });

  it("takes the client's address from X-Forwarded-For only through trusted proxies", () => {
    const forwarded = request({ "x-forwarded-for": "203.0.113.7, 198.51.100.2" }, "10.0.0.9");
    assert.equal(gate().client(forwarded), "10.0.0.9", "no proxy trusted: the peer");
    assert.equal(gate({ trustProxy: 1 }).client(forwarded), "198.51.100.2", "one hop");
    assert.equal(gate({ trustProxy: ["10.0.0.0/8"] }).client(forwarded), "198.51.100.2", "the proxy's subnet");
  });

  it("caps live connections per client and kind; a release frees one, once", () => {
    const g = gate();
    const client = request({});
    const releases = Array.from({ length: LIVE_CONNECTIONS_PER_CLIENT }, () => g.openLive(client, "ws"));
    assert.ok(releases.every((release) => release !== null));
    assert.equal(g.openLive(client, "ws"), null, "over the cap");
    assert.ok(g.openLive(client, "sse"), "the other kind has its own share");
    assert.ok(g.openLive(request({}, "10.0.0.10"), "ws"), "another client has its own share");
    releases[0]?.();
    releases[0]?.();
    assert.ok(g.openLive(client, "ws"), "room for one again");
    assert.equal(g.openLive(client, "ws"), null, "a second release of the same connection freed nothing");
  });
});
