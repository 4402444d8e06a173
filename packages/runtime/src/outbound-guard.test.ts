import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { connect as netConnect, type LookupFunction } from "node:net";
import { fetch } from "undici";
import { z } from "zod";
import {
  checkOutboundUrl,
  envAllowList,
  guardedAgent,
  guardedLookup,
  isPrivateAddress,
  nonPublicKind,
  OutboundUrlError,
  outboundRefusal,
  outboundUrlRefusal,
  parseAllowList,
  type OutboundPolicy,
} from "./outbound-guard.js";

const STRICT: OutboundPolicy = { allowPrivate: false };
const LOCAL: OutboundPolicy = { allowPrivate: true };

describe("isPrivateAddress", () => {
  for (const ip of [
    "127.0.0.1",
    "10.1.2.3",
    "169.254.169.254",
    "192.168.1.1",
    "172.16.5.4",
    "100.64.0.1",
    "0.0.0.0",
    "::1",
    "::",
    "::ffff:127.0.0.1",
    "::FFFF:10.0.0.1",
    "::ffff:7f00:1",
    "::ffff:a9fe:a9fe",
    "::ffff:8.8.8.8",
    "::127.0.0.1",
    "64:ff9b::808:808",
    "2002:7f00:1::",
    "2001:db8::1",
    "fd00::1",
    "fd00:ec2::254",
    "fe80::1",
    "ff02::1",
    "224.0.0.251",
    "255.255.255.255",
    "198.18.0.1",
    "not-an-ip",
  ]) {
    test(`${ip} is private`, () => assert.equal(isPrivateAddress(ip), true, `expected ${ip} to be treated as private`));
  }
  for (const ip of ["8.8.8.8", "1.1.1.1", "172.32.0.1", "2001:4860:4860::8888", "2606:4700::1111"]) {
    test(`${ip} is public`, () => assert.equal(isPrivateAddress(ip), false, `expected ${ip} to be public`));
  }

  test("names the kind of address, the narrowest range first", () => {
    assert.equal(nonPublicKind("169.254.169.254"), "cloud metadata");
    assert.equal(nonPublicKind("169.254.1.1"), "link-local");
    assert.equal(nonPublicKind("::1"), "loopback");
    assert.equal(nonPublicKind("::ffff:10.0.0.1"), "IPv4-mapped IPv6");
    assert.equal(nonPublicKind("64:ff9b::a00:1"), "NAT64");
    assert.equal(nonPublicKind("fd00:ec2::254"), "cloud metadata");
    assert.equal(nonPublicKind("8.8.8.8"), null);
  });
});

describe("allow-list", () => {
  test("parses host names, wildcards, addresses and CIDR ranges", () => {
    assert.deepEqual(
      parseAllowList(" storage.internal, *.corp.example ,10.0.0.0/8,127.0.0.1,[::1],fd12::/16,LOCALHOST. "),
      {
        allowHosts: ["storage.internal", "*.corp.example", "localhost"],
        allowCidrs: ["10.0.0.0/8", "127.0.0.1/32", "::1/128", "fd12::/16"],
      },
    );
    assert.deepEqual(parseAllowList(""), { allowHosts: [], allowCidrs: [] });
  });

  test("refuses entries that are neither", () => {
    for (const bad of ["10.0.0.0/33", "http://x", "a b", "10.0.0.0/8/1", "*"]) {
      assert.throws(() => parseAllowList(bad), OutboundUrlError, `expected ${bad} to be refused`);
    }
  });

  test("OUTBOUND_ALLOW_LIST parses as an env variable and names a bad entry", () => {
    const schema = z.object({ OUTBOUND_ALLOW_LIST: envAllowList() });
    assert.deepEqual(schema.parse({}).OUTBOUND_ALLOW_LIST, { allowHosts: [], allowCidrs: [] });
    const failed = schema.safeParse({ OUTBOUND_ALLOW_LIST: "ok.example,300.1.1.1/8" });
    assert.equal(failed.success, false);
    assert.match(failed.error?.issues[0]?.message ?? "", /300\.1\.1\.1\/8/);
  });

  test("an allow-listed name or range is reachable; nothing else private is", () => {
    const policy: OutboundPolicy = {
      allowPrivate: false,
      allowHosts: ["minio.internal", "*.corp.example"],
      allowCidrs: ["10.9.0.0/16"],
    };
    assert.equal(outboundRefusal("10.1.2.3", "minio.internal", policy), null);
    assert.equal(outboundRefusal("10.1.2.3", "a.b.corp.example", policy), null);
    assert.equal(outboundRefusal("10.9.8.7", "anything.example", policy), null);
    assert.match(outboundRefusal("10.1.2.3", "other.internal", policy) ?? "", /10\.1\.2\.3 .*private/);
    assert.match(outboundRefusal("10.1.2.3", "corp.example.evil", policy) ?? "", /private/);
  });

  test("cloud metadata is refused even when private networks are allowed", () => {
    assert.match(outboundRefusal("169.254.169.254", undefined, LOCAL) ?? "", /cloud metadata/);
    assert.equal(outboundRefusal("10.0.0.1", undefined, LOCAL), null);
  });

  test("cloud metadata, by address or by name, is refused before any allow-list entry is consulted", () => {
    const generous: OutboundPolicy = {
      allowPrivate: true,
      allowHosts: ["*.internal", "instance-data", "metadata.goog"],
      allowCidrs: ["169.254.0.0/16", "169.254.169.254", "fd00:ec2::/32"],
    };
    assert.match(outboundRefusal("169.254.169.254", "anything.internal", generous) ?? "", /cloud metadata/);
    assert.match(outboundRefusal("fd00:ec2::254", undefined, generous) ?? "", /cloud metadata/);
    // a name that resolves to an address allowed by the list is still the metadata service
    assert.match(outboundRefusal("169.254.10.10", "instance-data.ec2.internal", generous) ?? "", /metadata service/);
    assert.match(outboundRefusal("10.0.0.5", "metadata.google.internal.", generous) ?? "", /metadata service/);
    assert.equal(outboundRefusal("169.254.10.10", "storage.internal", generous), null, "the list still works");
    assert.throws(
      () => checkOutboundUrl("http://instance-data.ec2.internal/latest/meta-data/", generous),
      /instance-data\.ec2\.internal is a cloud metadata service/,
    );
    assert.throws(() => checkOutboundUrl("http://METADATA.google.internal/", generous), /cloud metadata service/);
  });
});

