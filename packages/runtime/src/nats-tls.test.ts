/**
 * TLS to NATS from the environment: a real nats-server requiring client certificates (mutual
 * TLS) and an nkey, certificates made by openssl for this run. `natsAuth(env)` + `connectNats`
 * connect with NATS_TLS_* set, and a client that does not present them is refused.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, nkeyAuthenticator } from "@nats-io/transport-node";
import { startNats, writeNatsCredentials, type NatsCredentials, type Supervised } from "@trainyard/stack";
import { CommonEnv, natsAuth, parseEnv } from "./env.js";
import { connectNats } from "./nats.js";

let dir: string;
let nats: Supervised;
let url: string;
let creds: NatsCredentials;

/** A CA, and a certificate it signs for `cn` (with 127.0.0.1 as its address). */
function issue(cn: string, ca?: { cert: string; key: string }): { cert: string; key: string } {
  const key = join(dir, `${cn}.key`);
  const cert = join(dir, `${cn}.pem`);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  if (!ca) {
    openssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      `/CN=${cn}`,
    );
    return { cert, key };
  }
  const csr = join(dir, `${cn}.csr`);
  const ext = join(dir, `${cn}.ext`);
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${cn}`);
  execFileSync("sh", ["-c", `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ${ext}`]);
  openssl(
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "1",
    "-extfile",
    ext,
  );
  return { cert, key };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-nats-tls-"));
  const ca = issue("trainyard-test-ca");
  const server = issue("nats-server", ca);
  creds = writeNatsCredentials(join(dir, "auth"));
  const started = await startNats(join(dir, "nats"), () => undefined, undefined, {
    authConf: creds.authConf,
    tls: { certFile: server.cert, keyFile: server.key, caFile: ca.cert },
  });
  nats = started.process;
  url = `tls://${started.url.slice("nats://".length)}`;
  const client = issue("gateway-client", ca);
  process.env.TEST_CA = ca.cert;
  process.env.TEST_CLIENT_CERT = client.cert;
  process.env.TEST_CLIENT_KEY = client.key;
});

after(async () => {
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

test("a service connects over mutual TLS with the NATS_TLS_* and NATS_NKEY_SEED_FILE variables", async () => {
  const env = parseEnv(CommonEnv, {
    NATS_URL: url,
    NATS_NKEY_SEED_FILE: creds.seedFiles.gateway,
    NATS_TLS_CA_FILE: process.env.TEST_CA,
    NATS_TLS_CERT_FILE: process.env.TEST_CLIENT_CERT,
    NATS_TLS_KEY_FILE: process.env.TEST_CLIENT_KEY,
  });
  const nc = await connectNats(env.NATS_URL, "tls-test", natsAuth(env, "gateway"));
  try {
    assert.equal(nc.info?.tls_required, true, "the server requires TLS");
    await nc.flush();
  } finally {
    await nc.close();
  }
});

test("without a client certificate the server refuses the connection", async () => {
  await assert.rejects(
    connect({
      servers: url,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(creds.seedFiles.gateway!, "utf8").trim())),
      tls: { caFile: process.env.TEST_CA! },
      timeout: 3000,
    }),
  );
});

test("without TLS settings a client cannot talk to the TLS server", async () => {
  await assert.rejects(
    connectNats(url.replace("tls://", "nats://"), "plain", { user: "gateway", nkeySeedFile: creds.seedFiles.gateway }),
  );
});
