"use client";

import { ServiceSpec } from "@switchyard/api/schemas/services";
import { useState, type FormEvent } from "react";
import type { RouterOutputs } from "~/trpc/react";
import type { PlannedChange } from "./service-plan";

type Spec = RouterOutputs["services"]["get"]["spec"];

/**
 * Operators: the whole spec as JSON (ports, affinity, host and member selectors, health check,
 * manual members, overrides), checked with the API's schema here, then planned before applying.
 */
export function SpecEditor({ spec, onPlan, onCancel }: { spec: Spec; onPlan: (change: PlannedChange) => void; onCancel: () => void }) {
  const [text, setText] = useState(() => JSON.stringify(spec, null, 2));
  const [comment, setComment] = useState("");
  const [error, setError] = useState<string | null>(null);

  function submit(e: FormEvent) {
    e.preventDefault();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return setError(`The spec is not JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    const parsed = ServiceSpec.safeParse(json);
    if (!parsed.success) return setError(parsed.error.issues.map((i) => `${i.path.join(".") || "spec"}: ${i.message}`).join("; "));
    setError(null);
    onPlan({ kind: "update", spec: parsed.data, comment: comment.trim() || "spec edited", title: comment.trim() || "spec edit" });
  }

  return (
    <form aria-label="Edit spec" onSubmit={submit} className="panel">
      <label htmlFor="service-spec-json">Spec (JSON)</label>
      <textarea id="service-spec-json" className="mono" rows={18} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} style={{ width: "100%" }} aria-describedby={error ? "service-spec-error" : undefined} />
      <label htmlFor="service-spec-comment">Comment</label>
      <input id="service-spec-comment" value={comment} onChange={(e) => setComment(e.target.value)} maxLength={500} />
      {error && <div id="service-spec-error" className="error-box" role="alert">{error}</div>}
      <div className="row" style={{ marginTop: 8 }}>
        <button type="submit">Review plan</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}
