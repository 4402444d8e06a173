import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { runArtifact } from "@trainyard/contracts";
import { retryTransient, type ObjectStore, type TransientRetry } from "@trainyard/runtime";

/**
 * A run's checkpoint (`<job_id>/attempt-<n>/last.pt`) in the artifacts store: uploaded after
 * every epoch, so a job whose host dies resumes on another host from its last finished epoch.
 * Each run has its own, so a run that was replaced but still trains cannot overwrite the
 * checkpoint of the run that replaced it.
 */
export interface Checkpoints {
  objectName(jobId: string, attempt: number): string;
  /** The run's checkpoint's object name when it uploaded one. */
  latest(jobId: string, attempt: number): Promise<string | null>;
  fetch(objectName: string, target: string): Promise<void>;
}

/** `retry` rides out a NATS outage: a read that fails transiently is done again from the start. */
export function checkpointStore(artifacts: ObjectStore, retry: TransientRetry): Checkpoints {
  const objectName = (jobId: string, attempt: number) => runArtifact(jobId, attempt, "last.pt");
  return {
    objectName,
    async latest(jobId, attempt) {
      const info = await retryTransient(() => artifacts.info(objectName(jobId, attempt)), retry);
      return info && !info.deleted ? objectName(jobId, attempt) : null;
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
