/**
 * Least privilege on NATS: what each service user may publish and subscribe to. The launcher and
 * `nats-auth` render these grants into the server's accounts block, so a service can reach its own
 * subjects, KV buckets, object stores and durable consumers (JetStream API subjects included) and
 * nothing else. Streams, buckets and stores are created by the `admin` user (the provisioner);
 * services only bind to them and create their own durables.
 */
import { Bucket, Consumer, JOB_EVENTS_STREAM, Subject, TRAIN_STREAM } from "./subjects.js";

/** Publish and subscribe allow-lists of one NATS user (nats-server `permissions`). */
export interface NatsGrants {
  publish: string[];
  subscribe: string[];
}

/** The service users; an agent's user is `agent-<AGENT_ID>`. */
export const NatsRole = ["admin", "gateway", "dataset", "scheduler", "notifier", "dashboard"] as const;
export type NatsRole = (typeof NatsRole)[number];

/**
 * An agent id: it becomes part of subjects (`train.assign.<id>`), a KV key and a consumer name, so
 * it may hold letters, digits, `_` and `-` only (no `.`, `*`, `>` or spaces).
 */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The NATS user name of an agent. `*` names the shared pool user that may act as any agent. */
export const agentUser = (agentId: string): string => `agent-${agentId === "*" ? "pool" : agentId}`;

/** Each user's replies arrive under its own inbox prefix, so no user can read another's replies. */
export const inboxPrefix = (user: string): string => `_INBOX_${user}`;

type BucketName = (typeof Bucket)[keyof typeof Bucket];

const api = "$JS.API";
const kvStream = (b: BucketName) => `KV_${b}`;
const objStream = (b: BucketName) => `OBJ_${b}`;

/** Reading a KV bucket: get (direct or by message), keys and watches (ordered consumers). */
function kvRead(b: BucketName): string[] {
  const s = kvStream(b);
  return [
    `${api}.STREAM.INFO.${s}`,
    `${api}.DIRECT.GET.${s}.>`,
    `${api}.DIRECT.GET.${s}`,
    `${api}.STREAM.MSG.GET.${s}`,
    `${api}.CONSUMER.CREATE.${s}.>`,
    `${api}.CONSUMER.CREATE.${s}`,
    `${api}.CONSUMER.DELETE.${s}.>`,
    `${api}.CONSUMER.INFO.${s}.>`,
    `${api}.CONSUMER.MSG.NEXT.${s}.>`,
    `$JS.FC.${s}.>`,
  ];
}

/** Writing keys of a KV bucket (put, create, update, delete), `>` for any key. Binding needs stream info only. */
function kvWrite(b: BucketName, keys = ">"): string[] {
  return [`${api}.STREAM.INFO.${kvStream(b)}`, `$KV.${b}.${keys}`];
}

const kvReadWrite = (b: BucketName) => [...kvRead(b), ...kvWrite(b)];

function objRead(b: BucketName): string[] {
  const s = objStream(b);
  return [
    `${api}.STREAM.INFO.${s}`,
    `${api}.DIRECT.GET.${s}.>`,
    `${api}.STREAM.MSG.GET.${s}`,
    `${api}.CONSUMER.CREATE.${s}.>`,
    `${api}.CONSUMER.CREATE.${s}`,
    `${api}.CONSUMER.DELETE.${s}.>`,
    `${api}.CONSUMER.INFO.${s}.>`,
    `${api}.CONSUMER.MSG.NEXT.${s}.>`,
    `$JS.FC.${s}.>`,
  ];
}

/** Writing objects replaces their chunks, which purges the old ones by subject. */
function objWrite(b: BucketName): string[] {
  return [`${api}.STREAM.INFO.${objStream(b)}`, `$O.${b}.>`, `${api}.STREAM.PURGE.${objStream(b)}`];
}

const objReadWrite = (b: BucketName) => [...objRead(b), ...objWrite(b)];

/**
 * Consuming a durable pull consumer that the user creates itself. With one filter subject the
 * create subject names the filter, and the server checks it against the config, so a user can
 * only create the consumer it was granted, on the subjects it was granted.
 */
