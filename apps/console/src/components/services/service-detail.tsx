"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { AbsoluteTime, RelativeTime } from "../relative-time";
import { RevisionDiff } from "../revision-diff";
import { useCan } from "../user-context";
import { ServiceProbe } from "./service-probe";
import { formatSelector } from "./selector-text";
import { ServicePlan, type PlannedChange } from "./service-plan";
import { AddManualMember, withoutManualMember } from "./service-plan-members";
import { SpecEditor } from "./service-plan-spec";
import { PlaneEditor, describePlane } from "./service-plane";
import { useServiceChanges } from "./services-list";

type Service = RouterOutputs["services"]["get"];
type Member = Service["members"][number];
type Spec = Service["spec"];
type MemberState = Member["state"];

const STATE_TONE: Record<MemberState, string> = { active: "success", draining: "warn", maintenance: "busy" };
const HEALTH_TONE: Record<Member["health"], string> = { none: "", unknown: "", healthy: "success", unhealthy: "error" };

/** The spec with one member's weight or state changed: an override for a selected attachment, the entry for a manual one. */
function withMember(spec: Spec, member: Member, change: { weight?: number; state?: MemberState }): Spec {
  if (member.source === "manual") {
    return { ...spec, manualMembers: spec.manualMembers.map((m) => (m.address === member.address && m.port === member.port ? { ...m, ...change } : m)) };
  }
  const others = spec.overrides.filter((o) => o.attachmentId !== member.attachmentId);
  const current = spec.overrides.find((o) => o.attachmentId === member.attachmentId) ?? { attachmentId: member.attachmentId! };
  return { ...spec, overrides: [...others, { ...current, ...change }] };
}

