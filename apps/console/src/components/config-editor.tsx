"use client";

import { json } from "@codemirror/lang-json";
import { linter, lintGutter, type Diagnostic } from "@codemirror/lint";
import { parseNetworkConfig } from "@switchyard/cni/config";
import CodeMirror from "@uiw/react-codemirror";
import { useMemo } from "react";

/** Underlines each CNI validation issue at its field, the same rules the server applies. */
const cniLinter = linter((view) => {
  const text = view.state.doc.toString();
  const result = parseNetworkConfig(text);
  const issues = result.ok ? result.warnings : [...result.errors, ...result.warnings];
  return issues.map((issue): Diagnostic => {
    const from = Math.min(issue.offset ?? 0, text.length);
    const to = Math.min(from + Math.max(issue.length ?? 1, 1), text.length);
    const where = issue.path.length ? `${issue.path.join(".")}: ` : "";
    return { from, to, severity: issue.severity, message: `${where}${issue.message}` };
  });
});

export function ConfigEditor(props: { value: string; onChange?: (value: string) => void; readOnly?: boolean; label: string }) {
  const extensions = useMemo(() => [json(), cniLinter, lintGutter()], []);
  return (
    <div aria-label={props.label} className="panel" style={{ padding: 0 }}>
      <CodeMirror
        value={props.value}
        onChange={props.onChange}
        readOnly={props.readOnly}
        editable={!props.readOnly}
        extensions={extensions}
        minHeight="240px"
        maxHeight="560px"
        basicSetup={{ foldGutter: true, lineNumbers: true }}
      />
    </div>
  );
}
