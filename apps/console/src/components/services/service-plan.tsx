"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { errorMessage, useTRPC, type RouterInputs, type RouterOutputs } from "~/trpc/react";
import { postQueryClient } from "../draft-check";

type Spec = RouterInputs["services"]["update"]["spec"];
type Plan = RouterOutputs["services"]["plan"];
type Group = Plan["groups"][number];

/** A change the service page plans before applying: a new spec (with its revision comment) or a rollback. */
export type PlannedChange = { kind: "update"; spec: Spec; comment: string; title: string } | { kind: "rollback"; toRevision: number; title: string };

const CHANGE_WORDS: Record<Group["change"], string> = { update: "rules change", gained: "service added (host selector)", lost: "service removed (host selector)" };

const hostNames = (hosts: { name: string }[], count: number) => `${hosts.map((h) => h.name).join(", ")}${count > hosts.length ? ` and ${count - hosts.length} more` : ""}`;

/**
 * The plan of one change, then Apply: which hosts get which nft lines (the exact transaction their
 * agent runs, hosts with the same text together), computed once when opened. Apply writes the
 * revision the plan was computed against; if the service moved on meanwhile, the API refuses it.
 */
export function ServicePlan({ serviceId, expectedRevision, change, onClose }: { serviceId: string; expectedRevision: number; change: PlannedChange; onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const plan = useMutation({
    // POSTed: a spec with many members outgrows a URL.
    mutationFn: () =>
      postQueryClient.services.plan.query({
        id: serviceId,
        expectedRevision,
        change: change.kind === "update" ? { kind: "update", spec: change.spec } : { kind: "rollback", toRevision: change.toRevision },
      }),
  });
  const done = { onSuccess: () => { void queryClient.invalidateQueries({ queryKey: trpc.services.pathKey() }); onClose(); } };
  const update = useMutation(trpc.services.update.mutationOptions(done));
  const rollback = useMutation(trpc.services.rollback.mutationOptions(done));
  const { mutate } = plan;
  // The change is fixed for this panel's life (the page mounts a new one per change).
  useEffect(() => mutate(), [mutate]);

  const apply = () => {
    const base = plan.data!.baseRevision;
    if (change.kind === "update") update.mutate({ id: serviceId, spec: change.spec, comment: change.comment, expectedRevision: base });
    else rollback.mutate({ id: serviceId, toRevision: change.toRevision, expectedRevision: base });
  };
  const applying = update.isPending || rollback.isPending;
  const applyError = update.error ?? rollback.error;

  return (
    <section className="panel" aria-label="Plan" style={{ borderColor: "#1f6feb" }}>
      <h2 style={{ marginTop: 0 }}>Plan: {change.title}</h2>
      {plan.isPending && <p className="muted" role="status">Computing what each host would run…</p>}
      {plan.error && <div className="error-box" role="alert">{errorMessage(plan.error)}</div>}
      {plan.data && <PlanBody plan={plan.data} />}
      {applyError && <div className="error-box" role="alert">{errorMessage(applyError)}</div>}
      <div className="row" style={{ marginTop: 12 }}>
        <button className="primary" disabled={!plan.data || applying} onClick={apply}>{applying ? "Applying…" : "Apply"}</button>
        <button onClick={onClose} disabled={applying}>Cancel</button>
      </div>
    </section>
  );
}

function PlanBody({ plan }: { plan: Plan }) {
  const m = plan.members;
  const memberWords = [
    ...m.added.map((x) => `${x} added`),
    ...m.removed.map((x) => `${x} removed`),
    ...m.reweighted.map((x) => `${x.member} weight ${x.from} → ${x.to}`),
    ...m.restated.map((x) => `${x.member} ${x.from} → ${x.to}`),
  ];
  return (
    <div>
      <p data-testid="plan-members">
        <strong>Members:</strong> {memberWords.length ? memberWords.join("; ") : "no change"}
      </p>
      {plan.groups.length === 0 && <p className="ok-box" role="status">No host&apos;s rules change.</p>}
      {plan.groups.map((g) => (
        <PlanGroupView key={`${g.change}|${g.hosts[0]?.id ?? ""}`} group={g} />
      ))}
      {plan.unchanged.hostCount > 0 && (
        <p className="muted" data-testid="plan-unchanged">Nothing changes on {hostNames(plan.unchanged.hosts, plan.unchanged.hostCount)}.</p>
      )}
      {plan.unselectedCount > 0 && <p className="muted">{plan.unselectedCount} host{plan.unselectedCount === 1 ? "" : "s"} do not program this service, before or after.</p>}
    </div>
  );
}

function PlanGroupView({ group: g }: { group: Group }) {
  const names = hostNames(g.hosts, g.hostCount);
  const s = g.summary;
  return (
    <div role="group" aria-label={`Plan for ${names}`} style={{ marginBottom: 12 }}>
      <p style={{ marginBottom: 4 }}>
        <strong>{g.hostCount} host{g.hostCount === 1 ? "" : "s"}:</strong> {names} <span className={`badge ${g.change === "update" ? "" : "badge-warn"}`}>{CHANGE_WORDS[g.change]}</span>
        {g.tableCreated && <span className="badge badge-warn">table created</span>}
        {g.tableDeleted && <span className="badge badge-warn">table deleted</span>}
        <span className="muted">
          {" "}+{s.rulesAdded} / −{s.rulesRemoved} rules, +{s.elementsAdded} / −{s.elementsRemoved} set elements, {g.lines.length} nft line{g.lines.length === 1 ? "" : "s"}
        </span>
      </p>
      <pre className="mono diff" aria-label={`nft transaction for ${names}`} style={{ padding: "8px 12px", maxHeight: 320 }}>
        {g.lines.join("\n")}
      </pre>
    </div>
  );
}
