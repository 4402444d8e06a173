/** Label names and values of one sample. */
export type Labels = Readonly<Record<string, string>>;

export type MetricFamily =
  | {
      name: string;
      help: string;
      type: "counter" | "gauge";
      samples: ReadonlyArray<{ labels?: Labels; value: number }>;
    }
  | {
      name: string;
      help: string;
      type: "histogram";
      /** Upper bounds, ascending; `+Inf` is added. */
      buckets: readonly number[];
      observations: readonly number[];
    };

/** Renders metric families in the Prometheus text exposition format (version 0.0.4). */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    if (family.type !== "histogram") {
      for (const sample of family.samples)
        lines.push(`${family.name}${labelSet(sample.labels)} ${number(sample.value)}`);
      continue;
    }
    for (const bound of family.buckets) {
      const count = family.observations.filter((o) => o <= bound).length;
      lines.push(`${family.name}_bucket${labelSet({ le: number(bound) })} ${count}`);
    }
    lines.push(`${family.name}_bucket${labelSet({ le: "+Inf" })} ${family.observations.length}`);
    lines.push(`${family.name}_sum ${number(family.observations.reduce((sum, o) => sum + o, 0))}`);
    lines.push(`${family.name}_count ${family.observations.length}`);
  }
  return lines.join("\n") + "\n";
}

function labelSet(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return "";
  return `{${entries.map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(",")}}`;
}

function number(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
