import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bearerMatches } from "./auth.js";

const SECRET = "api-secret-0123456789";

describe("bearerMatches", () => {
  test("accepts exactly `Bearer <secret>`", () => {
    assert.equal(bearerMatches(`Bearer ${SECRET}`, SECRET), true, "expected the right token to match");
  });

  for (const [what, header] of [
    ["no header", undefined],
    ["an empty header", ""],
    ["a wrong token", "Bearer wrong-secret-0123456789"],
    ["a prefix of the token", `Bearer ${SECRET.slice(0, -1)}`],
    ["the token with a suffix", `Bearer ${SECRET}x`],
    ["the bare token without the scheme", SECRET],
    ["another scheme", `Basic ${SECRET}`],
    ["an empty bearer token", "Bearer "],
  ] as const) {
    test(`refuses ${what}`, () => {
      assert.equal(bearerMatches(header, SECRET), false, `expected ${JSON.stringify(header)} to be refused`);
    });
  }

  test("takes the scheme in any case and more than one space, as RFC 6750 allows", () => {
    for (const header of [`bearer ${SECRET}`, `BEARER ${SECRET}`, `Bearer  ${SECRET}`]) {
      assert.equal(bearerMatches(header, SECRET), true, `expected ${JSON.stringify(header)} to match`);
    }
  });

  test("an empty configured secret never matches a missing header", () => {
    assert.equal(bearerMatches(undefined, ""), false, "expected no header to be refused even for an empty secret");
  });
});
