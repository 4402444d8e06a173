import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { retryTransient, type ObjectStore, type TransientRetry } from "@trainyard/runtime";

/**
 * A job's checkpoint (`<job_id>/last.pt`) in the artifacts store: uploaded after every epoch,
 * so a job whose host dies resumes on another host from its last finished epoch.
 */
export interface Checkpoints {
  objectName(jobId: string): string;
  /** The checkpoint's object name when one was uploaded. */
  latest(jobId: string): Promise<string | null>;
  fetch(objectName: string, target: string): Promise<void>;
}

/** `retry` rides out a NATS outage: a read that fails transiently is done again from the start. */
export function checkpointStore(artifacts: ObjectStore, retry: TransientRetry): Checkpoints {
  const objectName = (jobId: string) => `${jobId}/last.pt`;
  return {
    objectName,
    async latest(jobId) {
      const info = await retryTransient(() => artifacts.info(objectName(jobId)), retry);
      return info && !info.deleted ? objectName(jobId) : null;
    },
    async fetch(name, target) {
      await retryTransient(async () => {
        const object = await artifacts.get(name);
        if (!object) throw new Error(`checkpoint ${name} is missing`);
        // a new write stream truncates what a failed try left
        await pipeline(Readable.fromWeb(object.data), createWriteStream(target));
        const error = await object.error;
        if (error) throw error;
      }, retry);
    },
  };
}
