import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import {
  AgentHeartbeat,
  Bucket,
  Subject,
  type CallbackTarget,
  type JobEvent,
  type TrainRequested,
} from "@trainyard/contracts";
import { openKv, openObjectStore, publishJobEvent, publishJson, type ObjectStore } from "@trainyard/runtime";

/** Everything the gateway does on NATS. */
export interface Bus {
  saveCallbackTarget(jobId: string, target: CallbackTarget): Promise<void>;
  deleteCallbackTarget(jobId: string): Promise<void>;
  publishTrainRequested(event: TrainRequested): Promise<void>;
  publishJobEvent(event: JobEvent, msgId: string): Promise<void>;
  /** Training slots of the agents alive now, and whether any is a GPU. */
  capacity(): Promise<{ slots: number; gpu: boolean }>;
  artifacts: ObjectStore;
}

export async function openBus(nc: NatsConnection): Promise<Bus> {
  const js = jetstream(nc);
  const targets = await openKv(nc, Bucket.callbackTargets);
  const agents = await openKv(nc, Bucket.agents);
  const artifacts = await openObjectStore(nc, Bucket.artifacts);
  return {
    async saveCallbackTarget(jobId, target) {
      await targets.put(jobId, JSON.stringify(target));
    },
    async deleteCallbackTarget(jobId) {
      await targets.delete(jobId);
    },
    async publishTrainRequested(event) {
      // the job id as Nats-Msg-Id: a retried POST cannot enqueue the same job twice
      await publishJson(js, Subject.trainRequested, event, event.job_id);
    },
    publishJobEvent: (event, msgId) => publishJobEvent(js, event, msgId),
    async capacity() {
      let slots = 0;
      let gpu = false;
      for await (const key of await agents.keys()) {
        const entry = await agents.get(key);
        if (!entry || entry.operation !== "PUT") continue;
        const beat = AgentHeartbeat.safeParse(entry.json());
        if (!beat.success) continue;
        slots += beat.data.slots.length;
        gpu ||= beat.data.slots.some((s) => s.device.startsWith("cuda"));
      }
      return { slots, gpu };
    },
    artifacts,
  };
}
