import type { JobDetail, LiveMessage } from "../../src/job-wire.js";

// The one module that talks to the dashboard server: the /ws live feed and the /api reads.

export type ConnectionState = "connecting" | "open" | "reconnecting";

export interface LiveHandlers {
  message(message: LiveMessage): void;
  connection(state: ConnectionState): void;
}

export interface BackoffOptions {
  baseDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_BACKOFF: BackoffOptions = { baseDelayMs: 1_000, maxDelayMs: 30_000 };

/** Delay before reconnect attempt `attempt` (0-based): doubling from the base, capped (PRD 17.7). */
export function reconnectDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  return Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** attempt);
}

/**
 * Keeps a WebSocket to /ws open: on a drop it reconnects with exponential back-off, and the
 * back-off resets once a snapshot has arrived (the server answered, not just accepted).
 */
export function connectLive(handlers: LiveHandlers, backoff: BackoffOptions = DEFAULT_BACKOFF): { close(): void } {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  let attempt = 0;
  let socket: WebSocket | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const open = () => {
    handlers.connection(attempt === 0 ? "connecting" : "reconnecting");
    socket = new WebSocket(url);
    socket.onmessage = (event) => {
      const message = parse(event.data);
      if (!message) return;
      if (message.type === "snapshot") {
        attempt = 0;
        handlers.connection("open");
      }
      handlers.message(message);
    };
    socket.onclose = () => {
      socket = null;
      if (closed) return;
      handlers.connection("reconnecting");
      timer = setTimeout(open, reconnectDelay(attempt++, backoff));
    };
  };
  open();

  return {
    close() {
      closed = true;
      clearTimeout(timer);
      socket?.close();
    },
  };
}

function parse(data: unknown): LiveMessage | null {
  if (typeof data !== "string") return null;
  try {
    return JSON.parse(data) as LiveMessage;
  } catch {
    console.error("live feed sent a message that is not JSON", data);
    return null;
  }
}

/** One job with history and configuration; null when the dashboard does not know it. */
export async function fetchJob(jobId: string): Promise<JobDetail | null> {
  const res = await fetch(`/api/jobs/${encodeURIComponent(jobId)}`, { headers: { accept: "application/json" } });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET /api/jobs/${jobId} answered ${res.status}`);
  return (await res.json()) as JobDetail;
}
