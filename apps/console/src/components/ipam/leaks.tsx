"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { RelativeTime } from "../relative-time";
import { useCan } from "../user-context";

const VERDICTS: Record<string, { label: string; className: string }> = {
  leak: { label: "leak", className: "badge badge-danger" },
  unknown: { label: "holder unknown", className: "badge badge-warn" },
  "other-runtime": { label: "another runtime", className: "badge" },
  live: { label: "live", className: "badge" },
};

const RELEASE_STATES: Record<string, string> = {
  queued: "badge",
  running: "badge badge-warn",
  succeeded: "badge success",
  failed: "badge badge-danger",
};

type Plan = { networkId: string; hostId: string; addresses: string[] };

/**
 * Addresses no live attachment holds, each with the evidence found on its host; the dry run of
 * their release, then (operators) the release itself, and what the agents did with the releases.
 */
export function Leaks({ networkId, onOpenAddress }: { networkId: string; onOpenAddress: (a: string) => void }) {
  const trpc = useTRPC();
  const leaks = useQuery(trpc.ipam.leaks.queryOptions({ networkId }));
  const [plan, setPlan] = useState<Plan | null>(null);
  if (!leaks.data) return null;
  const rows = leaks.data;
  return (
    <section className="panel" aria-label="Leaks">
      <h2>Held without a live attachment</h2>
      {rows.length === 0 ? (
        <p className="muted">Every held address of this network has a live holder.</p>
      ) : (
        <table>
          <thead><tr><th>Address</th><th>Host</th><th>Holder</th><th>Verdict</th><th>Evidence</th><th /></tr></thead>
          <tbody>
            {rows.map((l) => (
              <tr key={`${l.hostId}-${l.address}`} data-testid={`leak-${l.address}`}>
                <td><button type="button" className="link mono" onClick={() => onOpenAddress(l.address)}>{l.address}</button></td>
                <td>{l.hostName}</td>
                <td className="mono">{l.containerId}/{l.ifName || "?"}</td>
                <td><span className={VERDICTS[l.verdict]!.className}>{VERDICTS[l.verdict]!.label}</span></td>
                <td><ul className="evidence">{l.reasons.map((r) => <li key={r}>{r}</li>)}</ul></td>
                <td>{l.verdict === "leak" && <button type="button" onClick={() => setPlan({ networkId, hostId: l.hostId, addresses: [l.address] })}>Dry run</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {plan && <DryRun plan={plan} onClose={() => setPlan(null)} />}
      <Releases networkId={networkId} />
    </section>
  );
}

/** What a release would do, nothing done; an operator releases from here, after reading it. */
function DryRun({ plan, onClose }: { plan: Plan; onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const can = useCan();
  const dry = useQuery(trpc.ipam.dryRunRelease.queryOptions(plan));
  const release = useMutation(
    trpc.ipam.release.mutationOptions({
      onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.ipam.pathKey() }),
    }),
  );
  const releasable = dry.data !== undefined && dry.data.every((d) => d.refusal === null);
  return (
    <div className="panel" aria-label="Dry run" data-testid="leak-dry-run">
      <h3>Dry run: nothing was changed</h3>
      {dry.error && <div className="error-box">{errorMessage(dry.error)}</div>}
      {dry.data?.map((d) => (
        <div key={d.address}>
          <p><strong className="mono">{d.address}</strong> on {d.hostName}</p>
          {d.refusal ? (
            <p className="warning">{d.refusal}</p>
          ) : (
            <ol>
              {d.steps.map((s, i) => (
                <li key={i}>
                  {s.description}
                  {s.files.length > 0 && <div className="muted hint">Files: <span className="mono">{s.files.join(", ")}</span></div>}
                </li>
              ))}
            </ol>
          )}
        </div>
      ))}
      {release.error && <div className="error-box" role="alert">{errorMessage(release.error)}</div>}
      {release.data ? (
        <p role="status">
          {release.data.releaseId && "Release queued for the host's agent: its steps show below as it carries them out. "}
          {release.data.detaching.map((d) => (
            <span key={d.attachmentId}>
              Detaching <Link href={`/attachments/${d.attachmentId}/latest-job`}>attachment {d.attachmentId.slice(0, 8)}</Link> (its DEL job).{" "}
            </span>
          ))}
        </p>
      ) : can.editAddresses ? (
        <p>
          <button type="button" className="danger" disabled={!releasable || release.isPending} onClick={() => release.mutate(plan)}>
            {release.isPending ? "Releasing…" : "Release"}
          </button>{" "}
          <span className="muted hint">Carries out these steps on the host, each one in the audit log.</span>
        </p>
      ) : (
        <p className="muted hint">Releasing needs the operator role.</p>
      )}
      <button type="button" onClick={onClose}>Close</button>
    </div>
  );
}

type ReleaseView = RouterOutputs["ipam"]["releases"][number];

/** The latest releases of this network: who asked, and each address's steps as the agent reported them. */
function Releases({ networkId }: { networkId: string }) {
  const trpc = useTRPC();
  const list = useQuery(trpc.ipam.releases.queryOptions({ networkId }));
  if (!list.data || list.data.length === 0) return null;
  return (
    <div aria-label="Releases" role="region">
      <h3>Releases</h3>
      <table>
        <thead><tr><th>Asked</th><th>Host</th><th>By</th><th>State</th><th>Addresses and steps</th></tr></thead>
        <tbody>
          {list.data.map((r) => (
            <tr key={r.id} data-testid={`release-${r.id}`}>
              <td><RelativeTime date={r.createdAt} /></td>
              <td>{r.hostName}</td>
              <td>{r.requestedByName}</td>
              <td><span className={RELEASE_STATES[r.status] ?? "badge"}>{r.status}</span>{r.error && <div className="muted hint">{r.error}</div>}</td>
              <td><ReleaseSteps release={r} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ReleaseSteps({ release }: { release: ReleaseView }) {
  if (!release.outcome) return <span className="mono">{release.items.map((i) => i.address).join(", ")}</span>;
  return (
    <ul className="evidence">
      {release.outcome.map((a) => (
        <li key={a.address}>
          <span className="mono">{a.address}</span> {a.freed ? "freed" : "still held"}
          <ol>
            {a.steps.map((s, i) => (
              <li key={i}><span className="mono">{s.kind}</span> {s.outcome}: {s.message}</li>
            ))}
          </ol>
        </li>
      ))}
    </ul>
  );
}
