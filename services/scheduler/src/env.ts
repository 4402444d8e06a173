import { hostname } from "node:os";
import { z } from "zod";
import { CommonEnv } from "@trainyard/runtime";

export const Env = CommonEnv.extend({
  /** How often the leader looks at the queue, the agents and the leases (also after every arrival). */
  SCHEDULER_POLL_MS: z.coerce.number().int().min(50).default(1000),
  /** Name of this replica in the leader election; unique per process. */
  SCHEDULER_REPLICA_ID: z.string().min(1).default(`${hostname()}-${process.pid}`),
  /** How often the leader renews its lease (which expires after 10 s); followers retry as often. */
  SCHEDULER_LEADER_RENEW_MS: z.coerce.number().int().min(100).max(5000).default(3000),
  /** Runs a job gets when its agent is lost mid-training, before it fails. */
  SCHEDULER_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(3),
});
export type Env = z.infer<typeof Env>;
