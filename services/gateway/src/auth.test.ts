import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bearerVerifier } from "./auth.js";

const CURRENT = "api-secret-0123456789";
const NEXT = "next-api-secret-abcdefgh";

describe("bearerVerifier", () => {
  const verify = bearerVerifier([CURRENT, NEXT]);

  test("accepts `Bearer <token>` for every configured token, as during a rotation", () => {
    assert.equal(verify(`Bearer ${CURRENT}`), true, "expected the current token to match");
    assert.equal(verify(`Bearer ${NEXT}`), true, "expected the next token to match as well");
  });

  for (const [what, header] of [
    ["no header", undefined],
    ["an empty header", ""],
    ["a wrong token", "Bearer wrong-secret-0123456789"],
    ["a prefix of a token", `Bearer ${CURRENT.slice(0, -1)}`],
    ["a token with a suffix", `Bearer ${CURRENT}x`],
    ["both tokens joined", `Bearer ${CURRENT}${NEXT}`],
    ["the bare token without the scheme", CURRENT],
    ["another scheme", `Basic ${CURRENT}`],
    ["an empty bearer token", "Bearer "],
  ] as const) {
    test(`refuses ${what}`, () => {
      assert.equal(verify(header), false, `expected ${JSON.stringify(header)} to be refused`);
    });
  }

  test("takes the scheme in any case and more than one space, as RFC 6750 allows", () => {
    for (const header of [`bearer ${CURRENT}`, `BEARER ${NEXT}`, `Bearer  ${CURRENT}`]) {
      assert.equal(verify(header), true, `expected ${JSON.stringify(header)} to match`);
    }
  });

  test("no configured token accepts nothing, not even an empty header", () => {
    const none = bearerVerifier([]);
    assert.equal(none(undefined), false, "expected a missing header to be refused");
    assert.equal(none("Bearer "), false, "expected an empty token to be refused");
    assert.equal(bearerVerifier([""])(undefined), false, "expected an empty configured token never to match");
  });
});
