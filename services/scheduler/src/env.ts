import { z } from "zod";
import { CommonEnv } from "@trainyard/runtime";

export const Env = CommonEnv.extend({
  /** How often a job waiting for a slot re-reads agents and leases. */
  SCHEDULER_POLL_MS: z.coerce.number().int().min(50).default(1000),
  /**
   * How long the scheduler holds the oldest waiting job before handing it back to JetStream.
   * Holding it (with in-progress acks) keeps the queue first-in first-out.
   */
  SCHEDULER_HOLD_MS: z.coerce.number().int().min(1000).default(25_000),
});
export type Env = z.infer<typeof Env>;
