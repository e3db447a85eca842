"use client";

import { useEffect, useRef, type ReactNode } from "react";

/** A modal question (the native dialog, as Delete network uses): nothing happens until confirmed. */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  pending?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={dialog} aria-label={props.title} onCancel={props.onCancel}>
      <h2 style={{ marginTop: 0 }}>{props.title}</h2>
      {props.children}
      <div className="row" style={{ marginTop: 12 }}>
        <button className={props.danger ? "danger" : "primary"} disabled={props.pending} onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
        <button onClick={props.onCancel}>Cancel</button>
      </div>
    </dialog>
  );
}
