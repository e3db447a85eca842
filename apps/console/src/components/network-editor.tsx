"use client";

import { parseNetworkConfig, serializeConflist, type ConfigIssue } from "@switchyard/cni/config";
import { useMemo, useState } from "react";
import { ConfigEditor } from "./config-editor";
import { NetworkForm } from "./network-form";
import { buildConflist, formFieldOf, formFromConflist, type NetworkFormValues } from "./network-form-model";

export interface EditorSubmit {
  text: string;
  comment: string;
}

/**
 * Form for the common reference plugins, or the raw conflist in a JSON editor.
 * Both run the same validation the server runs; the server's answer wins.
 */
export function NetworkEditor(props: {
  initialForm?: NetworkFormValues | null;
  initialText: string;
  serverIssues: { path: (string | number)[]; message: string }[];
  serverError: string | null;
  pending: boolean;
  submitLabel: string;
  onSubmit: (s: EditorSubmit) => void;
}) {
  const [mode, setMode] = useState<"form" | "json">(props.initialForm ? "form" : "json");
  const [form, setForm] = useState<NetworkFormValues | null>(props.initialForm ?? null);
  const [text, setText] = useState(props.initialText);
  const [comment, setComment] = useState("");
  const [submitted, setSubmitted] = useState(false);

  const currentText = mode === "form" && form ? serializeConflist(buildConflist(form)) : text;
  const local = useMemo(() => parseNetworkConfig(currentText), [currentText]);
  const localErrors: ConfigIssue[] = local.ok ? [] : local.errors;
  const warnings = local.warnings;

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

  function submit() {
    setSubmitted(true);
    if (localErrors.length === 0) props.onSubmit({ text: currentText, comment });
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
        <ConfigEditor label="Conflist JSON" value={text} onChange={setText} />
      )}
      {otherErrors.length > 0 && (
        <div className="error-box" role="alert">
          {otherErrors.map((e) => <div key={e}>{e}</div>)}
        </div>
      )}
      {props.serverError && issues.length === 0 && <div className="error-box" role="alert">{props.serverError}</div>}
      {warnings.length > 0 && (
        <div className="warn-box">
          {warnings.map((w) => <div key={w.message}>Warning: {w.message}</div>)}
        </div>
      )}
      <div className="row">
        <label style={{ flex: 1, margin: 0 }}>
          <span>Change comment</span>
          <input value={comment} onChange={(e) => setComment(e.target.value)} style={{ width: "100%" }} maxLength={500} />
        </label>
        <button className="primary" onClick={submit} disabled={props.pending} style={{ alignSelf: "flex-end" }}>
          {props.submitLabel}
        </button>
      </div>
    </div>
  );
}
