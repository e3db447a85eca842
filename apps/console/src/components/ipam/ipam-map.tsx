"use client";

import { keepPreviousData, usePrefetchQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { lastAddress } from "@switchyard/ipam";
import { memo, useCallback, useEffect, useMemo, useRef, useState, type CSSProperties, type KeyboardEvent } from "react";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { allBlocks, blockOf, blockSize, breadcrumbs, childPrefix, gridAddresses, inRange, isGrid, toCidr } from "./map-math";
import { mapClient } from "./map-client";
import { createMapTiming, MAP_MEASURES, type MapTiming } from "./map-timing";

type MapData = RouterOutputs["ipam"]["map"];
type Cell = Extract<MapData, { kind: "grid" }>["cells"][number];

/** What a cell of the grid shows: a holder's status, or what the address is without one. */
export type CellKind = "live" | "suspect" | "conflict" | "reserved" | "special" | "free";

/** Colour AND a symbol for each kind: the map reads without colour too. */
export const CELL_KINDS: Record<CellKind, { label: string; symbol: string }> = {
  live: { label: "held by a live attachment", symbol: "●" },
  suspect: { label: "held, no known holder (suspect)", symbol: "?" },
  conflict: { label: "conflict", symbol: "!" },
  reserved: { label: "reserved", symbol: "R" },
  special: { label: "network, gateway or broadcast", symbol: "·" },
  free: { label: "free", symbol: "" },
};

const COLUMNS = 16;

/**
 * The map of one subnet: a heatmap of blocks (256 a level) with breadcrumbs to zoom out, down to a
 * grid of one cell per address. Arrow keys move between cells, Enter zooms in or opens an address,
 * Escape zooms out.
 */
export function IpamMap(props: {
  networkId: string;
  subnet: string;
  cidr: string;
  onZoom: (cidr: string) => void;
  onOpenAddress: (address: string) => void;
  /** Its first cells (or its error) are on the page. */
  onDrawn?: () => void;
}) {
  const trpc = useTRPC();
  const timing = useRef<MapTiming | null>(null);
  if (timing.current === null) {
    // The first render asks for the data: the first-render measure starts here.
    timing.current = createMapTiming();
    timing.current.start(MAP_MEASURES.firstRender, props.cidr);
  }
  // The page's key (live events re-read it with the rest of ipam.*), fetched on the map's own link.
  // While a zoom's data is on its way the level shown stays (not a "Loading" line): the page keeps
  // its height, so nothing below the map is laid out again twice per zoom. A level seen in the last
  // minute is drawn from the cache without a read in the background: the page's live events re-read
  // it when a host reports (ipam-page.tsx), and such a read held up the next zoom's (one database
  // connection on the embedded PGlite).
  const levelOf = (cidr: string) => {
    const level = { networkId: props.networkId, cidr };
    return { queryKey: trpc.ipam.map.queryKey(level), queryFn: ({ signal }: { signal: AbortSignal }) => mapClient.ipam.map.query(level, { signal }), staleTime: 60_000 };
  };
  // Asked for in this render, not after its commit (when useQuery's own read would start).
  usePrefetchQuery(levelOf(props.cidr));
  const map = useQuery({ ...levelOf(props.cidr), placeholderData: keepPreviousData });
  const isCurrent = map.data !== undefined && !map.isPlaceholderData;
  const { onDrawn } = props;
  useEffect(() => {
    if (isCurrent) timing.current!.committed(props.cidr);
    if (isCurrent || map.error) onDrawn?.();
  }, [isCurrent, map.data, map.error, props.cidr, onDrawn]);
  const crumbs = breadcrumbs(props.subnet, props.cidr);
  // Stable callbacks and values: a render of the page that changes nothing here (the URL catching
  // up after a zoom) leaves the 256 cells alone.
  const { onZoom, networkId } = props;
  const queryClient = useQueryClient();
  const zoom = useCallback((cidr: string) => {
    timing.current!.start(MAP_MEASURES.zoom, cidr);
    // Asked for in the click itself, not after the page has rendered the new URL.
    void queryClient.prefetchQuery(levelOf(cidr));
    onZoom(cidr);
    // levelOf reads only networkId and the stable trpc proxy.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [onZoom, networkId, queryClient]);
  const parent = crumbs.length > 1 ? crumbs.at(-2)! : null;
  const zoomOut = useCallback(() => parent !== null && zoom(parent), [parent, zoom]);
  const specials = useMemo(() => specialAddresses(props.subnet), [props.subnet]);
  return (
    <div className="ipam-map" aria-busy={map.isFetching && !isCurrent}>
      <nav aria-label="Zoom" className="crumbs">
        {crumbs.map((c, i) =>
          i === crumbs.length - 1 ? (
            <span key={c} aria-current="location" className="mono">{c}</span>
          ) : (
            <span key={c}>
              <button type="button" className="link mono" onClick={() => zoom(c)}>{c}</button>
              {" › "}
            </span>
          ),
        )}
      </nav>
      <Legend />
      {map.error && <div className="error-box">{errorMessage(map.error)}</div>}
      {!map.data && !map.error && <p className="muted">Loading the map…</p>}
      {map.data?.kind === "grid" && (
        <AddressGrid data={map.data} specials={specials} onOpen={props.onOpenAddress} onOut={zoomOut} />
      )}
      {map.data?.kind === "blocks" && (
        <BlockHeatmap data={map.data} onZoom={zoom} onOut={zoomOut} />
      )}
    </div>
  );
}

function Legend() {
  return (
    <ul className="legend" aria-label="Legend">
      {(Object.keys(CELL_KINDS) as CellKind[]).map((k) => (
        <li key={k}>
          <span className={`cell cell-${k}`} aria-hidden="true">{CELL_KINDS[k].symbol}</span> {CELL_KINDS[k].label}
        </li>
      ))}
    </ul>
  );
}

/** Roving focus over a 16-column grid of buttons. */
function useGridFocus(count: number, onActivate: (i: number) => void, onOut: () => void) {
  const [focus, setFocus] = useState(0);
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const move = (i: number) => {
    const next = Math.max(0, Math.min(count - 1, i));
    setFocus(next);
    refs.current[next]?.focus();
  };
  const onKeyDown = (e: KeyboardEvent, i: number) => {
    const step: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS };
    if (e.key in step) {
      e.preventDefault();
      move(i + step[e.key]!);
    } else if (e.key === "Home") move(0);
    else if (e.key === "End") move(count - 1);
    else if (e.key === "Escape") onOut();
    else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      onActivate(i);
    }
  };
  return { focus, refs, onKeyDown, setFocus };
}

function describeHolders(cell: Cell | undefined): string {
  if (!cell) return "";
  return cell.holders.map((h) => `${h.containerId}/${h.ifName} on ${h.hostName}${h.attachmentState ? ` (${h.attachmentState})` : ""}`).join("; ");
}

/** What one cell of a grid shows and does. */
interface CellSpec {
  key: string;
  /** What the hover card and the screen reader say of it. */
  label: string;
  className: string;
  style?: CSSProperties;
  data: Record<`data-${string}`, string>;
  content: string;
}

/**
 * A keyboard-navigable grid of cells, 16 a row, with a card above that says what the hovered (or
 * focused) cell is. The two views of the map (addresses, blocks) differ only in their cells.
 */
function CellGrid(props: { label: string; testId: string; cells: CellSpec[]; onActivate: (i: number) => void; onOut: () => void }) {
  const [hovered, setHovered] = useState<number | null>(null);
  const grid = useGridFocus(props.cells.length, props.onActivate, props.onOut);
  const shown = props.cells[hovered ?? grid.focus];
  return (
    <div>
      <div className="hover-card" aria-live="polite" data-testid="ipam-hover">{shown?.label}</div>
      <div role="grid" aria-label={props.label} className="cell-grid" data-testid={props.testId}>
        {chunk(props.cells, COLUMNS).map((row, r) => (
          <div role="row" key={row[0]!.key} className="cell-row">
            {row.map((cell, c) => {
              const i = r * COLUMNS + c;
              return (
                <button
                  key={cell.key}
                  type="button"
                  role="gridcell"
                  ref={(el) => { grid.refs.current[i] = el; }}
                  tabIndex={i === grid.focus ? 0 : -1}
                  className={cell.className}
                  style={cell.style}
                  {...cell.data}
                  aria-label={cell.label}
                  title={cell.label}
                  onMouseEnter={() => setHovered(i)}
                  onMouseLeave={() => setHovered(null)}
                  onFocus={() => {
                    // The keyboard takes over from the mouse: the card follows the focused cell.
                    setHovered(null);
                    grid.setFocus(i);
                  }}
                  onKeyDown={(e) => grid.onKeyDown(e, i)}
                  onClick={() => props.onActivate(i)}
                >
                  {cell.content}
                </button>
              );
            })}
          </div>
        ))}
      </div>
    </div>
  );
}

/** The subnet's network and (IPv4) broadcast addresses: never handed out. */
function specialAddresses(subnet: string): string[] {
  const c = toCidr(subnet);
  return c.family === 4 && c.prefixLength < 31 ? [c.network.text, lastAddress(c).text] : [c.network.text];
}

const AddressGrid = memo(function AddressGrid(props: { data: Extract<MapData, { kind: "grid" }>; specials: string[]; onOpen: (a: string) => void; onOut: () => void }) {
  const cidr = toCidr(props.data.cidr);
  const addresses = useMemo(() => gridAddresses(cidr), [props.data.cidr]);
  const cells = useMemo(() => new Map(props.data.cells.map((c) => [c.address, c])), [props.data]);
  const kindOf = (a: string): CellKind => {
    const cell = cells.get(a);
    if (cell) return cell.status;
    if (props.data.reservations.some((r) => inRange(a, r.first, r.last))) return "reserved";
    if (props.specials.includes(a)) return "special";
    return "free";
  };
  const specs = addresses.map((a): CellSpec => {
    const kind = kindOf(a);
    const holders = describeHolders(cells.get(a));
    return {
      key: a,
      label: `${a}: ${CELL_KINDS[kind].label}${holders ? ` — ${holders}` : ""}`,
      className: `cell cell-${kind}`,
      data: { "data-address": a, "data-kind": kind },
      content: CELL_KINDS[kind].symbol,
    };
  });
  return <CellGrid label={`Addresses of ${props.data.cidr}`} testId="ipam-grid" cells={specs} onActivate={(i) => props.onOpen(addresses[i]!)} onOut={props.onOut} />;
});

interface DisplayBlock {
  block: string;
  leased: number;
  live: number;
  suspect: number;
  conflict: number;
  reserved: number;
}

const BlockHeatmap = memo(function BlockHeatmap(props: { data: Extract<MapData, { kind: "blocks" }>; onZoom: (c: string) => void; onOut: () => void }) {
  const cidr = toCidr(props.data.cidr);
  const prefix = childPrefix(cidr);
  const blocks = useMemo(() => {
    const byBlock = new Map<string, DisplayBlock>();
    const at = (block: string) => {
      let b = byBlock.get(block);
      if (!b) byBlock.set(block, (b = { block, leased: 0, live: 0, suspect: 0, conflict: 0, reserved: 0 }));
      return b;
    };
    for (const s of props.data.blocks) {
      const b = at(blockOf(s.block, prefix));
      b.leased += s.leased;
      b.live += s.live;
      b.suspect += s.suspect;
      b.conflict += s.conflict;
    }
    for (const r of props.data.reservations) at(blockOf(r.first, prefix)).reserved += 1;
    // IPv4: every block of the level (256 at most); IPv6: only the blocks that hold addresses.
    const names = cidr.family === 4 ? allBlocks(cidr, prefix) : [...byBlock.keys()];
    return names.map((n) => byBlock.get(n) ?? { block: n, leased: 0, live: 0, suspect: 0, conflict: 0, reserved: 0 });
  }, [props.data, prefix]);
  const size = blockSize(prefix, cidr.family);
  const describe = (b: DisplayBlock) =>
    `${b.block}: ${b.leased} leased (${b.live} live, ${b.suspect} suspect)${b.conflict ? `, ${b.conflict} in conflict` : ""}${b.reserved ? `, ${b.reserved} reservation${b.reserved === 1 ? "" : "s"}` : ""}`;
  if (blocks.length === 0) return <p className="muted">No address of {props.data.cidr} is held on any host.</p>;
  const specs = blocks.map((b): CellSpec => ({
    key: b.block,
    label: describe(b),
    className: `cell block${b.conflict ? " cell-conflict" : ""}`,
    style: b.conflict ? undefined : { background: heat(Math.min(1, b.leased / size), b.leased > 0) },
    data: { "data-block": b.block },
    // A symbol as well as the colour: a block with leases reads without colour too.
    content: b.conflict ? "!" : b.suspect ? "?" : b.leased > 0 ? "●" : "",
  }));
  return <CellGrid label={`Blocks of ${props.data.cidr}, /${prefix} each`} testId="ipam-heatmap" cells={specs} onActivate={(i) => props.onZoom(blocks[i]!.block)} onOut={props.onOut} />;
});

/** Light to dark blue by use; a block with any lease is never as light as an empty one. */
function heat(use: number, any: boolean): string {
  if (!any) return "#f3f6f9";
  const l = 88 - Math.round(Math.max(0.08, use) * 58);
  return `hsl(212 70% ${l}%)`;
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
