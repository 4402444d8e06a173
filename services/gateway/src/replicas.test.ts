/**
 * Two real gateway processes (`node services/gateway/dist/main.js`) over one nats-server and one
 * FerretDB, as two replicas behind a load balancer: a duplicate job id is refused however the
 * requests are spread, reads see the other replica's writes, a restart forgets nothing, and no
 * secret reaches a log line.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { JobView, TRAIN_STREAM } from "@trainyard/contracts";
import { connectNats } from "@trainyard/runtime";
import { freePort, repoRoot, startFerret, startNats, supervise, waitForPort, type Supervised } from "@trainyard/stack";
import { API_TOKEN, call, expectError, expectStatus, newRequest, waitFor } from "./testing/harness.js";

const OLD_TOKEN = "replica-old-token-0123456789";
/** The token `call` sends by default. */
const NEW_TOKEN = API_TOKEN;
const DOWNLOAD_SECRET = "replica-download-secret-0123";

interface Replica {
  name: string;
  url: string;
  port: number;
  process: Supervised;
}

describe("two gateway processes over the same NATS and FerretDB", () => {
  let dir = "";
  let infra: Supervised[] = [];
  let natsUrl = "";
  let mongoUrl = "";
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let a: Replica;
  let b: Replica;
  const logLines: string[] = [];
  /** Every secret the tests send; none may appear in a log line. */
  const secrets = new Set<string>([OLD_TOKEN, NEW_TOKEN, DOWNLOAD_SECRET]);

  async function startReplica(name: string, port?: number): Promise<Replica> {
    const p = port ?? (await freePort());
    const proc = supervise(name, process.execPath, [join(repoRoot, "services", "gateway", "dist", "main.js")], {
      env: {
        PATH: process.env.PATH ?? "",
        NATS_URL: natsUrl,
        MONGO_URL: mongoUrl,
        API_SECRET: OLD_TOKEN,
        API_SECRETS: NEW_TOKEN,
        DOWNLOAD_URL_SECRET: DOWNLOAD_SECRET,
        GATEWAY_PORT: String(p),
        LOG_LEVEL: "debug",
        RATE_LIMIT_PER_MINUTE: "0",
      },
      sink: (who, line) => logLines.push(`${who}| ${line}`),
    });
    await Promise.race([
      waitForPort("127.0.0.1", p, 20_000, name),
      proc.exited.then((code) => assert.fail(`${name} exited during start-up (code ${code}): ${logLines.join("\n")}`)),
    ]);
    return { name, url: `http://127.0.0.1:${p}`, port: p, process: proc };
  }

  const trainMessages = async () => (await jsm.streams.info(TRAIN_STREAM)).state.messages;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trainyard-replicas-"));
    const quiet = () => undefined;
    const nats = await startNats(join(dir, "nats"), quiet);
    const ferret = await startFerret(join(dir, "ferret"), quiet);
    infra = [nats.process, ferret.process];
    natsUrl = nats.url;
    mongoUrl = ferret.url;
    [a, b] = await Promise.all([startReplica("gateway-a"), startReplica("gateway-b")]);
    nc = await connectNats(natsUrl, "replicas-test");
    jsm = await jetstreamManager(nc);
  });

  after(async () => {
    await nc?.close();
    for (const p of [a?.process, b?.process, ...infra.reverse()]) await p?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("the same job id sent to both at the same instant: exactly one 202 and one 409, queued once", async () => {
    // warm both connections, so the pairs below leave at the same moment
    await Promise.all([call(a, "GET", "/health", { token: null }), call(b, "GET", "/health", { token: null })]);
    const before = await trainMessages();
    const rounds = 10;
    for (let i = 0; i < rounds; i++) {
      const request = newRequest();
      secrets.add(request.callback_secret);
      const answers = await Promise.all([
        call(a, "POST", "/api/v1/train", { body: request }),
        call(b, "POST", "/api/v1/train", { body: request }),
      ]);
      const statuses = answers.map((r) => r.status).sort();
      assert.deepEqual(statuses, [202, 409], `expected one 202 and one 409 in round ${i}, got ${statuses.join(", ")}`);
      const conflict = answers.find((r) => r.status === 409);
      assert.equal((conflict?.body as { code?: string }).code, "JOB_EXISTS");
    }
    await waitFor("every accepted job's train.requested", async () => (await trainMessages()) >= before + rounds);
    assert.equal(await trainMessages(), before + rounds, "expected exactly one train.requested per job");
  });

  test("read-your-writes across replicas: accepted by one, read and cancelled through the other at once", async () => {
    const request = newRequest();
    secrets.add(request.callback_secret);
    expectStatus(await call(a, "POST", "/api/v1/train", { body: request }), 202, "the job on replica a");
    const read = await call(b, "GET", `/api/v1/jobs/${request.job_id}`);
    expectStatus(read, 200, "the job read through replica b right after");
    assert.equal(JobView.parse(read.body).status, "queued");
    expectStatus(await call(b, "DELETE", `/api/v1/jobs/${request.job_id}`), 200, "the cancel through replica b");
    const again = await call(a, "GET", `/api/v1/jobs/${request.job_id}`);
    assert.equal(JobView.parse(again.body).status, "cancelled", "expected replica a to see the cancel at once");
  });

  test("both tokens (API_SECRET and API_SECRETS) work on both replicas; another token does not", async () => {
    for (const replica of [a, b]) {
      for (const token of [OLD_TOKEN, NEW_TOKEN]) {
        expectStatus(await call(replica, "GET", "/api/v1/jobs?limit=1", { token }), 200, `${replica.name} token`);
      }
      const wrong = `${NEW_TOKEN}-but-wrong`;
      secrets.add(wrong);
      expectError(await call(replica, "GET", "/api/v1/jobs", { token: wrong }), 401, "UNAUTHORIZED", "a wrong token");
    }
  });

  test("a restarted replica still refuses a job id accepted before the restart", async () => {
    const request = newRequest();
    secrets.add(request.callback_secret);
    expectStatus(await call(a, "POST", "/api/v1/train", { body: request }), 202, "the job before the restart");
    await a.process.stop();
    a = await startReplica("gateway-a2", a.port);
    expectError(await call(a, "POST", "/api/v1/train", { body: request }), 409, "JOB_EXISTS", "the restarted replica");
    expectError(await call(b, "POST", "/api/v1/train", { body: request }), 409, "JOB_EXISTS", "the other replica");
  });

  test("no token or callback secret reaches a log line, on any path", async () => {
    // error paths too: a body that fails validation with the secret in it, a malformed body, a wrong token
    const request = newRequest();
    secrets.add(request.callback_secret);
    expectStatus(await call(b, "POST", "/api/v1/train", { body: { ...request, job_id: "bad" } }), 400, "bad body");
    expectStatus(
      await call(b, "POST", "/api/v1/train", { raw: `{"callback_secret":"${request.callback_secret}",` }),
      400,
      "bad JSON",
    );
    expectStatus(await call(b, "POST", "/api/v1/train", { body: request, token: request.callback_secret }), 401, "401");
    expectStatus(await call(b, "POST", "/api/v1/train", { body: request }), 202, "the valid request");
    await waitFor("the replicas' log lines", async () => logLines.some((l) => l.includes(request.job_id)));
    assert.ok(
      logLines.some((l) => l.includes('"msg":"client error"')),
      "expected debug lines for client errors",
    );
    for (const line of logLines) {
      for (const secret of secrets) assert.ok(!line.includes(secret), `expected no secret in the log line ${line}`);
    }
  });
});
