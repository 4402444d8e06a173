import { jetstream } from "@nats-io/jetstream";
import { setTimeout as sleep } from "node:timers/promises";
import { Consumer, DatasetReady, JobEvent, Subject, JOB_EVENTS_STREAM, TRAIN_STREAM } from "@trainyard/contracts";
import {
  connectNats,
  ensureConsumer,
  ensureStreams,
  publishJobEvent,
  openCancellations,
  publishJson,
  runService,
  startConsumer,
} from "@trainyard/runtime";
import { openCluster } from "./adapters/cluster.js";
import { Env } from "./env.js";
import { releaseSlot, scheduleJob, type SchedulingDeps } from "./scheduling.js";

await runService("scheduler", Env, async (env, log) => {
  const nc = await connectNats(env.NATS_URL, "scheduler");
  const jsm = await ensureStreams(nc);
  const js = jetstream(nc);
  // One job in flight: the oldest waiting job is always the next one placed.
  await ensureConsumer(jsm, {
    stream: TRAIN_STREAM,
    name: Consumer.scheduler,
    filterSubjects: [Subject.datasetReady],
    ackWaitMs: 30_000,
    maxAckPending: 1,
  });
  await ensureConsumer(jsm, {
    stream: JOB_EVENTS_STREAM,
    name: Consumer.schedulerReleases,
    filterSubjects: [...Subject.terminalJobEvents],
    ackWaitMs: 30_000,
  });
  const cancellations = await openCancellations(nc);
  const deps: SchedulingDeps = {
    cluster: await openCluster(nc),
    publishAssignment: (a) => publishJson(js, Subject.assignment(a.agent_id), a, `${a.job_id}:assign:${a.agent_id}`),
    publishEvent: (event, msgId) => publishJobEvent(js, event, msgId),
    isCancelled: (jobId) => cancellations.isCancelled(jobId),
    log,
    pollMs: env.SCHEDULER_POLL_MS,
    holdMs: env.SCHEDULER_HOLD_MS,
    now: () => new Date(),
    sleep: (ms) => sleep(ms),
  };
  const placing = await startConsumer({
    js,
    stream: TRAIN_STREAM,
    consumer: Consumer.scheduler,
    schema: DatasetReady,
    log,
    handle: (job, delivery) => scheduleJob(deps, job, delivery),
  });
  const releasing = await startConsumer({
    js,
    stream: JOB_EVENTS_STREAM,
    consumer: Consumer.schedulerReleases,
    schema: JobEvent,
    log,
    handle: (event) => releaseSlot(deps, event.job_id),
  });
  log.info("scheduler started");
  return {
    async stop() {
      await Promise.all([placing.stop(), releasing.stop()]);
      await nc.drain();
    },
  };
});
