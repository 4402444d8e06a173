import { checkOutboundUrl, guardedAgent, OutboundUrlError, type OutboundPolicy } from "@trainyard/runtime";
import type { Dispatcher } from "undici";
import { parseRetryAfter, type AttemptResult } from "../retry-schedule.js";
import { AttemptDeadlines, type Deadline } from "./attempt-deadlines.js";

export interface CallbackRequest {
  url: string;
  headers: Record<string, string>;
  /** Sent as is: the bytes the signature covers. */
  body: Uint8Array;
}

/** Sends one callback POST; never throws for a failed delivery, it reports it. */
export interface CallbackSender {
  post(req: CallbackRequest): Promise<AttemptResult>;
  close(): Promise<void>;
}

export interface HttpCallbackOptions {
  /** The same outbound policy (private networks, allow-list) as the dataset service's downloads. */
  policy: OutboundPolicy;
  /** Upper bound of one attempt: connect, headers and body. */
  timeoutMs: number;
}

/** Callback URLs whose guard verdict is remembered (most jobs of an app share one). */
const URL_CACHE_SIZE = 1_000;
/** Answer bytes read before the connection is dropped (as undici's `dump()` does): answers are not used. */
const MAX_ANSWER_BYTES = 128 * 1024;
const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** A callback URL the guard let through, split the way undici dispatches it. */
interface Destination {
  origin: string;
  path: string;
}

/**
 * POSTs callbacks with undici through the SSRF guard: the URL is checked before each POST and
 * every DNS answer at connect time. Redirects are not followed (a plain dispatch does not), so a
 * receiver cannot bounce a signed body elsewhere. Bodies and headers are never logged: they
 * carry the callback secret.
 *
 * Each POST is a bare `dispatch` whose handler keeps only the status and `Retry-After`: no
 * response stream, no abort signal (one timer serves every attempt's deadline). This is the
 * notifier's hottest path: `request()` with a body stream and an `AbortSignal.timeout` cost
 * 40–70 µs more CPU per POST.
 */
export function createHttpCallbackSender(options: HttpCallbackOptions): CallbackSender {
  const agent = guardedAgent(options.policy, { connect: { timeout: options.timeoutMs } });
  const deadlines = new AttemptDeadlines(options.timeoutMs);
  // the policy is fixed, so each URL's verdict is too; the connect-time checks still run per connection
  const verdicts = new Map<string, Destination | OutboundUrlError>();
  const check = (raw: string): Destination | OutboundUrlError => {
    let verdict = verdicts.get(raw);
    if (!verdict) {
      try {
        const url = checkOutboundUrl(raw, options.policy);
        verdict = { origin: url.origin, path: `${url.pathname}${url.search}` };
      } catch (err) {
        verdict = err instanceof OutboundUrlError ? err : new OutboundUrlError(String(err));
      }
      verdicts.set(raw, verdict);
      if (verdicts.size > URL_CACHE_SIZE) verdicts.delete(verdicts.keys().next().value!);
    }
    return verdict;
  };
  return {
    post(req) {
      const started = performance.now();
      const destination = check(req.url);
      if (destination instanceof OutboundUrlError) {
        return Promise.resolve({ kind: "refused", message: destination.message, latencyMs: latencySince(started) });
      }
      return new Promise((resolve) => {
        const exchange = new CallbackExchange(started, options.timeoutMs, deadlines, resolve);
        try {
          agent.dispatch(
            {
              origin: destination.origin,
              path: destination.path,
              method: "POST",
              headers: req.headers,
              body: req.body,
              headersTimeout: options.timeoutMs,
              bodyTimeout: options.timeoutMs,
            },
            exchange,
          );
        } catch (err) {
          exchange.onResponseError(null, err as Error);
        }
      });
    },
    async close() {
      deadlines.clear();
      await agent.close();
    },
  };
}

/**
 * One POST's undici handler: settles once, with the final status (the answer's body is read and
 * dropped), an error, or a timeout when its deadline passes first, which also aborts it.
 */
class CallbackExchange implements Dispatcher.DispatchHandler {
  private readonly deadline: Deadline;
  private controller: Dispatcher.DispatchController | null = null;
  private settled = false;
  private status = 0;
  private retryAfter: string | undefined;
  private answerBytes = 0;

  constructor(
    private readonly started: number,
    private readonly timeoutMs: number,
    private readonly deadlines: AttemptDeadlines,
    private readonly resolve: (result: AttemptResult) => void,
  ) {
    this.deadline = deadlines.start(() => this.expire());
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // expired while waiting for a connection: never send it
    if (this.settled) controller.abort(new Error("the attempt timed out"));
    else this.controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return; // informational: the final answer follows
    this.status = statusCode;
    const retryAfter = headers["retry-after"];
    this.retryAfter = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.answerBytes += chunk.length;
    if (this.answerBytes <= MAX_ANSWER_BYTES) return;
    this.answer();
    controller.abort(new Error("callback answer too large; connection dropped"));
  }

  onResponseEnd(): void {
    this.answer();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    const latencyMs = latencySince(this.started);
    if (isRefusal(err)) return this.finish({ kind: "refused", message: err.message, latencyMs });
    if (isTimeout(err)) return this.finish(this.timedOut());
    this.finish({ kind: "network-error", message: describe(err), timedOut: false, latencyMs });
  }

  private finish(result: AttemptResult): void {
    if (this.settled) return;
    this.settled = true;
    this.deadlines.finish(this.deadline);
    this.resolve(result);
  }

  private answer(): void {
    this.finish({
      kind: "response",
      status: this.status,
      retryAfterMs: parseRetryAfter(this.retryAfter),
      latencyMs: latencySince(this.started),
    });
  }

  private expire(): void {
    this.finish(this.timedOut());
    this.controller?.abort(new Error("the attempt timed out"));
  }

  private timedOut(): AttemptResult {
    return {
      kind: "network-error",
      message: `no answer within ${this.timeoutMs} ms`,
      timedOut: true,
      latencyMs: latencySince(this.started),
    };
  }
}

function latencySince(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

function isRefusal(err: unknown): boolean {
  return err instanceof OutboundUrlError || (err instanceof Error && err.cause instanceof OutboundUrlError);
}

function isTimeout(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return err.name === "TimeoutError" || (typeof code === "string" && TIMEOUT_CODES.has(code));
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? `${code}: ${err.message}` : err.message;
}
