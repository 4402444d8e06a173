#!/usr/bin/env node
/**
 * The demo: starts the whole stack, generates a small synthetic dataset, serves it on
 * localhost and submits it through the gateway exactly as an app backend would, printing
 * the progress callbacks as they arrive and, at the end, the metrics, model file and dashboard.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startCallbackReceiver } from "./fixtures/callback-receiver.js";
import { serveFiles } from "./fixtures/file-server.js";
import { makeSyntheticDataset } from "./fixtures/synthetic-dataset.js";
import { exampleTrainRequest } from "./fixtures/train-request.js";
import { repoRoot } from "./processes.js";
import { clusterRequested, startStack } from "./stack.js";
import { writePrivateFile } from "./private-files.js";

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const epochs = num("DEMO_EPOCHS", 20);
const trainImages = num("DEMO_TRAIN_IMAGES", 96);
const imageSize = num("DEMO_IMAGE_SIZE", 128);
const keepRunning = process.stdin.isTTY && process.env.DEMO_EXIT !== "1";
const demoDir = join(repoRoot, ".run", "demo");
rmSync(demoDir, { recursive: true, force: true });
mkdirSync(demoDir, { recursive: true });

const logFile = createWriteStream(join(demoDir, "stack.log"));
console.log(`[demo] starting NATS, FerretDB and the six services (logs: ${join(demoDir, "stack.log")})`);
const stack = await startStack({
  runDir: join(demoDir, "stack"),
  natsUrl: process.env.NATS_URL,
  mongoUrl: process.env.MONGO_URL,
  cluster: clusterRequested(),
  sink: (name, line) => logFile.write(`${name.padEnd(14)}| ${line}\n`),
});
const stopAll = async () => {
  await stack.stop();
  logFile.end();
};
// SIGHUP too: a closed terminal must not leave the services running
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => void stopAll().then(() => process.exit(130)));
}

try {
  const started = Date.now();
  const zip = await makeSyntheticDataset({
    out: join(demoDir, "shapes.zip"),
    train: trainImages,
    val: Math.ceil(trainImages / 4),
    size: imageSize,
    seed: 7,
  });
  const files = await serveFiles(demoDir);
  const secret = randomBytes(18).toString("base64url");
  const receiver = await startCallbackReceiver(secret);
  const request = exampleTrainRequest({
    datasetUrl: files.urlOf("shapes.zip"),
    callbackUrl: receiver.url,
    callbackSecret: secret,
    epochs,
    imageSize,
    batchSize: 16,
  });
  console.log(
    `[demo] dataset ${zip}; POST ${stack.gatewayUrl}/api/v1/train (job ${request.job_id}, ${epochs} epochs, ${imageSize}px)`,
  );
  receiver.onCallback(({ body }) => {
    if (body.type === "training_progress") {
      const p = body.progress;
      const m = body.metrics.current;
      const metrics = m ? ` mAP50=${m.mAP50?.toFixed(3)} box_loss=${m.box_loss?.toFixed(3)}` : "";
      const epoch = p.current_epoch ? ` epoch ${p.current_epoch}/${p.total_epochs}` : "";
      console.log(`[callback] ${p.phase.padEnd(11)} ${p.percentage.toFixed(1).padStart(5)}%${epoch}${metrics}`);
    } else {
      console.log(`[callback] ${body.type}`);
    }
  });
  const response = await stack.api("/api/v1/train", { method: "POST", body: JSON.stringify(request) });
  console.log(`[demo] gateway answered ${response.status} ${await response.text()}`);
  if (response.status !== 202) throw new Error("the gateway did not accept the job");
  await receiver.waitFor(
    (all) => all.some((c) => c.body.type !== "training_progress"),
    num("DEMO_TIMEOUT_MS", 30 * 60_000),
    "the terminal callback",
  );
  const terminal = receiver.received.find((c) => c.body.type !== "training_progress")?.body;
  if (terminal?.type !== "training_completed")
    throw new Error(`training did not complete: ${JSON.stringify(terminal)}`);
  const model = await fetch(terminal.model.download_url);
  const dashboardTokenFile = join(demoDir, "stack", "dashboard-token");
  writePrivateFile(dashboardTokenFile, stack.dashboardToken + "\n");
  const modelPath = join(demoDir, "best.pt");
  writeFileSync(modelPath, Buffer.from(await model.arrayBuffer()));
  const wallSeconds = (Date.now() - started) / 1000;
  console.log(`
[demo] training completed in ${terminal.duration_seconds.toFixed(1)} s of training (${wallSeconds.toFixed(1)} s from dataset generation to the model file)
  final metrics  mAP50=${terminal.final_metrics.mAP50} mAP50-95=${terminal.final_metrics["mAP50-95"]} precision=${terminal.final_metrics.precision} recall=${terminal.final_metrics.recall}
  best epoch     ${terminal.final_metrics.best_epoch} of ${terminal.final_metrics.total_epochs}
  dataset        ${terminal.dataset_info.train_images} train / ${terminal.dataset_info.val_images} val images, classes ${terminal.dataset_info.classes.join(", ")}
  model file     ${modelPath} (${terminal.model.size_mb} MB; signed URL ${terminal.model.download_url.split("?")[0]}?…)
  dashboard      ${stack.dashboardUrl}/jobs/${request.job_id} (log in with the token in ${dashboardTokenFile})
DEMO_RESULT ${JSON.stringify({ wall_seconds: wallSeconds, training_seconds: terminal.duration_seconds, epochs, image_size: imageSize })}`);
  await files.close();
  if (keepRunning) {
    console.log("[demo] the stack keeps running so you can open the dashboard; Ctrl-C stops everything.");
  } else {
    await receiver.close();
    await stopAll();
  }
} catch (err) {
  console.error(`[demo] failed: ${(err as Error).message} (see ${join(demoDir, "stack.log")})`);
  await stopAll();
  process.exit(1);
}
