"use client";

import { parseNetworkConfig } from "@switchyard/cni/config";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useRef, useState } from "react";
import { errorIssues, errorMessage, useTRPC, useTRPCClient } from "~/trpc/react";
import { ConfigEditor } from "./config-editor";
import { ConfirmDialog } from "./confirm-dialog";
import { downloadConfigFiles } from "./download";
import { NetworkDeployment } from "./network-deployment";
import { ObservedContainers } from "./observed-containers";
import { NetworkEditor } from "./network-editor";
import { formFromConflist } from "./network-form-model";
import { AffectedAttachments, ApplyLatestToAll } from "./network-usage";
import { RevisionDiff } from "./revision-diff";
import { StrandedLeases, useStrandedByRevision } from "./stranded-leases";
import { useCan } from "./user-context";
import { AbsoluteTime } from "./relative-time";

export function NetworkDetail({ id }: { id: string }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const can = useCan();
  const network = useQuery(trpc.networks.get.queryOptions({ id }));
  const revisions = useQuery(trpc.networks.revisions.queryOptions({ id }));
  const [editing, setEditing] = useState(false);
  const [compare, setCompare] = useState<number[]>([]);
  const [rollbackTo, setRollbackTo] = useState<number | null>(null);
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.networks.pathKey() });
  const update = useMutation(trpc.networks.update.mutationOptions({ onSuccess: () => { setEditing(false); void invalidate(); } }));
  const rollback = useMutation(trpc.networks.rollback.mutationOptions({ onSuccess: () => { setRollbackTo(null); void invalidate(); } }));
  const router = useRouter();
  const propose = useMutation(trpc.proposals.create.mutationOptions({ onSuccess: (p) => router.push(`/proposals/${p.id}`) }));
  // Confirming the rollback agrees to strand what the dialog shows (the API refuses it otherwise).
  const strandedByRollback = useStrandedByRevision(id, rollbackTo);

  if (network.error) {
    return (
      <div>
        <p><Link href="/networks">← Networks</Link></p>
        <div className="error-box">{errorMessage(network.error)}</div>
      </div>
    );
  }
  if (!network.data) return <p className="muted">Loading…</p>;
  const n = network.data;
  const parsed = parseNetworkConfig(n.text);
  const initialForm = parsed.ok ? formFromConflist(parsed.conflist) : null;
  const [a, b] = [...compare].sort((x, y) => x - y);

  return (
    <div>
      <p><Link href="/networks">← Networks</Link></p>
      <div className="row" style={{ justifyContent: "space-between" }}>
        <h1>{n.name} <span className="badge">r{n.latestRevision}</span></h1>
        <div className="row">
          <Link href={`/networks/${id}/ipam`} className="button">Addresses</Link>
          <button onClick={() => void client.networks.export.query({ id }).then((f) => downloadConfigFiles(f, `${n.name}.zip`))}>Export</button>
          {can.editNetworks && !editing && <button className="primary" onClick={() => setEditing(true)}>Edit</button>}
          {can.editNetworks && <DeleteNetwork id={id} name={n.name} />}
        </div>
      </div>
      {n.warnings.map((w) => <div key={w.message} className="warn-box">Warning: {w.message}</div>)}
      {!editing && <ApplyLatestToAll id={id} />}
      {!editing && <NetworkDeployment networkId={id} canEdit={can.editNetworks} />}
      {!editing && <ObservedContainers networkId={id} />}
      {editing ? (
        <div>
          <NetworkEditor
            key={n.latestRevision}
            networkId={id}
            affected={<AffectedAttachments id={id} />}
            initialForm={initialForm}
            initialText={n.text}
            serverIssues={errorIssues(update.error ?? propose.error)}
            serverError={update.error ? errorMessage(update.error) : propose.error ? errorMessage(propose.error) : null}
            pending={update.isPending}
            submitLabel="Save revision"
            onSubmit={(s) => { propose.reset(); update.mutate({ id, ...s, expectedRevision: n.latestRevision }); }}
            propose={{ pending: propose.isPending, onPropose: (s) => { update.reset(); propose.mutate({ kind: "network", targetId: id, title: s.comment.trim() || "Change the config", text: s.text }); } }}
          />
          <button onClick={() => { setEditing(false); update.reset(); }} style={{ marginTop: 8 }}>Cancel</button>
        </div>
      ) : (
        <ConfigEditor label="Current conflist" value={n.text} readOnly />
      )}

      <h2>History</h2>
      <ConfirmDialog
        open={rollbackTo !== null}
        title={`Roll back ${n.name} to r${rollbackTo ?? ""}?`}
        confirmLabel="Confirm rollback"
        danger
        pending={rollback.isPending}
        onConfirm={() => rollbackTo !== null && rollback.mutate({ id, toRevision: rollbackTo, expectedRevision: n.latestRevision, ...(strandedByRollback ? { strandAddresses: strandedByRollback.total } : {}) })}
        onCancel={() => { setRollbackTo(null); rollback.reset(); }}
      >
        <p>
          This saves r{rollbackTo ?? ""}&apos;s config as the new revision r{n.latestRevision + 1}. Attachments keep the revision they run until you apply the latest to them.
        </p>
        {strandedByRollback && <StrandedLeases data={strandedByRollback} />}
        <AffectedAttachments id={id} />
        {rollback.error && <div className="error-box" role="alert">{errorMessage(rollback.error)}</div>}
      </ConfirmDialog>
      <table aria-label="Revision history">
        <thead>
          <tr><th>Compare</th><th>Revision</th><th>When</th><th>Who</th><th>Comment</th><th /></tr>
        </thead>
        <tbody>
          {revisions.data?.map((r) => (
            <tr key={r.number}>
              <td>
                <input
                  type="checkbox"
                  aria-label={`Compare revision ${r.number}`}
                  checked={compare.includes(r.number)}
                  onChange={(e) => setCompare((c) => (e.target.checked ? [...c, r.number].slice(-2) : c.filter((x) => x !== r.number)))}
                />
              </td>
              <td>r{r.number}</td>
              <td><AbsoluteTime date={r.createdAt} /></td>
              <td>{r.authorName}</td>
              <td>{r.comment}</td>
              <td>
                {can.editNetworks && r.number !== n.latestRevision && (
                  <button
                    disabled={rollback.isPending}
                    onClick={() => setRollbackTo(r.number)}
                  >
                    Roll back to r{r.number}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {a !== undefined && b !== undefined ? <DiffOf id={id} from={a} to={b} /> : <p className="muted">Tick two revisions to see what changed between them.</p>}
    </div>
  );
}

function DiffOf({ id, from, to }: { id: string; from: number; to: number }) {
  const trpc = useTRPC();
  const a = useQuery(trpc.networks.revision.queryOptions({ id, number: from }));
  const b = useQuery(trpc.networks.revision.queryOptions({ id, number: to }));
  if (!a.data || !b.data) return <p className="muted">Loading diff…</p>;
  return <RevisionDiff from={a.data.text} to={b.data.text} fromLabel={`r${from}`} toLabel={`r${to}`} />;
}

function DeleteNetwork({ id, name }: { id: string; name: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const dialog = useRef<HTMLDialogElement>(null);
  const [confirmName, setConfirmName] = useState("");
  const del = useMutation(
    trpc.networks.delete.mutationOptions({
      onSuccess: () => {
        void queryClient.invalidateQueries({ queryKey: trpc.networks.pathKey() });
        router.push("/networks");
      },
    }),
  );
  return (
    <>
      <button className="danger" onClick={() => dialog.current?.showModal()}>Delete</button>
      <dialog ref={dialog} aria-label="Delete network">
        <h2 style={{ marginTop: 0 }}>Delete network {name}?</h2>
        <p>Its whole revision history goes too. Type <code>{name}</code> to confirm.</p>
        <input aria-label="Network name to confirm" value={confirmName} onChange={(e) => setConfirmName(e.target.value)} />
        {del.error && <div className="error-box" role="alert">{errorMessage(del.error)}</div>}
        <div className="row" style={{ marginTop: 12 }}>
          <button className="danger" disabled={confirmName !== name || del.isPending} onClick={() => del.mutate({ id, confirmName })}>
            Delete for good
          </button>
          <button onClick={() => dialog.current?.close()}>Cancel</button>
        </div>
      </dialog>
    </>
  );
}
