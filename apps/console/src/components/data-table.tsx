"use client";

import { flexRender, getCoreRowModel, useReactTable, type ColumnDef, type RowData } from "@tanstack/react-table";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useRef, type ReactNode } from "react";
import "./data-table.css";

declare module "@tanstack/react-table" {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface ColumnMeta<TData extends RowData, TValue> {
    /** The server-side sort key this column's header sorts by. */
    sort?: string;
    /** The column's width (the table lays out fixed: rows wrap inside the window). */
    width?: string;
    className?: string;
  }
}

export type SortDir = "asc" | "desc";

export interface DataTableProps<T> {
  label: string;
  columns: ColumnDef<T, unknown>[];
  rows: T[];
  getRowId: (row: T) => string;
  rowTestId?: (row: T) => string;
  sort?: { key: string; dir: SortDir; onChange: (key: string, dir: SortDir) => void };
  hasMore: boolean;
  loadMore: () => void;
  loadingMore: boolean;
  loading: boolean;
  empty: ReactNode;
  estimateRowHeight?: number;
}

/**
 * A server-paged list: TanStack Table gives the columns and cells, TanStack Virtual renders only
 * the rows in view (and a few around them), and reaching the end loads the next page. Sorting is
 * the server's (the headers only ask for it).
 */
export function DataTable<T>({ label, columns, rows, getRowId, rowTestId, sort, hasMore, loadMore, loadingMore, loading, empty, estimateRowHeight = 44 }: DataTableProps<T>) {
  const table = useReactTable({ data: rows, columns, getCoreRowModel: getCoreRowModel(), getRowId: (r) => getRowId(r), manualSorting: true });
  const scroller = useRef<HTMLDivElement>(null);
  const model = table.getRowModel().rows;
  const virtualizer = useVirtualizer({ count: model.length, getScrollElement: () => scroller.current, estimateSize: () => estimateRowHeight, overscan: 10 });
  const items = virtualizer.getVirtualItems();
  const lastIndex = items[items.length - 1]?.index ?? -1;
  useEffect(() => {
    if (hasMore && !loadingMore && lastIndex >= model.length - 5) loadMore();
  }, [hasMore, loadingMore, lastIndex, model.length, loadMore]);
  const top = items[0]?.start ?? 0;
  const bottom = items.length > 0 ? virtualizer.getTotalSize() - items[items.length - 1]!.end : 0;
  const width = columns.length;

  return (
    <div ref={scroller} className="dt-scroll" style={{ maxHeight: "70vh" }} data-testid={`scroll-${label}`}>
      <table className="dt-table" aria-label={label}>
        <colgroup>
          {table.getVisibleLeafColumns().map((c) => <col key={c.id} style={c.columnDef.meta?.width ? { width: c.columnDef.meta.width } : undefined} />)}
        </colgroup>
        <thead>
          {table.getHeaderGroups().map((group) => (
            <tr key={group.id}>
              {group.headers.map((h) => {
                const key = h.column.columnDef.meta?.sort;
                const active = sort && key === sort.key;
                const title = flexRender(h.column.columnDef.header, h.getContext());
                return (
                  <th key={h.id} aria-sort={active ? (sort.dir === "asc" ? "ascending" : "descending") : undefined}>
                    {sort && key ? (
                      <button className="dt-sort" onClick={() => sort.onChange(key, active && sort.dir === "asc" ? "desc" : "asc")}>
                        {title} {active ? (sort.dir === "asc" ? "▲" : "▼") : ""}
                      </button>
                    ) : (
                      title
                    )}
                  </th>
                );
              })}
            </tr>
          ))}
        </thead>
        <tbody>
          {top > 0 && <tr className="dt-spacer" aria-hidden style={{ height: top }}><td colSpan={width} /></tr>}
          {items.map((item) => {
            const row = model[item.index]!;
            return (
              <tr key={row.id} data-index={item.index} ref={virtualizer.measureElement} data-testid={rowTestId?.(row.original)}>
                {row.getVisibleCells().map((cell) => (
                  <td key={cell.id} className={cell.column.columnDef.meta?.className}>{flexRender(cell.column.columnDef.cell, cell.getContext())}</td>
                ))}
              </tr>
            );
          })}
          {bottom > 0 && <tr className="dt-spacer" aria-hidden style={{ height: bottom }}><td colSpan={width} /></tr>}
          {!loading && rows.length === 0 && <tr><td colSpan={width} className="muted">{empty}</td></tr>}
          {loading && <tr><td colSpan={width} className="muted">Loading…</td></tr>}
        </tbody>
      </table>
      {(hasMore || rows.length > 0) && (
        <div className="dt-footer">
          <span>{rows.length} shown{hasMore ? ", more below" : ""}</span>
          {hasMore && <button onClick={loadMore} disabled={loadingMore}>{loadingMore ? "Loading…" : "Load more"}</button>}
        </div>
      )}
    </div>
  );
}
