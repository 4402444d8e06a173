import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { z } from "zod";
import { CommonEnv, ConfigError, envBool, parseEnv } from "./env.js";

const Env = CommonEnv.extend({
  API_SECRET: z.string().min(16, "must be at least 16 characters"),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  DEBUG_MODE: envBool(false),
});

function configErrorOf(source: NodeJS.ProcessEnv): ConfigError {
  try {
    parseEnv(Env, source);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(source)} to be rejected`);
}

describe("parseEnv", () => {
  test("applies defaults and coerces values", () => {
    const env = parseEnv(Env, { API_SECRET: "0123456789abcdef", PORT: "9000", DEBUG_MODE: "1" });
    assert.deepEqual(env, {
      NATS_URL: "nats://127.0.0.1:4222",
      LOG_LEVEL: "info",
      API_SECRET: "0123456789abcdef",
      PORT: 9000,
      DEBUG_MODE: true,
    });
  });

  test("the error names the bad variable and why", () => {
    const err = configErrorOf({ API_SECRET: "short" });
    assert.match(err.message, /API_SECRET: must be at least 16 characters/, `got: ${err.message}`);
    assert.doesNotMatch(err.message, /PORT|LOG_LEVEL/, "expected only the bad variable to be named");
  });

  test("every bad variable is named, and a missing one too", () => {
    const err = configErrorOf({ LOG_LEVEL: "loud", PORT: "seventy" });
    for (const name of ["API_SECRET", "LOG_LEVEL", "PORT"]) {
      assert.match(err.message, new RegExp(`^  ${name}: `, "m"), `expected ${name} in: ${err.message}`);
    }
  });

  test("the error never echoes a value (secrets stay out of logs)", () => {
    const err = configErrorOf({ API_SECRET: "s3cr3t", DEBUG_MODE: "yes" });
    assert.doesNotMatch(err.message, /s3cr3t/, "expected the secret value not to appear");
    assert.match(err.message, /DEBUG_MODE/, "expected the bad boolean to be named");
  });

  test("envBool reads true/false/1/0 and falls back to its default", () => {
    const Bools = z.object({ A: envBool(true), B: envBool(false), C: envBool(true), D: envBool(false) });
    assert.deepEqual(parseEnv(Bools, { A: "false", B: "true", C: "0" }), { A: false, B: true, C: false, D: false });
  });
});
