import { checkOutboundUrl, guardedAgent, OutboundUrlError, type OutboundPolicy } from "@trainyard/runtime";
import { request } from "undici";
import { parseRetryAfter, type AttemptResult } from "../retry-schedule.js";

export interface CallbackRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Sends one callback POST; never throws for a failed delivery, it reports it. */
export interface CallbackSender {
  post(req: CallbackRequest): Promise<AttemptResult>;
  close(): Promise<void>;
}

export interface HttpCallbackOptions extends OutboundPolicy {
  timeoutMs: number;
}

/**
 * POSTs callbacks with undici through the SSRF guard: the URL is checked before each POST and
 * every DNS answer at connect time. Redirects are not followed (undici's `request` does not),
 * so a receiver cannot bounce a signed body elsewhere. Bodies and headers are never logged:
 * they carry the callback secret.
 */
export function createHttpCallbackSender(options: HttpCallbackOptions): CallbackSender {
  const policy: OutboundPolicy = { allowPrivate: options.allowPrivate };
  const agent = guardedAgent(policy, { connect: { timeout: options.timeoutMs } });
  return {
    async post(req) {
      let url: URL;
      try {
        url = checkOutboundUrl(req.url, policy);
      } catch (err) {
        return { kind: "refused", message: (err as Error).message };
      }
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
        };
      } catch (err) {
        if (isRefusal(err)) return { kind: "refused", message: (err as Error).message };
        return { kind: "network-error", message: describe(err) };
      }
    },
    close: () => agent.close(),
  };
}

function isRefusal(err: unknown): boolean {
  return err instanceof OutboundUrlError || (err instanceof Error && err.cause instanceof OutboundUrlError);
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? `${code}: ${err.message}` : err.message;
}
