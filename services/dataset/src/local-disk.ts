/**
 * errno codes of this host's own disk or file table failing a write: full, over quota, mounted
 * read-only, failing, out of file handles. Never the dataset's fault.
 */
const LOCAL_DISK_CODES = new Set(["ENOSPC", "EDQUOT", "EROFS", "EIO", "EMFILE", "ENFILE"]);

/** How long an intake that met a local disk error waits before its message is delivered again. */
export const LOCAL_DISK_RETRY_MS = 15_000;

/**
 * The local disk error behind `err` (itself or one of its causes), if any: the platform's fault,
 * so the intake is retried later and the app is told nothing.
 */
export function localDiskError(err: unknown): NodeJS.ErrnoException | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && LOCAL_DISK_CODES.has(code)) return e;
  }
  return undefined;
}
