/** A chaos run's report: what ran, what was injected, what each invariant found; as a table and as JSON. */
import type { FaultRecord } from "./faults.js";
import type { Verdict } from "./invariants.js";
import { FAULT_KINDS, type FaultKind, type Plan } from "./plan.js";
import type { JobRecord } from "./workload.js";

export interface ChaosReport {
  seed: number;
  /** The command line that replays this run's plan. */
  replay: string;
  options: Plan["options"] & { settleMs: number };
  startedAt: string;
  /** The code under test: the commit, and how many files of services/packages/python-trainer differed from it. */
  code: string;
  durationSeconds: number;
  runDir: string;
  logPath: string;
  workFolders: string;
  jobs: {
    planned: number;
    accepted: number;
    byKind: Record<string, number>;
    /** Terminal status per job kind (`train/completed: 5`). */
    outcomes: Record<string, number>;
  };
  faults: {
    planned: number;
    byKind: Record<FaultKind, { planned: number; injected: number; skipped: number; error: number }>;
    /** Dataset transfers the file server broke on purpose. */
    disruptedTransfers: number;
    log: Array<{
      index: number;
      kind: FaultKind;
      target: string;
      mode: string | null;
      atMs: number;
      status: string;
      note: string;
      jobsHit: string[];
    }>;
  };
  verdict: Verdict;
}

export function faultSummary(records: FaultRecord[]): ChaosReport["faults"]["byKind"] {
  const byKind = Object.fromEntries(
    FAULT_KINDS.map((k) => [k, { planned: 0, injected: 0, skipped: 0, error: 0 }]),
  ) as ChaosReport["faults"]["byKind"];
  for (const r of records) {
    const row = byKind[r.fault.kind];
    row.planned++;
    row[r.status]++;
  }
  return byKind;
}

export function jobSummary(records: JobRecord[], statusOf: (jobId: string) => string | null): ChaosReport["jobs"] {
  const byKind: Record<string, number> = {};
  const outcomes: Record<string, number> = {};
  for (const r of records) {
    byKind[r.job.kind] = (byKind[r.job.kind] ?? 0) + 1;
    const key = `${r.job.kind}/${r.accepted ? (statusOf(r.job.jobId) ?? "no terminal callback") : "not accepted"}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  return { planned: records.length, accepted: records.filter((r) => r.accepted).length, byKind, outcomes };
}

/** The report as text: the run, the faults by kind, one row per invariant, then every violation. */
export function formatReport(report: ChaosReport): string {
  const lines: string[] = [];
  const { verdict } = report;
  lines.push(
    `chaos run seed ${report.seed}: ${report.jobs.accepted}/${report.jobs.planned} jobs accepted, ` +
      `${report.faults.planned} faults, ${report.options.cluster ? "3-node NATS cluster" : "single NATS server"}, ` +
      `${report.options.agents} agents, ${report.options.schedulers} schedulers, ${report.durationSeconds} s; code ${report.code}`,
  );
  lines.push(
    `jobs: ${Object.entries(report.jobs.outcomes)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );
  lines.push("");
  lines.push(
    table(
      ["fault", "planned", "injected", "skipped", "error"],
      Object.entries(report.faults.byKind)
        .filter(([, r]) => r.planned > 0)
        .map(([k, r]) => [k, r.planned, r.injected, r.skipped, r.error]),
    ),
  );
  lines.push(`dataset transfers disrupted: ${report.faults.disruptedTransfers}; work folders: ${report.workFolders}`);
  lines.push("");
  lines.push(
    table(
      ["invariant", "checked", "violations", "not checked"],
      verdict.invariants.map((r) => [r.name, r.checked, r.violations, r.notChecked]),
    ),
  );
  lines.push(`redelivered callbacks (same webhook-id): ${verdict.redeliveries}`);
  if (verdict.exhausted.length) {
    lines.push(
      `valid trainings whose attempts the injected faults used up (not violations): ${verdict.exhausted.length}`,
    );
    for (const e of verdict.exhausted) lines.push(`  ${e.jobId}: ${e.faults.join(", ")} → ${e.error.slice(0, 200)}`);
  }
  for (const r of verdict.invariants.filter((x) => x.details.length)) {
    lines.push("");
    lines.push(`${r.name} (${r.description}):`);
    for (const d of r.details) lines.push(`  - ${d}`);
  }
  lines.push("");
  lines.push(
    `${verdict.totalViolations === 0 ? "PASS" : "FAIL"}: ${verdict.totalViolations} violation(s). Seed ${report.seed}; replay: ${report.replay}`,
  );
  lines.push(`logs: ${report.logPath}`);
  return lines.join("\n");
}

function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [fmt(head), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(fmt)].join("\n");
}
