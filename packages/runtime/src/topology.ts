import type { NatsConnection } from "@nats-io/transport-node";
import {
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm, type KvOptions } from "@nats-io/kv";
import { Objm, type ObjectStoreOptions } from "@nats-io/obj";
import { nanos } from "@nats-io/nats-core";
import { Bucket, JOB_EVENTS_STREAM, Subject, TRAIN_STREAM } from "@trainyard/contracts";

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
const GIB = 1024 ** 3;

/** Agents re-put their heartbeat well within this; a silent agent's entry expires. */
export const AGENT_HEARTBEAT_TTL_MS = 30_000;
/** The scheduler leader renews its entry well within this; a dead leader's entry expires. */
export const SCHEDULER_LEADER_TTL_MS = 10_000;
/**
 * How long the marker the server leaves when a key's TTL runs out lives: watchers (the
 * scheduler's mirrors) learn of the expiry from it, then it goes too.
 */
export const EXPIRY_MARKER_TTL_MS = HOUR_MS;

/**
 * How long the marker a job leaves in the queue bucket when it leaves the queue lives (a purge
 * with a TTL): watchers learn of the removal from it, then the bucket keeps nothing of the job.
 */
export const QUEUE_REMOVAL_MARKER_TTL_MS = DAY_MS;

/**
 * Buckets whose streams allow per-message TTLs. A finished job's keys in `job-outcomes` and
 * `cancellations` (the scheduler's release) and in `callback-targets` (the notifier, once it has
 * the job's terminal event) get one (`openKeyExpiry`), and so does the marker a job leaves in
 * `queue` (`QUEUE_REMOVAL_MARKER_TTL_MS`).
 */
export const EXPIRING_KV_BUCKETS: readonly string[] = [
  Bucket.callbackTargets,
  Bucket.cancellations,
  Bucket.jobOutcomes,
  Bucket.queue,
];

/**
 * The settings of the whole NATS topology that a deployment chooses. Replicas are 1 on a single
 * server and 3 on a cluster (every stream, bucket and store alike, so losing one node loses no
 * acknowledged write).
 */
export interface TopologyOptions {
  replicas: number;
  /** Bound of each stream (`TRAIN`, `JOB_EVENTS`); the oldest messages go first. */
  streamMaxBytes: number;
  /** Bound of each object store (`datasets`, `artifacts`); a put that would pass it is refused. */
  objectStoreMaxBytes: number;
  /**
   * Age at which an artifact (model, plots, log, checkpoint) is deleted: longer than the download
   * links the notifier signs (`DOWNLOAD_URL_TTL_HOURS`). A running job's `last.pt` is rewritten
   * every epoch, so it is never older than one epoch.
   */
  artifactsMaxAgeMs: number;
}

export const DEFAULT_TOPOLOGY: TopologyOptions = {
  replicas: 1,
  streamMaxBytes: 2 * GIB,
  objectStoreMaxBytes: 20 * GIB,
  // the notifier's 168 h download links, plus a day
  artifactsMaxAgeMs: 192 * HOUR_MS,
};

/**
 * What a service creates when it finds a stream, bucket or store missing: only a development
 * server without credentials lets it (tests, a bare `nats-server -js`). Its bounds are small, as
 * JetStream reserves each stream's `max_bytes` against the server's disk at creation.
 */
export const DEVELOPMENT_TOPOLOGY: TopologyOptions = {
  ...DEFAULT_TOPOLOGY,
  streamMaxBytes: 256 * 1024 ** 2,
  objectStoreMaxBytes: 2 * GIB,
};

type StreamDefinition = Partial<StreamConfig> & { name: string; subjects: string[] };
type KvBucketName = (typeof KV_BUCKETS)[number];

/** Every KV bucket; each has one owner (see `Bucket`). */
export const KV_BUCKETS = [
  Bucket.callbackTargets,
  Bucket.cancellations,
  Bucket.jobOutcomes,
  Bucket.agents,
  Bucket.assignments,
  Bucket.queue,
  Bucket.schedulerLeader,
] as const;

/** Every object store. */
export const OBJECT_STORES = [Bucket.datasets, Bucket.artifacts] as const;

