import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { JOB_EVENTS_STREAM, Subject, TRAIN_STREAM } from "@trainyard/contracts";

const DAY_NS = nanos(24 * 60 * 60 * 1000);

const STREAMS: Array<Partial<StreamConfig> & { name: string; subjects: string[] }> = [
  {
    name: TRAIN_STREAM,
    subjects: [Subject.trainRequested, Subject.datasetReady, Subject.assignmentWildcard, Subject.redeliverCallback],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: 7 * DAY_NS,
    // Publishing with the job id as Nats-Msg-Id makes a replayed request a no-op for this long.
    duplicate_window: DAY_NS,
  },
  {
    name: JOB_EVENTS_STREAM,
    subjects: [Subject.jobEventWildcard],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: 30 * DAY_NS,
    // a job resumed on another host re-publishes no epoch it already reported
    duplicate_window: DAY_NS,
  },
];

/** Connects to NATS with endless reconnects, naming the connection after the service. */
export async function connectNats(servers: string, name: string): Promise<NatsConnection> {
  return connect({ servers: servers.split(","), name, maxReconnectAttempts: -1 });
}

/** Creates the streams, or updates them to this config; safe for every service to run at start-up. */
export async function ensureStreams(nc: NatsConnection): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  for (const config of STREAMS) {
    try {
      await jsm.streams.info(config.name);
      await jsm.streams.update(config.name, config);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await jsm.streams.add(config);
      } catch (addErr) {
        // another service created it between our info and add
        if (!String(addErr).includes("already in use")) throw addErr;
      }
    }
  }
  return jsm;
}

export interface DurableConsumer {
  stream: string;
  name: string;
  filterSubjects: string[];
  /** How long a delivered message may go without an ack or in-progress ack. */
  ackWaitMs: number;
  maxDeliver?: number;
  /** Messages in flight at once; 1 keeps strict stream order. */
  maxAckPending?: number;
}

/** Creates or updates a durable pull consumer with explicit acks. */
export async function ensureConsumer(jsm: JetStreamManager, c: DurableConsumer): Promise<void> {
  const config: Partial<ConsumerConfig> = {
    durable_name: c.name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subjects: c.filterSubjects,
    ack_wait: nanos(c.ackWaitMs),
    max_deliver: c.maxDeliver ?? -1,
    max_ack_pending: c.maxAckPending ?? 1000,
  };
  try {
    await jsm.consumers.info(c.stream, c.name);
    await jsm.consumers.update(c.stream, c.name, config);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(c.stream, config);
  }
}

function isNotFound(err: unknown): boolean {
  return /not found/i.test(String(err));
}
