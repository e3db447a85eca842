"use client";

import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { addressesOf } from "~/lib/cni-result";
import { isStuck } from "~/lib/stuck";
import { oneOf, useUrlState } from "~/lib/url-state";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { JobOutcome } from "./job-outcome";
import { DataTable } from "./data-table";
import { SearchBox } from "./search-box";
import { useLiveEvents, useRefetchLive } from "./live-updates";
import { AttachmentLabels } from "./labels-attachment";
import { StateBadge } from "./state-badge";
import { useCan } from "./user-context";

export type Attachment = RouterOutputs["attachments"]["list"]["items"][number];

type Notice = { ok: true; text: string; operationId: string | null } | { ok: false; text: string };

const STATES = ["pending", "applying", "ready", "failed", "detaching", "detached"] as const;
type StateName = (typeof STATES)[number];
/** Ready and in progress: what an operator looks at unless they ask for the rest. */
export const DEFAULT_STATES: StateName[] = ["pending", "applying", "ready", "detaching"];
const SORTS = ["createdAt", "updatedAt", "containerId", "networkName", "hostName", "state"] as const;

export function attachmentLabel(a: Pick<Attachment, "containerId" | "ifName" | "networkName">): string {
  return `${a.containerId}/${a.ifName} on ${a.networkName}`;
}

function portLabel(p: Attachment["portMappings"][number]): string {
  return `${p.hostIP ? `${p.hostIP.includes(":") ? `[${p.hostIP}]` : p.hostIP}:` : ""}${p.hostPort} → ${p.containerPort}/${p.protocol}`;
}

/** What the confirmation dialog is about to do. */
type Confirm = { kind: "detach"; a: Attachment } | { kind: "detachCurrent"; a: Attachment } | { kind: "purge"; a: Attachment } | { kind: "purgeAll" };

/**
 * Attachments, optionally of one host or network, paged by the server and kept live by operation
 * status events. The state filter, search and sort live in the URL.
 */
