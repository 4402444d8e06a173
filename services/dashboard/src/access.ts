import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "trainyard_session";

export interface AccessOptions {
  /** The operator token (DASHBOARD_TOKEN); null leaves the dashboard open. */
  token: string | null;
  sessionTtlMs: number;
  now?: () => number;
}

/**
 * Operator access. With a token configured, a browser logs in once by posting it and gets an
 * HttpOnly session cookie: `<expiry>.<HMAC(token, expiry)>`. Sessions need no server state, so
 * they survive a restart of the dashboard, and changing the token ends them all. Tools may send
 * the token itself as `Authorization: Bearer <token>` instead.
 */
export class Access {
  readonly required: boolean;
  readonly #token: string | null;
  readonly #tokenDigest: Buffer | null;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(opts: AccessOptions) {
    this.#token = opts.token;
    this.required = opts.token !== null;
    this.#tokenDigest = opts.token === null ? null : sha256(opts.token);
    this.#ttlMs = opts.sessionTtlMs;
    this.#now = opts.now ?? Date.now;
  }

  /** True when the token is right; compared as digests in constant time. */
  tokenMatches(given: string): boolean {
    return this.#tokenDigest !== null && timingSafeEqual(sha256(given), this.#tokenDigest);
  }

  /** `Set-Cookie` value of a new session. */
  sessionCookie(secure: boolean): string {
    const expires = this.#now() + this.#ttlMs;
    const value = `${expires}.${this.#mac(expires)}`;
    return cookie(value, Math.floor(this.#ttlMs / 1000), secure);
  }

  /** `Set-Cookie` value that ends the session. */
  clearCookie(secure: boolean): string {
    return cookie("", 0, secure);
  }

  /** True when `session` (a session cookie's value) is one this token issued and it has not expired. */
  sessionValid(session: string | null): boolean {
    return session !== null && this.#sessionValid(session);
  }

  #sessionValid(session: string): boolean {
    const match = /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(session);
    if (!match?.[1] || !match[2]) return false;
    const expires = Number(match[1]);
    const expected = Buffer.from(this.#mac(expires));
    const given = Buffer.from(match[2]);
    return given.length === expected.length && timingSafeEqual(given, expected) && expires > this.#now();
  }

  #mac(expires: number): string {
    return createHmac("sha256", this.#token ?? "")
      .update(`dashboard-session\n${expires}`)
      .digest("base64url");
  }
}

function cookie(value: string, maxAgeS: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** The value of cookie `name` in a Cookie header, or null. */
export function readCookie(header: string | undefined, name: string): string | null {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/**
 * Login attempts allowed per client address in a window; a guessing client is slowed to a
 * handful of tries a minute. In memory, per dashboard process.
 */
export class LoginLimiter {
  readonly #failures = new Map<string, { count: number; resetAt: number }>();

  constructor(
    readonly maxFailures: number,
    readonly windowMs: number,
    readonly now: () => number = Date.now,
  ) {}

  blocked(client: string): boolean {
    const entry = this.#failures.get(client);
    if (!entry) return false;
    if (entry.resetAt <= this.now()) {
      this.#failures.delete(client);
      return false;
    }
    return entry.count >= this.maxFailures;
  }

  failed(client: string): void {
    const now = this.now();
    // forget expired entries so that many addresses cannot grow the map for ever
    if (this.#failures.size > 10_000) {
      for (const [key, entry] of this.#failures) if (entry.resetAt <= now) this.#failures.delete(key);
    }
    const entry = this.#failures.get(client);
    if (!entry || entry.resetAt <= now) this.#failures.set(client, { count: 1, resetAt: now + this.windowMs });
    else entry.count += 1;
  }

  succeeded(client: string): void {
    this.#failures.delete(client);
  }
}
