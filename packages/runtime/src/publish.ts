import type { JetStreamClient } from "@nats-io/jetstream";
import { JobEvent, Subject } from "@trainyard/contracts";

/** Validates and publishes a job event; the id makes a re-publish after a crash a no-op. */
export async function publishJobEvent(js: JetStreamClient, event: JobEvent, msgId: string): Promise<void> {
  const checked = JobEvent.parse(event);
  await js.publish(Subject.jobEvent(checked.job_id, checked.type), JSON.stringify(checked), { msgID: msgId });
}

/** Publishes a JSON command, deduplicated by `msgId` within the stream's window. */
export async function publishJson(
  js: JetStreamClient,
  subject: string,
  payload: unknown,
  msgId: string,
): Promise<void> {
  await js.publish(subject, JSON.stringify(payload), { msgID: msgId });
}
