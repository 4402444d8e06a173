import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AttemptDeadlines } from "./attempt-deadlines.js";

describe("attempt deadlines", () => {
  it("expires attempts in the order they started, never one that finished", async () => {
    const deadlines = new AttemptDeadlines(20);
    const expired: string[] = [];
    const last = new Promise<void>((resolve) => {
      deadlines.start(() => expired.push("a"));
      const b = deadlines.start(() => expired.push("b"));
      deadlines.start(() => {
        expired.push("c");
        resolve();
      });
      deadlines.finish(b);
    });
    await last;
    assert.deepEqual(expired, ["a", "c"], "a finished attempt must not expire");
  });

  it("serves attempts started after the timer was armed", async () => {
    const deadlines = new AttemptDeadlines(20);
    const expired: number[] = [];
    await new Promise<void>((resolve) => {
      deadlines.start(() => expired.push(1));
      setTimeout(() => deadlines.start(() => (expired.push(2), resolve())), 10);
    });
    assert.deepEqual(expired, [1, 2]);
  });

  it("forgets every deadline when cleared", async () => {
    const deadlines = new AttemptDeadlines(20);
    const expired: string[] = [];
    deadlines.start(() => expired.push("before clear"));
    deadlines.clear();
    await new Promise<void>((resolve) => deadlines.start(() => (expired.push("after clear"), resolve())));
    assert.deepEqual(expired, ["after clear"], "a cleared deadline must not expire");
  });
});
