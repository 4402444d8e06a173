/**
 * A chaos run's plan: the workload and the fault schedule, drawn from one seed. Pure: the same
 * options give the same plan (job ids included), so a failing run replays exactly; only what the
 * faults meet at their moment (which job a trainer runs, say) depends on timing.
 */
import { Prng } from "./prng.js";

/** A valid training that runs to its end; one cancelled at a random moment; one whose dataset fails validation. */
export type JobKind = "train" | "cancel" | "invalid";

/** How an invalid dataset is broken, and the error codes the app may get for it. */
export const INVALID_DATASETS = {
  /** random bytes served as a zip */
  "not-a-zip": ["DATASET_CORRUPTED", "DATASET_INVALID"],
  /** a zip with an entry named `../escape.txt` */
  "path-traversal": ["DATASET_CORRUPTED", "DATASET_INVALID"],
  /** images without a labels folder */
  "no-labels": ["DATASET_INVALID", "DATASET_CORRUPTED"],
  /** a URL the storage answers 404 */
  missing: ["DATASET_DOWNLOAD_FAILED"],
} as const;
export type InvalidDataset = keyof typeof INVALID_DATASETS;

export interface PlannedJob {
  index: number;
  jobId: string;
  kind: JobKind;
  epochs: number;
  /** `valid`, or how the dataset is broken. */
  dataset: "valid" | InvalidDataset;
  /** Offset from the run's start at which it is submitted. */
  submitAtMs: number;
  /** For `cancel`: how long after its acceptance the DELETE is sent. */
  cancelAfterMs: number | null;
}

export const FAULT_KINDS = [
  "kill-service",
  "kill-agent",
  "kill-trainer",
  "kill-nats",
  "kill-mongo",
  "receiver",
  "dataset-server",
  "disk-full",
  "partition",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  index: number;
  kind: FaultKind;
  /**
   * What it hits: a process name (`gateway`, `scheduler-2`, `nats-3`, `ferretdb`), an agent id
   * (`local-2`) for agent, trainer and partition faults, `receiver`, `files`, or a work folder
   * (`agent:local-1`, `dataset`) for a full disk.
   */
  target: string;
  atMs: number;
  /** How long the target stays down, failing, paused or full. */
  durationMs: number;
  /** receiver: `error`, `down` or `hang`; dataset-server: `drop` or `stall`. */
  mode: string | null;
  /** dataset-server: how many transfers are disrupted. */
  transfers: number | null;
}

export interface PlanOptions {
  seed: number;
  jobs: number;
  faults: number;
  /** Submissions and faults are spread over this much time from the start. */
  windowMs: number;
  cluster: boolean;
  agents: number;
  schedulers: number;
  /** Fault kinds to draw from; all by default. */
  kinds?: readonly FaultKind[];
  /** The dataset service's idle timeout: a stall outlasts it, so the download is retried. */
  datasetIdleTimeoutMs: number;
}

export interface Plan {
  options: PlanOptions;
  jobs: PlannedJob[];
  faults: PlannedFault[];
}

const JOB_WEIGHTS: Record<JobKind, number> = { train: 55, cancel: 20, invalid: 25 };
const FAULT_WEIGHTS: Record<FaultKind, number> = {
  "kill-service": 4,
  "kill-agent": 2,
  "kill-trainer": 2,
  "kill-nats": 2,
  "kill-mongo": 1.5,
  receiver: 2,
  "dataset-server": 1.5,
  "disk-full": 1,
  partition: 0.7,
};

/** The agent ids the stack starts (`local-1`, …). */
export const agentIds = (agents: number) => Array.from({ length: agents }, (_, i) => `local-${i + 1}`);

/** Draws the plan. The first jobs are one of each kind and the first faults one of each kind, so short runs cover them. */
export function planRun(options: PlanOptions): Plan {
  const rng = new Prng(options.seed);
  const jobs = planJobs(rng, options);
  const faults = planFaults(rng, options);
  return { options, jobs, faults };
}

