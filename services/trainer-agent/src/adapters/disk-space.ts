import { statfs } from "node:fs/promises";
import type { DiskSpace } from "../work-disk.js";

/** Free bytes (for an unprivileged writer) and free inodes of the filesystem holding `dir`. */
export async function readDiskSpace(dir: string): Promise<DiskSpace> {
  const fs = await statfs(dir);
  return { freeBytes: fs.bavail * fs.bsize, freeInodes: fs.files > 0 ? fs.ffree : null };
}
