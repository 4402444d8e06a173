import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { Access, LoginLimiter, readCookie, SESSION_COOKIE } from "./access.js";
import { Gate } from "./gate.js";

const TOKEN = "operator-token-0123456789";
const peer = { remoteAddress: "127.0.0.1" };
const request = (headers: Record<string, string>) =>
  ({ headers, socket: peer, connection: peer }) as unknown as IncomingMessage;
const cookieOf = (setCookie: string) => setCookie.split(";")[0] ?? "";
/** Whether `access` lets the request in, through a gate that never throttles. */
const allows = (access: Access, req: IncomingMessage) =>
  new Gate({ access, limiter: new LoginLimiter(1_000, 60_000), trustProxy: false, publicHosts: [] }).authorize(req) ===
  "allowed";

describe("access", () => {
  it("lets everything through when no token is configured", () => {
    const access = new Access({ token: null, sessionTtlMs: 60_000 });
    assert.equal(access.required, false);
    assert.equal(allows(access, request({})), true);
    assert.equal(access.tokenMatches(""), false, "no token means no login can succeed either");
  });

  it("needs a session cookie or the bearer token when a token is configured", () => {
    const access = new Access({ token: TOKEN, sessionTtlMs: 60_000 });
    assert.equal(allows(access, request({})), false);
    assert.equal(allows(access, request({ authorization: `Bearer ${TOKEN}` })), true);
    assert.equal(allows(access, request({ authorization: "Bearer wrong-token-0123456789" })), false);
    const cookie = cookieOf(access.sessionCookie(false));
    assert.equal(allows(access, request({ cookie: `other=1; ${cookie}` })), true);
  });

  it("sets an HttpOnly, SameSite=Strict cookie that holds no token", () => {
    const access = new Access({ token: TOKEN, sessionTtlMs: 3_600_000 });
    const setCookie = access.sessionCookie(true);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.match(setCookie, /Secure/);
    assert.match(setCookie, /Max-Age=3600/);
    assert.ok(!setCookie.includes(TOKEN));
    assert.match(access.clearCookie(false), /Max-Age=0/);
  });

  it("refuses forged, expired and other tokens' sessions", () => {
    let now = 1_000_000;
    const access = new Access({ token: TOKEN, sessionTtlMs: 60_000, now: () => now });
    const value = readCookie(cookieOf(access.sessionCookie(false)), SESSION_COOKIE) ?? "";
    const [expires, mac] = value.split(".");
    const forged = `${SESSION_COOKIE}=${Number(expires) + 999_999}.${mac}`;
    assert.equal(allows(access, request({ cookie: forged })), false, "a longer expiry breaks the MAC");
    const other = new Access({ token: "another-token-0123456789", sessionTtlMs: 60_000, now: () => now });
    assert.equal(
      allows(other, request({ cookie: `${SESSION_COOKIE}=${value}` })),
      false,
      "a rotated token ends sessions",
    );
    assert.equal(allows(access, request({ cookie: `${SESSION_COOKIE}=${value}` })), true);
    now += 60_001;
    assert.equal(allows(access, request({ cookie: `${SESSION_COOKIE}=${value}` })), false, "expired");
    assert.equal(allows(access, request({ cookie: `${SESSION_COOKIE}=garbage` })), false);
  });

  it("limits failed logins per client and forgets them after the window", () => {
    let now = 0;
    const limiter = new LoginLimiter(3, 1_000, () => now);
    for (let i = 0; i < 3; i++) limiter.failed("10.0.0.1");
    assert.equal(limiter.blocked("10.0.0.1"), true);
    assert.equal(limiter.blocked("10.0.0.2"), false);
    now = 1_001;
    assert.equal(limiter.blocked("10.0.0.1"), false);
  });
});
