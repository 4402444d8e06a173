import { z } from "zod";

/** Error codes of a `training_failed` callback (PRD 4.2.3). */
export const ErrorCode = z.enum([
  "DATASET_DOWNLOAD_FAILED",
  "DATASET_INVALID",
  "DATASET_CORRUPTED",
  "MODEL_DOWNLOAD_FAILED",
  "INSUFFICIENT_MEMORY",
  "TRAINING_DIVERGED",
  "CANCELLED",
  "UNKNOWN_ERROR",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** Codes of REST error bodies; the HTTP status carries the PRD meaning (PRD 7, 13). */
export const ApiErrorCode = z.enum([
  "INVALID_PAYLOAD",
  "INVALID_PARAMETER",
  "UNAUTHORIZED",
  "JOB_EXISTS",
  "JOB_NOT_FOUND",
  "JOB_FINISHED",
  "CALLBACK_NOT_FOUND",
  "QUEUE_FULL",
  "RATE_LIMITED",
  "NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "SERVICE_UNAVAILABLE",
  "INTERNAL_ERROR",
]);
export type ApiErrorCode = z.infer<typeof ApiErrorCode>;

/** REST error body. `detail` keeps the FastAPI shape the PRD's clients already parse. */
export const ApiError = z.object({
  detail: z.string(),
  code: ApiErrorCode,
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ApiError = z.infer<typeof ApiError>;
