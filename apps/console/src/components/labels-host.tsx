"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { errorMessage, useTRPC } from "~/trpc/react";
import { LabelBadges, LabelsEditor, labelsOf, rowsOf, type LabelRow } from "./labels-editor";

/** A host's labels (services pick hosts by them): shown to all, edited by operators (services.setHostLabels, audited). */
export function HostLabels({ hostId, labels, canEdit }: { hostId: string; labels: Record<string, string>; canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [rows, setRows] = useState<LabelRow[] | null>(null);
  const save = useMutation(
    trpc.services.setHostLabels.mutationOptions({
      onSuccess: () => {
        setRows(null);
        void queryClient.invalidateQueries({ queryKey: trpc.hosts.pathKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.services.pathKey() });
      },
    }),
  );
  const checked = rows ? labelsOf(rows) : null;
  return (
    <section aria-label="Host labels" className="panel">
      <div className="row" style={{ justifyContent: "space-between" }}>
        <div>
          <strong>Labels</strong> <LabelBadges labels={labels} />
        </div>
        {canEdit && rows === null && <button onClick={() => setRows(rowsOf(labels))}>Edit labels</button>}
      </div>
      {rows !== null && (
        <form
          style={{ marginTop: 8 }}
          onSubmit={(e) => {
            e.preventDefault();
            if (checked?.ok) save.mutate({ hostId, labels: checked.labels });
          }}
        >
          <LabelsEditor name="Labels of this host" rows={rows} onChange={setRows} />
          {save.error && <div className="error-box" role="alert">{errorMessage(save.error)}</div>}
          <div className="row" style={{ marginTop: 8 }}>
            <button type="submit" disabled={!checked?.ok || save.isPending}>Save labels</button>
            <button type="button" onClick={() => setRows(null)}>Cancel</button>
          </div>
          <p className="muted hint">Services whose host selector matches these labels are programmed on this host from the next version.</p>
        </form>
      )}
    </section>
  );
}
