"use client";

import { useInfiniteQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useCallback, useMemo, useState } from "react";
import { oneOf, useUrlState } from "~/lib/url-state";
import { errorMessage, useTRPC, useTRPCClient, type RouterOutputs } from "~/trpc/react";
import { DataTable } from "./data-table";
import { downloadConfigFiles } from "./download";
import { SearchBox } from "./search-box";
import { ImportPanel } from "./network-import";
import { useCan } from "./user-context";
import { AbsoluteTime } from "./relative-time";

const SORTS = ["name", "updatedAt", "createdAt"] as const;
const PAGE = 50;

type NetworkRow = RouterOutputs["networks"]["list"]["items"][number];

const columns: ColumnDef<NetworkRow, unknown>[] = [
  { id: "name", header: "Name", meta: { sort: "name", width: "24%" }, cell: ({ row }) => <Link href={`/networks/${row.original.id}`}>{row.original.name}</Link> },
  { id: "plugins", header: "Plugins", meta: { width: "24%" }, cell: ({ row }) => row.original.plugins.map((p, i) => <span key={`${p}-${i}`} className="badge">{p}</span>) },
  { id: "cniVersion", header: "CNI version", meta: { width: "11%" }, cell: ({ row }) => row.original.cniVersion },
  { id: "revision", header: "Revision", meta: { width: "9%" }, cell: ({ row }) => `r${row.original.latestRevision}` },
  {
    id: "attachments",
    header: "Attached",
    meta: { width: "9%" },
    cell: ({ row }) => <Link href={`/attachments?networkId=${row.original.id}`} title="Attachments of this network">{row.original.attachments}</Link>,
  },
  {
    id: "updatedAt",
    header: "Updated",
    meta: { sort: "updatedAt", width: "23%" },
    cell: ({ row }) => <><AbsoluteTime date={row.original.updatedAt} /> <span className="muted">by {row.original.lastAuthor}</span></>,
  },
];

/** Networks, paged and sorted by the server; search, sort and order live in the URL. */
export function NetworksList() {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const can = useCan();
  const url = useUrlState();
  const q = url.get("q") ?? "";
  const sort = oneOf(url.get("sort"), SORTS, "name");
  const dir = oneOf(url.get("dir"), ["asc", "desc"] as const, sort === "name" ? "asc" : "desc");
  const networks = useInfiniteQuery(
    trpc.networks.list.infiniteQueryOptions({ q: q || undefined, sort, dir, limit: PAGE }, { getNextPageParam: (last) => last.nextCursor ?? undefined }),
  );
  const rows = useMemo(() => networks.data?.pages.flatMap((p) => p.items) ?? [], [networks.data]);
  const [showImport, setShowImport] = useState(false);
  const loadMore = useCallback(() => void networks.fetchNextPage({ cancelRefetch: false }), [networks]);
  const setSearch = useCallback((text: string) => url.update({ q: text || undefined }), [url]);

  async function exportAll() {
    const files = await client.networks.export.query({});
    downloadConfigFiles(files, "switchyard-networks.zip");
  }

  return (
    <div>
      <div className="row" style={{ justifyContent: "space-between" }}>
        <h1>Networks</h1>
        <div className="row">
          <button onClick={() => void exportAll()} disabled={rows.length === 0}>Export all</button>
          {can.editNetworks && <button onClick={() => setShowImport((s) => !s)}>Import</button>}
          {can.editNetworks && <Link className="button primary" href="/networks/new">New network</Link>}
        </div>
      </div>
      {showImport && <ImportPanel onDone={() => setShowImport(false)} />}
      <div className="dt-toolbar" role="search" aria-label="Network filters">
        <SearchBox label="Search networks" value={q} onChange={setSearch} placeholder="name, plugin, subnet…" />
      </div>
      {networks.error && <div className="error-box">{errorMessage(networks.error)}</div>}
      <DataTable
        label="Networks"
        columns={columns}
        rows={rows}
        getRowId={(n) => n.id}
        rowTestId={(n) => `network-row-${n.name}`}
        sort={{ key: sort, dir, onChange: (key, d) => url.update({ sort: key, dir: d }) }}
        hasMore={networks.hasNextPage}
        loadMore={loadMore}
        loadingMore={networks.isFetchingNextPage}
        loading={networks.isLoading}
        empty={q ? `No network matches "${q}".` : <>No networks yet. <Link href="/networks/new">Create one</Link> or import conflists from /etc/cni/net.d.</>}
      />
    </div>
  );
}
