"use client";

import { useInfiniteQuery } from "@tanstack/react-query";
import { useState } from "react";
import { errorMessage, useTRPC } from "~/trpc/react";
import { AbsoluteTime } from "~/components/relative-time";

interface Filters {
  actor: string;
  action: string;
  targetId: string;
  outcome: "" | "success" | "denied" | "error";
  from: string;
  to: string;
}

const EMPTY: Filters = { actor: "", action: "", targetId: "", outcome: "", from: "", to: "" };

export default function AuditPage() {
  const trpc = useTRPC();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const input = {
    actor: filters.actor || undefined,
    action: filters.action || undefined,
    targetId: filters.targetId || undefined,
    outcome: filters.outcome || undefined,
    from: filters.from ? new Date(filters.from) : undefined,
    to: filters.to ? new Date(filters.to) : undefined,
    limit: 50,
  };
  const events = useInfiniteQuery(
    trpc.audit.list.infiniteQueryOptions(input, { getNextPageParam: (last) => last.nextCursor ?? undefined }),
  );
  const rows = events.data?.pages.flatMap((p) => p.items) ?? [];
  const text = (key: "actor" | "action" | "targetId", label: string) => (
    <label style={{ margin: 0 }}>
      <span>{label}</span>
      <input value={draft[key]} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} />
    </label>
  );
  return (
    <div>
      <h1>Audit log</h1>
      <form className="panel row" onSubmit={(e) => { e.preventDefault(); setFilters(draft); }} aria-label="Audit filters">
        {text("actor", "Actor")}
        {text("action", "Action (prefix)")}
        {text("targetId", "Target id")}
        <label style={{ margin: 0 }}>
          <span>Outcome</span>
          <select value={draft.outcome} onChange={(e) => setDraft({ ...draft, outcome: e.target.value as Filters["outcome"] })}>
            <option value="">any</option><option>success</option><option>denied</option><option>error</option>
          </select>
        </label>
        <label style={{ margin: 0 }}><span>From</span><input type="datetime-local" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} /></label>
        <label style={{ margin: 0 }}><span>To</span><input type="datetime-local" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} /></label>
        <button type="submit" className="primary" style={{ alignSelf: "flex-end" }}>Filter</button>
        <button type="button" style={{ alignSelf: "flex-end" }} onClick={() => { setDraft(EMPTY); setFilters(EMPTY); }}>Clear</button>
      </form>
      {events.error && <div className="error-box">{errorMessage(events.error)}</div>}
      <table aria-label="Audit events">
        <thead>
          <tr><th>When</th><th>Actor</th><th>Action</th><th>Target</th><th>Outcome</th><th>Details</th></tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr key={e.id}>
              <td><AbsoluteTime date={e.at} /></td>
              <td>{e.actorName}<div className="muted mono">{e.sourceIp}</div></td>
              <td className="mono">{e.action}</td>
              <td>{e.targetType} <span className="mono muted">{e.targetId}</span></td>
              <td><span className={`badge ${e.outcome}`}>{e.outcome}</span></td>
              <td>
                {e.message && <div>{e.message}</div>}
                {(e.before != null || e.after != null) && (
                  <details>
                    <summary>before / after</summary>
                    <div className="grid2">
                      <pre className="mono">{JSON.stringify(e.before, null, 2)}</pre>
                      <pre className="mono">{JSON.stringify(e.after, null, 2)}</pre>
                    </div>
                  </details>
                )}
                <div className="muted mono" style={{ fontSize: 11 }}>req {e.requestId}</div>
              </td>
            </tr>
          ))}
          {rows.length === 0 && !events.isLoading && <tr><td colSpan={6} className="muted">No events match.</td></tr>}
        </tbody>
      </table>
      {events.hasNextPage && (
        <button style={{ marginTop: 12 }} onClick={() => void events.fetchNextPage()} disabled={events.isFetchingNextPage}>Older events</button>
      )}
    </div>
  );
}
