"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { errorMessage, useTRPC } from "~/trpc/react";
import { AbsoluteTime } from "./relative-time";
import { useCan, useUser } from "./user-context";

/** A unified diff as the API gives it: added lines green, removed red. */
function UnifiedDiff({ text, label }: { text: string; label: string }) {
  return (
    <pre className="diff mono" aria-label={label}>
      {text.replace(/\n$/, "").split("\n").map((line, i) => (
        <div key={i} className={line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : ""}>{line}</div>
      ))}
    </pre>
  );
}

/**
 * One proposal: what it changes (the diff), its plan computed now (the hosts and attachments it
 * re-applies, or the rules it changes), the reviews, and Apply, enabled only when the policy is
 * met; once applied, the operations it started.
 */
export function ProposalDetail({ id }: { id: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const can = useCan();
  const user = useUser();
  const proposal = useQuery(trpc.proposals.get.queryOptions({ id }));
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.proposals.pathKey() });
  const [body, setBody] = useState("");
  const review = useMutation(trpc.proposals.review.mutationOptions({ onSuccess: () => { setBody(""); void invalidate(); } }));
  const apply = useMutation(trpc.proposals.applyProposal.mutationOptions({ onSuccess: () => void invalidate() }));
  const withdraw = useMutation(trpc.proposals.withdraw.mutationOptions({ onSuccess: () => void invalidate() }));

  if (proposal.error) return <div><p><Link href="/proposals">← Proposals</Link></p><div className="error-box">{errorMessage(proposal.error)}</div></div>;
  if (!proposal.data) return <p className="muted">Loading…</p>;
  const p = proposal.data;
  const targetHref = p.kind === "network" ? `/networks/${p.targetId}` : `/services/${p.targetId}`;
  const mine = p.authorName === user.username;
  const error = review.error ?? apply.error ?? withdraw.error;

  return (
    <div>
      <p><Link href="/proposals">← Proposals</Link></p>
      <h1>{p.title}</h1>
      <p>
        {p.stale ? <span className="badge" data-testid="proposal-state">stale</span> : <span className={`badge ${p.status === "applied" ? "success" : ""}`} data-testid="proposal-state">{p.status}</span>}{" "}
        Changes {p.kind} <Link href={targetHref}>{p.targetName}</Link> from revision {p.baseRevision}
        {p.currentRevision !== null && p.currentRevision !== p.baseRevision && p.status === "open" && <> (now at {p.currentRevision})</>}; proposed by <strong>{p.authorName}</strong> <AbsoluteTime date={p.createdAt} />.
      </p>
      <p className="muted">
        Review policy: {p.policy.rule}. Approved by {p.approvers.length ? p.approvers.join(", ") : "no one yet"}.
      </p>
      {p.status === "applied" && (
        <section className="ok-box" aria-label="Applied">
          Applied by {p.appliedByName} {p.appliedAt && <AbsoluteTime date={p.appliedAt} />} as revision {p.appliedRevision}.
          {p.operations.length > 0 ? (
            <ul aria-label="Operations started">
              {p.operations.map((o) => <li key={o.id}><Link href={`/operations/${o.id}`}>re-apply on {o.host}</Link> <span className="badge">{o.status}</span></li>)}
            </ul>
          ) : (
            <> No operations: {p.kind === "service" ? "hosts program the new rules on their next sync." : "no attachment needed re-applying."}</>
          )}
        </section>
      )}
      {p.plan && (
        <section className="panel" aria-label="Plan">
          <h2 style={{ marginTop: 0 }}>Plan</h2>
          <UnifiedDiff text={p.plan.diff} label="Proposed change" />
          {p.plan.kind === "network" ? (
            <>
              <p data-testid="plan-reapply">
                {p.plan.reapply.total === 0
                  ? "No attachment runs this network: applying writes the new revision only."
                  : `Applying re-applies ${p.plan.reapply.total} attachment${p.plan.reapply.total === 1 ? "" : "s"} on ${p.plan.reapply.hosts.map((h) => `${h.name} (${h.attachments})`).join(", ")} with the new revision.`}
              </p>
              {p.plan.reapply.attachments.length > 0 && (
                <table aria-label="Attachments re-applied">
                  <thead><tr><th>Host</th><th>Container</th><th>Interface</th><th>Revision now</th><th>State</th></tr></thead>
                  <tbody>
                    {p.plan.reapply.attachments.map((a) => (
                      <tr key={a.id}><td>{a.host}</td><td className="mono">{a.containerId}</td><td className="mono">{a.ifName}</td><td>r{a.revision}</td><td>{a.state}</td></tr>
                    ))}
                  </tbody>
                </table>
              )}
              {p.plan.stranded.warning && <div className="warn-box">Warning: {p.plan.stranded.warning}</div>}
            </>
          ) : (
            <>
              <p>{p.plan.hosts.length === 0 ? "No host's rules change." : p.plan.hosts.map((g) => `${g.change}: ${g.hostCount} host${g.hostCount === 1 ? "" : "s"} (${g.hosts.join(", ")})`).join("; ")}{p.plan.unchangedHosts ? `; ${p.plan.unchangedHosts} unchanged` : ""}.</p>
              {p.plan.hosts.map((g) => (
                <details key={g.change}><summary>Rules on {g.change} hosts</summary><pre className="mono">{g.lines.join("\n")}</pre></details>
              ))}
            </>
          )}
        </section>
      )}
      {p.status === "open" && (
        <div className="row" style={{ margin: "12px 0" }}>
          {can.editNetworks && (
            <button className="primary" disabled={!p.canApply.ok || apply.isPending} onClick={() => apply.mutate({ id })} title={p.canApply.reason}>
              Apply
            </button>
          )}
          {!p.canApply.ok && <span className="muted" data-testid="apply-blocked">Cannot apply yet: {p.canApply.reason}</span>}
          {(mine || can.manageUsers) && <button onClick={() => withdraw.mutate({ id })} disabled={withdraw.isPending}>Withdraw</button>}
        </div>
      )}
      {error && <div className="error-box" role="alert">{errorMessage(error)}</div>}
      <section className="panel" aria-label="Reviews">
        <h2 style={{ marginTop: 0 }}>Reviews</h2>
        {p.reviews.length === 0 && <p className="muted">No reviews yet.</p>}
        <ul>
          {p.reviews.map((r) => (
            <li key={r.id}>
              <strong>{r.userName}</strong> {r.approve ? <span className="badge success">approved</span> : "commented"} <AbsoluteTime date={r.createdAt} />
              {r.body && <div>{r.body}</div>}
            </li>
          ))}
        </ul>
        {p.status === "open" && can.editNetworks && (
          <div>
            <label style={{ display: "block" }}>
              <span>Comment</span>
              <textarea value={body} onChange={(e) => setBody(e.target.value)} rows={3} style={{ width: "100%" }} maxLength={4000} />
            </label>
            <div className="row">
              <button onClick={() => review.mutate({ id, approve: false, body })} disabled={review.isPending || body.trim() === ""}>Comment</button>
              {!mine && <button className="primary" onClick={() => review.mutate({ id, approve: true, body })} disabled={review.isPending}>Approve</button>}
            </div>
          </div>
        )}
      </section>
    </div>
  );
}