describe("checkOutboundUrl", () => {
  const refused = (raw: string, policy: OutboundPolicy, pattern: RegExp) =>
    assert.throws(
      () => checkOutboundUrl(raw, policy),
      (err: unknown) => err instanceof OutboundUrlError && pattern.test(err.message),
      `expected ${raw} to be refused with ${String(pattern)}`,
    );

  test("refuses file: and ftp: URLs", () => {
    refused("file:///etc/passwd", LOCAL, /scheme file:/);
    refused("ftp://example.com/data.zip", LOCAL, /scheme ftp:/);
  });

  test("refuses credentials in the URL", () => {
    refused("https://user:pass@example.com/data.zip", LOCAL, /credentials/);
    refused("https://user@example.com/data.zip", LOCAL, /credentials/);
  });

  test("refuses something that is not a URL", () => refused("not a url", LOCAL, /not a valid URL/));

  test("refuses literal private addresses when private networks are not allowed", () => {
    refused("http://127.0.0.1:8080/data.zip", STRICT, /127\.0\.0\.1/);
    refused("http://169.254.169.254/latest/meta-data/", STRICT, /169\.254\.169\.254/);
    refused("http://[::1]/x", STRICT, /::1/);
    refused("http://[::ffff:127.0.0.1]/x", STRICT, /not reachable/);
    refused("http://2130706433/x", STRICT, /127\.0\.0\.1/);
    refused("http://0x7f.1/x", STRICT, /127\.0\.0\.1/);
  });

  test("refuses IPv6 forms that hide an internal address", () => {
    refused("http://[::ffff:7f00:1]/x", STRICT, /IPv4-mapped/);
    refused("http://[64:ff9b::7f00:1]/x", STRICT, /NAT64/);
    refused("http://[fd00:ec2::254]/x", LOCAL, /cloud metadata/);
    refused("http://[fe80::1]/x", STRICT, /link-local/);
  });

  test("accepts a private address when allowed, and public hosts always", () => {
    assert.equal(checkOutboundUrl("http://127.0.0.1:8080/data.zip", LOCAL).port, "8080");
    assert.equal(checkOutboundUrl("https://example.com/data.zip?token=x", STRICT).hostname, "example.com");
    assert.equal(checkOutboundUrl("https://8.8.8.8/x", STRICT).hostname, "8.8.8.8");
  });
});

function lookupOnce(policy: OutboundPolicy, host: string): Promise<{ err: Error | null; address: string }> {
  return new Promise((resolve) => {
    guardedLookup(policy)(host, {}, (err, address) =>
      resolve({ err, address: typeof address === "string" ? address : JSON.stringify(address) }),
    );
  });
}

