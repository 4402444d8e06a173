import { lookup as dnsLookup } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { Agent, buildConnector } from "undici";
import { z } from "zod";

/** An outbound URL (dataset, callback) that must not be fetched. */
export class OutboundUrlError extends Error {
  override name = "OutboundUrlError";
}

type Family = "ipv4" | "ipv6";
type Range = readonly [network: string, prefix: number, family: Family, label: string];

/**
 * Addresses no outbound request may reach unless a deployment allows them. The label is shown
 * to the user, so a refusal says which kind of address it was.
 */
const NON_PUBLIC: readonly Range[] = [
  ["0.0.0.0", 8, "ipv4", "unspecified"],
  ["10.0.0.0", 8, "ipv4", "private"],
  ["100.64.0.0", 10, "ipv4", "shared address space"],
  ["127.0.0.0", 8, "ipv4", "loopback"],
  ["169.254.0.0", 16, "ipv4", "link-local"],
  ["172.16.0.0", 12, "ipv4", "private"],
  ["192.0.0.0", 24, "ipv4", "reserved"],
  ["192.0.2.0", 24, "ipv4", "documentation"],
  ["192.88.99.0", 24, "ipv4", "6to4 relay"],
  ["192.168.0.0", 16, "ipv4", "private"],
  ["198.18.0.0", 15, "ipv4", "benchmarking"],
  ["198.51.100.0", 24, "ipv4", "documentation"],
  ["203.0.113.0", 24, "ipv4", "documentation"],
  ["224.0.0.0", 4, "ipv4", "multicast"],
  ["240.0.0.0", 4, "ipv4", "reserved"],
  ["::", 128, "ipv6", "unspecified"],
  ["::1", 128, "ipv6", "loopback"],
  // IPv4 inside IPv6: the embedded address could be anything, so none of these forms is followed
  ["::", 96, "ipv6", "IPv4-compatible IPv6"],
  ["::ffff:0:0", 96, "ipv6", "IPv4-mapped IPv6"],
  ["::ffff:0:0:0", 96, "ipv6", "IPv4-translated IPv6"],
  ["64:ff9b::", 96, "ipv6", "NAT64"],
  ["64:ff9b:1::", 48, "ipv6", "NAT64"],
  ["100::", 64, "ipv6", "discard-only"],
  ["2001::", 23, "ipv6", "IETF protocol assignment (Teredo)"],
  ["2001:db8::", 32, "ipv6", "documentation"],
  ["2002::", 16, "ipv6", "6to4"],
  ["3fff::", 20, "ipv6", "documentation"],
  ["fc00::", 7, "ipv6", "unique-local"],
  ["fe80::", 10, "ipv6", "link-local"],
  ["fec0::", 10, "ipv6", "site-local"],
  ["ff00::", 8, "ipv6", "multicast"],
];

/** Cloud instance-metadata endpoints: refused even when private networks are allowed. */
const METADATA: readonly Range[] = [
  ["169.254.169.254", 32, "ipv4", "cloud metadata"],
  ["169.254.170.2", 32, "ipv4", "cloud metadata"],
  ["100.100.100.200", 32, "ipv4", "cloud metadata"],
  ["fd00:ec2::254", 128, "ipv6", "cloud metadata"],
];

/**
 * Host names of cloud instance-metadata services (GCP, AWS, the bare names some images resolve):
 * refused whatever they resolve to and whatever the allow-list says, as their addresses are.
 */
const METADATA_NAMES: ReadonlySet<string> = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "instance-data",
  "instance-data.ec2.internal",
]);

/**
 * One BlockList per family: Node matches an IPv4 address against IPv6 rules through its mapped
 * form, so a `::ffff:0:0/96` rule in a shared list would catch every IPv4 address.
 */
class RangeSet {
  private readonly lists = { ipv4: new BlockList(), ipv6: new BlockList() };
  constructor(ranges: ReadonlyArray<readonly [string, number, Family, ...unknown[]]> = []) {
    for (const [network, prefix, family] of ranges) this.add(network, prefix, family);
  }
  add(network: string, prefix: number, family: Family): void {
    this.lists[family].addSubnet(network, prefix, family);
  }
  has(ip: string, family: Family): boolean {
    return this.lists[family].check(ip, family);
  }
}

const nonPublic = new RangeSet([...NON_PUBLIC, ...METADATA]);
const metadata = new RangeSet(METADATA);

function familyOf(ip: string): Family | null {
  const family = isIP(ip);
  return family === 4 ? "ipv4" : family === 6 ? "ipv6" : null;
}

/** Each range with a set of its own, most specific first, so a lookup names the narrowest match. */
const LABELLED = [...METADATA, ...NON_PUBLIC]
  .map((range) => ({ range, set: new RangeSet([range]) }))
  .sort((a, b) => b.range[1] - a.range[1]);

