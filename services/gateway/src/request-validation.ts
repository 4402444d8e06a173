import type { z } from "zod";
import { HttpError, issuesOf } from "./http-errors.js";

/** The request body as `schema` reads it, or a 400 INVALID_PAYLOAD naming every failing field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new HttpError(400, "INVALID_PAYLOAD", "Invalid payload", issuesOf(parsed.error));
}

/**
 * Query parameters as `schema` reads them, or a 400 INVALID_PARAMETER naming each failing one.
 * A plain decimal becomes a number first; anything else (`1e3`, `0x10`, ` 5`, a repeated
 * parameter) stays as sent and fails as the wrong type. Unknown parameters are ignored.
 */
export function parseQuery<S extends z.ZodType>(schema: S, query: Record<string, unknown>): z.infer<S> {
  // fromEntries defines own properties: a parameter named __proto__ cannot set a prototype
  const values = Object.fromEntries(
    Object.entries(query).map(([name, value]) => [
      name,
      typeof value === "string" && /^(0|[1-9]\d{0,15})$/.test(value) ? Number(value) : value,
    ]),
  );
  const parsed = schema.safeParse(values);
  if (parsed.success) return parsed.data;
  throw new HttpError(400, "INVALID_PARAMETER", "Invalid query parameter", issuesOf(parsed.error));
}

/** A path parameter as `schema` reads it, or a 400 INVALID_PARAMETER naming it. */
export function parseParam<S extends z.ZodType>(schema: S, name: string, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new HttpError(400, "INVALID_PARAMETER", `Invalid ${name}`, issuesOf(parsed.error, [name]));
}
