export type Dependency = "nats" | "mongodb";

/**
 * NATS or MongoDB failed or did not answer in time. The API answers 503 for it, never 500: the
 * request was fine, the platform was not.
 */
export class DependencyError extends Error {
  override name = "DependencyError";
  constructor(
    readonly dependency: Dependency,
    cause: unknown,
  ) {
    super(`${dependency} is unavailable`, { cause });
  }
}

/**
 * Runs one call to `dependency`, turning its failure, or no answer within `timeoutMs`, into a
 * DependencyError. A timed-out call is abandoned, not cancelled. A ZodError is a contract bug in
 * our own payload, not an outage, and passes through unchanged.
 */
export async function callDependency<T>(dependency: Dependency, timeoutMs: number, call: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DependencyError(dependency, new Error(`no answer within ${timeoutMs} ms`))),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([call(), timeout]);
  } catch (err) {
    if (err instanceof DependencyError || (err instanceof Error && err.name === "ZodError")) throw err;
    throw new DependencyError(dependency, err);
  } finally {
    clearTimeout(timer);
  }
}
