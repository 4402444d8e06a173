import { hostname } from "node:os";
import { z } from "zod";
import { CommonEnv, envDuration } from "@trainyard/runtime";

export const Env = CommonEnv.extend({
  /** How often the leader looks at the queue, the agents and the leases (also after every arrival). */
  SCHEDULER_POLL_MS: z.coerce.number().int().min(50).default(1000),
  /** Name of this replica in the leader election; unique per process. */
  SCHEDULER_REPLICA_ID: z.string().min(1).default(`${hostname()}-${process.pid}`),
  /** How often the leader renews its lease (which expires after 10 s); followers retry as often. */
  SCHEDULER_LEADER_RENEW_MS: z.coerce.number().int().min(100).max(5000).default(3000),
  /** Runs a job gets when its agent is lost mid-training, before it fails. */
  SCHEDULER_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(3),
  /**
   * How long a finished job's keys in `job-outcomes` and `cancellations` live after its terminal
   * event (`7d`, `12h`, `30s`): they settle a DELETE racing the job's end and answer a GET before
   * the projection has caught up, so keep it well above the projection's lag (and the streams'
   * 24 h duplicate window).
   */
  SCHEDULER_FINISHED_JOB_TTL: envDuration("7d").pipe(z.number().min(1000, "must be at least 1s")),
});
export type Env = z.infer<typeof Env>;