export function AttachmentsTable({ hostId, networkId, hideHost = false }: { hostId?: string; networkId?: string; hideHost?: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const can = useCan();
  const url = useUrlState();
  const q = url.get("q") ?? "";
  const picked = url.getAll("state").filter((s): s is StateName => (STATES as readonly string[]).includes(s));
  const states = picked.length > 0 ? picked : DEFAULT_STATES;
  const sort = oneOf(url.get("sort"), SORTS, "createdAt");
  const dir = oneOf(url.get("dir"), ["asc", "desc"] as const, sort === "createdAt" || sort === "updatedAt" ? "desc" : "asc");
  const list = useInfiniteQuery(
    trpc.attachments.list.infiniteQueryOptions(
      { hostId, networkId, states, q: q || undefined, sort, dir, limit: 50 },
      { getNextPageParam: (last) => last.nextCursor ?? undefined },
    ),
  );
  const rows = useMemo(() => list.data?.pages.flatMap((p) => p.items) ?? [], [list.data]);
  const invalidate = useCallback(() => queryClient.invalidateQueries({ queryKey: trpc.attachments.pathKey() }), [queryClient, trpc]);
  // Log lines leave states alone; status changes are what the table shows.
  const refetch = useRefetchLive();
  useLiveEvents("operation", (e) => {
    if (e.kind === "resync" || (e.kind === "status" && (!hostId || e.hostId === hostId))) refetch({ queryKey: trpc.attachments.pathKey() });
  });

  const [notice, setNotice] = useState<Notice | null>(null);
  const [confirm, setConfirm] = useState<Confirm | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const byId = useCallback((id: string) => rows.find((a) => a.id === id), [rows]);
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
  const detachCurrent = useMutation(trpc.attachments.detachWithCurrentRevision.mutationOptions({ ...reportTo("Detach with the current network revision"), onSettled: () => dialog.current?.close() }));
  const purge = useMutation(
    trpc.attachments.purge.mutationOptions({
      onSuccess: (res) => {
        setNotice({ ok: true, text: `Purged ${res.purged} detached attachment${res.purged === 1 ? "" : "s"}${res.more ? "; more remain, purge again" : ""}.`, operationId: null });
        void invalidate();
      },
      onError: (err) => setNotice({ ok: false, text: errorMessage(err) }),
      onSettled: () => dialog.current?.close(),
    }),
  );
  const busy = check.isPending || retry.isPending || detach.isPending || detachCurrent.isPending || purge.isPending;
  const ask = (c: Confirm) => {
    detach.reset();
    detachCurrent.reset();
    purge.reset();
    setConfirm(c);
    dialog.current?.showModal();
  };

  const columns = useMemo<ColumnDef<Attachment, unknown>[]>(
    () => [
      ...(hideHost
        ? []
        : [{ id: "host", header: "Host", meta: { sort: "hostName", width: "9%" }, cell: ({ row }) => <Link href={`/hosts/${row.original.hostId}`}>{row.original.host.name}</Link> } satisfies ColumnDef<Attachment, unknown>]),
      {
        id: "network",
        header: "Network",
        meta: { sort: "networkName", width: "12%" },
        cell: ({ row: { original: a } }) => (
          <>
            <Link href={`/networks/${a.networkId}`}>{a.networkName}</Link> <span className="badge">r{a.networkRevision}</span>
            {a.isOlderRevision && (
              <span className="badge warn" data-testid="older-revision" title={`Runs revision ${a.networkRevision}; the network is at revision ${a.latestRevision}`}>
                older revision (latest r{a.latestRevision})
              </span>
            )}
          </>
        ),
      },
      { id: "containerId", header: "Container id", meta: { sort: "containerId", width: "11%", className: "mono" }, cell: ({ row }) => row.original.containerId },
      { id: "ifName", header: "Interface", meta: { width: "7%", className: "mono" }, cell: ({ row }) => row.original.ifName },
      { id: "target", header: "Target", meta: { width: "10%" }, cell: ({ row }) => <><span className="muted">{row.original.targetKind}:</span> <span className="mono">{row.original.target}</span></> },
      { id: "state", header: "State", meta: { sort: "state", width: "8%" }, cell: ({ row }) => <StateBadge state={row.original.state} testId="attachment-state" /> },
      {
        id: "addresses",
        header: "Addresses",
        meta: { width: "11%", className: "mono" },
        cell: ({ row: { original: a } }) => (
          <div data-testid="attachment-addresses">
            {addressesOf(a.result).map((ip) => (a.addressesReleased ? <div key={ip} className="dt-released" title="Released when detached: it may belong to another attachment now">{ip}</div> : <div key={ip}>{ip}</div>))}
            {a.addressesReleased && addressesOf(a.result).length > 0 && <span className="badge">released</span>}
          </div>
        ),
      },
      {
        id: "ports",
        header: "Ports",
        meta: { width: "10%", className: "mono" },
        cell: ({ row }) => <div data-testid="attachment-ports">{row.original.portMappings.map((p) => <div key={portLabel(p)}>{portLabel(p)}</div>)}</div>,
      },
      {
        id: "labels",
        header: "Labels",
        meta: { width: "8%" },
        cell: ({ row: { original: a } }) => <AttachmentLabels attachmentId={a.id} name={attachmentLabel(a)} labels={a.labels ?? {}} canEdit={can.editAttachments && a.present} />,
      },
      { id: "lastError", header: "Last error", meta: { width: "10%" }, cell: ({ row: { original: a } }) => <span title={a.lastError}>{a.lastError.length > 160 ? `${a.lastError.slice(0, 160)}…` : a.lastError}</span> },
      {
        id: "actions",
        header: "Actions",
        meta: { width: "12%" },
        cell: ({ row: { original: a } }) => (
          <div className="row" style={{ gap: 6 }}>
            <Link href={`/attachments/${a.id}/latest-job`} aria-label={`Latest job of ${attachmentLabel(a)}`}>Latest job</Link>
            {can.editAttachments && a.state === "ready" && <button disabled={busy} onClick={() => check.mutate({ id: a.id })} aria-label={`Check ${attachmentLabel(a)}`}>Check</button>}
            {can.editAttachments && a.state === "failed" && <button disabled={busy} onClick={() => retry.mutate({ id: a.id })} aria-label={`Retry ${attachmentLabel(a)}`}>Retry</button>}
            {can.editAttachments && (a.present || a.state === "failed") && (
              <button className="danger" disabled={busy} aria-label={`Detach ${attachmentLabel(a)}`} onClick={() => ask({ kind: "detach", a })}>Detach</button>
            )}
            {can.editAttachments && isStuck(a) && (
              <button className="danger" disabled={busy} aria-label={`Detach ${attachmentLabel(a)} with the current network revision`} onClick={() => ask({ kind: "detachCurrent", a })}>
                Detach with r{a.latestRevision ?? "?"}
              </button>
            )}
            {can.editAttachments && a.state === "detached" && (
              <button disabled={busy} aria-label={`Purge ${attachmentLabel(a)}`} onClick={() => ask({ kind: "purge", a })}>Purge</button>
            )}
          </div>
        ),
      },
    ],
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [hideHost, can.editAttachments, busy],
  );

  const setSearch = useCallback((text: string) => url.update({ q: text || undefined }), [url]);
  // The boxes answer a click at once; the URL (and the query) follow a moment later.
  const [clicked, setClicked] = useState<StateName[] | null>(null);
  const statesKey = states.join(",");
  useEffect(() => setClicked(null), [statesKey]);
  const shown = clicked ?? states;
  const toggleState = (s: StateName, on: boolean) => {
    const next = on ? [...new Set([...shown, s])] : shown.filter((x) => x !== s);
    setClicked(next);
    const sameAsDefault = next.length === DEFAULT_STATES.length && DEFAULT_STATES.every((d) => next.includes(d));
    url.update({ state: next.length === 0 || sameAsDefault ? undefined : STATES.filter((x) => next.includes(x)) });
  };
  const loadMore = useCallback(() => void list.fetchNextPage({ cancelRefetch: false }), [list]);

  return (
    <div>
      {notice?.ok === true && (
        <div className="ok-box" role="status">
          {notice.text} {notice.operationId && <JobOutcome operationId={notice.operationId} />}
        </div>
      )}
      {notice?.ok === false && <div className="error-box" role="alert">{notice.text}</div>}
      <div className="dt-toolbar" role="search" aria-label="Attachment search">
        <SearchBox label="Search attachments" value={q} onChange={setSearch} placeholder="container, target, network, host" />
        <fieldset aria-label="States shown">
          <legend className="muted" style={{ fontSize: 12 }}>States shown</legend>
          {STATES.map((s) => (
            <label key={s}>
              <input type="checkbox" checked={shown.includes(s)} onChange={(e) => toggleState(s, e.target.checked)} /> {s}
            </label>
          ))}
        </fieldset>
        {can.editAttachments && <button disabled={busy} onClick={() => ask({ kind: "purgeAll" })}>Purge detached…</button>}
      </div>
      {list.error && <div className="error-box">{errorMessage(list.error)}</div>}
      <DataTable
        label="Attachments"
        columns={columns}
        rows={rows}
        getRowId={(a) => a.id}
        rowTestId={(a) => `attachment-row-${a.containerId}`}
        sort={{ key: sort, dir, onChange: (key, d) => url.update({ sort: key, dir: d }) }}
        hasMore={list.hasNextPage}
        loadMore={loadMore}
        loadingMore={list.isFetchingNextPage}
        loading={list.isLoading}
        empty={q || picked.length > 0 ? "No attachment matches this search and these states." : "No attachments ready or in progress. Show failed or detached ones above, or attach one."}
        estimateRowHeight={56}
      />
      <dialog ref={dialog} aria-label={confirm?.kind === "detach" ? "Detach attachment" : confirm?.kind === "detachCurrent" ? "Detach with the current network revision" : "Purge detached attachments"} onClose={() => setConfirm(null)}>
        {confirm?.kind === "detach" && (
          <>
            <h2 style={{ marginTop: 0 }}>Detach {confirm.a.containerId}/{confirm.a.ifName}?</h2>
            <p>
              The agent on <strong>{confirm.a.host.name}</strong> runs CNI DEL for network <strong>{confirm.a.networkName}</strong>
              {confirm.a.targetKind === "sandbox" ? <>, then deletes the sandbox namespace <code>{confirm.a.target}</code></> : null}.
            </p>
            <div className="row" style={{ marginTop: 12 }}>
              <button className="danger" disabled={detach.isPending} onClick={() => detach.mutate({ id: confirm.a.id })}>Yes, detach</button>
              <button onClick={() => dialog.current?.close()}>Cancel</button>
            </div>
          </>
        )}
        {confirm?.kind === "detachCurrent" && (
          <>
            <h2 style={{ marginTop: 0 }}>Detach {confirm.a.containerId}/{confirm.a.ifName} with the current network revision?</h2>
            <p>
              The agent on <strong>{confirm.a.host.name}</strong> runs CNI DEL with revision <strong>r{confirm.a.latestRevision ?? "?"}</strong> of{" "}
              <strong>{confirm.a.networkName}</strong> only, not with the config its host cached when the attachment was made (revision r{confirm.a.networkRevision}
              {" "}or whatever the cache holds). Use it when detaching keeps failing because of that cached config: a CNI version the plugins lack, a plugin
              whose binary is gone. Fix the network first (a new revision); plugins the current revision no longer lists are not run, so their host state
              (rules, leases) may stay behind.
            </p>
            {confirm.a.lastError && <div className="error-box">{confirm.a.lastError}</div>}
            <div className="row" style={{ marginTop: 12 }}>
              <button className="danger" disabled={detachCurrent.isPending} onClick={() => detachCurrent.mutate({ id: confirm.a.id })}>Yes, detach with r{confirm.a.latestRevision ?? "?"}</button>
              <button onClick={() => dialog.current?.close()}>Cancel</button>
            </div>
          </>
        )}
        {(confirm?.kind === "purge" || confirm?.kind === "purgeAll") && (
          <>
            <h2 style={{ marginTop: 0 }}>{confirm.kind === "purge" ? `Purge ${attachmentLabel(confirm.a)}?` : "Purge every detached attachment?"}</h2>
            <p>
              {confirm.kind === "purge" ? "This detached attachment is deleted" : "Detached attachments (up to 500 at a time, oldest first) are deleted"} with their job history. The audit log
              keeps what was done. Nothing changes on the hosts: detached attachments hold nothing there.
            </p>
            <div className="row" style={{ marginTop: 12 }}>
              <button className="danger" disabled={purge.isPending} onClick={() => purge.mutate(confirm.kind === "purge" ? { ids: [confirm.a.id] } : {})}>Yes, purge</button>
              <button onClick={() => dialog.current?.close()}>Cancel</button>
            </div>
          </>
        )}
      </dialog>
    </div>
  );
}
