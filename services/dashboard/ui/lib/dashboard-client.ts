import type { ClientMessage, ServerMessage, SessionInfo } from "../../src/job-wire.js";

// The one module that talks to the dashboard server: the /ws live feed and the /api calls.

export type ConnectionState = "connecting" | "open" | "reconnecting";

export interface BackoffOptions {
  baseDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_BACKOFF: BackoffOptions = { baseDelayMs: 1_000, maxDelayMs: 30_000 };

/** Delay before reconnect attempt `attempt` (0-based): doubling from the base, capped (PRD 17.7). */
export function reconnectDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  return Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** attempt);
}

export interface LiveHandlers {
  message(message: ServerMessage): void;
  connection(state: ConnectionState): void;
  /** Sent again after every (re)connect, so the server resumes what this page follows. */
  resume(): ClientMessage[];
}

/**
 * Keeps a WebSocket to /ws open: on a drop it reconnects with exponential back-off (reset once
 * the server's overview arrived), then re-subscribes with the sequence the page already has, so
 * nothing is missed across the gap.
 */
export class LiveConnection {
  #socket: WebSocket | null = null;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    private readonly handlers: LiveHandlers,
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
  ) {
    this.#open();
  }

  send(message: ClientMessage): void {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#socket?.close();
  }

  #open(): void {
    this.handlers.connection(this.#attempt === 0 ? "connecting" : "reconnecting");
    const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
    this.#socket = socket;
    socket.onopen = () => {
      for (const message of this.handlers.resume()) socket.send(JSON.stringify(message));
    };
    socket.onmessage = (event) => {
      const message = parse(event.data);
      if (!message) return;
      if (message.type === "overview") {
        this.#attempt = 0;
        this.handlers.connection("open");
      }
      this.handlers.message(message);
    };
    socket.onclose = () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      if (this.#closed) return;
      this.handlers.connection("reconnecting");
      this.#timer = setTimeout(() => this.#open(), reconnectDelay(this.#attempt++, this.backoff));
    };
  }
}

function parse(data: unknown): ServerMessage | null {
  if (typeof data !== "string") return null;
  try {
    return JSON.parse(data) as ServerMessage;
  } catch {
    console.error("live feed sent a message that is not JSON", data);
    return null;
  }
}

export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(path, {
    ...init,
    credentials: "same-origin",
    headers: { accept: "application/json", ...(init.body ? { "content-type": "application/json" } : {}) },
  });
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { detail?: string } | null;
    throw new ApiCallError(res.status, body?.detail ?? `${init.method ?? "GET"} ${path} answered ${res.status}`);
  }
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export const api = {
  session: () => call<SessionInfo>("/api/session"),
  login: (token: string) => call<void>("/api/session", { method: "POST", body: JSON.stringify({ token }) }),
  logout: () => call<void>("/api/session", { method: "DELETE" }),
  cancel: (jobId: string) =>
    call<{ status: string }>(`/api/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST", body: "{}" }),
  /** Where the browser fetches a job's file: a redirect to a short-lived signed download link. */
  fileUrl: (jobId: string, kind: string) => `/api/jobs/${encodeURIComponent(jobId)}/files/${kind}`,
};
