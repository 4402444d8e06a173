// What the delivery log costs the MongoDB server per callback, on its own: the notifier's store
// (`openDeliveryStore`, its indexes and group commit) appends BENCH_DOCS settled callbacks
// (default 20,000; epoch callbacks as the notifier builds them, one attempt each, 100 jobs),
// then the same documents go into a collection without indexes, then as one document per 100
// callbacks holding their JSON text. Prints documents/s and, for the FerretDB it starts (no
// MONGO_URL given), the server's CPU time per callback from /proc. The numbers say how much of
// `bench/notifier-callbacks.js`'s path the store alone takes.
// Usage: node bench/delivery-log-store.js [MONGO_URL]   (after a build: npx tsc -b)
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@trainyard/runtime";
import { repoRoot, startFerret } from "@trainyard/stack";

const notifierDist = join(repoRoot, "services/notifier/dist");
const { openDeliveryStore } = await import(join(notifierDist, "adapters/delivery-store.js"));
const { newDelivery } = await import(join(notifierDist, "delivery-records.js"));
const { callbackFor } = await import(join(notifierDist, "callback-mapping.js"));
const { epochEvent } = await import(join(notifierDist, "testing/job-events.js"));
const { MongoClient } = createRequire(join(repoRoot, "services/notifier/package.json"))("mongodb");

const DOCS = Number(process.env.BENCH_DOCS ?? 20_000);
const BATCH = 100;
const links = { publicBaseUrl: "http://127.0.0.1:8080", secret: "bench-download-secret-0123456789", ttlHours: 168 };

const dir = mkdtempSync(join(tmpdir(), "bench-delivery-log-"));
const ferret = process.argv[2] ? null : await startFerret(join(dir, "ferret"), () => {});
const client = await MongoClient.connect(process.argv[2] ?? ferret.url);
const db = client.db(`bench_${Date.now()}`);
const serverCpuMs = () => {
  const pid = ferret?.process.child.pid;
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return null;
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
};

/** Settled epoch callbacks of 100 jobs, as the notifier logs one delivered at its first attempt. */
const jobs = Array.from({ length: 100 }, () => randomUUID());
const docs = Array.from({ length: DOCS }, (_, i) => {
  const jobId = jobs[i % jobs.length];
  const epoch = Math.floor(i / jobs.length) + 1;
  const at = new Date();
  const doc = newDelivery(callbackFor(epochEvent(jobId, epoch, 1000), links), i + 1, "pending", at);
  doc.attempts.push({ attempt: 1, at, status_code: 204, latency_ms: 1.3, error: null });
  return { ...doc, status: "delivered", revision: 2, next_attempt_at: null };
});

async function measure(name, write) {
  const cpuBefore = serverCpuMs();
  const started = performance.now();
  await write();
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = serverCpuMs();
  return {
    variant: name,
    docs_per_s: Math.round(DOCS / seconds),
    server_cpu_us_per_callback: cpuBefore === null ? null : Math.round((1000 * (cpuAfter - cpuBefore)) / DOCS),
  };
}

const results = [];
const store = await openDeliveryStore(db, createLogger("bench", "silent"));
results.push(
  await measure("the notifier's store (indexed, group commit)", () =>
    Promise.all(docs.map((d) => store.logSettled(d))),
  ),
);
await store.close();
const plain = db.collection("plain_deliveries");
results.push(
  await measure("the same documents, no index (insertMany of 100)", async () => {
    for (let i = 0; i < DOCS; i += BATCH) await plain.insertMany(docs.slice(i, i + BATCH).map((d) => ({ ...d })));
  }),
);
const packed = db.collection("packed_deliveries");
results.push(
  await measure("100 callbacks per document, as JSON text", async () => {
    for (let i = 0; i < DOCS; i += BATCH) {
      const part = docs.slice(i, i + BATCH);
      await packed.insertOne({
        job_ids: [...new Set(part.map((d) => d.job_id))],
        entries: part.map((d) => JSON.stringify(d)),
      });
    }
  }),
);
console.log(
  JSON.stringify(
    {
      documents: DOCS,
      server: ferret ? "FerretDB (SQLite), started here" : process.argv[2].replace(/\/\/[^@]*@/, "//"),
      results,
    },
    null,
    2,
  ),
);

await db.dropDatabase().catch(() => {});
await client.close();
await ferret?.process.stop();
rmSync(dir, { recursive: true, force: true });
