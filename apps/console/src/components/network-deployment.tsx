"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { LabelBadges, LabelsEditor, labelsOf, rowsOf, type LabelRow } from "./labels-editor";
import { RelativeTime } from "./relative-time";
import { StateBadge } from "./state-badge";

type Mode = "nowhere" | "all" | "labels" | "hosts";
type Drift = "restore" | "warn";

/**
 * Where a network is deployed (hosts' CNI conf dirs, issue 16) and, per host, the revision its conf
 * dir holds: deployed, drifted (edited by hand, warn policy), a conflict with a file the agent did
 * not write, or the error it hit. Operators change the placement here (networks.place, audited).
 */
export function NetworkDeployment({ networkId, canEdit }: { networkId: string; canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  // Agents report within a second or two of a change: poll while a placed host is not yet current.
  const status = useQuery({
    ...trpc.networks.deployments.queryOptions({ id: networkId }),
    refetchInterval: (q) => (q.state.data?.placement?.rollout?.state === "running" || q.state.data?.hosts.some((h) => h.placed !== h.current || (!h.placed && h.file)) ? 2000 : 15_000),
  });
  const [editing, setEditing] = useState(false);
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.networks.pathKey() });
  const place = useMutation(trpc.networks.place.mutationOptions({ onSuccess: () => (setEditing(false), void invalidate()) }));
  const unplace = useMutation(trpc.networks.unplace.mutationOptions({ onSuccess: () => (setEditing(false), void invalidate()) }));

  if (status.error) return <div className="error-box">{errorMessage(status.error)}</div>;
  if (!status.data) return null;
  const { placement, latestRevision, hosts } = status.data;
  const current = hosts.filter((h) => h.current).length;
  const placed = hosts.filter((h) => h.placed).length;

  return (
    <section aria-label="Deployed to hosts" className="panel">
      <div className="row" style={{ justifyContent: "space-between" }}>
        <div>
          <strong>Deployed to hosts</strong>{" "}
          <span data-testid="placement-summary">
            {!placement ? (
              <span className="muted">nowhere: the network is written to no host's conf dir</span>
            ) : placement.mode === "all" ? (
              "all hosts"
            ) : placement.mode === "labels" ? (
              <>hosts with <LabelBadges labels={placement.selector.matchLabels ?? {}} /></>
            ) : (
              `${placement.hostIds.length} host${placement.hostIds.length === 1 ? "" : "s"} picked`
            )}
            {placement && <> · drift: {placement.drift === "restore" ? "restore" : "leave and warn"} · r{placement.revision} deployed, on {current} of {placed} host{placed === 1 ? "" : "s"}</>}
          </span>
        </div>
        {canEdit && !editing && <button onClick={() => setEditing(true)}>Change placement</button>}
      </div>
      {placement && <RolloutControls networkId={networkId} latestRevision={latestRevision} placement={placement} hostName={(id) => hosts.find((h) => h.hostId === id)?.hostName ?? id} canEdit={canEdit} />}
      {editing && (
        <PlacementForm
          initial={placement}
          pending={place.isPending || unplace.isPending}
          error={place.error ? errorMessage(place.error) : unplace.error ? errorMessage(unplace.error) : null}
          onCancel={() => (setEditing(false), place.reset(), unplace.reset())}
          onSave={(mode, rest) => (mode === "nowhere" ? unplace.mutate({ id: networkId }) : place.mutate({ networkId, mode, ...rest }))}
        />
      )}
      {hosts.length > 0 && (
        <table aria-label="Deployment per host" style={{ marginTop: 8 }}>
          <DeploymentHead first="Host" />
          <tbody>
            {hosts.map((h) => (
              <tr key={h.hostId} data-testid={`deployment-${h.hostName}`}>
                <td>
                  <Link href={`/hosts/${h.hostId}`}>{h.hostName}</Link>
                  {!h.placed && <span className="muted"> (no longer placed)</span>}
                </td>
                <DeploymentCells file={h.file} placed={h.placed} wantedRevision={h.wantedRevision} confDirError={h.confDirError} />
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

type DeployedFile = RouterOutputs["networks"]["deployments"]["hosts"][number]["file"];

/** The header over DeploymentCells: the first column names the row (a host, a network). */
function DeploymentHead({ first }: { first: string }) {
  return (
    <thead>
      <tr>
        <th>{first}</th>
        <th>File</th>
        <th>Revision</th>
        <th>State</th>
        <th>Reported</th>
      </tr>
    </thead>
  );
}

/** One network on one host, in both tables: its file, the revision it holds (→ the one it should), its state, when reported. */
function DeploymentCells(props: { file: DeployedFile; placed: boolean; wantedRevision: number | null; confDirError: string }) {
  const { file, placed, wantedRevision } = props;
  return (
    <>
      <td className="mono">{file?.name ?? "—"}</td>
      <td data-testid="deployed-revision">
        {file?.revision != null ? `r${file.revision}` : "—"}
        {placed && wantedRevision !== null && file?.revision !== wantedRevision && <span className="muted"> → r{wantedRevision}</span>}
      </td>
      <td>
        <FileState file={file} confDirError={props.confDirError} />
      </td>
      <td>{file ? <RelativeTime date={file.reportedAt} /> : "—"}</td>
    </>
  );
}

/** A deployed file's state as its agent last reported it: deployed, restored, drifted (with the diff), a conflict, an error. */
function FileState({ file, confDirError }: { file: DeployedFile; confDirError: string }) {
  if (confDirError) return <span className="field-error">{confDirError}</span>;
  if (!file) return <span className="muted">waiting for the agent</span>;
  return (
    <>
      <StateBadge state={file.state as "deployed"} testId="deployment-state" />
      {file.action === "restore" && <span className="muted"> restored after a hand {file.change === "deleted" ? "delete" : "edit"}</span>}
      {file.state === "drifted" && <span className="muted"> {file.change} by hand, left as it is</span>}
      {file.state === "conflict" && <span> defined also by {file.conflictWith.join(", ")}: not written</span>}
      {file.error && <div className="field-error">{file.error}</div>}
      {file.diff && (
        <details>
          <summary>diff</summary>
          <pre className="mono" style={{ maxHeight: 240, overflow: "auto" }}>{file.diff}</pre>
        </details>
      )}
    </>
  );
}

/** The host's side (issue 16 §1): each network placed on it, the revision it should hold, and its file as the agent reported it. */
export function HostDeployments({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const deployed = useQuery({ ...trpc.hosts.deployments.queryOptions({ id: hostId }), refetchInterval: 5000 });
  if (deployed.error) return <div className="error-box">{errorMessage(deployed.error)}</div>;
  if (!deployed.data) return null;
  const { networks, confDirError } = deployed.data;
  if (networks.length === 0) return <p className="muted">No network is placed on this host{confDirError ? `; its conf dir: ${confDirError}` : ""}.</p>;
  return (
    <table aria-label="Networks deployed on this host">
      <DeploymentHead first="Network" />
      <tbody>
        {networks.map((n) => (
          <tr key={n.networkName} data-testid={`host-deployment-${n.networkName}`}>
            <td>
              {n.networkId ? <Link href={`/networks/${n.networkId}`}>{n.networkName}</Link> : n.networkName}
              {!n.placed && <span className="muted"> (no longer placed)</span>}
            </td>
            <DeploymentCells file={n.file} placed={n.placed} wantedRevision={n.wantedRevision} confDirError={confDirError} />
          </tr>
        ))}
      </tbody>
    </table>
  );
}

type PlacementInit = { mode: "all" | "labels" | "hosts"; selector: { matchLabels?: Record<string, string> }; hostIds: string[]; drift: Drift } | null;

function PlacementForm(props: {
  initial: PlacementInit;
  pending: boolean;
  error: string | null;
  onCancel(): void;
  onSave(mode: Mode, rest: { selector?: { matchLabels: Record<string, string> }; hostIds?: string[]; drift: Drift }): void;
}) {
  const trpc = useTRPC();
  const hosts = useQuery(trpc.hosts.list.queryOptions({ limit: 200 }));
  const [mode, setMode] = useState<Mode>(props.initial?.mode ?? "nowhere");
  const [rows, setRows] = useState<LabelRow[]>(rowsOf(props.initial?.selector.matchLabels ?? {}));
  const [picked, setPicked] = useState<Set<string>>(new Set(props.initial?.hostIds ?? []));
  const [drift, setDrift] = useState<Drift>(props.initial?.drift ?? "restore");
  const labels = labelsOf(rows);
  const live = (hosts.data?.items ?? []).filter((h) => h.liveness !== "revoked");
  return (
    <form
      aria-label="Placement"
      style={{ marginTop: 8 }}
      onSubmit={(e) => {
        e.preventDefault();
        if (mode === "labels" && labels.ok) props.onSave(mode, { selector: { matchLabels: labels.labels }, drift });
        else if (mode === "hosts") props.onSave(mode, { hostIds: [...picked], drift });
        else if (mode !== "labels") props.onSave(mode, { drift });
      }}
    >
      <fieldset style={{ border: 0, padding: 0 }}>
        <legend>Deploy to</legend>
        {(
          [
            ["nowhere", "Nowhere (agents remove the files they wrote)"],
            ["all", "All hosts"],
            ["labels", "Hosts with labels"],
            ["hosts", "Hosts I pick"],
          ] as const
        ).map(([value, label]) => (
          <label key={value} style={{ marginRight: 12 }}>
            <input type="radio" name="placement-mode" value={value} checked={mode === value} onChange={() => setMode(value)} /> {label}
          </label>
        ))}
      </fieldset>
      {mode === "labels" && <LabelsEditor name="Host labels to match" rows={rows} onChange={setRows} />}
      {mode === "hosts" && (
        <fieldset aria-label="Hosts" style={{ border: 0, padding: 0 }}>
          {live.length === 0 && <p className="muted">No enrolled hosts.</p>}
          {live.map((h) => (
            <label key={h.id} style={{ display: "block" }}>
              <input
                type="checkbox"
                checked={picked.has(h.id)}
                onChange={(e) => setPicked((old) => {
                  const next = new Set(old);
                  if (e.target.checked) next.add(h.id);
                  else next.delete(h.id);
                  return next;
                })}
              />{" "}
              {h.name} <span className="muted">({h.liveness})</span>
            </label>
          ))}
        </fieldset>
      )}
      {mode !== "nowhere" && (
        <label style={{ display: "block", marginTop: 6 }}>
          A deployed file edited or deleted by hand:{" "}
          <select aria-label="Drift policy" value={drift} onChange={(e) => setDrift(e.target.value as Drift)}>
            <option value="restore">restore it</option>
            <option value="warn">leave it, and show the drift</option>
          </select>
        </label>
      )}
      {props.error && <div className="error-box" role="alert">{props.error}</div>}
      <div className="row" style={{ marginTop: 8 }}>
        <button className="primary" type="submit" disabled={props.pending || (mode === "labels" && !labels.ok) || (mode === "hosts" && picked.size === 0)}>
          Save placement
        </button>
        <button type="button" onClick={props.onCancel}>Cancel</button>
      </div>
    </form>
  );
}

type RolloutState = { state: "running" | "paused" | "done"; revision: number; order: string[]; reached: number; error: string; byName: string };

/**
 * A newer revision reaches the placed hosts by a rollout, one host at a time: its plan (the diff, the
 * hosts in order) is shown first; while it runs, which host it waits for; paused, why, with resume
 * and stop.
 */
function RolloutControls(props: { networkId: string; latestRevision: number; placement: { revision: number; rollout: RolloutState | null }; hostName(id: string): string; canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [planning, setPlanning] = useState(false);
  const plan = useQuery({ ...trpc.networks.rolloutPlan.queryOptions({ id: props.networkId }), enabled: planning });
  const done = () => (setPlanning(false), void queryClient.invalidateQueries({ queryKey: trpc.networks.pathKey() }));
  const start = useMutation(trpc.networks.startRollout.mutationOptions({ onSuccess: done }));
  const steer = useMutation(trpc.networks.steerRollout.mutationOptions({ onSuccess: done }));
  const r = props.placement.rollout;
  const active = r && r.state !== "done" ? r : null;
  const error = start.error ?? steer.error;

  if (active) {
    const waiting = active.order[active.reached - 1];
    return (
      <div className={active.state === "paused" ? "warn-box" : "panel"} data-testid="rollout" style={{ marginTop: 8 }}>
        Rolling out r{active.revision}: {active.reached} of {active.order.length} host{active.order.length === 1 ? "" : "s"} reached
        {active.state === "running" && waiting && <>, waiting for <strong>{props.hostName(waiting)}</strong> to write it</>}
        {active.state === "paused" && <>; paused: {active.error}</>}
        {props.canEdit && (
          <span className="row" style={{ display: "inline-flex", marginLeft: 8 }}>
            {active.state === "paused" && <button onClick={() => steer.mutate({ networkId: props.networkId, action: "resume" })}>Resume</button>}
            <button onClick={() => steer.mutate({ networkId: props.networkId, action: "stop" })}>Stop (back to r{props.placement.revision})</button>
          </span>
        )}
        {error && <div className="error-box" role="alert">{errorMessage(error)}</div>}
      </div>
    );
  }
  if (props.latestRevision <= props.placement.revision) return null;
  return (
    <div style={{ marginTop: 8 }} data-testid="rollout">
      Revision r{props.latestRevision} is saved; the hosts hold r{props.placement.revision}.{" "}
      {props.canEdit && !planning && <button onClick={() => setPlanning(true)}>Plan rollout</button>}
      {planning && plan.data && (
        <div className="panel" aria-label="Rollout plan" role="region">
          <p>
            r{plan.data.fromRevision} → r{plan.data.toRevision}, one host at a time in this order; the next once the last has written it. Offline hosts get it when the rollout is done.
          </p>
          <ol>
            {plan.data.hosts.map((h) => (
              <li key={h.hostId} className={h.inOrder ? "" : "muted"}>
                {h.hostName} ({h.liveness}{h.fileRevision !== null ? `, holds r${h.fileRevision}` : ""}){!h.inOrder && ": after the rollout"}
              </li>
            ))}
          </ol>
          <details open>
            <summary>What changes</summary>
            <pre className="mono" style={{ maxHeight: 300, overflow: "auto" }}>{plan.data.diff}</pre>
          </details>
          {plan.data.blocked && <div className="warn-box">{plan.data.blocked}</div>}
          {error && <div className="error-box" role="alert">{errorMessage(error)}</div>}
          <div className="row">
            <button className="primary" disabled={!!plan.data.blocked || start.isPending} onClick={() => start.mutate({ networkId: props.networkId, revision: plan.data.toRevision })}>
              Start rollout of r{plan.data.toRevision}
            </button>
            <button onClick={() => setPlanning(false)}>Cancel</button>
          </div>
        </div>
      )}
      {planning && plan.error && <div className="error-box">{errorMessage(plan.error)}</div>}
    </div>
  );
}
