import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RecordingReceiver {
  url: string;
  /** Every request, in arrival order. */
  requests: RecordedRequest[];
  /** Resolves once `predicate` holds; rejects after `timeoutMs` naming `what` and what did arrive. */
  waitFor(predicate: (requests: RecordedRequest[]) => boolean, timeoutMs: number, what: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real HTTP receiver on 127.0.0.1 that records raw requests and answers each with the
 * status `answer` picks from its 0-based index, so tests can script failures.
 */
export async function startRecordingReceiver(
  answer: (index: number) => number = () => 204,
): Promise<RecordingReceiver> {
  const requests: RecordedRequest[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const index = requests.length;
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(answer(index)).end();
      for (const wake of waiters) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/functions/v1/webhook-ingest`,
    requests,
    waitFor(predicate, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(requests)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const seen = requests.map((r) => [r.headers["x-job-id"], r.headers["x-callback-type"]]);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received: ${JSON.stringify(seen)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