function consume(stream: string, consumer: string, filters: readonly string[]): string[] {
  const create =
    filters.length === 1
      ? `${api}.CONSUMER.CREATE.${stream}.${consumer}.${filters[0]}`
      : `${api}.CONSUMER.DURABLE.CREATE.${stream}.${consumer}`;
  return [
    `${api}.STREAM.INFO.${stream}`,
    create,
    `${api}.CONSUMER.INFO.${stream}.${consumer}`,
    `${api}.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
    `$JS.ACK.${stream}.${consumer}.>`,
  ];
}

const publishTo = (stream: string, subjects: string[]): string[] => [`${api}.STREAM.INFO.${stream}`, ...subjects];
const jobEvents = (...types: string[]) =>
  publishTo(
    JOB_EVENTS_STREAM,
    types.map((t) => Subject.jobEvent("*", t)),
  );

/** What every user needs: the JetStream account check and its own reply inbox. */
function base(user: string, publish: string[]): NatsGrants {
  return {
    publish: [...new Set([`${api}.INFO`, ...publish])].sort(),
    subscribe: [`${inboxPrefix(user)}.>`],
  };
}

/** The grants of a service user. */
export function natsGrants(role: NatsRole): NatsGrants {
  switch (role) {
    case "admin":
      return { publish: [">"], subscribe: [">"] };
    case "gateway":
      return base(role, [
        ...publishTo(TRAIN_STREAM, [Subject.trainRequested, Subject.redeliverCallback]),
        ...jobEvents("queued", "failed"),
        // writes the callback secret, never reads it back
        ...kvWrite(Bucket.callbackTargets),
        ...kvReadWrite(Bucket.cancellations),
        ...kvReadWrite(Bucket.jobOutcomes),
        ...kvRead(Bucket.agents),
        ...kvRead(Bucket.queue),
        ...objRead(Bucket.artifacts),
      ]);
    case "dataset":
      return base(role, [
        ...consume(TRAIN_STREAM, Consumer.dataset, [Subject.trainRequested]),
        ...publishTo(TRAIN_STREAM, [Subject.datasetReady]),
        ...jobEvents("phase", "failed"),
        ...objReadWrite(Bucket.datasets),
        ...kvRead(Bucket.cancellations),
        ...kvReadWrite(Bucket.jobOutcomes),
        // archive retention: an archive is deleted once no queued or running job needs it and the
        // scheduler has taken in every ready dataset
        ...kvRead(Bucket.queue),
        `${api}.CONSUMER.INFO.${TRAIN_STREAM}.${Consumer.scheduler}`,
      ]);
    case "scheduler":
      return base(role, [
        ...consume(TRAIN_STREAM, Consumer.scheduler, [Subject.datasetReady]),
        ...consume(JOB_EVENTS_STREAM, Consumer.schedulerReleases, Subject.terminalJobEvents),
        ...publishTo(TRAIN_STREAM, [Subject.assignmentWildcard]),
        ...jobEvents("assigned", "failed"),
        ...kvReadWrite(Bucket.queue),
        ...kvReadWrite(Bucket.assignments),
        ...kvReadWrite(Bucket.schedulerLeader),
        ...kvRead(Bucket.agents),
        // a finished job's cancellation is written again with its time to live (retention)
        ...kvReadWrite(Bucket.cancellations),
        ...kvReadWrite(Bucket.jobOutcomes),
        ...objRead(Bucket.artifacts),
        ...objRead(Bucket.datasets),
      ]);
    case "notifier":
      return base(role, [
        ...consume(JOB_EVENTS_STREAM, Consumer.notifier, [Subject.jobEventWildcard]),
        ...consume(TRAIN_STREAM, Consumer.notifierRedeliveries, [Subject.redeliverCallback]),
        // the only reader of the callback secrets; it writes a finished job's target again with
        // its time to live (retention), the one write it makes there
        ...kvReadWrite(Bucket.callbackTargets),
      ]);
    case "dashboard":
      return base(role, [
        ...consume(JOB_EVENTS_STREAM, Consumer.dashboard, [Subject.jobEventWildcard]),
        ...consume(TRAIN_STREAM, Consumer.dashboardRequests, [Subject.trainRequested]),
        ...kvRead(Bucket.agents),
        ...kvRead(Bucket.queue),
      ]);
  }
}

/**
 * The grants of one trainer-agent: its own heartbeat key and assignment consumer only. Job events
 * are limited to the types an agent reports; which jobs it may report on is not expressible in
 * subjects (a job id is not tied to an agent there), so that check is the scheduler's lease and
 * the outcome claim. `*` gives the pool user that may act as any agent.
 */
export function agentGrants(agentId: string): NatsGrants {
  if (agentId !== "*" && !AGENT_ID_PATTERN.test(agentId)) throw new Error(`invalid agent id: ${agentId}`);
  const consumer = Consumer.agent(agentId);
  const assignment = Subject.assignment(agentId);
  const ownConsumer =
    agentId === "*"
      ? [
          `${api}.STREAM.INFO.${TRAIN_STREAM}`,
          `${api}.CONSUMER.CREATE.${TRAIN_STREAM}.*.${Subject.assignmentWildcard}`,
          `${api}.CONSUMER.INFO.${TRAIN_STREAM}.*`,
          `${api}.CONSUMER.MSG.NEXT.${TRAIN_STREAM}.*`,
          `$JS.ACK.${TRAIN_STREAM}.*.>`,
        ]
      : consume(TRAIN_STREAM, consumer, [assignment]);
  return base(agentUser(agentId), [
    ...ownConsumer,
    ...jobEvents("phase", "epoch", "completed", "failed"),
    ...kvWrite(Bucket.agents, agentId),
    ...kvRead(Bucket.cancellations),
    ...kvRead(Bucket.queue),
    ...kvReadWrite(Bucket.jobOutcomes),
    ...objRead(Bucket.datasets),
    ...objReadWrite(Bucket.artifacts),
  ]);
}
