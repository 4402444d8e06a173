import { ApiError } from "@trainyard/contracts";

export type CancelAnswer =
  | { kind: "cancelled" }
  | { kind: "not_found" }
  | { kind: "finished"; detail: string }
  | { kind: "failed"; detail: string };

/** The gateway's REST API, called with the dashboard's own token; the browser never sees it. */
export interface GatewayClient {
  cancel(jobId: string): Promise<CancelAnswer>;
}

export function gatewayClient(opts: { baseUrl: string; token: string; timeoutMs: number }): GatewayClient {
  const base = opts.baseUrl.replace(/\/+$/, "");
  return {
    async cancel(jobId) {
      let res: Response;
      try {
        res = await fetch(`${base}/api/v1/jobs/${encodeURIComponent(jobId)}`, {
          method: "DELETE",
          headers: { authorization: `Bearer ${opts.token}`, accept: "application/json" },
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch (err) {
        return {
          kind: "failed",
          detail: `the gateway did not answer: ${err instanceof Error ? err.message : String(err)}`,
        };
      }
      const body: unknown = await res.json().catch(() => null);
      const detail = ApiError.safeParse(body).data?.detail ?? `HTTP ${res.status}`;
      if (res.ok) return { kind: "cancelled" };
      if (res.status === 404) return { kind: "not_found" };
      if (res.status === 409) return { kind: "finished", detail };
      return { kind: "failed", detail: `the gateway answered ${res.status}: ${detail}` };
    },
  };
}
