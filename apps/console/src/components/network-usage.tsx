"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { errorMessage, useTRPC } from "~/trpc/react";
import { ConfirmDialog } from "./confirm-dialog";
import { useCan } from "./user-context";

/** Before an edit is saved: the attachments and hosts that run this network and will be behind. */
export function AffectedAttachments({ id }: { id: string }) {
  const trpc = useTRPC();
  const usage = useQuery(trpc.networks.usage.queryOptions({ id }));
  if (!usage.data) return null;
  const u = usage.data;
  if (u.total === 0) return <p className="muted" aria-label="Affected attachments">No attachment uses this network: saving affects no host.</p>;
  return (
    <div className="warn-box" aria-label="Affected attachments">
      <div>
        Saving affects {u.total} attachment{u.total === 1 ? "" : "s"} on {u.hosts.length} host{u.hosts.length === 1 ? "" : "s"}: they keep running their
        revision until you apply the new one to them.
      </div>
      <ul style={{ margin: "6px 0 0" }}>
        {u.hosts.map((h) => (
          <li key={h.hostId}>
            <Link href={`/hosts/${h.hostId}`}>{h.hostName}</Link>: {h.attachments} attachment{h.attachments === 1 ? "" : "s"}
          </li>
        ))}
      </ul>
      <ul style={{ margin: "6px 0 0" }} className="mono">
        {u.attachments.map((a) => (
          <li key={a.id}>
            {a.hostName} {a.containerId}/{a.ifName} r{a.networkRevision} ({a.state})
          </li>
        ))}
        {u.total > u.attachments.length && <li className="muted">and {u.total - u.attachments.length} more</li>}
      </ul>
    </div>
  );
}

/** "Apply the latest revision" to every attachment of the network that runs an older one, after a confirmation. */
export function ApplyLatestToAll({ id }: { id: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const can = useCan();
  const [asking, setAsking] = useState(false);
  const [applied, setApplied] = useState(false);
  // After "apply", the counts follow the jobs until none is behind (the jobs' own view streams them).
  const usage = useQuery(trpc.networks.usage.queryOptions({ id }, { refetchInterval: (q) => (applied && (q.state.data?.behind ?? 0) > 0 ? 2000 : false) }));
  const apply = useMutation(
    trpc.networks.applyLatest.mutationOptions({
      onSuccess: () => {
        setAsking(false);
        setApplied(true);
        void queryClient.invalidateQueries({ queryKey: trpc.networks.pathKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.attachments.pathKey() });
      },
    }),
  );
  if (!usage.data || usage.data.behind === 0) {
    return apply.data ? <div className="ok-box" role="status">Queued r{apply.data.revision} for {apply.data.queued.length} attachment{apply.data.queued.length === 1 ? "" : "s"}.</div> : null;
  }
  const u = usage.data;
  return (
    <div className="warn-box" role="status">
      {u.behind} attachment{u.behind === 1 ? "" : "s"} run{u.behind === 1 ? "s" : ""} an older revision than r{u.latestRevision}.{" "}
      {can.editAttachments && <button onClick={() => setAsking(true)}>Apply r{u.latestRevision} to all</button>}
      {apply.data && <div>Queued {apply.data.queued.length}; {apply.data.skipped.length} skipped.</div>}
      <ConfirmDialog
        open={asking}
        title={`Apply r${u.latestRevision} to ${u.behind} attachment${u.behind === 1 ? "" : "s"}?`}
        confirmLabel={`Apply r${u.latestRevision}`}
        pending={apply.isPending}
        onConfirm={() => apply.mutate({ networkId: id })}
        onCancel={() => setAsking(false)}
      >
        <p>Each is detached with the revision it runs and attached with r{u.latestRevision} (DEL, then ADD): its interface is recreated and may get a new address.</p>
        {apply.error && <div className="error-box" role="alert">{errorMessage(apply.error)}</div>}
      </ConfirmDialog>
    </div>
  );
}

/** On an attachment's job view: the revision it runs, and "apply the latest" when it is behind. */
export function ApplyLatestToAttachment({ attachmentId }: { attachmentId: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const can = useCan();
  const status = useQuery(trpc.networks.attachmentRevision.queryOptions({ attachmentId }));
  const apply = useMutation(
    trpc.networks.applyLatest.mutationOptions({
      onSuccess: (r) => {
        void queryClient.invalidateQueries({ queryKey: trpc.networks.pathKey() });
        const op = r.queued[0];
        if (op) router.push(`/operations/${op.operationId}`);
      },
    }),
  );
  if (!status.data || status.data.running >= status.data.latest) return null;
  const s = status.data;
  const skipped = apply.data?.skipped[0];
  return (
    <div className="warn-box" role="status">
      Runs r{s.running} of <Link href={`/networks/${s.networkId}`}>{s.networkName}</Link>; the latest is r{s.latest}.{" "}
      {can.editAttachments && s.canApply && (
        <button className="primary" disabled={apply.isPending} onClick={() => apply.mutate({ networkId: s.networkId, attachmentIds: [attachmentId] })}>
          Apply r{s.latest}
        </button>
      )}
      {!s.canApply && s.reason && <span className="muted"> Cannot apply now: {s.reason}.</span>}
      {skipped && <div>Not queued: {skipped.reason}.</div>}
      {apply.error && <div className="error-box" role="alert">{errorMessage(apply.error)}</div>}
    </div>
  );
}
