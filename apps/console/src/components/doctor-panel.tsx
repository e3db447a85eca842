"use client";

import { useQuery } from "@tanstack/react-query";
import { errorMessage, useTRPC } from "~/trpc/react";
import { InlineCode } from "./inline-code";
import { HOSTS_REFETCH_MS } from "./hosts-list";
import { RelativeTime } from "./relative-time";
import { StateBadge } from "./state-badge";

/** Pass/fail checks of what the host's attachments need, each failure with its fix: one server call. */
export function DoctorPanel({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const diagnosis = useQuery({ ...trpc.hosts.diagnose.queryOptions({ id: hostId }), refetchInterval: HOSTS_REFETCH_MS });
  if (diagnosis.error) return <div className="error-box">{errorMessage(diagnosis.error)}</div>;
  if (!diagnosis.data) return <p className="muted">Loading…</p>;
  return (
    <div className="panel">
      <p className="muted hint" style={{ marginTop: 0 }}>Checked <RelativeTime date={diagnosis.data.at} />.</p>
      <ul className="checks" aria-label="Doctor checks">
        {diagnosis.data.checks.map((c) => (
          <li key={c.id} data-testid={`doctor-${c.id}`}>
            <div className="row" style={{ gap: 8 }}>
              <StateBadge state={c.status} />
              <strong>{c.title}</strong>
            </div>
            {c.details.map((d, i) => <div key={i} className="muted">{d}</div>)}
            {c.fix && <div>Fix: <InlineCode text={c.fix} /></div>}
          </li>
        ))}
      </ul>
    </div>
  );
}
