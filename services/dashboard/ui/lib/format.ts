// Display formatting only; "—" stands for a value not known (yet).

export const NONE = "—";

export function metric(value: number | null | undefined, digits = 3): string {
  return value === null || value === undefined || !Number.isFinite(value) ? NONE : value.toFixed(digits);
}

export function percent(value: number): string {
  return `${Math.round(value)}%`;
}

/** 45s, 22m 18s, 1h 15m. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return NONE;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** 2025-01-20 10:30:15 in the browser's time zone. */
export function dateTime(iso: string | null | undefined): string {
  if (!iso) return NONE;
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function secondsBetween(fromIso: string | null, to: number | string | null): number | null {
  if (!fromIso || to === null) return null;
  const end = typeof to === "number" ? to : Date.parse(to);
  return Math.max(0, (end - Date.parse(fromIso)) / 1000);
}

export const STATUS_LABEL: Record<string, string> = {
  pending: "Pending",
  queued: "Queued",
  training: "Training",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
};

/** 10:52 (HH:MM) of a time in milliseconds, in the browser's time zone. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** Bytes as gigabytes with one decimal (12.3). */
export function bytesGb(bytes: number | null): string {
  return bytes === null ? NONE : (bytes / 1024 ** 3).toFixed(1);
}
