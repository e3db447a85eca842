"use client";

import { cloneElement, useId, type ReactElement } from "react";

/**
 * A labelled control with its error (or hint) wired up through aria-describedby. The label
 * points at the control (htmlFor) rather than wrapping it, so a select's chosen option does not
 * become part of its accessible name.
 */
export function Field(props: { label: string; error?: string; children: ReactElement<{ id?: string; "aria-describedby"?: string }>; hint?: string }) {
  const id = useId();
  const noteId = `${id}-note`;
  const note = props.error ?? props.hint;
  return (
    <div className="field">
      <label htmlFor={id}>
        <span>{props.label}</span>
      </label>
      {cloneElement(props.children, { id, ...(note ? { "aria-describedby": noteId } : {}) })}
      {props.error ? (
        <div id={noteId} className="field-error" role="alert">{props.error}</div>
      ) : (
        props.hint && <div id={noteId} className="muted hint">{props.hint}</div>
      )}
    </div>
  );
}