describe("guardedLookup", () => {
  test('refuses "localhost" when private networks are not allowed', async () => {
    const { err } = await lookupOnce(STRICT, "localhost");
    assert.ok(err instanceof OutboundUrlError, `expected an OutboundUrlError, got ${String(err)}`);
    assert.match(err.message, /localhost resolves only to refused addresses: address (127\.0\.0\.1|::1) .*loopback/);
  });

  test('resolves "localhost" to a loopback address when allowed', async () => {
    const { err, address } = await lookupOnce(LOCAL, "localhost");
    assert.equal(err, null, `expected no error, got ${String(err)}`);
    assert.ok(["127.0.0.1", "::1"].includes(address), `expected a loopback address, got ${address}`);
  });

  test("drops refused answers and keeps the allowed ones", async () => {
    const mixed = ((_h: string, _o: unknown, cb: (e: null, a: Array<{ address: string; family: number }>) => void) =>
      cb(null, [
        { address: "10.0.0.1", family: 4 },
        { address: "93.184.216.34", family: 4 },
      ])) as unknown as LookupFunction;
    const address = await new Promise<string>((resolve, reject) =>
      guardedLookup(STRICT, mixed)("mixed.example", {}, (err, a) => (err ? reject(err) : resolve(a as string))),
    );
    assert.equal(address, "93.184.216.34");
  });

  test("passes the resolver's own error through", async () => {
    const { err } = await lookupOnce(LOCAL, "no-such-host.invalid");
    assert.ok(err && !(err instanceof OutboundUrlError), `expected a DNS error, got ${String(err)}`);
  });
});

describe("outboundUrlRefusal", () => {
  test("names what the fetching service would refuse: form, literal address, then the name's addresses", async () => {
    assert.match((await outboundUrlRefusal("ftp://app.example.com/hook", LOCAL)) ?? "", /scheme ftp:/);
    assert.match((await outboundUrlRefusal("http://127.0.0.1:9/hook", STRICT)) ?? "", /127\.0\.0\.1 .*loopback/);
    assert.match(
      (await outboundUrlRefusal("http://localhost:9/hook", STRICT)) ?? "",
      /localhost resolves only to refused addresses: .*loopback/,
    );
    assert.match((await outboundUrlRefusal("http://metadata.goog/x", LOCAL)) ?? "", /cloud metadata service/);
  });

  test("accepts what the policy allows, and a name that does not resolve now (DNS may answer later)", async () => {
    assert.equal(await outboundUrlRefusal("http://localhost:9/hook", LOCAL), null);
    assert.equal(await outboundUrlRefusal("https://93.184.216.34/hook", STRICT), null);
    assert.equal(await outboundUrlRefusal("https://no-such-host.invalid/hook", STRICT), null);
  });
});

describe("guardedAgent: a real HTTP request by name", () => {
  let requestsSeen = 0;
  let server: Server;
  let port: number;

  before(async () => {
    server = createServer((_req, res) => {
      requestsSeen++;
      res.end("inside");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test("never connects to a name that resolves to loopback when private networks are refused", async () => {
    const agent = guardedAgent(STRICT);
    try {
      await assert.rejects(
        fetch(`http://localhost:${port}/`, { dispatcher: agent }),
        (err: unknown) => err instanceof Error && /refused addresses/.test(`${err.message} ${String(err.cause)}`),
        "expected the request to fail in the guarded DNS lookup",
      );
    } finally {
      await agent.close();
    }
  });

  test("checks the address the socket connected to, whatever the resolver said", async () => {
    // a connector that ignores DNS stands for an answer swapped after the check (DNS rebinding)
    const rebinding = guardedAgent(STRICT, {
      connect: (_opts, callback) => {
        const socket = netConnect({ host: "127.0.0.1", port }, () => callback(null, socket));
        socket.on("error", (err) => callback(err, null));
      },
    });
    try {
      await assert.rejects(
        fetch(`http://public.example:${port}/`, { dispatcher: rebinding }),
        (err: unknown) =>
          err instanceof Error && /127\.0\.0\.1 is not reachable/.test(`${err.message} ${String(err.cause)}`),
        "expected the connected loopback address to be refused",
      );
      assert.equal(requestsSeen, 0, "no request reached the server");
    } finally {
      await rebinding.close();
    }
  });

  test("connects when private networks are allowed", async () => {
    const agent = guardedAgent(LOCAL);
    try {
      const res = await fetch(`http://localhost:${port}/`, { dispatcher: agent });
      assert.equal(await res.text(), "inside", "expected the local server's answer");
    } finally {
      await agent.close();
    }
  });
});
