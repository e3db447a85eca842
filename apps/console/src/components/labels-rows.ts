import { Labels, labelKeyProblem, labelValueProblem } from "@switchyard/api/schemas/services";

/**
 * Labels (hosts, attachments) as key=value rows, checked as the API checks them (Kubernetes' rules,
 * the same functions and schema): each row's error names its key, and nothing is sent while one stands.
 */
export interface LabelRow {
  key: string;
  value: string;
}

export const rowsOf = (labels: Record<string, string>): LabelRow[] => Object.entries(labels).map(([key, value]) => ({ key, value }));

/** The labels the rows stand for, or each row's problem (by index) and the whole set's. */
export function labelsOf(rows: readonly LabelRow[]): { ok: true; labels: Labels } | { ok: false; rowErrors: Map<number, string>; error: string | null } {
  const rowErrors = new Map<number, string>();
  const labels: Record<string, string> = {};
  rows.forEach((r, i) => {
    const key = r.key.trim();
    const value = r.value.trim();
    if (key === "" && value === "") return;
    const problem = key === "" ? `label with value "${value}": give it a key` : Object.hasOwn(labels, key) ? `label key "${key}" is given twice` : (labelKeyProblem(key) ?? labelValueProblem(value));
    if (problem) rowErrors.set(i, problem);
    else labels[key] = value;
  });
  const parsed = Labels.safeParse(labels);
  const error = parsed.success ? null : parsed.error.issues.filter((i) => i.path.length === 0).map((i) => i.message).join("; ") || null;
  if (rowErrors.size > 0 || !parsed.success) return { ok: false, rowErrors, error };
  return { ok: true, labels: parsed.data };
}
