import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import {
  AgentHeartbeat,
  Bucket,
  Subject,
  type CallbackTarget,
  type CancellationRequest,
  type JobEvent,
  type JobOutcome,
  type JobOutcomeRecord,
  type RedeliveryRequest,
  type TrainRequested,
} from "@trainyard/contracts";
import {
  openJobOutcomes,
  openKv,
  openObjectStore,
  publishJobEvent,
  publishJson,
  type ObjectStore,
  type TransientRetry,
} from "@trainyard/runtime";
import { callDependency } from "./dependency.js";

/** A stored artifact, ready to stream. */
export type Artifact = NonNullable<Awaited<ReturnType<ObjectStore["get"]>>>;

/**
 * Everything the gateway does on NATS. Every call fails with a DependencyError when NATS fails
 * or is slower than the configured timeout.
 */
export interface Bus {
  saveCallbackTarget(jobId: string, target: CallbackTarget): Promise<void>;
  deleteCallbackTarget(jobId: string): Promise<void>;
  publishTrainRequested(event: TrainRequested): Promise<void>;
  publishJobEvent(event: JobEvent, msgId: string): Promise<void>;
  requestCancellation(request: CancellationRequest): Promise<void>;
  /** Claims the job's one outcome; resolves to the outcome that holds (see @trainyard/runtime `JobOutcomes`). */
  claimOutcome(jobId: string, outcome: JobOutcome): Promise<JobOutcome>;
  /** The job's outcome record (which run claimed it), or null when there is none (never, or expired). */
  outcomeOf(jobId: string): Promise<JobOutcomeRecord | null>;
  /** True when the job's cancellation was requested (the projection may not show it yet). */
  isCancellationRequested(jobId: string): Promise<boolean>;
  /** Asks the notifier to send a logged callback again (`train.callbacks.redeliver`). */
  requestRedelivery(request: RedeliveryRequest): Promise<void>;
  /** Heartbeats in the agents bucket; the bucket expires silent agents, so these are the live ones. */
  liveAgents(): Promise<AgentHeartbeat[]>;
  /** One round trip to the NATS server. */
  ping(): Promise<void>;
  /** An object of the artifacts store, or null when there is none by that name. */
  getArtifact(name: string): Promise<Artifact | null>;
  artifacts: ObjectStore;
}

export async function openBus(nc: NatsConnection, opts: { timeoutMs: number }): Promise<Bus> {
  const js = jetstream(nc, { timeout: opts.timeoutMs });
  const targets = await openKv(nc, Bucket.callbackTargets);
  const agents = await openKv(nc, Bucket.agents);
  const artifacts = await openObjectStore(nc, Bucket.artifacts);
  const cancellations = await openKv(nc, Bucket.cancellations);
  const outcomes = await openJobOutcomes(nc);
  const call = <T>(work: () => Promise<T>) => callDependency("nats", opts.timeoutMs, work);
  /**
   * A publish with a message id may be repeated: it rides out a blip (a restart, a leader
   * election) within the call's own deadline instead of answering 503 at the first refusal, and
   * stops trying once the call has given up, so nothing lands long after its 503.
   */
  const publishWithin = (publish: (retry: TransientRetry) => Promise<void>) => {
    const deadline = new AbortController();
    return call(() => publish({ forMs: opts.timeoutMs, signal: deadline.signal })).finally(() => deadline.abort());
  };
  return {
    saveCallbackTarget: (jobId, target) =>
      call(async () => {
        await targets.put(jobId, JSON.stringify(target));
      }),
    deleteCallbackTarget: (jobId) =>
      call(async () => {
        await targets.delete(jobId);
      }),
    // the job id as Nats-Msg-Id: a retried POST cannot enqueue the same job twice
    publishTrainRequested: (event) =>
      publishWithin((retry) => publishJson(js, Subject.trainRequested, event, event.job_id, retry)),
    publishJobEvent: (event, msgId) => publishWithin((retry) => publishJobEvent(js, event, msgId, retry)),
    requestCancellation: (request) =>
      call(async () => {
        await cancellations.put(request.job_id, JSON.stringify(request));
      }),
    claimOutcome: (jobId, outcome) => call(() => outcomes.claim(jobId, outcome)),
    outcomeOf: (jobId) => call(() => outcomes.read(jobId)),
    isCancellationRequested: (jobId) =>
      call(async () => {
        const entry = await cancellations.get(jobId);
        return entry !== null && entry.operation === "PUT";
      }),
    requestRedelivery: (request) =>
      call(() => publishJson(js, Subject.redeliverCallback, request, `${request.callback_id}:${request.requested_at}`)),
    liveAgents: () =>
      call(async () => {
        const live: AgentHeartbeat[] = [];
        for await (const key of await agents.keys()) {
          const entry = await agents.get(key);
          if (!entry || entry.operation !== "PUT") continue;
          const beat = AgentHeartbeat.safeParse(parseJson(entry.string()));
          if (beat.success) live.push(beat.data);
        }
        return live.sort((a, b) => a.agent_id.localeCompare(b.agent_id));
      }),
    ping: () =>
      call(async () => {
        await nc.rtt();
      }),
    getArtifact: (name) => call(() => artifacts.get(name)),
    artifacts,
  };
}

/** A value that is not JSON reads as undefined, so one broken heartbeat cannot fail the others. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
