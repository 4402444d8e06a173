import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ObjectStore } from "@trainyard/runtime";

/** Moves a job's files between this host and the NATS object stores. */
export interface JobFiles {
  fetchDataset(objectName: string, target: string): Promise<void>;
  /** Uploads a file; returns its size in bytes. */
  uploadArtifact(objectName: string, source: string): Promise<number>;
}

export function jobFiles(datasets: ObjectStore, artifacts: ObjectStore): JobFiles {
  return {
    async fetchDataset(objectName, target) {
      const object = await datasets.get(objectName);
      if (!object) throw new Error(`dataset object ${objectName} is missing`);
      await pipeline(Readable.fromWeb(object.data), createWriteStream(target));
      const error = await object.error;
      if (error) throw error;
    },
    async uploadArtifact(objectName, source) {
      const { size } = await stat(source);
      const body = Readable.toWeb(createReadStream(source)) as unknown as ReadableStream<Uint8Array>;
      await artifacts.put({ name: objectName }, body);
      return size;
    },
  };
}