/** The two streams, with the deployment's replicas. */
export function streamDefinitions(opts: TopologyOptions = DEVELOPMENT_TOPOLOGY): StreamDefinition[] {
  return [
    {
      name: TRAIN_STREAM,
      subjects: [Subject.trainRequested, Subject.datasetReady, Subject.assignmentWildcard, Subject.redeliverCallback],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      num_replicas: opts.replicas,
      max_bytes: opts.streamMaxBytes,
      max_age: nanos(7 * DAY_MS),
      // Publishing with the job id as Nats-Msg-Id makes a replayed request a no-op for this long.
      duplicate_window: nanos(DAY_MS),
    },
    {
      name: JOB_EVENTS_STREAM,
      subjects: [Subject.jobEventWildcard],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      num_replicas: opts.replicas,
      max_bytes: opts.streamMaxBytes,
      max_age: nanos(30 * DAY_MS),
      // a job resumed on another host re-publishes no epoch it already reported
      duplicate_window: nanos(DAY_MS),
    },
  ];
}

/** The settings of one KV bucket. */
export function kvOptions(name: KvBucketName, opts: TopologyOptions = DEVELOPMENT_TOPOLOGY): Partial<KvOptions> {
  const ttl =
    name === Bucket.agents
      ? AGENT_HEARTBEAT_TTL_MS
      : name === Bucket.schedulerLeader
        ? SCHEDULER_LEADER_TTL_MS
        : undefined;
  return {
    history: 1,
    replicas: opts.replicas,
    ...(ttl ? { ttl } : {}),
    ...(EXPIRING_KV_BUCKETS.includes(name) ? { markerTTL: EXPIRY_MARKER_TTL_MS } : {}),
  };
}

/**
 * The settings of one object store. Artifacts expire with their age; a dataset archive is
 * deleted by the dataset service once no job needs it, and its deletion marker carries a TTL
 * (so the datasets stream allows per-message TTLs).
 */
export function objectStoreOptions(
  name: string,
  opts: TopologyOptions = DEVELOPMENT_TOPOLOGY,
): Partial<ObjectStoreOptions> & { allow_msg_ttl?: boolean } {
  return {
    storage: StorageType.File,
    replicas: opts.replicas,
    max_bytes: opts.objectStoreMaxBytes,
    ...(name === Bucket.artifacts ? { ttl: nanos(opts.artifactsMaxAgeMs) } : {}),
    // passed through to the stream's config by the client
    ...(name === Bucket.datasets ? { allow_msg_ttl: true } : {}),
  };
}

/**
 * Creates every stream, KV bucket and object store, or brings an existing one to this
 * configuration (replicas included). Run by the `admin` user before the services start
 * (`provision.js`); service users may not create or change any of them.
 */
export async function provisionTopology(nc: NatsConnection, opts: TopologyOptions): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  for (const config of streamDefinitions(opts)) await ensureStream(jsm, config, { update: true });
  const kvm = new Kvm(nc);
  for (const name of KV_BUCKETS) {
    const options = kvOptions(name, opts);
    await kvm.create(name, { ...options });
    await jsm.streams.update(`KV_${name}`, {
      num_replicas: opts.replicas,
      max_age: nanos(options.ttl ?? 0),
      // an existing bucket gains per-message TTLs (they cannot be turned off again)
      ...(options.markerTTL ? { allow_msg_ttl: true, subject_delete_marker_ttl: nanos(options.markerTTL) } : {}),
    });
  }
  const objm = new Objm(nc);
  for (const name of OBJECT_STORES) {
    const options = objectStoreOptions(name, opts);
    // a copy: the client deletes `ttl` and `replicas` from the options it is given
    await objm.create(name, { ...options });
    await jsm.streams.update(`OBJ_${name}`, {
      num_replicas: opts.replicas,
      ...(options.max_bytes ? { max_bytes: options.max_bytes } : {}),
      max_age: options.ttl ?? 0,
      // the server refuses a duplicate window longer than the age (its default is 2 minutes)
      ...(options.ttl ? { duplicate_window: Math.min(options.ttl, nanos(2 * 60_000)) } : {}),
      ...(options.allow_msg_ttl ? { allow_msg_ttl: true } : {}),
    });
  }
  return jsm;
}

/**
 * Makes sure a stream exists: creates it when missing (tolerating another process creating it at
 * the same moment), and with `update` brings an existing one to `config`.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  config: StreamDefinition,
  opts: { update: boolean },
): Promise<void> {
  try {
    await jsm.streams.info(config.name);
    if (opts.update) await jsm.streams.update(config.name, config);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(config);
    } catch (addErr) {
      // another process created it between our info and add
      if (!String(addErr).includes("already in use")) throw addErr;
    }
  }
}

/** Whether a JetStream call failed because the stream, consumer or bucket does not exist. */
export function isNotFound(err: unknown): boolean {
  return /not found/i.test(String(err));
}
