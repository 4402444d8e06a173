import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { Agent } from "undici";

/** An outbound URL (dataset, callback) that must not be fetched. */
export class OutboundUrlError extends Error {
  override name = "OutboundUrlError";
}

const blocked = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  blocked.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const) {
  blocked.addSubnet(net, prefix, "ipv6");
}

/** True for loopback, private, link-local, metadata, multicast and reserved addresses. */
export function isPrivateAddress(ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return isPrivateAddress(mapped[1]);
  const family = isIP(ip);
  if (family === 0) return true;
  return blocked.check(ip, family === 4 ? "ipv4" : "ipv6");
}

export interface OutboundPolicy {
  /** Allows loopback and private networks: local development and tests only. */
  allowPrivate: boolean;
}

/** Rejects non-http(s) URLs and literal private addresses before any connection is made. */
export function checkOutboundUrl(raw: string, policy: OutboundPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundUrlError(`not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new OutboundUrlError(`scheme ${url.protocol} is not allowed`);
  }
  if (url.username || url.password) throw new OutboundUrlError("credentials in URLs are not allowed");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!policy.allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) {
    throw new OutboundUrlError(`address ${host} is not reachable from this service`);
  }
  return url;
}

/**
 * A DNS lookup that refuses private answers, so a public name that resolves (or re-resolves,
 * as in DNS rebinding) to an internal address is never connected to.
 */
export function guardedLookup(policy: OutboundPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, "", 0);
      const allowed = policy.allowPrivate ? addresses : addresses.filter((a) => !isPrivateAddress(a.address));
      const first = allowed[0];
      if (!first) {
        return callback(new OutboundUrlError(`${hostname} resolves only to non-public addresses`), "", 0);
      }
      if ((options as { all?: boolean }).all) {
        (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      } else {
        callback(null, first.address, first.family);
      }
    });
  };
}

/** An undici dispatcher whose every connection (redirects included) goes through the guard. */
export function guardedAgent(policy: OutboundPolicy, options: Agent.Options = {}): Agent {
  return new Agent({ ...options, connect: { ...(options.connect as object), lookup: guardedLookup(policy) } });
}
