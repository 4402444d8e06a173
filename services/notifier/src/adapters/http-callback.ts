import { checkOutboundUrl, guardedAgent, OutboundUrlError, type OutboundPolicy } from "@trainyard/runtime";
import { request } from "undici";
import { parseRetryAfter, type AttemptResult } from "../retry-schedule.js";

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
const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/**
 * POSTs callbacks with undici through the SSRF guard: the URL is checked before each POST and
 * every DNS answer at connect time. Redirects are not followed (undici's `request` does not),
 * so a receiver cannot bounce a signed body elsewhere. Bodies and headers are never logged:
 * they carry the callback secret.
 */
export function createHttpCallbackSender(options: HttpCallbackOptions): CallbackSender {
  const agent = guardedAgent(options.policy, { connect: { timeout: options.timeoutMs } });
  // the policy is fixed, so each URL's verdict is too; the connect-time checks still run per connection
  const verdicts = new Map<string, URL | OutboundUrlError>();
  const check = (raw: string): URL | OutboundUrlError => {
    let verdict = verdicts.get(raw);
    if (!verdict) {
      try {
        verdict = checkOutboundUrl(raw, options.policy);
      } catch (err) {
        verdict = err instanceof OutboundUrlError ? err : new OutboundUrlError(String(err));
      }
      verdicts.set(raw, verdict);
      if (verdicts.size > URL_CACHE_SIZE) verdicts.delete(verdicts.keys().next().value!);
    }
    return verdict;
  };
  return {
    async post(req) {
      const started = performance.now();
      const latency = () => Math.round((performance.now() - started) * 10) / 10;
      const url = check(req.url);
      if (url instanceof OutboundUrlError) return { kind: "refused", message: url.message, latencyMs: latency() };
      try {
        const response = await request(url, {
          method: "POST",
          headers: req.headers,
          body: req.body,
          dispatcher: agent,
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        // the answer's body is of no use, but it must be drained to free the connection
        await response.body.dump();
        const retryAfter = response.headers["retry-after"];
        return {
          kind: "response",
          status: response.statusCode,
          retryAfterMs: parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter),
          latencyMs: latency(),
        };
      } catch (err) {
        if (isRefusal(err)) return { kind: "refused", message: (err as Error).message, latencyMs: latency() };
        if (isTimeout(err)) {
          return {
            kind: "network-error",
            message: `no answer within ${options.timeoutMs} ms`,
            timedOut: true,
            latencyMs: latency(),
          };
        }
        return { kind: "network-error", message: describe(err), timedOut: false, latencyMs: latency() };
      }
    },
    close: () => agent.close(),
  };
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
