"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { memo, useCallback, useEffect, useState, type FormEvent } from "react";
import { errorMessage, useTRPC } from "~/trpc/react";
import { ConfirmDialog } from "../confirm-dialog";
import { useLiveEvents, useRefetchLive } from "../live-updates";
import { AbsoluteTime, RelativeTime } from "../relative-time";
import { useCan } from "../user-context";
import { HostBlocks } from "./host-blocks";
import { IpamMap } from "./ipam-map";
import { Leaks } from "./leaks";
import { UsagePlot } from "./usage-plot";

/**
 * A network's addresses: utilisation per subnet and its use over time, the map (zoom and the
 * address opened are in the URL), one address's holders and history, reservations, per-host blocks.
 */
export function IpamPage({ id }: { id: string }) {
  const trpc = useTRPC();
  const params = useSearchParams();
  const summary = useQuery(trpc.ipam.summary.queryOptions({ networkId: id }));
  const refetch = useRefetchLive();
  // A host reported new leases of this network: the map, the summary and the leak list read again.
  useLiveEvents("ipam", (e) => {
    if (e.kind === "resync" || e.networkName === summary.data?.networkName) refetch({ queryKey: trpc.ipam.pathKey() });
  });
  // The zoom and the open address live in the URL, written with the history API (Next keeps
  // useSearchParams in step, no server round trip). Next applies it in a transition, after other
  // work: the page shows the new value at once from `pending`, until the URL says the same.
  const [pending, setPending] = useState<Record<string, string | null>>({});
  const search = params.toString();
  useEffect(() => setPending((was) => (Object.keys(was).length === 0 ? was : {})), [search]);
  const setParams = useCallback((next: Record<string, string | null>) => {
    setPending((was) => ({ ...was, ...next }));
    const p = new URLSearchParams(window.location.search);
    for (const [k, v] of Object.entries(next)) v === null ? p.delete(k) : p.set(k, v);
    window.history.replaceState(null, "", `${window.location.pathname}?${p.toString()}`);
  }, []);
  const param = (k: string) => (k in pending ? pending[k]! : params.get(k));
  // Stable setters: the memoised panels below do not render again on a zoom (bench/ipam-browser.ts).
  const openAddress = useCallback((a: string) => setParams({ address: a }), [setParams]);
  const zoomTo = useCallback((c: string) => setParams({ cidr: c, address: null }), [setParams]);
  // The map is drawn first: the lists below it (the leak list is half a megabyte at 50,000 leases)
  // are asked for once its first cells are painted, so they neither hold up its data nor its paint.
  const [mapDrawn, setMapDrawn] = useState(false);
  const onMapDrawn = useCallback(() => setMapDrawn(true), []);
  if (summary.error) return <div className="error-box">{errorMessage(summary.error)}</div>;
  if (!summary.data) return <p className="muted">Loading…</p>;
  const s = summary.data;
  const subnet = param("subnet") ?? s.subnets[0]?.cidr;
  const cidr = param("cidr") ?? subnet;
  const address = param("address");
  const showLists = mapDrawn || !subnet;
  return (
    <div>
      <p><Link href={`/networks/${id}`}>← {s.networkName}</Link></p>
      <h1>Addresses of {s.networkName}</h1>
      {s.sharesL2 && <p className="muted">This network's plugin shares one L2 segment across hosts: an address held on two hosts is a conflict.</p>}
      <section className="panel" aria-label="Utilisation">
        <h2>Utilisation</h2>
        {s.subnets.length === 0 && <p className="muted">This network's config has no subnet the console can map (no host-local ranges).</p>}
        <table>
          <thead><tr><th>Subnet</th><th>Leased</th><th>Live</th><th>Suspect</th><th>Reserved</th><th>Use</th></tr></thead>
          <tbody>
            {s.subnets.map((sub) => (
              <tr key={sub.cidr}>
                <td><button type="button" className="link mono" onClick={() => setParams({ subnet: sub.cidr, cidr: sub.cidr, address: null })}>{sub.cidr}</button></td>
                <td>{sub.leased} of {sub.usable.toLocaleString()}</td>
                <td>{sub.live}</td>
                <td>{sub.suspect > 0 ? <strong className="warning">{sub.suspect}</strong> : 0}</td>
                <td>{sub.reserved}</td>
                <td><meter min={0} max={sub.usable} value={sub.leased} aria-label={`${sub.cidr} in use`} /> {percent(sub.leased, sub.usable)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <UsagePlot points={s.usage} />
        {s.hosts.length > 0 && (
          <p className="muted">
            Reported by{" "}
            {s.hosts.map((h, i) => (
              <span key={h.hostId}>
                {i > 0 && ", "}
                <Link href={`/hosts/${h.hostId}`}>{h.hostName}</Link> ({h.leases} lease{h.leases === 1 ? "" : "s"}, <RelativeTime date={h.reportedAt} />)
              </span>
            ))}
          </p>
        )}
      </section>
      <AddressSearchPanel />
      {subnet && cidr && (
        <section className="panel" aria-label="Map">
          <h2>Map</h2>
          <IpamMap
            networkId={id}
            subnet={subnet}
            cidr={cidr}
            onZoom={zoomTo}
            onOpenAddress={openAddress}
            onDrawn={onMapDrawn}
          />
        </section>
      )}
      {address && <AddressPanel networkId={id} address={address} onClose={() => setParams({ address: null })} />}
      {showLists && (
        <div className="ipam-below">
          <LeaksPanel networkId={id} onOpenAddress={openAddress} />
          <ReservationsPanel networkId={id} />
          <HostBlocksPanel networkId={id} networkName={s.networkName} />
        </div>
      )}
    </div>
  );
}

// A zoom or an opened address changes the URL and re-renders the page: these panels do not depend
// on it and keep their render (the leak list alone is a thousand rows at 50,000 leases).
const LeaksPanel = memo(Leaks);
const ReservationsPanel = memo(Reservations);
const HostBlocksPanel = memo(HostBlocks);
const AddressSearchPanel = memo(AddressSearch);

function percent(n: number, of: number): string {
  return of > 0 ? `${((100 * n) / of).toFixed(n / of < 0.1 ? 1 : 0)} %` : "";
}

/** "Who holds A now" and "who held A at T", in every network. */
function AddressSearch() {
  const trpc = useTRPC();
  const [query, setQuery] = useState<{ address: string; at?: Date } | null>(null);
  const [address, setAddress] = useState("");
  const [at, setAt] = useState("");
  const found = useQuery({ ...trpc.ipam.search.queryOptions(query ?? { address: "0.0.0.0" }), enabled: query !== null });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setQuery({ address: address.trim(), ...(at ? { at: new Date(at) } : {}) });
  };
  return (
    <section className="panel" aria-label="Find an address">
      <h2>Who holds an address</h2>
      <form className="row" onSubmit={submit}>
        <label>Address <input value={address} onChange={(e) => setAddress(e.target.value)} placeholder="10.77.0.23" className="mono" required /></label>
        <label>At (optional, local time) <input type="datetime-local" value={at} onChange={(e) => setAt(e.target.value)} /></label>
        <button type="submit">Find</button>
      </form>
      {found.error && <div className="error-box">{errorMessage(found.error)}</div>}
      {found.data && (
        found.data.length === 0 ? (
          <p className="muted" data-testid="ipam-search-result">No host {query?.at ? "held" : "holds"} {query?.address}{query?.at ? " then" : " now"}.</p>
        ) : (
          <ul data-testid="ipam-search-result">
            {found.data.map((h) => (
              <li key={`${h.networkName}-${h.hostName}`}>
                {h.networkId ? <Link href={`/networks/${h.networkId}/ipam?address=${encodeURIComponent(query!.address)}`}>{h.networkName}</Link> : h.networkName}
                {" on "}{h.hostName}: <span className="mono">{h.containerId}/{h.ifName}</span>
                {h.attachmentId && <> (<Link href={`/attachments?search=${encodeURIComponent(h.containerId)}`}>attachment</Link>)</>}, since <AbsoluteTime date={h.since} />
              </li>
            ))}
          </ul>
        )
      )}
    </section>
  );
}

function AddressPanel({ networkId, address, onClose }: { networkId: string; address: string; onClose: () => void }) {
  const trpc = useTRPC();
  const one = useQuery(trpc.ipam.address.queryOptions({ networkId, address }));
  return (
    <section className="panel" aria-label={`Address ${address}`} data-testid="ipam-address">
      <div className="row" style={{ justifyContent: "space-between" }}>
        <h2 className="mono">{address}</h2>
        <button type="button" onClick={onClose}>Close</button>
      </div>
      {one.error && <div className="error-box">{errorMessage(one.error)}</div>}
      {one.data && (
        <>
          <h3>Held now</h3>
          {one.data.holders.length === 0 ? (
            <p className="muted">No host holds it now.</p>
          ) : (
            <table>
              <thead><tr><th>Host</th><th>Container</th><th>Interface</th><th>Attachment</th><th>Since</th></tr></thead>
              <tbody>
                {one.data.holders.map((h) => (
                  <tr key={h.hostId}>
                    <td><Link href={`/hosts/${h.hostId}`}>{h.hostName}</Link></td>
                    <td className="mono">{h.containerId}</td>
                    <td className="mono">{h.ifName}</td>
                    <td>{h.attachmentId ? <Link href={`/attachments/${h.attachmentId}/latest-job`}>{h.attachmentState}</Link> : <span className="warning">none known</span>}</td>
                    <td><AbsoluteTime date={h.since} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h3>History</h3>
          {one.data.history.length === 0 ? (
            <p className="muted">No event kept for this address.</p>
          ) : (
            <ol className="history">
              {one.data.history.map((e, i) => (
                <li key={i}>
                  <AbsoluteTime date={e.at} /> <strong>{e.kind}</strong> {e.hostName && <>on {e.hostName}</>} {e.containerId && <span className="mono">{e.containerId}/{e.ifName}</span>}
                  {e.actorName && <> by {e.actorName}</>} {e.detail && <span className="muted">— {e.detail}</span>}
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}

function Reservations({ networkId }: { networkId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const can = useCan();
  const list = useQuery(trpc.ipam.reservations.queryOptions({ networkId }));
  const [first, setFirst] = useState("");
  const [last, setLast] = useState("");
  const [note, setNote] = useState("");
  const [ending, setEnding] = useState<{ id: string; label: string } | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.ipam.pathKey() });
  const reserve = useMutation(trpc.ipam.reserve.mutationOptions({ onSuccess: () => { setFirst(""); setLast(""); setNote(""); void refresh(); } }));
  const unreserve = useMutation(trpc.ipam.unreserve.mutationOptions({ onSuccess: () => { setEnding(null); void refresh(); } }));
  return (
    <section className="panel" aria-label="Reservations">
      <h2>Reservations</h2>
      <p className="muted hint">
        Enforced on every host: the config each host receives has the reserved addresses cut out of its host-local ranges, so the
        plugin never hands one out (attachments made before keep their config until they are applied again).
      </p>
      {list.data?.length === 0 && <p className="muted">No reservation.{can.editAddresses ? " Reserve gateways, VIPs or appliances' addresses below." : ""}</p>}
      {list.data && list.data.length > 0 && (
        <table>
          <thead><tr><th>Addresses</th><th>Note</th><th>By</th><th>Since</th><th /></tr></thead>
          <tbody>
            {list.data.map((r) => (
              <tr key={r.id}>
                <td className="mono">{r.first === r.last ? r.first : `${r.first} – ${r.last}`}</td>
                <td>{r.note}</td>
                <td>{r.createdByName}</td>
                <td><AbsoluteTime date={r.createdAt} /></td>
                <td>{can.editAddresses && <button type="button" onClick={() => setEnding({ id: r.id, label: r.first === r.last ? r.first : `${r.first} – ${r.last}` })}>End</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {can.editAddresses && (
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            reserve.mutate({ networkId, first: first.trim(), ...(last.trim() ? { last: last.trim() } : {}), note });
          }}
        >
          <label>First <input value={first} onChange={(e) => setFirst(e.target.value)} className="mono" required /></label>
          <label>Last (optional) <input value={last} onChange={(e) => setLast(e.target.value)} className="mono" /></label>
          <label>Note <input value={note} onChange={(e) => setNote(e.target.value)} maxLength={500} /></label>
          <button type="submit" disabled={reserve.isPending}>Reserve</button>
        </form>
      )}
      {reserve.error && <div className="error-box" role="alert">{errorMessage(reserve.error)}</div>}
      <ConfirmDialog
        open={ending !== null}
        title="End this reservation?"
        description={<>The addresses {ending?.label} go back into the ranges of the configs hosts receive from now on.</>}
        confirmLabel="End reservation"
        danger
        pending={unreserve.isPending}
        error={unreserve.error ? errorMessage(unreserve.error) : null}
        onConfirm={() => ending && unreserve.mutate({ id: ending.id })}
        onCancel={() => setEnding(null)}
      />
    </section>
  );
}
