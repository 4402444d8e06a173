import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { slidingWindowLimiter } from "./rate-limit.js";

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("slidingWindowLimiter", () => {
  test("allows `limit` requests per window and refuses the next with the seconds to wait", () => {
    const time = clock();
    const limiter = slidingWindowLimiter({ limit: 3, windowMs: 60_000, now: time.now });
    for (let i = 1; i <= 3; i++)
      assert.deepEqual(limiter.take("a"), { allowed: true }, `expected request ${i} allowed`);
    time.advance(15_000);
    assert.deepEqual(limiter.take("a"), { allowed: false, retryAfterSeconds: 45 }, "expected to wait for the oldest");
  });

  test("counts each client on its own", () => {
    const time = clock();
    const limiter = slidingWindowLimiter({ limit: 1, windowMs: 60_000, now: time.now });
    assert.equal(limiter.take("a").allowed, true);
    assert.equal(limiter.take("a").allowed, false, "expected client a over its limit");
    assert.equal(limiter.take("b").allowed, true, "expected client b unaffected by client a");
  });

  test("the window slides: a request frees its place exactly one window after it was made", () => {
    const time = clock();
    const limiter = slidingWindowLimiter({ limit: 2, windowMs: 60_000, now: time.now });
    limiter.take("a");
    time.advance(30_000);
    limiter.take("a");
    time.advance(29_999);
    assert.equal(limiter.take("a").allowed, false, "expected the first request still inside the window");
    time.advance(1);
    assert.equal(limiter.take("a").allowed, true, "expected the first request's place free after 60 s");
    assert.equal(limiter.take("a").allowed, false, "expected the second request's place still taken");
  });

  test("refused requests do not count, so a client that keeps trying is not locked out for longer", () => {
    const time = clock();
    const limiter = slidingWindowLimiter({ limit: 1, windowMs: 60_000, now: time.now });
    limiter.take("a");
    for (let i = 0; i < 10; i++) {
      time.advance(5_000);
      limiter.take("a");
    }
    time.advance(10_000);
    assert.equal(limiter.take("a").allowed, true, "expected the client allowed one window after its last success");
  });

  test("Retry-After is at least one second", () => {
    const time = clock();
    const limiter = slidingWindowLimiter({ limit: 1, windowMs: 60_000, now: time.now });
    limiter.take("a");
    time.advance(59_900);
    assert.deepEqual(limiter.take("a"), { allowed: false, retryAfterSeconds: 1 });
  });

  test("forgets silent clients, so many one-off clients do not grow memory forever", () => {
    const time = clock();
    const limiter = slidingWindowLimiter({ limit: 1, windowMs: 60_000, now: time.now });
    for (let i = 0; i < 5000; i++) limiter.take(`client-${i}`);
    assert.ok(limiter.trackedClients() >= 4000, "expected the clients of this window remembered");
    time.advance(60_001);
    for (let i = 0; i < 1000; i++) limiter.take("steady");
    assert.ok(limiter.trackedClients() <= 2, `expected silent clients forgotten, ${limiter.trackedClients()} left`);
    assert.equal(limiter.take("client-0").allowed, true, "expected a forgotten client to start over");
  });
});
