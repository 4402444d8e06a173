import { createHash, timingSafeEqual } from "node:crypto";

/**
 * True when the Authorization header carries `Bearer <secret>`. Both sides are hashed first so
 * the comparison is constant-time whatever the lengths (PRD 13.1).
 */
export function bearerMatches(header: string | undefined, secret: string): boolean {
  // the scheme name is case-insensitive (RFC 6750 via RFC 7235)
  const match = /^bearer +(.+)$/i.exec(header ?? "");
  const given = createHash("sha256")
    .update(match?.[1] ?? "")
    .digest();
  const wanted = createHash("sha256").update(secret).digest();
  return timingSafeEqual(given, wanted) && match !== null;
}
