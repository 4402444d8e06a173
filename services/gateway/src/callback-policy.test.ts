import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { weakCallbackSettings, MIN_CALLBACK_SECRET_CHARS } from "./callback-policy.js";
import { call, expectError, newRequest, startHarness, type Harness } from "./testing/harness.js";

const STRONG_SECRET = "sk_live_abc123xyz789"; // the PRD's example: 20 characters

describe("weakCallbackSettings", () => {
  test("names an http:// URL and a short secret, each by its field", () => {
    const weak = weakCallbackSettings(
      { callback_url: "http://app.example.com/hook", callback_secret: "secret" },
      false,
    );
    assert.deepEqual(
      weak.map((w) => w.path),
      ["callback_url", "callback_secret"],
    );
    assert.match(weak[1]?.message ?? "", new RegExp(`at least ${MIN_CALLBACK_SECRET_CHARS} characters`));
    assert.ok(!JSON.stringify(weak).includes('"secret"'), "the secret's value is never echoed");
  });

  test("https and a secret as long as the PRD's example are not weak", () => {
    assert.deepEqual(
      weakCallbackSettings({ callback_url: "https://app.example.com/hook", callback_secret: STRONG_SECRET }, false),
      [],
    );
  });

  test("local mode (private URLs allowed) warns of nothing", () => {
    assert.deepEqual(weakCallbackSettings({ callback_url: "http://127.0.0.1/hook", callback_secret: "s" }, true), []);
  });
});

describe("CALLBACK_POLICY=strict: the real gateway", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ weakCallbacks: "strict" });
  });
  after(async () => {
    await h?.close();
  });

  test("an http:// callback URL with a short secret is a 400 naming both fields, and no job is made", async () => {
    const request = newRequest({ callback_url: "http://app.example.com/hook", callback_secret: "secret" });
    const res = await call(h, "POST", "/api/v1/train", { body: request });
    const error = expectError(res, 400, "INVALID_PAYLOAD", "weak callback settings");
    assert.deepEqual(
      error.errors?.map((e) => e.path),
      ["callback_url", "callback_secret"],
    );
    assert.equal((await call(h, "GET", `/api/v1/jobs/${request.job_id}`)).status, 404);
  });

  test("https with a strong secret is accepted", async () => {
    const res = await call(h, "POST", "/api/v1/train", {
      body: newRequest({ callback_url: "https://app.example.com/hook", callback_secret: STRONG_SECRET }),
    });
    assert.equal(res.status, 202, res.text);
  });
});
