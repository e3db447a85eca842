"use client";

import { useInfiniteQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useCallback, useEffect, useMemo, useState } from "react";
import { AuditDiff } from "~/components/audit-diff";
import { DataTable } from "~/components/data-table";
import { oneOf, useUrlState } from "~/lib/url-state";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { AbsoluteTime } from "~/components/relative-time";

type AuditRow = RouterOutputs["audit"]["list"]["items"][number];
const OUTCOMES = ["", "success", "denied", "error"] as const;
const FIELDS = ["q", "actor", "action", "outcome", "from", "to"] as const;
type Filters = Record<(typeof FIELDS)[number], string>;

/** Where a target lives in the console, when it has a page. */
function targetHref(e: AuditRow): string | null {
  if (!e.targetId) return null;
  switch (e.targetType) {
    case "network":
      return `/networks/${e.targetId}`;
    case "host":
      return `/hosts/${e.targetId}`;
    case "attachment":
      return `/attachments/${e.targetId}/latest-job`;
    case "operation":
      return `/operations/${e.targetId}`;
    case "user":
      return "/users";
    default:
      return null;
  }
}

const columns: ColumnDef<AuditRow, unknown>[] = [
  { id: "at", header: "When", meta: { sort: "at", width: "14%" }, cell: ({ row }) => <AbsoluteTime date={row.original.at} /> },
  { id: "actor", header: "Actor", meta: { width: "12%" }, cell: ({ row }) => <>{row.original.actorName}<div className="muted mono">{row.original.sourceIp}</div></> },
  { id: "action", header: "Action", meta: { width: "16%", className: "mono" }, cell: ({ row }) => row.original.action },
  {
    id: "target",
    header: "Target",
    meta: { width: "20%" },
    cell: ({ row: { original: e } }) => {
      const href = targetHref(e);
      const name = e.targetName || e.targetId;
      return (
        <div data-testid="audit-target">
          <span className="muted">{e.targetType}</span> {name && (href ? <Link href={href}>{name}</Link> : <span>{name}</span>)}
          {e.targetName && e.targetId && <div className="muted mono" style={{ fontSize: 11 }}>{e.targetId}</div>}
        </div>
      );
    },
  },
  { id: "outcome", header: "Outcome", meta: { width: "9%" }, cell: ({ row }) => <span className={`badge ${row.original.outcome}`}>{row.original.outcome}</span> },
  {
    id: "details",
    header: "Details",
    meta: { width: "29%" },
    cell: ({ row: { original: e } }) => (
      <>
        {e.message && <div>{e.message}</div>}
        {(e.before != null || e.after != null) && (
          <details>
            <summary>{e.before != null && e.after != null ? "changes" : e.after != null ? "after" : "before"}</summary>
            <AuditDiff before={e.before} after={e.after} />
          </details>
        )}
        <div className="muted mono" style={{ fontSize: 11 }}>req {e.requestId}</div>
      </>
    ),
  },
];

/** The audit log: filters, search and order in the URL, newest first, paged by the server. */
export default function AuditPage() {
  const trpc = useTRPC();
  const url = useUrlState();
  const applied: Filters = Object.fromEntries(FIELDS.map((k) => [k, url.get(k) ?? ""])) as Filters;
  const dir = oneOf(url.get("dir"), ["asc", "desc"] as const, "desc");
  const [draft, setDraft] = useState<Filters>(applied);
  const appliedKey = JSON.stringify(applied);
  // A reload, a link or the back button changes the URL: the form follows it.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => setDraft(applied), [appliedKey]);
  const outcome = oneOf(applied.outcome, OUTCOMES, "");
  const date = (v: string) => (v && !Number.isNaN(Date.parse(v)) ? new Date(v) : undefined);
  const input = {
    q: applied.q || undefined,
    actor: applied.actor || undefined,
    action: applied.action || undefined,
    outcome: outcome || undefined,
    from: date(applied.from),
    to: date(applied.to),
    dir,
    limit: 50,
  };
  const events = useInfiniteQuery(trpc.audit.list.infiniteQueryOptions(input, { getNextPageParam: (last) => last.nextCursor ?? undefined }));
  const rows = useMemo(() => events.data?.pages.flatMap((p) => p.items) ?? [], [events.data]);
  const loadMore = useCallback(() => void events.fetchNextPage({ cancelRefetch: false }), [events]);
  const text = (key: "q" | "actor" | "action", label: string) => (
    <label>
      <span>{label}</span>
      <input type={key === "q" ? "search" : "text"} value={draft[key]} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} maxLength={key === "q" ? 100 : 64} />
    </label>
  );
  return (
    <div>
      <h1>Audit log</h1>
      <form
        className="panel dt-toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          url.update(Object.fromEntries(FIELDS.map((k) => [k, draft[k] || undefined])));
        }}
        aria-label="Audit filters"
      >
        {text("q", "Search (target name or id, actor)")}
        {text("actor", "Actor")}
        {text("action", "Action (prefix)")}
        <label>
          <span>Outcome</span>
          <select value={draft.outcome} onChange={(e) => setDraft({ ...draft, outcome: e.target.value })}>
            <option value="">any</option><option>success</option><option>denied</option><option>error</option>
          </select>
        </label>
        <label><span>From</span><input type="datetime-local" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} /></label>
        <label><span>To</span><input type="datetime-local" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} /></label>
        <button type="submit" className="primary">Filter</button>
        <button type="button" onClick={() => url.update(Object.fromEntries([...FIELDS, "dir"].map((k) => [k, undefined])))}>Clear</button>
      </form>
      {events.error && <div className="error-box">{errorMessage(events.error)}</div>}
      <DataTable
        label="Audit events"
        columns={columns}
        rows={rows}
        getRowId={(e) => String(e.id)}
        sort={{ key: "at", dir, onChange: (_key, d) => url.update({ dir: d === "desc" ? undefined : d }) }}
        hasMore={events.hasNextPage}
        loadMore={loadMore}
        loadingMore={events.isFetchingNextPage}
        loading={events.isLoading}
        empty="No events match."
        estimateRowHeight={72}
      />
    </div>
  );
}
