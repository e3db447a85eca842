"use client";

import { LABELS_MAX } from "@switchyard/api/schemas/services";
import { type LabelRow, labelsOf } from "./labels-rows";

export { type LabelRow, labelsOf, rowsOf } from "./labels-rows";

/** key=value rows, each with its own error (labels-rows.ts checks them as the API does). */
export function LabelsEditor({ rows, onChange, name }: { rows: LabelRow[]; onChange: (rows: LabelRow[]) => void; name: string }) {
  const checked = labelsOf(rows);
  const rowError = (i: number) => (checked.ok ? undefined : checked.rowErrors.get(i));
  const set = (i: number, row: Partial<LabelRow>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...row } : r)));
  return (
    <fieldset aria-label={name} style={{ border: 0, padding: 0, margin: 0 }}>
      {rows.length === 0 && <p className="muted">No labels.</p>}
      {rows.map((r, i) => (
        <div key={i} style={{ marginBottom: 6 }}>
          <div className="row">
            <input aria-label={`Label key ${i + 1}`} className="mono" value={r.key} placeholder="app" onChange={(e) => set(i, { key: e.target.value })} aria-invalid={!!rowError(i)} />
            <span>=</span>
            <input aria-label={`Label value ${i + 1}`} className="mono" value={r.value} placeholder="web" onChange={(e) => set(i, { value: e.target.value })} aria-invalid={!!rowError(i)} />
            <button type="button" aria-label={`Remove label ${i + 1}`} onClick={() => onChange(rows.filter((_, j) => j !== i))}>×</button>
          </div>
          {rowError(i) && <div className="field-error" role="alert">{rowError(i)}</div>}
        </div>
      ))}
      {!checked.ok && checked.error && <div className="field-error" role="alert">{checked.error}</div>}
      <button type="button" disabled={rows.length >= LABELS_MAX} onClick={() => onChange([...rows, { key: "", value: "" }])}>Add label</button>
    </fieldset>
  );
}

/** Labels read-only, as badges. */
export function LabelBadges({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels);
  if (entries.length === 0) return <span className="muted">none</span>;
  return (
    <span data-testid="labels">
      {entries.map(([k, v]) => (
        <span key={k} className="badge mono">{k}={v}</span>
      ))}
    </span>
  );
}
