"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState, type FormEvent } from "react";
import { errorMessage, useTRPC } from "~/trpc/react";
import { Field } from "./field";
import { RelativeTime } from "./relative-time";
import { useCan } from "./user-context";

const STATUSES = ["open", "applied", "withdrawn"] as const;

/**
 * Proposals (issue 13 §4): changes to networks and services waiting for review, and the review
 * policies admins set per network or service.
 */
export function ProposalsPage() {
  const trpc = useTRPC();
  const [status, setStatus] = useState<(typeof STATUSES)[number]>("open");
  const list = useQuery(trpc.proposals.list.queryOptions({ status }));
  return (
    <div>
      <h1>Proposals</h1>
      <p className="muted">
        A change to a network or a service can be proposed instead of saved (<em>Propose for review</em> in its editor). Others comment and approve; it is applied as its plan shows.
        A network or service under a review policy is changed only this way.
      </p>
      <div className="tabs" role="tablist">
        {STATUSES.map((s) => (
          <button key={s} role="tab" aria-selected={status === s} onClick={() => setStatus(s)}>{s}</button>
        ))}
      </div>
      {list.error && <div className="error-box" role="alert">{errorMessage(list.error)}</div>}
      {list.data && list.data.length === 0 && <p className="muted">No {status} proposals.</p>}
      {list.data && list.data.length > 0 && (
        <table aria-label="Proposals">
          <thead><tr><th>Title</th><th>Changes</th><th>Author</th><th>Approvals</th><th>Proposed</th><th>State</th></tr></thead>
          <tbody>
            {list.data.map((p) => (
              <tr key={p.id}>
                <td><Link href={`/proposals/${p.id}`}>{p.title}</Link></td>
                <td>{p.kind} <strong>{p.targetName}</strong> <span className="muted">from r{p.baseRevision}</span></td>
                <td>{p.authorName}</td>
                <td>{p.approvals}</td>
                <td><RelativeTime date={p.createdAt} /></td>
                <td>{p.stale ? <span className="badge">stale</span> : <span className={`badge ${p.status === "applied" ? "success" : ""}`}>{p.status}</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ReviewPolicies />
    </div>
  );
}

/** The review policies; admins set them here. */
function ReviewPolicies() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const can = useCan();
  const policies = useQuery(trpc.proposals.policies.queryOptions());
  const networks = useQuery({ ...trpc.networks.list.queryOptions({ limit: 200 }), enabled: can.manageUsers });
  const services = useQuery({ ...trpc.services.list.queryOptions(), enabled: can.manageUsers });
  const blank = { target: "", approvals: "1", whenInUse: true, authorMayApply: false };
  const [form, setForm] = useState(blank);
  const set = useMutation(trpc.proposals.setPolicy.mutationOptions({ onSuccess: () => { setForm(blank); void queryClient.invalidateQueries({ queryKey: trpc.proposals.policies.queryKey() }); } }));

  function submit(e: FormEvent) {
    e.preventDefault();
    const [kind, targetId] = form.target.split("/") as ["network" | "service", string];
    set.mutate({ kind, targetId, approvals: Number(form.approvals), whenInUse: kind === "network" && form.whenInUse, authorMayApply: form.authorMayApply });
  }

  return (
    <section className="panel" aria-labelledby="policies-heading" style={{ marginTop: 24 }}>
      <h2 id="policies-heading" style={{ marginTop: 0 }}>Review policies</h2>
      {policies.data && policies.data.length === 0 && <p className="muted">No policies: every change is applied directly by operators.</p>}
      {policies.data && policies.data.length > 0 && (
        <table aria-label="Review policies">
          <thead><tr><th>Target</th><th>Approvals</th><th>When</th><th>Author may apply</th><th>Set by</th></tr></thead>
          <tbody>
            {policies.data.map((p) => (
              <tr key={p.id}>
                <td>{p.kind} <strong>{p.targetName}</strong></td>
                <td>{p.approvals}</td>
                <td>{p.whenInUse ? "while it has attachments" : "always"}</td>
                <td>{p.authorMayApply ? "yes" : "no"}</td>
                <td>{p.updatedByName}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {can.manageUsers && (
        <form className="row" onSubmit={submit} aria-label="Set review policy" style={{ alignItems: "flex-start", marginTop: 12 }}>
          <Field label="Network or service">
            <select value={form.target} required onChange={(e) => setForm({ ...form, target: e.target.value })}>
              <option value="">Choose…</option>
              {(networks.data?.items ?? []).map((n) => <option key={n.id} value={`network/${n.id}`}>network {n.name}</option>)}
              {(services.data ?? []).map((s) => <option key={s.id} value={`service/${s.id}`}>service {s.name}</option>)}
            </select>
          </Field>
          <Field label="Approvals" hint="0 removes the policy">
            <input type="number" min={0} max={5} value={form.approvals} onChange={(e) => setForm({ ...form, approvals: e.target.value })} />
          </Field>
          <label style={{ marginTop: 22 }}>
            <input type="checkbox" checked={form.whenInUse} onChange={(e) => setForm({ ...form, whenInUse: e.target.checked })} /> only while it has attachments
          </label>
          <label style={{ marginTop: 22 }}>
            <input type="checkbox" checked={form.authorMayApply} onChange={(e) => setForm({ ...form, authorMayApply: e.target.checked })} /> author may apply
          </label>
          <button type="submit" className="primary" disabled={set.isPending} style={{ marginTop: 18 }}>Set policy</button>
        </form>
      )}
      {set.error && <div className="error-box" role="alert">{errorMessage(set.error)}</div>}
    </section>
  );
}
