import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import type { ObjectStore } from "@trainyard/runtime";

/**
 * Streams a file into the object store (never the whole archive in memory) and checks that the
 * store's digest matches the one computed while downloading, so what agents fetch is what we validated.
 */
export async function putArchive(store: ObjectStore, name: string, file: string, sha256: string): Promise<void> {
  const body = Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>;
  const info = await store.put({ name, description: "validated YOLO dataset archive" }, body);
  const stored = Buffer.from(info.digest.replace(/^SHA-256=/, ""), "base64url").toString("hex");
  if (stored !== sha256) throw new Error(`object ${name} was stored with digest ${stored}, expected ${sha256}`);
}
