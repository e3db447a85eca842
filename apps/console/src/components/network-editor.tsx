"use client";

import { formatConfig, parseNetworkConfig, serializeConflist, type ConfigIssue } from "@switchyard/cni/config";
import { useMemo, useState, type ReactNode } from "react";
import { ConfigEditor } from "./config-editor";
import { ConfirmDialog } from "./confirm-dialog";
import { useDraftWarnings } from "./draft-check";
import { NetworkForm } from "./network-form";
import { buildConflist, formFieldOf, formFromConflist, type NetworkFormValues } from "./network-form-model";
import { askStranded, StrandedLeases, useStrandedLeases, type Stranded } from "./stranded-leases";

export interface EditorSubmit {
  text: string;
  comment: string;
  /** The held addresses the operator agreed to strand (the confirmation's count). */
  strandAddresses?: number;
}

/**
 * Form for the common reference plugins, or the raw conflist in a JSON editor.
 * Both run the same validation the server runs; the server's answer wins. While the draft is
 * edited the server is asked (debounced) for its overlaps with other networks and, for a saved
 * network, for the held addresses the draft's ranges would strand: saving those needs a
 * confirmation. The text is saved as written (Format re-lays it out only when asked).
 */
export function NetworkEditor(props: {
  /** The network being edited: its own subnets are no overlap. */
  networkId?: string;
  /** Shown above the save button: who the change affects. */
  affected?: ReactNode;
  initialForm?: NetworkFormValues | null;
  initialText: string;
  serverIssues: { path: (string | number)[]; message: string }[];
  serverError: string | null;
  pending: boolean;
  submitLabel: string;
  onSubmit: (s: EditorSubmit) => void;
  /** A second way to submit: proposing the change for review instead of saving it (the comment is its title). */
  propose?: { pending: boolean; onPropose: (s: EditorSubmit) => void };
}) {
  const [mode, setMode] = useState<"form" | "json">(props.initialForm ? "form" : "json");
  const [form, setForm] = useState<NetworkFormValues | null>(props.initialForm ?? null);
  const [text, setText] = useState(props.initialText);
  const [comment, setComment] = useState("");
  const [submitted, setSubmitted] = useState(false);
  // Asked again at the save: the draft may be newer than the last debounced answer.
  const [confirming, setConfirming] = useState<{ text: string; comment: string; stranded: Stranded } | null>(null);

  const currentText = mode === "form" && form ? serializeConflist(buildConflist(form)) : text;
  const local = useMemo(() => parseNetworkConfig(currentText), [currentText]);
  const localErrors: ConfigIssue[] = local.ok ? [] : local.errors;
  const remote = useDraftWarnings(currentText, { enabled: local.ok, ...(props.networkId ? { id: props.networkId } : {}) });
  const stranded = useStrandedLeases(currentText, { enabled: local.ok, ...(props.networkId ? { networkId: props.networkId } : {}) });
  // The server repeats the config's own warnings; each message is shown once.
  const warnings = [...new Map([...local.warnings, ...(local.ok ? (remote ?? []) : [])].map((w) => [w.message, w])).values()];

  const issues = submitted ? [...localErrors, ...props.serverIssues] : [];
  const fieldErrors: Partial<Record<keyof NetworkFormValues, string>> = {};
  const otherErrors: string[] = [];
  for (const issue of issues) {
    const field = mode === "form" ? formFieldOf(issue.path) : null;
    if (field && !fieldErrors[field]) fieldErrors[field] = issue.message;
    else otherErrors.push(`${issue.path.join(".") || "config"}: ${issue.message}`);
  }

  function switchTo(next: "form" | "json") {
    if (next === "json") setText(currentText);
    if (next === "form") {
      const parsed = parseNetworkConfig(text);
      const asForm = parsed.ok ? formFromConflist(parsed.conflist) : null;
      if (!asForm) return;
      setForm(asForm);
    }
    setMode(next);
  }

  function format() {
    try {
      setText(formatConfig(JSON.parse(text)));
    } catch {
      // Not JSON: the editor already underlines where.
    }
  }

  async function submit() {
    setSubmitted(true);
    if (localErrors.length > 0) return;
    const draft = { text: currentText, comment };
    // A failed check does not block the save: the server judges the config itself.
    const strands = props.networkId ? await askStranded(props.networkId, draft.text).catch(() => null) : null;
    if (strands && strands.total > 0) setConfirming({ ...draft, stranded: strands });
    else props.onSubmit(draft);
  }

  const formPossible = mode === "form" || (() => {
    const parsed = parseNetworkConfig(text);
    return parsed.ok && formFromConflist(parsed.conflist) !== null;
  })();

  return (
    <div>
      <div className="tabs" role="tablist">
        <button role="tab" aria-selected={mode === "form"} disabled={!formPossible} onClick={() => switchTo("form")} title={formPossible ? "" : "This config holds more than the form shows"}>
          Form
        </button>
        <button role="tab" aria-selected={mode === "json"} onClick={() => switchTo("json")}>
          JSON
        </button>
      </div>
      {mode === "form" && form ? (
        <NetworkForm value={form} onChange={setForm} errors={fieldErrors} />
      ) : (
        <>
          <ConfigEditor label="Conflist JSON" value={text} onChange={setText} />
          <button onClick={format} disabled={!local.ok} title="Indent by two spaces and put the well-known keys first (saved as shown)">
            Format
          </button>
        </>
      )}
      {otherErrors.length > 0 && (
        <div className="error-box" role="alert">
          {otherErrors.map((e) => <div key={e}>{e}</div>)}
        </div>
      )}
      {props.serverError && issues.length === 0 && <div className="error-box" role="alert">{props.serverError}</div>}
      {warnings.length > 0 && (
        <div className="warn-box" role="status" aria-label="Warnings">
          {warnings.map((w) => <div key={w.message}>Warning: {w.message}</div>)}
        </div>
      )}
      {stranded && <StrandedLeases data={stranded} />}
      {props.affected}
      <div className="row">
        <label style={{ flex: 1, margin: 0 }}>
          <span>Change comment</span>
          <input value={comment} onChange={(e) => setComment(e.target.value)} style={{ width: "100%" }} maxLength={500} />
        </label>
        {props.propose && (
          <button
            onClick={() => {
              setSubmitted(true);
              if (localErrors.length === 0) props.propose!.onPropose({ text: currentText, comment });
            }}
            disabled={props.propose.pending}
            style={{ alignSelf: "flex-end" }}
            title="Ask for review: the change is applied once approved, as its plan shows"
          >
            Propose for review
          </button>
        )}
        <button className="primary" onClick={() => void submit()} disabled={props.pending} style={{ alignSelf: "flex-end" }}>
          {props.submitLabel}
        </button>
      </div>
      <ConfirmDialog
        open={confirming !== null}
        title={`Save and strand ${confirming?.stranded.total === 1 ? "1 held address" : `${confirming?.stranded.total ?? 0} held addresses`}?`}
        confirmLabel="Save anyway"
        danger
        pending={props.pending}
        onConfirm={() => {
          if (confirming) props.onSubmit({ text: confirming.text, comment: confirming.comment, strandAddresses: confirming.stranded.total });
          setConfirming(null);
        }}
        onCancel={() => setConfirming(null)}
      >
        {confirming && <StrandedLeases data={confirming.stranded} />}
      </ConfirmDialog>
    </div>
  );
}