/** A service: its VIP and ports, the pool (live), desired against applied on every host, revisions. */
export function ServiceDetail({ id }: { id: string }) {
  const trpc = useTRPC();
  const can = useCan();
  const service = useQuery(trpc.services.get.queryOptions({ id }));
  useServiceChanges();
  // Every change is planned first (service-plan.tsx) and applied from there; one panel at a time.
  const [planned, setPlanned] = useState<{ n: number; change: PlannedChange } | null>(null);
  const [editing, setEditing] = useState<"spec" | "member" | "plane" | null>(null);
  const plan = (change: PlannedChange) => setPlanned((old) => ({ n: (old?.n ?? 0) + 1, change }));

  if (service.error) {
    return (
      <div>
        <p><Link href="/services">← Services</Link></p>
        <div className="error-box">{errorMessage(service.error)}</div>
      </div>
    );
  }
  if (!service.data) return <p className="muted">Loading…</p>;
  const s = service.data;
  const edit = (spec: Spec, comment: string) => plan({ kind: "update", spec, comment, title: comment });
  const proxied = s.spec.dataPlane === "proxy";

  return (
    <div>
      <p><Link href="/services">← Services</Link></p>
      <h1>{s.name} <span className="mono muted">{s.vip}</span></h1>
      <div className="panel">
        <dl className="facts">
          <dt>Ports</dt>
          <dd className="mono">{s.spec.ports.map((p) => `${p.port}/${p.protocol} → ${p.targetPort}`).join(", ")}</dd>
          <dt>Data plane</dt>
          <dd data-testid="service-plane">{describePlane(s.spec)}</dd>
          <dt>Members</dt>
          <dd className="mono">{s.spec.memberSelector ? `attachments labelled ${formatSelector(s.spec.memberSelector)}` : <span className="muted">by hand only</span>}</dd>
          <dt>Hosts</dt>
          <dd className="mono">{s.spec.hostSelector ? `labelled ${formatSelector(s.spec.hostSelector)}` : "every host"}</dd>
          <dt>Client affinity</dt>
          <dd>{s.spec.affinityTimeoutSeconds ? `${s.spec.affinityTimeoutSeconds} s` : "none"}</dd>
          <dt>Health check</dt>
          <dd>{s.spec.healthCheck ? (s.spec.healthCheck.kind === "http" ? `HTTP GET ${s.spec.healthCheck.path} → ${s.spec.healthCheck.expectStatus}` : "TCP connect") : "none"}</dd>
          <dt>Revision</dt>
          <dd>r{s.revision}{s.lastChange && <> · last change <RelativeTime date={s.lastChange.at} /></>}</dd>
        </dl>
      </div>
      {can.editNetworks && (
        <div className="row" style={{ marginBottom: 12 }}>
          <button onClick={() => setEditing(editing === "spec" ? null : "spec")} aria-expanded={editing === "spec"}>Edit spec</button>
          <button onClick={() => setEditing(editing === "member" ? null : "member")} aria-expanded={editing === "member"}>Add member</button>
          <button onClick={() => setEditing(editing === "plane" ? null : "plane")} aria-expanded={editing === "plane"}>Data plane</button>
        </div>
      )}
      {can.editNetworks && editing === "spec" && <SpecEditor key={s.revision} spec={s.spec} onPlan={plan} onCancel={() => setEditing(null)} />}
      {can.editNetworks && editing === "member" && <AddManualMember service={s} onPlan={plan} />}
      {can.editNetworks && editing === "plane" && <PlaneEditor key={s.revision} spec={s.spec} onPlan={plan} onCancel={() => setEditing(null)} />}
      {planned && (
        <ServicePlan
          key={planned.n}
          serviceId={id}
          expectedRevision={s.revision}
          change={planned.change}
          onClose={() => {
            setPlanned(null);
            setEditing(null);
          }}
        />
      )}

      <h2>Pool</h2>
      {s.truncated > 0 && <div className="error-box" role="alert">{s.truncated} more attachments match the selector beyond the pool's bound of 10,000: they are left out.</div>}
      {s.members.length === 0 ? (
        <p className="muted">No members: connections to the VIP are refused (a reject, never a silent drop).</p>
      ) : (
        <table aria-label="Members">
          <thead>
            <tr><th>Member</th>{proxied && <th>Pool</th>}<th>Host</th><th>Attachment</th><th>Weight</th><th>State</th><th>Health</th><th>Takes new connections</th></tr>
          </thead>
          <tbody>
            {s.members.map((m) => (
              <MemberRow
                key={`${m.address}/${m.port ?? "*"}`}
                member={m}
                proxied={proxied}
                canEdit={can.editNetworks && m.source !== "registered"}
                busy={false}
                onChange={(change, comment) => edit(withMember(s.spec, m, change), comment)}
                onRemove={() => edit(withoutManualMember(s.spec, m), `${m.address}${m.port ? `:${m.port}` : ""}: removed`)}
              />
            ))}
          </tbody>
        </table>
      )}

      <h2>Hosts</h2>
      <HostsTable service={s} />

      <h2>Probe</h2>
      <ServiceProbe service={s} canRun={can.editNetworks} />

      <h2>History</h2>
      <Revisions service={s} canEdit={can.editNetworks} onPlan={plan} />
    </div>
  );
}

function MemberRow(props: { member: Member; proxied: boolean; canEdit: boolean; busy: boolean; onChange: (change: { weight?: number; state?: MemberState }, comment: string) => void; onRemove: () => void }) {
  const { member: m, canEdit, busy, onChange } = props;
  const [weight, setWeight] = useState(String(m.weight));
  const label = `${m.address}${m.port ? `:${m.port}` : ""}`;
  const w = Number(weight);
  const weightOk = weight.trim() !== "" && Number.isInteger(w) && w >= 0 && w <= 1000;
  // Enter or the button opens the plan; Apply there writes it.
  const saveWeight = () => {
    if (weightOk && w !== m.weight) onChange({ weight: w }, `${label}: weight ${m.weight} → ${w}`);
  };
  return (
    <tr data-testid={`member-${m.address}`}>
      <td className="mono">{label}</td>
      {props.proxied && <td className="mono">{m.pool}</td>}
      <td>{m.hostId ? <Link href={`/hosts/${m.hostId}`}>{m.hostName ?? m.hostId}</Link> : <span className="muted">unknown</span>}</td>
      <td>{m.attachmentId ? <Link href={`/attachments?q=${encodeURIComponent(m.containerId ?? "")}`}>{m.containerId}</Link> : <span className="muted">{m.source === "registered" ? "registered through the API" : "added by hand"}</span>}</td>
      <td>
        {canEdit ? (
          <input
            aria-label={`Weight of ${label}`}
            type="number"
            min={0}
            max={1000}
            value={weight}
            disabled={busy}
            onChange={(e) => setWeight(e.target.value)}
            onKeyDown={(e) => e.key === "Enter" && saveWeight()}
            aria-invalid={!weightOk}
            style={{ width: 80 }}
          />
        ) : (
          m.weight
        )}
        {canEdit && weightOk && w !== m.weight && <button onClick={saveWeight} style={{ marginLeft: 4 }}>Review weight</button>}
        {canEdit && !weightOk && <div className="field-error" role="alert">weight {weight || "(empty)"}: a whole number 0–1000</div>}
      </td>
      <td>
        <span className={`badge ${STATE_TONE[m.state]}`}>{m.state}</span>
        {canEdit && (
          <span className="row" style={{ display: "inline-flex", marginLeft: 6 }}>
            {m.state !== "active" && <button disabled={busy} onClick={() => onChange({ state: "active" }, `${label}: active`)}>Activate</button>}
            {m.state !== "draining" && <button disabled={busy} onClick={() => onChange({ state: "draining" }, `${label}: drain`)} title="No new connections; open ones go on">Drain</button>}
            {m.state !== "maintenance" && <button disabled={busy} onClick={() => onChange({ state: "maintenance" }, `${label}: maintenance`)}>Maintenance</button>}
            {m.source === "manual" && <button disabled={busy} onClick={props.onRemove} aria-label={`Remove ${label}`}>Remove</button>}
          </span>
        )}
      </td>
      <td>
        <span className={`badge ${HEALTH_TONE[m.health]}`}>{m.health === "none" ? "no check" : m.health}</span>
        {m.lastCheck && (
          <span className="muted" data-testid={`member-check-${m.address}`}>
            {m.lastCheck.message}
            {m.lastCheck.latencyMs !== null && ` · ${m.lastCheck.latencyMs} ms`}
            {m.lastCheck.at && <> · <RelativeTime date={m.lastCheck.at} /></>}
          </span>
        )}
        {/* Passive health (issue 14): the proxy of a host took this member out on its own. */}
        {m.ejections.map((e) => (
          <div key={`${e.hostId}/${e.listener}`} data-testid={`member-ejected-${m.address}`}>
            <span className="badge error">ejected</span>{" "}
            <span className="muted">
              on {e.hostName} ({e.listener}): {e.reason} · back <RelativeTime date={e.until} />
              {e.count > 1 && ` · ejection ${e.count} in a row`}
            </span>
          </div>
        ))}
      </td>
      <td>{m.selectable ? "yes" : <strong>no</strong>}</td>
    </tr>
  );
}

function HostsTable({ service: s }: { service: Service }) {
  if (s.hosts.length === 0) return <p className="muted">No host is selected.</p>;
  return (
    <table aria-label="Hosts applied">
      <thead>
        <tr><th>Host</th><th>Applied</th><th>Version</th><th>When</th><th>Edit → applied</th><th>nft apply</th><th>Error</th></tr>
      </thead>
      <tbody>
        {s.hosts.map((h) => (
          <tr key={h.hostId} data-testid={`service-host-${h.hostName}`}>
            <td><Link href={`/hosts/${h.hostId}`}>{h.hostName}</Link></td>
            <td>{h.applied ? <span className="badge success">applied</span> : <span className="badge warn">behind</span>}</td>
            <td className="mono">{h.appliedGeneration ?? "—"} {s.lastChange && <span className="muted">(needs ≥ {s.lastChange.generation})</span>}</td>
            <td>{h.appliedAt ? <AbsoluteTime date={h.appliedAt} /> : <span className="muted">never</span>}</td>
            <td>{h.editToAppliedMs === null ? "—" : `${h.editToAppliedMs} ms`}</td>
            <td>{h.applyMs === null ? "—" : `${h.applyMs} ms`}</td>
            <td>{h.error ? <span className="badge error">{h.error}</span> : ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Revisions({ service: s, canEdit, onPlan }: { service: Service; canEdit: boolean; onPlan: (change: PlannedChange) => void }) {
  const [open, setOpen] = useState<number | null>(null);
  return (
    <div>
      <table aria-label="Revisions">
        <thead>
          <tr><th>Revision</th><th>When</th><th>Who</th><th>Comment</th><th /></tr>
        </thead>
        <tbody>
          {s.revisions.map((r) => (
            <tr key={r.number}>
              <td>r{r.number}</td>
              <td><AbsoluteTime date={r.createdAt} /></td>
              <td>{r.authorName}</td>
              <td>{r.comment}</td>
              <td className="row">
                {r.number > 1 && <button onClick={() => setOpen(open === r.number ? null : r.number)}>{open === r.number ? "Hide diff" : "Diff"}</button>}
                {canEdit && r.number !== s.revision && (
                  <button onClick={() => onPlan({ kind: "rollback", toRevision: r.number, title: `roll back to r${r.number}` })}>Roll back to r{r.number}</button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open !== null && <SpecDiff id={s.id} number={open} />}
    </div>
  );
}

function SpecDiff({ id, number }: { id: string; number: number }) {
  const trpc = useTRPC();
  const to = useQuery(trpc.services.revision.queryOptions({ id, number }));
  const from = useQuery(trpc.services.revision.queryOptions({ id, number: number - 1 }));
  if (!to.data || !from.data) return <p className="muted">Loading…</p>;
  return <RevisionDiff from={JSON.stringify(from.data.spec, null, 2)} to={JSON.stringify(to.data.spec, null, 2)} fromLabel={`r${number - 1}`} toLabel={`r${number}`} />;
}
