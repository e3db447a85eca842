"use client";

import { useInfiniteQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useCallback, useMemo } from "react";
import { oneOf, useUrlState } from "~/lib/url-state";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { DataTable } from "./data-table";
import { AddHostPanel } from "./add-host-panel";
import { useLiveEvents, useRefetchLive } from "./live-updates";
import { AbsoluteTime, RelativeTime } from "./relative-time";
import { SearchBox } from "./search-box";
import { StateBadge } from "./state-badge";
import { useCan } from "./user-context";

/** Liveness is computed when the list is read, so the list is re-read while open. */
export const HOSTS_REFETCH_MS = 10_000;

export function useHostChanges(onlyHostId?: string) {
  const trpc = useTRPC();
  const refetch = useRefetchLive();
  useLiveEvents("host", (e) => {
    if (e.kind === "resync" || !onlyHostId || e.hostId === onlyHostId) refetch({ queryKey: trpc.hosts.pathKey() });
  });
}

const SORTS = ["name", "lastSeenAt", "enrolledAt"] as const;
type HostRow = RouterOutputs["hosts"]["list"]["items"][number];

const columns: ColumnDef<HostRow, unknown>[] = [
  { id: "name", header: "Name", meta: { sort: "name", width: "22%" }, cell: ({ row }) => <Link href={`/hosts/${row.original.id}`}>{row.original.name}</Link> },
  { id: "liveness", header: "Liveness", meta: { width: "12%" }, cell: ({ row }) => <StateBadge state={row.original.liveness} testId="host-liveness" /> },
  { id: "agentVersion", header: "Agent version", meta: { width: "16%", className: "mono" }, cell: ({ row }) => row.original.agentVersion || <span className="muted">unknown</span> },
  { id: "lastSeenAt", header: "Last seen", meta: { sort: "lastSeenAt", width: "16%" }, cell: ({ row }) => <RelativeTime date={row.original.lastSeenAt} /> },
  {
    id: "attachments",
    header: "Attachments",
    meta: { width: "12%" },
    cell: ({ row }) => <Link href={`/attachments?hostId=${row.original.id}`} aria-label={`${row.original.attachments} attached on ${row.original.name}`}>{row.original.attachments}</Link>,
  },
  { id: "enrolledAt", header: "Enrolled", meta: { sort: "enrolledAt", width: "22%" }, cell: ({ row }) => <AbsoluteTime date={row.original.enrolledAt} /> },
];

/** Hosts, paged and sorted by the server; search, sort and order live in the URL. */
export function HostsList() {
  const trpc = useTRPC();
  const can = useCan();
  const url = useUrlState();
  const q = url.get("q") ?? "";
  const sort = oneOf(url.get("sort"), SORTS, "name");
  const dir = oneOf(url.get("dir"), ["asc", "desc"] as const, sort === "name" ? "asc" : "desc");
  const hosts = useInfiniteQuery({
    ...trpc.hosts.list.infiniteQueryOptions({ q: q || undefined, sort, dir, limit: 50 }, { getNextPageParam: (last) => last.nextCursor ?? undefined }),
    refetchInterval: HOSTS_REFETCH_MS,
  });
  const rows = useMemo(() => hosts.data?.pages.flatMap((p) => p.items) ?? [], [hosts.data]);
  const loadMore = useCallback(() => void hosts.fetchNextPage({ cancelRefetch: false }), [hosts]);
  const setSearch = useCallback((text: string) => url.update({ q: text || undefined }), [url]);
  useHostChanges();
  return (
    <div>
      <h1>Hosts</h1>
      {can.manageHosts && <AddHostPanel />}
      <div className="dt-toolbar" role="search" aria-label="Host filters">
        <SearchBox label="Search hosts" value={q} onChange={setSearch} placeholder="name or agent version" />
      </div>
      {hosts.error && <div className="error-box">{errorMessage(hosts.error)}</div>}
      <DataTable
        label="Hosts"
        columns={columns}
        rows={rows}
        getRowId={(h) => h.id}
        rowTestId={(h) => `host-row-${h.name}`}
        sort={{ key: sort, dir, onChange: (key, d) => url.update({ sort: key, dir: d }) }}
        hasMore={hosts.hasNextPage}
        loadMore={loadMore}
        loadingMore={hosts.isFetchingNextPage}
        loading={hosts.isLoading}
        empty={q ? `No host matches "${q}".` : `No hosts enrolled yet.${can.manageHosts ? " Create a join token above and run the agent with it." : ""}`}
      />
    </div>
  );
}
