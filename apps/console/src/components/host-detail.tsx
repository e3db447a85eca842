"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRef, useState } from "react";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { AttachmentsTable } from "./attachments-table";
import { DoctorPanel } from "./doctor-panel";
import { HOSTS_REFETCH_MS, useHostChanges } from "./hosts-list";
import { InventoryView } from "./inventory-view";
import { HostLabels } from "./labels-host";
import { HostDeployments } from "./network-deployment";
import { HostObservedContainers } from "./observed-containers";
import { AbsoluteTime, RelativeTime } from "./relative-time";
import { StateBadge, type BadgeState } from "./state-badge";
import { useCan } from "./user-context";

export function HostDetail({ id }: { id: string }) {
  const trpc = useTRPC();
  const can = useCan();
  const host = useQuery({ ...trpc.hosts.get.queryOptions({ id }), refetchInterval: HOSTS_REFETCH_MS });
  useHostChanges(id);

  if (host.error) {
    return (
      <div>
        <p><Link href="/hosts">← Hosts</Link></p>
        <div className="error-box">{errorMessage(host.error)}</div>
      </div>
    );
  }
  if (!host.data) return <p className="muted">Loading…</p>;
  const h = host.data;

  return (
    <div>
      <p><Link href="/hosts">← Hosts</Link></p>
      <div className="row" style={{ justifyContent: "space-between" }}>
        <h1>{h.name} <StateBadge state={h.liveness} testId="host-liveness" /></h1>
        <div className="row">
          {can.editAttachments && !h.revokedAt && <ReconcileHost id={id} />}
          {can.manageHosts && !h.revokedAt && <RevokeHost id={id} name={h.name} />}
        </div>
      </div>
      <div className="panel">
        <dl className="facts">
          <dt>Agent version</dt><dd className="mono">{h.agentVersion || "unknown"}</dd>
          <dt>Enrolled</dt><dd><AbsoluteTime date={h.enrolledAt} /></dd>
          <dt>Last seen</dt><dd><RelativeTime date={h.lastSeenAt} /></dd>
          <dt>Credential expires</dt><dd><AbsoluteTime date={h.credentialExpiresAt} /> (<RelativeTime date={h.credentialExpiresAt} />)</dd>
          <LastReconcile last={h.inventory?.lastReconcile ?? null} />
          {h.revokedAt && (
            <>
              <dt>Revoked</dt><dd><AbsoluteTime date={h.revokedAt} /> by {h.revokedByName || "unknown"}</dd>
            </>
          )}
        </dl>
      </div>
      <HostLabels hostId={id} labels={h.labels} canEdit={can.editNetworks && !h.revokedAt} />
      <h2>Doctor</h2>
      <DoctorPanel hostId={id} />
      <h2>Attachments</h2>
      <AttachmentsTable hostId={id} hideHost />
      <h2>Networks deployed here</h2>
      <HostDeployments hostId={id} />
      <h2>Containers of other runtimes</h2>
      <HostObservedContainers hostId={id} />
      <h2 id="host-ports-heading">Host ports taken</h2>
      <HostPorts hostId={id} />
      <h2>Inventory</h2>
      <InventoryView inventory={h.inventory} reportedAt={h.inventoryAt} confDrift={h.confDrift} />
    </div>
  );
}

/** Operators: ask the agent to reconcile now (stale attachments DELed, CNI GC, a fresh inventory). */
function ReconcileHost({ id }: { id: string }) {
  const trpc = useTRPC();
  const reconcile = useMutation(trpc.hosts.reconcile.mutationOptions());
  return (
    <>
      <button onClick={() => reconcile.mutate({ id })} disabled={reconcile.isPending} title="DEL stale attachments, run CNI GC with the valid attachments, report a fresh inventory">
        Reconcile now
      </button>
      {reconcile.isSuccess && <span className="muted" role="status">Requested: the inventory refreshes when the agent is done.</span>}
      {reconcile.error && <span className="error-box" role="alert">{errorMessage(reconcile.error)}</span>}
    </>
  );
}

type Reconcile = NonNullable<NonNullable<RouterOutputs["hosts"]["get"]["inventory"]>["lastReconcile"]>;

function LastReconcile({ last }: { last: Reconcile | null }) {
  if (!last) return null;
  return (
    <>
      <dt>Last reconcile</dt>
      <dd data-testid="last-reconcile">
        <RelativeTime date={last.at} />: {last.staleDeleted} stale attachment{last.staleDeleted === 1 ? "" : "s"} DELed, GC of {last.gcNetworks} network{last.gcNetworks === 1 ? "" : "s"}
        {last.errors.length > 0 && <div className="error-box">{last.errors.join("; ")}</div>}
        {last.warnings.length > 0 && <div className="warn-box" data-testid="reconcile-warnings">{last.warnings.join("; ")}</div>}
      </dd>
    </>
  );
}

/** The host ports attachments here map: what a new port mapping on this host must avoid. */
function HostPorts({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const ports = useQuery(trpc.hosts.ports.queryOptions({ id: hostId }));
  if (ports.error) return <div className="error-box">{errorMessage(ports.error)}</div>;
  return (
    <>
      <table aria-labelledby="host-ports-heading">
        <thead><tr><th>Host port</th><th>Protocol</th><th>Host IP</th><th>Container port</th><th>Attachment</th><th>State</th></tr></thead>
        <tbody>
          {ports.data?.map((p) => (
            <tr key={`${p.protocol}/${p.hostIP}:${p.hostPort}/${p.attachmentId}`}>
              <td className="mono">{p.hostPort}</td>
              <td>{p.protocol}</td>
              <td className="mono">{p.hostIP || <span className="muted">all addresses</span>}</td>
              <td className="mono">{p.containerPort}</td>
              <td><Link href={`/attachments/${p.attachmentId}/latest-job`} className="mono">{p.containerId}/{p.ifName}</Link> on {p.networkName}</td>
              <td><StateBadge state={p.state as BadgeState} /></td>
            </tr>
          ))}
          {ports.data?.length === 0 && (
            <tr><td colSpan={6} className="muted">No host ports mapped on this host. Add port mappings when you attach (the network needs the portmap plugin chained).</td></tr>
          )}
        </tbody>
      </table>
    </>
  );
}

function RevokeHost({ id, name }: { id: string; name: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const dialog = useRef<HTMLDialogElement>(null);
  const [confirmName, setConfirmName] = useState("");
  const revoke = useMutation(
    trpc.hosts.revoke.mutationOptions({
      onSuccess: () => {
        dialog.current?.close();
        void queryClient.invalidateQueries({ queryKey: trpc.hosts.pathKey() });
      },
    }),
  );
  return (
    <>
      <button className="danger" onClick={() => dialog.current?.showModal()}>Revoke</button>
      <dialog ref={dialog} aria-label="Revoke host">
        <h2 style={{ marginTop: 0 }}>Revoke host {name}?</h2>
        <p>
          Its agent&apos;s credential is refused from its next request and it gets no more work. To use the host again, enrol it with a new join
          token. Type <code>{name}</code> to confirm.
        </p>
        <input aria-label="Host name to confirm" value={confirmName} onChange={(e) => setConfirmName(e.target.value)} />
        {revoke.error && <div className="error-box" role="alert">{errorMessage(revoke.error)}</div>}
        <div className="row" style={{ marginTop: 12 }}>
          <button className="danger" disabled={confirmName !== name || revoke.isPending} onClick={() => revoke.mutate({ id })}>
            Revoke for good
          </button>
          <button onClick={() => dialog.current?.close()}>Cancel</button>
        </div>
      </dialog>
    </>
  );
}
