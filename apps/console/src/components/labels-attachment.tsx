"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { errorMessage, useTRPC } from "~/trpc/react";
import { LabelBadges, LabelsEditor, labelsOf, rowsOf, type LabelRow } from "./labels-editor";

/**
 * An attachment's labels in its table row (service pools pick attachments by them): shown to all,
 * edited in place by operators (services.setAttachmentLabels, audited; pools see the change at once).
 */
export function AttachmentLabels({ attachmentId, name, labels, canEdit }: { attachmentId: string; name: string; labels: Record<string, string>; canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [rows, setRows] = useState<LabelRow[] | null>(null);
  const save = useMutation(
    trpc.services.setAttachmentLabels.mutationOptions({
      onSuccess: () => {
        setRows(null);
        void queryClient.invalidateQueries({ queryKey: trpc.attachments.pathKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.services.pathKey() });
      },
    }),
  );
  if (rows === null) {
    return (
      <div>
        <LabelBadges labels={labels} />
        {canEdit && <button onClick={() => setRows(rowsOf(labels))} aria-label={`Edit labels of ${name}`}>Edit</button>}
      </div>
    );
  }
  const checked = labelsOf(rows);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (checked.ok) save.mutate({ attachmentId, labels: checked.labels });
      }}
    >
      <LabelsEditor name={`Labels of ${name}`} rows={rows} onChange={setRows} />
      {save.error && <div className="error-box" role="alert">{errorMessage(save.error)}</div>}
      <div className="row" style={{ gap: 6, marginTop: 6 }}>
        <button type="submit" disabled={!checked.ok || save.isPending}>Save labels</button>
        <button type="button" onClick={() => setRows(null)}>Cancel</button>
      </div>
    </form>
  );
}
