import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, parseEnv } from "@trainyard/runtime";
import { Env } from "./env.js";

const BASE = { DOWNLOAD_URL_SECRET: "download-secret-0123456789" };
const TOKEN_A = "token-a-0123456789abcdef";
const TOKEN_B = "token-b-0123456789abcdef";

function configError(source: Record<string, string>): string {
  try {
    parseEnv(Env, source);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail(`expected ${JSON.stringify(Object.keys(source))} to be refused`);
}

describe("gateway Env", () => {
  test("API_SECRET alone still works, as one token", () => {
    assert.deepEqual(parseEnv(Env, { ...BASE, API_SECRET: TOKEN_A }).apiTokens, [TOKEN_A]);
  });

  test("API_SECRETS takes several tokens, trimmed, joined with API_SECRET without duplicates", () => {
    const env = parseEnv(Env, { ...BASE, API_SECRET: TOKEN_A, API_SECRETS: ` ${TOKEN_B} , ${TOKEN_A},` });
    assert.deepEqual(env.apiTokens, [TOKEN_A, TOKEN_B]);
  });

  test("the raw secret variables are not kept in the parsed config", () => {
    const env = parseEnv(Env, { ...BASE, API_SECRETS: TOKEN_A }) as Record<string, unknown>;
    assert.equal("API_SECRET" in env || "API_SECRETS" in env, false, "expected only apiTokens");
  });

  test("no token at all is refused, naming the variable", () => {
    assert.match(configError(BASE), /API_SECRETS: set API_SECRETS \(or API_SECRET\)/);
  });

  test("a short token is refused without printing it", () => {
    const message = configError({ ...BASE, API_SECRETS: `${TOKEN_A},short-tok` });
    assert.match(message, /API_SECRETS\.1: each token must be at least 16 characters/);
    assert.ok(!message.includes("short-tok"), "expected the token value nowhere in the message");
  });

  test("defaults: 10 submissions a minute, 256 KiB bodies, no proxy trusted, no CORS origin", () => {
    const env = parseEnv(Env, { ...BASE, API_SECRET: TOKEN_A });
    assert.equal(env.RATE_LIMIT_PER_MINUTE, 10);
    assert.equal(env.MAX_BODY_BYTES, 256 * 1024);
    assert.equal(env.TRUST_PROXY, false);
    assert.deepEqual(env.CORS_ORIGINS, []);
    assert.equal(env.DEPENDENCY_TIMEOUT_MS, 5000);
    assert.equal(env.HEALTH_TIMEOUT_MS, 2000);
  });

  test("TRUST_PROXY: booleans, a hop count, or a list of addresses", () => {
    const trust = (value: string) => parseEnv(Env, { ...BASE, API_SECRET: TOKEN_A, TRUST_PROXY: value }).TRUST_PROXY;
    assert.equal(trust("true"), true);
    assert.equal(trust("false"), false);
    assert.equal(trust("2"), 2);
    assert.deepEqual(trust("loopback, 10.0.0.0/8"), ["loopback", "10.0.0.0/8"]);
  });

  test("CORS_ORIGINS takes exact origins and refuses paths, wildcards and junk", () => {
    const env = parseEnv(Env, {
      ...BASE,
      API_SECRET: TOKEN_A,
      CORS_ORIGINS: "https://app.example.com, http://localhost:5173",
    });
    assert.deepEqual(env.CORS_ORIGINS, ["https://app.example.com", "http://localhost:5173"]);
    for (const bad of ["https://app.example.com/", "https://app.example.com/path", "*", "app.example.com"]) {
      assert.match(
        configError({ ...BASE, API_SECRET: TOKEN_A, CORS_ORIGINS: bad }),
        /CORS_ORIGINS\.0: each origin/,
        bad,
      );
    }
  });

  test("RATE_LIMIT_PER_MINUTE=0 turns the limit off; negative values are refused", () => {
    assert.equal(parseEnv(Env, { ...BASE, API_SECRET: TOKEN_A, RATE_LIMIT_PER_MINUTE: "0" }).RATE_LIMIT_PER_MINUTE, 0);
    assert.match(configError({ ...BASE, API_SECRET: TOKEN_A, RATE_LIMIT_PER_MINUTE: "-1" }), /RATE_LIMIT_PER_MINUTE/);
  });
});
