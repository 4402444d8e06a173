import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import type { TrustProxy } from "@trainyard/runtime";
import proxyaddr from "proxy-addr";
import { readCookie, SESSION_COOKIE, type Access, type LoginLimiter } from "./access.js";

/** Live connections (WebSocket feeds, progress streams) one client may hold open at once, each kind. */
export const LIVE_CONNECTIONS_PER_CLIENT = 8;

export interface GateOptions {
  access: Access;
  limiter: LoginLimiter;
  /**
   * Which proxies to believe about the client's address (DASHBOARD_TRUST_PROXY, as the gateway's
   * TRUST_PROXY): false (the TCP peer is the client), a hop count, or proxy addresses and subnets.
   */
  trustProxy: TrustProxy;
  /** Host names the dashboard answers to besides IP addresses and localhost (DASHBOARD_PUBLIC_URL's). */
  publicHosts: readonly string[];
}

export type Verdict = "allowed" | "unauthorized" | "throttled";

/**
 * Who a request comes from and whether it may in. Every comparison with the operator token (a
 * login, a bearer header) goes through the login limiter, keyed on the client's address as the
 * trusted proxies report it. A request whose `Host` is a DNS name the dashboard was not told of is
 * refused: a page on another site whose name an attacker re-points at this host (DNS rebinding)
 * sends its own name. IP addresses and localhost are always accepted; rebinding needs a name.
 */
export class Gate {
  readonly #trust: (address: string, hop: number) => boolean;
  readonly #hosts: Set<string>;
  readonly #live = new Map<string, number>();

  constructor(private readonly opts: GateOptions) {
    const trust = opts.trustProxy;
    this.#trust =
      typeof trust === "number"
        ? (_address, hop) => hop < trust
        : typeof trust === "boolean"
          ? () => trust
          : proxyaddr.compile(trust);
    this.#hosts = new Set(["localhost", ...opts.publicHosts.map((host) => host.toLowerCase())]);
  }

  /** Failed token comparisons per client address. */
  get limiter(): LoginLimiter {
    return this.opts.limiter;
  }

  /** The client's address: the TCP peer, or what trusted proxies say it is. */
  client(req: IncomingMessage): string {
    return proxyaddr(req, this.#trust);
  }

  /** Whether the request's `Host` names this dashboard (an IP address, localhost, or a public name). */
  hostAllowed(req: IncomingMessage): boolean {
    const host = hostName(req.headers.host);
    return host !== null && (isIP(host) !== 0 || this.#hosts.has(host));
  }

  /** Whether the request carries a valid session or the token; a wrong bearer token counts as a failed login. */
  authorize(req: IncomingMessage): Verdict {
    const { access, limiter } = this.opts;
    if (!access.required) return "allowed";
    const client = this.client(req);
    if (limiter.blocked(client)) return "throttled";
    const bearer = /^bearer +(.+)$/i.exec(req.headers.authorization ?? "")?.[1];
    if (bearer === undefined)
      return access.sessionValid(readCookie(req.headers.cookie, SESSION_COOKIE)) ? "allowed" : "unauthorized";
    if (access.tokenMatches(bearer)) {
      limiter.succeeded(client);
      return "allowed";
    }
    limiter.failed(client);
    return "unauthorized";
  }

  /**
   * Takes one of the client's live connections of `kind`; null when it holds its share already.
   * The returned function gives it back (once, however often it is called).
   */
  openLive(req: IncomingMessage, kind: "ws" | "sse"): (() => void) | null {
    const key = `${kind} ${this.client(req)}`;
    const open = this.#live.get(key) ?? 0;
    if (open >= LIVE_CONNECTIONS_PER_CLIENT) return null;
    this.#live.set(key, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#live.get(key) ?? 1) - 1;
      if (left > 0) this.#live.set(key, left);
      else this.#live.delete(key);
    };
  }
}

/** The host name of a `Host` header, lower-cased, without port or IPv6 brackets; null when malformed. */
function hostName(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/i.exec(header.trim());
  const host = match?.[1] ?? match?.[2];
  return host ? host.toLowerCase().replace(/\.$/, "") : null;
}
