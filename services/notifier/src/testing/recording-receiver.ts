import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  /** `performance.now()` when the request had fully arrived. */
  at: number;
}

/**
 * How the receiver answers one request: a status, a status with headers, `"hang"` (never
 * answers) or `"drop"` (closes the connection without an answer, like a receiver that is down).
 */
export type Answer = number | { status: number; headers?: Record<string, string> } | "hang" | "drop";

export interface RecordingReceiver {
  url: string;
  /** Every request, in arrival order. */
  requests: RecordedRequest[];
  /** Changes how later requests are answered. */
  answerWith(answer: (index: number, request: RecordedRequest) => Answer): void;
  /** Resolves once `predicate` holds; rejects after `timeoutMs` naming `what` and what did arrive. */
  waitFor(predicate: (requests: RecordedRequest[]) => boolean, timeoutMs: number, what: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real HTTP receiver on 127.0.0.1 that records raw requests and answers each as `answer`
 * decides from its 0-based index, so tests can script failures, outages and slow receivers.
 */
export async function startRecordingReceiver(
  answer: (index: number, request: RecordedRequest) => Answer = () => 204,
): Promise<RecordingReceiver> {
  const requests: RecordedRequest[] = [];
  const waiters = new Set<() => void>();
  let decide = answer;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request = { headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), at: performance.now() };
      const index = requests.length;
      requests.push(request);
      const given = decide(index, request);
      if (given === "drop") req.socket.destroy();
      else if (given !== "hang") {
        const { status, headers } = typeof given === "number" ? { status: given, headers: {} } : given;
        res.writeHead(status, headers).end();
      }
      for (const wake of waiters) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/functions/v1/webhook-ingest`,
    requests,
    answerWith(next) {
      decide = next;
    },
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
