import type { ApiError, TrainRequest } from "@trainyard/contracts";

/** Callback secrets shorter than this are weak: the PRD's example secret has 20 characters. */
export const MIN_CALLBACK_SECRET_CHARS = 16;

/**
 * What `CALLBACK_POLICY` does with weak callback settings outside local mode: `warn` accepts the
 * job and logs them (existing apps may rely on them), `strict` refuses the request with a 400.
 */
export type CallbackPolicy = "warn" | "strict";

/**
 * Weak callback settings of a request, one error per field: an `http://` URL (the callbacks, and
 * the PRD's `X-Callback-Secret` header with them, travel in clear) and a short secret (the HMAC
 * key of every signature). None in local mode, where private URLs are allowed and http is normal.
 */
export function weakCallbackSettings(
  request: Pick<TrainRequest, "callback_url" | "callback_secret">,
  localMode: boolean,
): NonNullable<ApiError["errors"]> {
  if (localMode) return [];
  const weak: NonNullable<ApiError["errors"]> = [];
  if (new URL(request.callback_url).protocol === "http:") {
    weak.push({
      path: "callback_url",
      message: "an http:// callback URL sends callbacks and their secret in clear: use https://",
    });
  }
  if (request.callback_secret.length < MIN_CALLBACK_SECRET_CHARS) {
    weak.push({
      path: "callback_secret",
      message: `a callback secret needs at least ${MIN_CALLBACK_SECRET_CHARS} characters (it keys every callback's signature)`,
    });
  }
  return weak;
}
