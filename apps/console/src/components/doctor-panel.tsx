"use client";

import { useQueries, useQuery } from "@tanstack/react-query";
import { diagnoseHost, type DoctorNetwork } from "~/lib/doctor";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { InlineCode } from "./inline-code";
import { useNow } from "./relative-time";
import { StateBadge } from "./state-badge";

type Host = RouterOutputs["hosts"]["get"];

/** Pass/fail checks of what the host's attachments need, each failure with its fix. */
export function DoctorPanel({ host }: { host: Host }) {
  const trpc = useTRPC();
  const now = useNow();
  const attachments = useQuery(trpc.attachments.list.queryOptions({ hostId: host.id, states: ["pending", "applying", "ready", "failed", "detaching"], limit: 200 }));
  // The exact revisions attached, not the networks' latest: that is what the agent runs.
  const revisions = [
    ...new Map(
      (attachments.data?.items ?? []).filter((a) => a.state !== "detached").map((a) => [`${a.networkId}:${a.networkRevision}`, { id: a.networkId, number: a.networkRevision }]),
    ).values(),
  ];
  const conflists = useQueries({ queries: revisions.map((r) => trpc.networks.revision.queryOptions(r)) });

  if (attachments.error) return <div className="error-box">{errorMessage(attachments.error)}</div>;
  if (!attachments.data) return <p className="muted">Loading…</p>;
  const networks: DoctorNetwork[] = revisions.flatMap((r, i) => {
    const data = conflists[i]?.data;
    return data ? [{ networkId: r.id, revision: r.number, conflist: data.conflist }] : [];
  });
  const checks = diagnoseHost({ host, attachments: attachments.data.items, networks, now });

  return (
    <div className="panel">
      <ul className="checks" aria-label="Doctor checks">
        {checks.map((c) => (
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
