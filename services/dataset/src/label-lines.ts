/** A label file read once: its instances and what is wrong with it, before knowing the class count. */
export interface LabelSummary {
  /** Class index of every well-formed line, with its line number. */
  classes: number[];
  lines: number[];
  /** Lines that are not a valid box or polygon, whatever the class count (first MAX_KEPT). */
  problems: Array<{ line: number; text: string }>;
  /** All such lines, also those not kept. */
  problemCount: number;
}

/** A label file checked against the class count. */
export interface CheckedLabels {
  /** Class of every valid instance. */
  classes: number[];
  /** `line N: what is wrong`, in line order. */
  problems: string[];
}

const MAX_KEPT = 20;

/**
 * Reads a YOLO label file the way Ultralytics does: one object per line, a box
 * `class x_center y_center width height` or a polygon `class x1 y1 x2 y2 x3 y3 ...` (which
 * Ultralytics turns into a box), the class a whole number, every coordinate a finite number in
 * [0, 1], boxes of positive width and height. Blank lines are allowed.
 */
export function summariseLabels(text: string): LabelSummary {
  const summary: LabelSummary = { classes: [], lines: [], problems: [], problemCount: 0 };
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const fields = lines[i]!.trim().split(/\s+/).filter(Boolean);
    if (fields.length === 0) continue;
    const problem = lineProblem(fields);
    if (problem === null) {
      summary.classes.push(decimal(fields[0]!));
      summary.lines.push(i + 1);
    } else if (summary.problemCount++ < MAX_KEPT) {
      summary.problems.push({ line: i + 1, text: problem });
    }
  }
  return summary;
}

/** The summary's instances and problems once the class count is known (class ids must be below it). */
export function checkLabels(summary: LabelSummary, classCount: number): CheckedLabels {
  const classes: number[] = [];
  const problems = [...summary.problems];
  summary.classes.forEach((cls, i) => {
    if (cls < classCount) classes.push(cls);
    else
      problems.push({
        line: summary.lines[i]!,
        text: `class ${cls} is out of range (data.yaml lists ${classCount} classes)`,
      });
  });
  problems.sort((a, b) => a.line - b.line);
  return { classes, problems: problems.map((p) => `line ${p.line}: ${p.text}`) };
}

/** summariseLabels and checkLabels in one. */
export function checkLabelText(text: string, classCount: number): CheckedLabels {
  return checkLabels(summariseLabels(text), classCount);
}

function lineProblem(fields: string[]): string | null {
  const isBox = fields.length === 5;
  const isPolygon = fields.length >= 7 && fields.length % 2 === 1;
  if (!isBox && !isPolygon) {
    return `expected "class x_center y_center width height", got ${fields.length} values`;
  }
  const cls = decimal(fields[0]!);
  if (!Number.isInteger(cls) || cls < 0) return `class ${JSON.stringify(fields[0])} is not a class index`;
  for (const field of fields.slice(1)) {
    const value = decimal(field);
    if (!Number.isFinite(value) || value < 0 || value > 1) {
      return `${JSON.stringify(field)} is not a normalized coordinate in [0, 1]`;
    }
  }
  if (isBox && (decimal(fields[3]!) <= 0 || decimal(fields[4]!) <= 0)) return "box width and height must be positive";
  return null;
}

/** A decimal number as numpy parses label files; anything else (hex, "NaN", "1,5") is NaN. */
function decimal(field: string): number {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(field) ? Number(field) : Number.NaN;
}
