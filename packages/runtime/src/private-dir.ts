import { chmod, mkdir, stat } from "node:fs/promises";
import { ConfigError } from "./env.js";

/**
 * Makes `dir` (an agent's or the dataset service's work folder) exist as this process's own,
 * mode 0700: job folders, datasets and checkpoints in it are no other user's to read or plant.
 * An existing folder owned by another user is a configuration error, not something to take over.
 */
export async function ensurePrivateDir(dir: string, setting: string, own = process.getuid?.()): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { uid } = await stat(dir);
  if (own !== undefined && uid !== own) {
    throw new ConfigError(`${setting} ${dir} belongs to uid ${uid}, not to this service (uid ${own})`);
  }
  await chmod(dir, 0o700);
}
