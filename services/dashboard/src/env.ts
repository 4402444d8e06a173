import { CommonEnv } from "@trainyard/runtime";
import { z } from "zod";

/** The dashboard's configuration, parsed once at start-up (`parseEnv(Env)`). */
export const Env = CommonEnv.extend({
  /** MongoDB (or FerretDB) holding the job projection, database `trainyard`, collection `jobs`. */
  MONGO_URL: z.string().min(1).default("mongodb://127.0.0.1:27017/"),
  /** Port of the HTTP server: the UI, `/api/jobs`, `/healthz` and the `/ws` live feed. */
  DASHBOARD_PORT: z.coerce.number().int().min(0).max(65_535).default(8081),
  /** Interface to listen on; the dashboard has no login, so it stays on loopback unless a proxy guards it. */
  DASHBOARD_HOST: z.string().min(1).default("127.0.0.1"),
});
export type Env = z.infer<typeof Env>;
