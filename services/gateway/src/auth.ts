import { createHash, timingSafeEqual } from "node:crypto";

const digest = (value: string) => createHash("sha256").update(value).digest();

/** Failed authentications a client may make in `AUTH_FAILURE_WINDOW_MS` before it is refused without a check. */
export const AUTH_FAILURES_ALLOWED = 10;
export const AUTH_FAILURE_WINDOW_MS = 5 * 60_000;

/**
 * A key for the bearer token of an `Authorization` header (a digest prefix, never the token):
 * rate limits count per token with it, so an app spread over many addresses is still one client.
 */
export function bearerKey(header: string | undefined): string {
  const token = /^bearer +(.+)$/i.exec(header ?? "")?.[1] ?? "";
  return digest(token).toString("hex").slice(0, 16);
}

/**
 * A check of `Authorization: Bearer <token>` against every configured token (PRD 13.1); more
 * than one may be valid at once, for rotation. Tokens are compared as SHA-256 digests with
 * `timingSafeEqual`, every one of them on every call, so neither a token's length nor which
 * token matched shows in the timing. Only the digests are kept.
 */
export function bearerVerifier(tokens: readonly string[]): (header: string | undefined) => boolean {
  const wanted = tokens.map(digest);
  return (header) => {
    // the scheme name is case-insensitive (RFC 6750 via RFC 7235)
    const match = /^bearer +(.+)$/i.exec(header ?? "");
    const given = digest(match?.[1] ?? "");
    let matched = false;
    for (const token of wanted) matched = timingSafeEqual(given, token) || matched;
    return matched && match !== null;
  };
}
