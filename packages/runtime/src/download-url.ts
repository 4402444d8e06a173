import { createHmac, timingSafeEqual } from "node:crypto";

/** Signs `path` (e.g. `/models/<job>.pt`) so that it can be fetched without the API secret until `expiresAt`. */
export function signDownloadPath(secret: string, path: string, expiresAt: Date): string {
  const expires = Math.floor(expiresAt.getTime() / 1000);
  return `${path}?expires=${expires}&signature=${digest(secret, path, expires)}`;
}

/** True when the signature matches `path` and has not expired; compared in constant time. */
export function verifyDownloadPath(
  secret: string,
  path: string,
  expires: string | undefined,
  signature: string | undefined,
  now: Date = new Date(),
): boolean {
  if (!expires || !signature || !/^\d+$/.test(expires)) return false;
  const expected = Buffer.from(digest(secret, path, Number(expires)));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return false;
  return Number(expires) * 1000 > now.getTime();
}

function digest(secret: string, path: string, expires: number): string {
  return createHmac("sha256", secret).update(`${path}\n${expires}`).digest("base64url");
}
