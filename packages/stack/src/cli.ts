#!/usr/bin/env node
/**
 * The development launcher: starts NATS (one server, or a 3-node cluster with `--cluster` or
 * TRAINYARD_NATS_CLUSTER=true), FerretDB, all six services and one local trainer-agent with
 * prefixed logs, and stops every process on Ctrl-C.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { privateDir, writePrivateFile } from "./private-files.js";
import { repoRoot } from "./processes.js";
import { clusterRequested, startStack } from "./stack.js";

const runDir = process.env.TRAINYARD_RUN_DIR ?? join(repoRoot, ".run", "stack");
const apiSecret = process.env.API_SECRET ?? randomBytes(24).toString("base64url");
// its own: the API secret, NATS seeds, job folders and logs live under it
privateDir(runDir);

const stack = await startStack({
  runDir,
  natsUrl: process.env.NATS_URL,
  mongoUrl: process.env.MONGO_URL,
  gatewayPort: Number(process.env.GATEWAY_PORT ?? 8080),
  dashboardPort: Number(process.env.DASHBOARD_PORT ?? 8081),
  apiSecret,
  cluster: clusterRequested(),
});
// The API secret goes to a private file, never to the log.
const secretFile = join(runDir, "api-secret");
writePrivateFile(secretFile, apiSecret + "\n");
const dashboardTokenFile = join(runDir, "dashboard-token");
writePrivateFile(dashboardTokenFile, stack.dashboardToken + "\n");
console.log(`
Trainyard is running.
  REST API   ${stack.gatewayUrl}   (Authorization: Bearer $(cat ${secretFile}))
  dashboard  ${stack.dashboardUrl}/#token=${encodeURIComponent(stack.dashboardToken)}
             (a login link; the token is also in ${dashboardTokenFile})
  NATS       ${stack.natsUrl}${stack.nats.credentials ? `   (one nkey per service in ${stack.nats.credentials.dir})` : ""}
  MongoDB    ${stack.mongoUrl}
Press Ctrl-C to stop everything.
`);

let stopping = false;
// SIGHUP too: a closed terminal must not leave the services running
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log("stopping…");
    void stack.stop().then(() => process.exit(0));
  });
}
