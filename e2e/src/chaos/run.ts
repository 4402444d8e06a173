/**
 * The chaos runner's command line:
 *
 *   node e2e/dist/chaos/run.js --seed N --jobs J --faults F [--cluster] [--minutes M]
 *     [--agents A] [--schedulers S] [--kinds kill-nats,partition,…] [--settle-minutes M]
 *     [--runs R] [--json out.json]
 *
 * Each run starts the real stack, submits J jobs and injects F faults drawn from the seed, then
 * checks every invariant and prints the table. `--runs R` makes R runs with seeds N, N+1, ….
 * Exits 1 when any invariant was violated (the failing seeds are printed), 2 on a usage error.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { FAULT_KINDS, type FaultKind } from "./plan.js";
import { formatReport, type ChaosReport } from "./report.js";
import { runChaos, type ChaosOptions } from "./runner.js";
import { closeOpenWorlds } from "./world.js";

function usage(message: string): never {
  console.error(
    `${message}\nusage: node e2e/dist/chaos/run.js --seed N --jobs J --faults F [--cluster] [--minutes M] ` +
      `[--agents A] [--schedulers S] [--kinds ${FAULT_KINDS.join(",")}] [--settle-minutes M] [--runs R] [--json out.json]`,
  );
  process.exit(2);
}

function positive(name: string, value: string | undefined, fallback: number, integer = true): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)))
    usage(`--${name} must be a ${integer ? "whole " : ""}number ≥ 0`);
  return n;
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        seed: { type: "string" },
        jobs: { type: "string" },
        faults: { type: "string" },
        cluster: { type: "boolean", default: false },
        minutes: { type: "string" },
        agents: { type: "string" },
        schedulers: { type: "string" },
        kinds: { type: "string" },
        "settle-minutes": { type: "string" },
        runs: { type: "string" },
        json: { type: "string" },
      },
      strict: true,
    }).values;
  } catch (err) {
    usage((err as Error).message);
  }
  const kinds = args.kinds?.split(",").map((k) => k.trim()) as FaultKind[] | undefined;
  for (const k of kinds ?? []) if (!FAULT_KINDS.includes(k)) usage(`unknown fault kind ${k}`);
  const firstSeed = positive("seed", args.seed, Math.floor(Math.random() * 2 ** 31));
  const runs = positive("runs", args.runs, 1);
  const base: Omit<ChaosOptions, "seed"> = {
    jobs: positive("jobs", args.jobs, 12),
    faults: positive("faults", args.faults, 12),
    cluster: args.cluster,
    agents: positive("agents", args.agents, 2),
    schedulers: positive("schedulers", args.schedulers, 2),
    ...(args.minutes !== undefined ? { minutes: positive("minutes", args.minutes, 0, false) } : {}),
    ...(args["settle-minutes"] !== undefined
      ? { settleMinutes: positive("settle-minutes", args["settle-minutes"], 10, false) }
      : {}),
    ...(kinds ? { kinds } : {}),
  };
  if ((base.agents ?? 2) < 1) usage("--agents must be at least 1");

  const reports: ChaosReport[] = [];
  for (let i = 0; i < runs; i++) {
    const seed = firstSeed + i;
    console.log(`\n=== chaos run ${i + 1}/${runs}, seed ${seed}`);
    const report = await runChaos({ ...base, seed });
    reports.push(report);
    console.log(`\n${formatReport(report)}`);
    if (args.json) writeFileSync(args.json, JSON.stringify(runs === 1 ? report : reports, null, 2));
  }
  const failing = reports.filter((r) => r.verdict.totalViolations > 0);
  if (runs > 1) {
    const jobs = reports.reduce((n, r) => n + r.jobs.accepted, 0);
    const faults = reports.reduce((n, r) => n + r.faults.planned, 0);
    console.log(
      `\n${runs} runs, ${jobs} jobs, ${faults} faults, ${failing.length} failing run(s)` +
        (failing.length ? `: seeds ${failing.map((r) => r.seed).join(", ")}` : ""),
    );
  }
  process.exitCode = failing.length ? 1 : 0;
}

process.once("SIGINT", () => {
  console.error("interrupted: stopping the stack and unmounting the work folders…");
  void closeOpenWorlds().finally(() => process.exit(130));
});

main().catch(async (err: unknown) => {
  console.error(err);
  await closeOpenWorlds();
  process.exit(1);
});
