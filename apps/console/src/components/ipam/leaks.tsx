"use client";

import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { errorMessage, useTRPC } from "~/trpc/react";

const VERDICTS: Record<string, { label: string; className: string }> = {
  leak: { label: "leak", className: "badge badge-danger" },
  unknown: { label: "holder unknown", className: "badge badge-warn" },
  "other-runtime": { label: "another runtime", className: "badge" },
  live: { label: "live", className: "badge" },
};

/** Addresses no live attachment holds, each with the evidence found on its host, and the dry run of their release. */
export function Leaks({ networkId, onOpenAddress }: { networkId: string; onOpenAddress: (a: string) => void }) {
  const trpc = useTRPC();
  const leaks = useQuery(trpc.ipam.leaks.queryOptions({ networkId }));
  const [plan, setPlan] = useState<{ networkId: string; hostId: string; addresses: string[] } | null>(null);
  const dry = useQuery({ ...trpc.ipam.dryRunRelease.queryOptions(plan ?? { networkId, hostId: "x", addresses: ["0.0.0.0"] }), enabled: plan !== null });
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
      {plan && (
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
          <p className="muted hint">The release itself (the agent carrying out these steps, audited) is the next step of this page.</p>
          <button type="button" onClick={() => setPlan(null)}>Close</button>
        </div>
      )}
    </section>
  );
}
