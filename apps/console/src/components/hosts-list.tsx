"use client";

import { useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { errorMessage, useTRPC } from "~/trpc/react";
import { AddHostPanel } from "./add-host-panel";
import { useLiveEvents } from "./live-updates";
import { AbsoluteTime, RelativeTime } from "./relative-time";
import { StateBadge } from "./state-badge";
import { useCan } from "./user-context";

/** Liveness is computed when the list is read, so the list is re-read while open. */
export const HOSTS_REFETCH_MS = 10_000;

export function useHostChanges(onlyHostId?: string) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  useLiveEvents("host", (e) => {
    if (e.kind === "resync" || !onlyHostId || e.hostId === onlyHostId) void queryClient.invalidateQueries({ queryKey: trpc.hosts.pathKey() });
  });
}

export function HostsList() {
  const trpc = useTRPC();
  const can = useCan();
  const hosts = useQuery({ ...trpc.hosts.list.queryOptions(), refetchInterval: HOSTS_REFETCH_MS });
  useHostChanges();
  return (
    <div>
      <h1>Hosts</h1>
      {can.manageHosts && <AddHostPanel />}
      {hosts.error && <div className="error-box">{errorMessage(hosts.error)}</div>}
      <table aria-label="Hosts">
        <thead>
          <tr><th>Name</th><th>Liveness</th><th>Agent version</th><th>Last seen</th><th>Attachments</th><th>Enrolled</th></tr>
        </thead>
        <tbody>
          {hosts.data?.map((h) => (
            <tr key={h.id} data-testid={`host-row-${h.name}`}>
              <td><Link href={`/hosts/${h.id}`}>{h.name}</Link></td>
              <td><StateBadge state={h.liveness} testId="host-liveness" /></td>
              <td className="mono">{h.agentVersion || <span className="muted">unknown</span>}</td>
              <td><RelativeTime date={h.lastSeenAt} /></td>
              <td><Link href={`/attachments?hostId=${h.id}`} aria-label={`${h.attachments} attached on ${h.name}`}>{h.attachments}</Link></td>
              <td><AbsoluteTime date={h.enrolledAt} /></td>
            </tr>
          ))}
          {hosts.data?.length === 0 && (
            <tr><td colSpan={6} className="muted">No hosts enrolled yet.{can.manageHosts ? " Create a join token above and run the agent with it." : ""}</td></tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
