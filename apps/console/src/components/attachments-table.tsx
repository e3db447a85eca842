"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRef, useState } from "react";
import { addressesOf } from "~/lib/cni-result";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { JobOutcome } from "./job-outcome";
import { useLiveEvents } from "./live-updates";
import { StateBadge } from "./state-badge";
import { useCan } from "./user-context";

export type Attachment = RouterOutputs["attachments"]["list"][number];

type Notice = { ok: true; text: string; operationId: string | null } | { ok: false; text: string };

export function attachmentLabel(a: Pick<Attachment, "containerId" | "ifName" | "networkName">): string {
  return `${a.containerId}/${a.ifName} on ${a.networkName}`;
}

/** Attachments, optionally of one host or network, kept live by operation status events. */
export function AttachmentsTable({ hostId, networkId, hideHost = false }: { hostId?: string; networkId?: string; hideHost?: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const can = useCan();
  const list = useQuery(trpc.attachments.list.queryOptions({ hostId, networkId }));
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.attachments.pathKey() });
  // Log lines leave states alone; status changes are what the table shows.
  useLiveEvents("operation", (e) => {
    if (e.kind === "resync" || (e.kind === "status" && (!hostId || e.hostId === hostId))) void invalidate();
  });

  const [notice, setNotice] = useState<Notice | null>(null);
  const [toDetach, setToDetach] = useState<Attachment | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const byId = (id: string) => list.data?.find((a) => a.id === id);
  const reportTo = (verb: string) => ({
    onSuccess: (res: { operation: { id: string } | null }, { id }: { id: string }) => {
      const a = byId(id);
      const what = a ? attachmentLabel(a) : "attachment";
      setNotice(res.operation ? { ok: true, text: `${verb} of ${what} queued.`, operationId: res.operation.id } : { ok: true, text: `${what} detached at once: nothing had been applied yet.`, operationId: null });
      void invalidate();
    },
    onError: (err: unknown) => setNotice({ ok: false, text: errorMessage(err) }),
  });
  const check = useMutation(trpc.attachments.check.mutationOptions(reportTo("Check")));
  const retry = useMutation(trpc.attachments.retry.mutationOptions(reportTo("Retry")));
  const detach = useMutation(trpc.attachments.detach.mutationOptions({ ...reportTo("Detach"), onSettled: () => dialog.current?.close() }));
  const busy = check.isPending || retry.isPending || detach.isPending;
  const columns = hideHost ? 8 : 9;

  return (
    <div>
      {notice?.ok === true && (
        <div className="ok-box" role="status">
          {notice.text} {notice.operationId && <JobOutcome operationId={notice.operationId} />}
        </div>
      )}
      {notice?.ok === false && <div className="error-box" role="alert">{notice.text}</div>}
      {list.error && <div className="error-box">{errorMessage(list.error)}</div>}
      <table aria-label="Attachments">
        <thead>
          <tr>
            {!hideHost && <th>Host</th>}
            <th>Network</th><th>Container id</th><th>Interface</th><th>Target</th><th>State</th><th>Addresses</th><th>Last error</th><th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.map((a) => (
            <tr key={a.id} data-testid={`attachment-row-${a.containerId}`}>
              {!hideHost && <td><Link href={`/hosts/${a.hostId}`}>{a.host.name}</Link></td>}
              <td><Link href={`/networks/${a.networkId}`}>{a.networkName}</Link> <span className="badge">r{a.networkRevision}</span></td>
              <td className="mono">{a.containerId}</td>
              <td className="mono">{a.ifName}</td>
              <td><span className="muted">{a.targetKind}:</span> <span className="mono">{a.target}</span></td>
              <td><StateBadge state={a.state} testId="attachment-state" /></td>
              <td className="mono">{addressesOf(a.result).map((ip) => <div key={ip}>{ip}</div>)}</td>
              <td title={a.lastError}>{a.lastError.length > 160 ? `${a.lastError.slice(0, 160)}…` : a.lastError}</td>
              <td>
                <div className="row" style={{ gap: 6 }}>
                  <Link href={`/attachments/${a.id}/latest-job`} aria-label={`Latest job of ${attachmentLabel(a)}`}>Latest job</Link>
                  {can.editAttachments && a.state === "ready" && (
                    <button disabled={busy} onClick={() => check.mutate({ id: a.id })} aria-label={`Check ${attachmentLabel(a)}`}>Check</button>
                  )}
                  {can.editAttachments && a.state === "failed" && (
                    <button disabled={busy} onClick={() => retry.mutate({ id: a.id })} aria-label={`Retry ${attachmentLabel(a)}`}>Retry</button>
                  )}
                  {can.editAttachments && (a.present || a.state === "failed") && (
                    <button
                      className="danger"
                      disabled={busy}
                      aria-label={`Detach ${attachmentLabel(a)}`}
                      onClick={() => {
                        detach.reset();
                        setToDetach(a);
                        dialog.current?.showModal();
                      }}
                    >
                      Detach
                    </button>
                  )}
                </div>
              </td>
            </tr>
          ))}
          {list.data?.length === 0 && <tr><td colSpan={columns} className="muted">No attachments{hostId || networkId ? " here" : ""} yet.{can.editAttachments ? " Use New attachment on the Attachments page to attach a sandbox or a namespace." : ""}</td></tr>}
          {list.isLoading && <tr><td colSpan={columns} className="muted">Loading…</td></tr>}
        </tbody>
      </table>
      <dialog ref={dialog} aria-label="Detach attachment" onClose={() => setToDetach(null)}>
        {toDetach && (
          <>
            <h2 style={{ marginTop: 0 }}>Detach {toDetach.containerId}/{toDetach.ifName}?</h2>
            <p>
              The agent on <strong>{toDetach.host.name}</strong> runs CNI DEL for network <strong>{toDetach.networkName}</strong>
              {toDetach.targetKind === "sandbox" ? <>, then deletes the sandbox namespace <code>{toDetach.target}</code></> : null}.
            </p>
            <div className="row" style={{ marginTop: 12 }}>
              <button className="danger" disabled={detach.isPending} onClick={() => detach.mutate({ id: toDetach.id })}>Yes, detach</button>
              <button onClick={() => dialog.current?.close()}>Cancel</button>
            </div>
          </>
        )}
      </dialog>
    </div>
  );
}
