"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { errorMessage, useTRPC } from "~/trpc/react";
import { LabelBadges } from "./labels-editor";

/**
 * Containers other runtimes (podman, containerd) attached to this network on the hosts (issue 16 §3): what the
 * agents see in libcni's cache, read-only, marked with their runtime. Switchyard runs nothing for
 * them; they leave when their runtime's DEL removes them.
 */
export function ObservedContainers({ networkId }: { networkId: string }) {
  const trpc = useTRPC();
  const observed = useQuery({ ...trpc.networks.observed.queryOptions({ id: networkId }), refetchInterval: 5000 });
  if (observed.error) return <div className="error-box">{errorMessage(observed.error)}</div>;
  const rows = observed.data?.attachments ?? [];
  const total = observed.data?.total ?? 0;
  return (
    <section aria-label="Containers of other runtimes" className="panel">
      <strong>Containers of other runtimes</strong> <span className="badge" data-testid="observed-count">{total}</span>{" "}
      <span className="muted">seen in the hosts' CNI cache; read-only: their runtime attaches and detaches them</span>
      {total > rows.length && <div className="muted" data-testid="observed-shown">the first {rows.length} of {total} are listed</div>}
      {rows.length > 0 && (
        <table aria-label="Observed containers" style={{ marginTop: 8 }}>
          <thead>
            <tr>
              <th>Host</th>
              <th>Runtime</th>
              <th>Container</th>
              <th>Labels</th>
              <th>Addresses</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((a) => (
              <tr key={`${a.hostId}/${a.containerId}/${a.ifName}`} data-testid={`observed-${a.name || a.containerId.slice(0, 12)}`}>
                <td>
                  <Link href={`/hosts/${a.hostId}`}>{a.hostName}</Link>
                </td>
                <td>
                  <span className="badge">{a.runtime}</span>
                </td>
                <td>
                  {a.name || <span className="muted">unnamed</span>} <span className="mono muted">{a.containerId.slice(0, 12)}</span>
                  {a.image && <div className="muted mono">{a.image}</div>}
                </td>
                <td>
                  <LabelBadges labels={a.labels} />
                  {a.labelsLeftOut > 0 && <span className="muted"> ({a.labelsLeftOut} not valid labels, left out)</span>}
                </td>
                <td className="mono">
                  {a.addresses.length === 0
                    ? "—"
                    : a.addresses.map((cidr, i) => (
                        <span key={cidr}>
                          {i > 0 && ", "}
                          {/* Its lease on the address map (the lease is the runtime's, read like any other). */}
                          <Link href={`/networks/${networkId}/ipam?address=${encodeURIComponent(cidr.split("/")[0]!)}`}>{cidr}</Link>
                        </span>
                      ))}
                </td>
                <td>{a.state || "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** A host's containers of other runtimes: each with its network, or marked foreign when the console does not know that network. */
export function HostObservedContainers({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const observed = useQuery({ ...trpc.hosts.observed.queryOptions({ id: hostId }), refetchInterval: 5000 });
  if (observed.error) return <div className="error-box">{errorMessage(observed.error)}</div>;
  if (!observed.data) return null;
  const runtimes = (observed.data.runtimes ?? []) as { runtime: string; ok: boolean; error?: string }[];
  const rows = observed.data.attachments;
  return (
    <section aria-label="Containers of other runtimes on this host">
      {observed.data.total > rows.length && <div className="muted">the first {rows.length} of {observed.data.total} are listed</div>}
      {runtimes.filter((r) => !r.ok).map((r) => (
        <div key={r.runtime} className="warn-box">{r.runtime} does not answer the agent: {r.error}. Its containers keep what it said of them last; any it never described are shown without names or labels.</div>
      ))}
      {rows.length === 0 ? (
        <p className="muted">None seen: no other runtime has attached a container here (or the agent runs with --observe off).</p>
      ) : (
        <table aria-label="Observed containers on this host">
          <thead>
            <tr>
              <th>Network</th>
              <th>Runtime</th>
              <th>Container</th>
              <th>Labels</th>
              <th>Addresses</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((a) => (
              <tr key={`${a.networkName}/${a.containerId}/${a.ifName}`}>
                <td>
                  {a.networkId ? <Link href={`/networks/${a.networkId}`}>{a.networkName}</Link> : <>{a.networkName} <span className="badge" title="a network the console does not know">foreign</span></>}
                </td>
                <td><span className="badge">{a.runtime}</span></td>
                <td>{a.name || <span className="muted">unnamed</span>} <span className="mono muted">{a.containerId.slice(0, 12)}</span></td>
                <td><LabelBadges labels={a.labels} /></td>
                <td className="mono">{a.addresses.join(", ") || "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