/** What kind of non-public address `ip` is ("loopback", "cloud metadata", …), or null when public. */
export function nonPublicKind(ip: string): string | null {
  const family = familyOf(ip);
  if (!family) return "not an IP address";
  if (!nonPublic.has(ip, family)) return null;
  const match = LABELLED.find(({ range, set }) => range[2] === family && set.has(ip, family));
  return match?.range[3] ?? "reserved";
}

/** True for loopback, private, link-local, metadata, multicast, reserved and IPv4-in-IPv6 addresses. */
export function isPrivateAddress(ip: string): boolean {
  const family = familyOf(ip);
  return family === null || nonPublic.has(ip, family);
}

export interface OutboundPolicy {
  /** Allows loopback and private networks (never cloud metadata): local development and tests only. */
  allowPrivate: boolean;
  /**
   * Host names reachable whatever they resolve to: a self-hosted deployment's own storage.
   * Exact names, case-insensitive; `*.example.internal` also matches every name under it.
   */
  allowHosts?: readonly string[];
  /** Addresses and CIDR ranges (`10.1.0.0/16`, `::1`) reachable even though they are not public. */
  allowCidrs?: readonly string[];
}

interface CompiledPolicy {
  allowPrivate: boolean;
  hosts: Set<string>;
  suffixes: string[];
  cidrs: RangeSet;
}

const compiledPolicies = new WeakMap<OutboundPolicy, CompiledPolicy>();

function compile(policy: OutboundPolicy): CompiledPolicy {
  let compiled = compiledPolicies.get(policy);
  if (compiled) return compiled;
  const { allowHosts, allowCidrs } = parseAllowList([...(policy.allowHosts ?? []), ...(policy.allowCidrs ?? [])]);
  const cidrs = new RangeSet();
  for (const cidr of allowCidrs) {
    const [network = "", prefix] = cidr.split("/");
    cidrs.add(network, Number(prefix), familyOf(network) as Family);
  }
  compiled = {
    allowPrivate: policy.allowPrivate,
    hosts: new Set(allowHosts.filter((h) => !h.startsWith("*."))),
    suffixes: allowHosts.filter((h) => h.startsWith("*.")).map((h) => h.slice(1)),
    cidrs,
  };
  compiledPolicies.set(policy, compiled);
  return compiled;
}

function canonicalHost(host: string): string {
  return host
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "")
    .toLowerCase();
}

/**
 * Splits an allow-list (`OUTBOUND_ALLOW_LIST`: comma-separated host names, `*.suffix` patterns,
 * IP addresses and CIDR ranges) into names and ranges; throws on an entry that is none of these.
 */
export function parseAllowList(entries: string | readonly string[]): { allowHosts: string[]; allowCidrs: string[] } {
  const list = typeof entries === "string" ? entries.split(",") : entries;
  const allowHosts: string[] = [];
  const allowCidrs: string[] = [];
  for (const raw of list) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    const [network = "", prefix, extra] = entry.replace(/^\[|\]$/g, "").split("/");
    const family = familyOf(network);
    if (family) {
      const max = family === "ipv4" ? 32 : 128;
      const bits = prefix === undefined ? max : Number(prefix);
      if (extra !== undefined || !/^\d+$/.test(prefix ?? String(max)) || bits > max) {
        throw new OutboundUrlError(`allow-list entry ${JSON.stringify(raw)} is not a valid CIDR range`);
      }
      allowCidrs.push(`${network}/${bits}`);
    } else if (/^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/.test(entry)) {
      allowHosts.push(entry.replace(/\.$/, ""));
    } else {
      throw new OutboundUrlError(`allow-list entry ${JSON.stringify(raw)} is neither a host name nor an IP/CIDR`);
    }
  }
  return { allowHosts, allowCidrs };
}

/**
 * The `OUTBOUND_ALLOW_LIST` variable: comma-separated host names (`*.suffix` allowed), IP
 * addresses and CIDR ranges that outbound requests may reach although they are not public.
 */
export const envAllowList = () =>
  z
    .string()
    .default("")
    .transform((raw, ctx) => {
      try {
        return parseAllowList(raw);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
        return z.NEVER;
      }
    });

/** Why `host` names a cloud metadata service; null when it does not. */
function metadataNameRefusal(host: string): string | null {
  return METADATA_NAMES.has(canonicalHost(host)) ? `host ${canonicalHost(host)} is a cloud metadata service` : null;
}

/** The policy of a service's `OUTBOUND_ALLOW_PRIVATE` and `OUTBOUND_ALLOW_LIST` settings. */
export function outboundPolicyOf(env: {
  OUTBOUND_ALLOW_PRIVATE: boolean;
  OUTBOUND_ALLOW_LIST: { allowHosts: string[]; allowCidrs: string[] };
}): Required<OutboundPolicy> {
  return { allowPrivate: env.OUTBOUND_ALLOW_PRIVATE, ...env.OUTBOUND_ALLOW_LIST };
}

