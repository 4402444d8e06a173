import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  jetstreamManager,
  type ConsumerConfig,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { inboxPrefix } from "@trainyard/contracts";
import { ensureStream, isNotFound, streamDefinitions } from "./topology.js";

/** How a service authenticates to NATS and whose inbox it uses (from `CommonEnv`). */
export interface NatsAuth {
  /** The NATS user these credentials belong to; its replies arrive under `_INBOX_<user>`. */
  user: string;
  /** An nkey seed file (`SU…`), as written by `nats-auth`. */
  nkeySeedFile?: string | undefined;
  /** A JWT `.creds` file, for operator-mode deployments. */
  credsFile?: string | undefined;
  tls?: { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined } | undefined;
}

/**
 * Connects to NATS (several servers: any of them, riding out the loss of one) with endless
 * reconnects, naming the connection after the service. Replies use the user's own inbox prefix,
 * the only inbox its grants let it subscribe to.
 */
export async function connectNats(servers: string, name: string, auth?: NatsAuth): Promise<NatsConnection> {
  const authenticator = auth?.nkeySeedFile
    ? nkeyAuthenticator(new TextEncoder().encode(readFileSync(auth.nkeySeedFile, "utf8").trim()))
    : auth?.credsFile
      ? credsAuthenticator(new Uint8Array(readFileSync(auth.credsFile)))
      : undefined;
  const tls = auth?.tls && Object.values(auth.tls).some(Boolean) ? dropUndefined(auth.tls) : undefined;
  return connect({
    servers: servers.split(",").map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    ...(auth ? { inboxPrefix: inboxPrefix(auth.user) } : {}),
    ...(authenticator ? { authenticator } : {}),
    ...(tls ? { tls } : {}),
  });
}

function dropUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}

/**
 * Binds to the streams, creating a missing one with one replica (a development server). In a
 * deployment the provisioner has created them (with their replicas) and service users have no
 * right to create or change a stream.
 */
export async function ensureStreams(nc: NatsConnection): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  for (const config of streamDefinitions()) await ensureStream(jsm, config, { update: false });
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
    // One filter goes in the create subject, where the server checks it against the user's grants.
    ...(c.filterSubjects.length === 1
      ? { filter_subject: c.filterSubjects[0] }
      : { filter_subjects: c.filterSubjects }),
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
