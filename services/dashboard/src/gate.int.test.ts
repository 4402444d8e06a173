/**
 * The dashboard's gate on a real dashboard (NATS, FerretDB, its HTTP server and live feed): the
 * Host check against DNS rebinding, the per-client cap on live feeds, and the login limiter on
 * every token comparison, bearer headers on the live feed included.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Dashboard } from "./dashboard.js";
import { LIVE_CONNECTIONS_PER_CLIENT } from "./gate.js";
import { http, openFeed, startInfra, type FeedRecorder, type Infra } from "./testing/live-fixture.js";

const TOKEN = "operator-token-for-gate-tests-0123";
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("the dashboard's gate", () => {
  let infra: Infra;
  let dashboard: Dashboard;
  let port: string;

  before(async () => {
    infra = await startInfra();
    dashboard = await infra.start({ token: TOKEN, publicHosts: ["trainyard.example.com"] });
    port = new URL(dashboard.url).port;
  });

  after(async () => {
    await infra?.stop();
  });

  it("a request naming a foreign host (DNS rebinding) is refused; the public name, IPs and localhost are served", async () => {
    for (const path of ["/", "/api/session", "/healthz"]) {
      const rebound = await http(dashboard.url, path, { headers: { host: `attacker.example:${port}` } });
      assert.equal(rebound.status, 421, `${path} with a foreign Host`);
    }
    await assert.rejects(
      openFeed(dashboard.url, { ...bearer(TOKEN), host: `attacker.example:${port}` }),
      /upgrade refused: 421/,
    );
    for (const host of [`trainyard.example.com`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      assert.equal((await http(dashboard.url, "/api/session", { headers: { host } })).status, 200, host);
    }
  });

  it(`a client holds at most ${LIVE_CONNECTIONS_PER_CLIENT} live feeds; closing one makes room`, async () => {
    const feeds: FeedRecorder[] = [];
    try {
      for (let i = 0; i < LIVE_CONNECTIONS_PER_CLIENT; i++) feeds.push(await openFeed(dashboard.url, bearer(TOKEN)));
      await assert.rejects(openFeed(dashboard.url, bearer(TOKEN)), /upgrade refused: 429/);
      feeds.pop()?.close();
      // the server hears the close a moment later
      let reopened: FeedRecorder | null = null;
      for (let tries = 0; !reopened && tries < 50; tries++) {
        reopened = await openFeed(dashboard.url, bearer(TOKEN)).catch(() => null);
        if (!reopened) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(reopened, "a feed opens again once one closed");
      feeds.push(reopened);
    } finally {
      for (const feed of feeds) feed.close();
    }
  });

  // last: it leaves this client address throttled
  it("the 11th wrong bearer token on /ws is throttled, and then the right one is too", async () => {
    for (let i = 1; i <= 10; i++) {
      await assert.rejects(openFeed(dashboard.url, bearer(`wrong-token-${i}-0123456789`)), /upgrade refused: 401/);
    }
    await assert.rejects(openFeed(dashboard.url, bearer("wrong-token-11-0123456789")), /upgrade refused: 429/);
    await assert.rejects(openFeed(dashboard.url, bearer(TOKEN)), /upgrade refused: 429/);
    const api = await http(dashboard.url, "/api/overview", { headers: bearer(TOKEN) });
    assert.equal(api.status, 429, "the API is throttled for this client too");
  });
});
