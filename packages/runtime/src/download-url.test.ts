import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { signDownloadPath, verifyDownloadPath } from "./download-url.js";

const SECRET = "download-secret-0123456789";
const PATH = "/models/550e8400-e29b-41d4-a716-446655440000.pt";
const NOW = new Date("2025-01-20T10:00:00Z");
const LATER = new Date("2025-01-27T10:00:00Z");

/** Splits a signed path into what the gateway route sees: the path and its two query values. */
function partsOf(signed: string): { path: string; expires: string | undefined; signature: string | undefined } {
  const url = new URL(signed, "http://gateway.test");
  return {
    path: url.pathname,
    expires: url.searchParams.get("expires") ?? undefined,
    signature: url.searchParams.get("signature") ?? undefined,
  };
}

describe("signed download paths", () => {
  test("a signed path verifies before it expires", () => {
    const { path, expires, signature } = partsOf(signDownloadPath(SECRET, PATH, LATER));
    assert.equal(path, PATH, "expected the signed URL to keep the path");
    assert.equal(expires, String(LATER.getTime() / 1000), "expected expires in unix seconds");
    assert.equal(verifyDownloadPath(SECRET, path, expires, signature, NOW), true, "expected a fresh link to verify");
  });

  test("the signature survives URL encoding (base64url needs no escaping)", () => {
    const signed = signDownloadPath(SECRET, PATH, LATER);
    assert.match(signed, /signature=[A-Za-z0-9_-]+$/, "expected a URL-safe signature");
  });

  test("a different path with the same signature is refused", () => {
    const { expires, signature } = partsOf(signDownloadPath(SECRET, PATH, LATER));
    const other = "/models/00000000-0000-4000-8000-000000000000.pt";
    assert.equal(verifyDownloadPath(SECRET, other, expires, signature, NOW), false, "expected a tampered path to fail");
  });

  test("a tampered signature is refused", () => {
    const { path, expires, signature } = partsOf(signDownloadPath(SECRET, PATH, LATER));
    assert.ok(signature, "expected a signature");
    const flipped = (signature.startsWith("A") ? "B" : "A") + signature.slice(1);
    assert.equal(
      verifyDownloadPath(SECRET, path, expires, flipped, NOW),
      false,
      "expected a changed signature to fail",
    );
    assert.equal(
      verifyDownloadPath(SECRET, path, expires, signature.slice(1), NOW),
      false,
      "expected a short one to fail",
    );
  });

  test("a later expiry with the old signature is refused", () => {
    const { path, expires, signature } = partsOf(signDownloadPath(SECRET, PATH, LATER));
    const extended = String(Number(expires) + 3600);
    assert.equal(
      verifyDownloadPath(SECRET, path, extended, signature, NOW),
      false,
      "expected a changed expiry to fail",
    );
  });

  test("a link signed with another secret is refused", () => {
    const { path, expires, signature } = partsOf(signDownloadPath("another-secret-0123456789", PATH, LATER));
    assert.equal(verifyDownloadPath(SECRET, path, expires, signature, NOW), false, "expected a foreign key to fail");
  });

  test("an expired link is refused even with a valid signature", () => {
    const { path, expires, signature } = partsOf(signDownloadPath(SECRET, PATH, NOW));
    const after = new Date(NOW.getTime() + 1000);
    assert.equal(
      verifyDownloadPath(SECRET, path, expires, signature, after),
      false,
      "expected an expired link to fail",
    );
  });

  test("missing or malformed expires/signature is refused", () => {
    const { path, expires, signature } = partsOf(signDownloadPath(SECRET, PATH, LATER));
    assert.equal(verifyDownloadPath(SECRET, path, undefined, signature, NOW), false, "expected no expires to fail");
    assert.equal(verifyDownloadPath(SECRET, path, expires, undefined, NOW), false, "expected no signature to fail");
    assert.equal(verifyDownloadPath(SECRET, path, "1e12", signature, NOW), false, "expected a non-integer to fail");
    assert.equal(verifyDownloadPath(SECRET, path, "", signature, NOW), false, "expected an empty expires to fail");
  });
});