function planJobs(rng: Prng, o: PlanOptions): PlannedJob[] {
  const first = rng.shuffle<JobKind>(["train", "cancel", "invalid"]);
  const kinds = Array.from({ length: o.jobs }, (_, i) => first[i] ?? rng.weighted(JOB_WEIGHTS));
  // submissions over the first 70 % of the window, so the last jobs still meet faults
  const times = kinds.map(() => rng.int(0, Math.floor(o.windowMs * 0.7))).sort((a, b) => a - b);
  return kinds.map((kind, index) => {
    const jobId = rng.uuid();
    const submitAtMs = times[index] ?? 0;
    switch (kind) {
      case "train":
        return {
          index,
          jobId,
          kind,
          epochs: Number(rng.weighted({ "1": 4, "2": 4, "3": 2 })),
          dataset: "valid",
          submitAtMs,
          cancelAfterMs: null,
        };
      case "cancel":
        // long enough that a DELETE at a random moment usually meets the job still running
        return {
          index,
          jobId,
          kind,
          epochs: rng.int(3, 6),
          dataset: "valid",
          submitAtMs,
          cancelAfterMs: rng.int(0, 45_000),
        };
      case "invalid":
        return {
          index,
          jobId,
          kind,
          epochs: 1,
          dataset: rng.pick(Object.keys(INVALID_DATASETS) as InvalidDataset[]),
          submitAtMs,
          cancelAfterMs: null,
        };
      default:
        throw new Error(`unknown job kind ${String(kind)}`);
    }
  });
}

function planFaults(rng: Prng, o: PlanOptions): PlannedFault[] {
  const allowed = o.kinds ?? FAULT_KINDS;
  const weights = Object.fromEntries(allowed.map((k) => [k, FAULT_WEIGHTS[k]])) as Record<FaultKind, number>;
  const first = rng.shuffle(allowed);
  const kinds = Array.from({ length: o.faults }, (_, i) => first[i] ?? rng.weighted(weights));
  // faults from a few seconds in to the window's end, in time order
  const times = kinds.map(() => rng.int(5_000, Math.max(5_000, o.windowMs))).sort((a, b) => a - b);
  const agents = agentIds(o.agents);
  const services = [
    "gateway",
    "dataset",
    "notifier",
    "dashboard",
    ...Array.from({ length: o.schedulers }, (_, i) => (i === 0 ? "scheduler" : `scheduler-${i + 1}`)),
  ];
  const natsNodes = o.cluster ? ["nats-1", "nats-2", "nats-3"] : ["nats"];
  return kinds.map((kind, index) => {
    const atMs = times[index] ?? 0;
    const fault = (
      target: string,
      durationMs: number,
      mode: string | null = null,
      transfers: number | null = null,
    ) => ({
      index,
      kind,
      target,
      atMs,
      durationMs,
      mode,
      transfers,
    });
    switch (kind) {
      case "kill-service":
        return fault(rng.pick(services), rng.int(0, 3_000));
      case "kill-agent":
        return fault(rng.pick(agents), rng.int(0, 8_000));
      case "kill-trainer":
        return fault(rng.pick(agents), 0);
      case "kill-nats":
        return fault(rng.pick(natsNodes), o.cluster ? rng.int(2_000, 12_000) : rng.int(1_000, 5_000));
      case "kill-mongo":
        return fault("ferretdb", rng.int(1_000, 5_000));
      case "receiver":
        return fault("receiver", rng.int(3_000, 10_000), rng.pick(["error", "down", "hang"]));
      case "dataset-server": {
        const mode = rng.pick(["drop", "stall"]);
        return fault("files", mode === "stall" ? o.datasetIdleTimeoutMs + 2_000 : 0, mode, rng.int(1, 2));
      }
      case "disk-full":
        return fault(rng.pick([...agents.map((a) => `agent:${a}`), "dataset"]), rng.int(5_000, 20_000));
      case "partition":
        // past the heartbeat's 30 s expiry, so the scheduler gives the job to another agent meanwhile
        return fault(rng.pick(agents), rng.int(50_000, 110_000));
      default:
        throw new Error(`unknown fault kind ${String(kind)}`);
    }
  });
}