/**
 * Why `ip`, reached as `host`, must not be connected to under `policy`; null when it may. Cloud
 * metadata, by address or by name, is refused before anything else is consulted; then an
 * allow-listed name or range wins over every rule.
 */
export function outboundRefusal(ip: string, host: string | undefined, policy: OutboundPolicy): string | null {
  const compiled = compile(policy);
  const address = canonicalHost(ip);
  const family = familyOf(address);
  if (!family) return `address ${JSON.stringify(ip)} is not an IP address`;
  const name = host === undefined ? undefined : canonicalHost(host);
  const byName = name === undefined ? null : metadataNameRefusal(name);
  if (byName) return byName;
  if (metadata.has(address, family)) return `address ${address} is not reachable from this service (cloud metadata)`;
  if (compiled.cidrs.has(address, family)) return null;
  if (name && (compiled.hosts.has(name) || compiled.suffixes.some((suffix) => name.endsWith(suffix)))) return null;
  const kind = nonPublicKind(address);
  if (kind === null) return null;
  if (compiled.allowPrivate) return null;
  return `address ${address} is not reachable from this service (${kind})`;
}

/** Rejects non-http(s) URLs, credentials and refused literal addresses before any connection is made. */
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
  const host = canonicalHost(url.hostname);
  const refusal = familyOf(host) ? outboundRefusal(host, host, policy) : metadataNameRefusal(host);
  if (refusal) throw new OutboundUrlError(refusal);
  return url;
}

/** How long `outboundUrlRefusal` waits for DNS before it leaves the name to the fetching service. */
const RESOLVE_WAIT_MS = 2_000;

/**
 * Why the services would refuse to fetch `raw` under `policy`, or null: its form and literal
 * address, then what its name resolves to now. A refused URL can then be answered at once (the
 * gateway's 400 for a `callback_url`) instead of failing later where nobody hears of it. A name
 * that does not resolve, or not within 2 s, is not refused here: DNS may answer later, and the
 * fetching service applies the same guard when it connects.
 */
export async function outboundUrlRefusal(
  raw: string,
  policy: OutboundPolicy,
  lookup: LookupFunction = dnsLookup,
): Promise<string | null> {
  let url: URL;
  try {
    url = checkOutboundUrl(raw, policy);
  } catch (err) {
    if (err instanceof OutboundUrlError) return err.message;
    throw err;
  }
  const host = canonicalHost(url.hostname);
  if (familyOf(host)) return null;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), RESOLVE_WAIT_MS);
    guardedLookup(policy, lookup)(host, { all: true }, (err) => {
      clearTimeout(timer);
      resolve(err instanceof OutboundUrlError ? err.message : null);
    });
  });
}

/**
 * A DNS lookup that drops refused answers, so a name that resolves (or re-resolves, as in DNS
 * rebinding) to an internal address is never dialled. `base` is the resolver it filters.
 */
export function guardedLookup(policy: OutboundPolicy, base: LookupFunction = dnsLookup): LookupFunction {
  return (hostname, options, done) => {
    base(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return done(err, "", 0);
      const answers = Array.isArray(addresses) ? addresses : [];
      const allowed = answers.filter((a) => outboundRefusal(a.address, hostname, policy) === null);
      const first = allowed[0];
      if (!first) {
        const refusal = answers[0] ? outboundRefusal(answers[0].address, hostname, policy) : "no address";
        return done(new OutboundUrlError(`${hostname} resolves only to refused addresses: ${refusal}`), "", 0);
      }
      if ((options as { all?: boolean }).all) done(null, allowed);
      else done(null, first.address, first.family);
    });
  };
}

/**
 * An undici dispatcher whose every connection (redirects included) goes through the guard twice:
 * DNS answers are filtered, and the address the socket actually connected to is checked before
 * a byte of the request is sent. `options.connect.lookup`, when given, is the resolver used.
 */
export function guardedAgent(policy: OutboundPolicy, options: Agent.Options = {}): Agent {
  const given = options.connect;
  const base =
    typeof given === "function"
      ? given
      : buildConnector({
          ...given,
          lookup: guardedLookup(policy, (given as { lookup?: LookupFunction } | undefined)?.lookup),
        });
  const connect: buildConnector.connector = (opts, callback) => {
    base(opts, (err, socket) => {
      if (err || !socket) return callback(err ?? new OutboundUrlError("no connection"), null);
      const remote = socket.remoteAddress;
      const refusal = remote ? outboundRefusal(remote, opts.hostname, policy) : "the connected address is unknown";
      if (refusal) {
        socket.destroy();
        return callback(new OutboundUrlError(refusal), null);
      }
      callback(null, socket);
    });
  };
  return new Agent({ ...options, connect });
}
