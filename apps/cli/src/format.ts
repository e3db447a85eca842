/** Output for people (aligned tables, colour on a terminal) and for scripts (`-o json`). */

export type OutputFormat = "table" | "json";

/** One cell: newlines and tabs would break the columns. */
function cell(value: unknown): string {
  if (value === null || value === undefined || value === "") return "-";
  const text = value instanceof Date ? value.toISOString() : String(value);
  return text.replace(/[\r\n\t]+/g, " ");
}

/** Columns separated by three spaces, each as wide as its widest cell; the last column is not padded. */
export function formatTable(headers: string[], rows: unknown[][]): string {
  const cells = [headers, ...rows.map((r) => headers.map((_, i) => cell(r[i])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => [...r[i]!].length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + " ".repeat(widths[i]! - [...c].length))).join("   ").trimEnd()).join("\n") + "\n";
}

/** `-o json`: the console's answer as it came (dates as ISO strings), indented. */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** How long ago, as kubectl shows it: 45s, 12m, 5h, 3d; "-" for never. */
export function age(at: Date | string | null | undefined, now = Date.now()): string {
  if (at === null || at === undefined) return "-";
  const t = typeof at === "string" ? Date.parse(at) : at.getTime();
  if (!Number.isFinite(t)) return "-";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** ANSI colours, only when asked (stdout is a terminal and NO_COLOR is not set). */
export interface Colors {
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

export function colors(enabled: boolean): Colors {
  const wrap = (open: number, close: number) => (s: string) => (enabled ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return { red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), cyan: wrap(36, 39), bold: wrap(1, 22), dim: wrap(2, 22) };
}

export function colorsFor(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): Colors {
  return colors(!!stream.isTTY && !env.NO_COLOR && env.TERM !== "dumb");
}

/** `a.b[2].c`: a field path as the console reports it (zod issue paths). */
export function fieldPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? p : `.${p}`;
  return out;
}
