import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, parseEnv } from "@trainyard/runtime";
import { Env } from "./env.js";

const required = { PUBLIC_BASE_URL: "http://127.0.0.1:8080/", DOWNLOAD_URL_SECRET: "download-secret-0123456789" };

describe("notifier env", () => {
  it("defaults to the Standard Webhooks schedule, a 15 s timeout and no private networks", () => {
    const env = parseEnv(Env, required);
    assert.deepEqual(
      env.CALLBACK_RETRY_SCHEDULE,
      [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400].map((s) => s * 1000),
    );
    assert.equal(env.CALLBACK_TIMEOUT_MS, 15_000);
    assert.equal(env.CALLBACK_RETRY_JITTER, 0.2);
    assert.equal(env.NOTIFIER_LEASE_TTL, 15_000);
    assert.equal(env.OUTBOUND_ALLOW_PRIVATE, false);
    assert.deepEqual(env.OUTBOUND_ALLOW_LIST, { allowHosts: [], allowCidrs: [] });
    assert.equal(env.MONGO_URL, "mongodb://127.0.0.1:27017/");
    assert.equal(env.PUBLIC_BASE_URL, "http://127.0.0.1:8080");
    assert.equal(env.CALLBACK_TARGET_TTL, 21 * 86_400_000, "callback targets are kept 21 days after the job's end");
  });

  it("refuses a callback target TTL shorter than twice the longest delivery of the schedule", () => {
    // 1 s and 2 s steps, no jitter: a Retry-After can hold each for 2 s, so one delivery takes up to 4 s
    const schedule = { CALLBACK_RETRY_SCHEDULE: "1s,2s", CALLBACK_RETRY_JITTER: "0" };
    assert.equal(parseEnv(Env, { ...required, ...schedule, CALLBACK_TARGET_TTL: "8s" }).CALLBACK_TARGET_TTL, 8_000);
    assert.throws(
      () => parseEnv(Env, { ...required, ...schedule, CALLBACK_TARGET_TTL: "7s" }),
      (err: unknown) => err instanceof ConfigError && /CALLBACK_TARGET_TTL: must be at least 8s/.test(err.message),
    );
    assert.throws(
      () => parseEnv(Env, { ...required, CALLBACK_TARGET_TTL: "3d" }),
      (err: unknown) => err instanceof ConfigError && /CALLBACK_TARGET_TTL/.test(err.message),
      "the default schedule needs more than 3 days",
    );
  });

  it("reads a compressed schedule and the same allow-list as the dataset service", () => {
    const env = parseEnv(Env, {
      ...required,
      CALLBACK_RETRY_SCHEDULE: "50ms,0.1s,1m",
      NOTIFIER_LEASE_TTL: "2s",
      OUTBOUND_ALLOW_LIST: "hooks.internal, 10.1.0.0/16",
    });
    assert.deepEqual(env.CALLBACK_RETRY_SCHEDULE, [50, 100, 60_000]);
    assert.equal(env.NOTIFIER_LEASE_TTL, 2_000);
    assert.deepEqual(env.OUTBOUND_ALLOW_LIST, { allowHosts: ["hooks.internal"], allowCidrs: ["10.1.0.0/16"] });
  });

  it("names each bad variable", () => {
    assert.throws(
      () => parseEnv(Env, { ...required, CALLBACK_RETRY_SCHEDULE: "5s,soon", OUTBOUND_ALLOW_LIST: "not a host!" }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /CALLBACK_RETRY_SCHEDULE: "soon" is not a duration/.test(err.message) &&
        /OUTBOUND_ALLOW_LIST/.test(err.message),
    );
  });
});
