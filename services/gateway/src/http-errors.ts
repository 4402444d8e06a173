import type { Response } from "express";
import type { ApiError, ApiErrorCode } from "@trainyard/contracts";
import type { z } from "zod";

/** Sends a REST error body (`detail` as FastAPI clients expect, plus a stable `code`). */
export function sendError(
  res: Response,
  status: number,
  code: ApiErrorCode,
  detail: string,
  errors?: ApiError["errors"],
): void {
  const body: ApiError = { detail, code, ...(errors ? { errors } : {}) };
  res.status(status).json(body);
}

/** Flattens zod issues to `{path, message}` pairs a client can show next to its fields. */
export function issuesOf(error: z.ZodError): NonNullable<ApiError["errors"]> {
  return error.issues.map((issue) => ({ path: issue.path.join(".") || "(body)", message: issue.message }));
}
