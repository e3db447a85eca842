"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useEffect, useState } from "react";
import { useTRPC, type RouterOutputs } from "~/trpc/react";
import { postQueryClient } from "./draft-check";
import { useLiveEvents } from "./live-updates";

export type Stranded = RouterOutputs["ipam"]["stranded"];

const DEBOUNCE_MS = 400;

/** The leases saving `text` would strand, asked now (before a save: the draft as it is this moment). */
export function askStranded(networkId: string, text: string): Promise<Stranded> {
  return postQueryClient.ipam.stranded.query({ networkId, text });
}

/**
 * While a network's config is edited: the addresses hosts hold now that the draft's ranges would
 * leave out, asked DEBOUNCE_MS after the last keystroke and again when a host reports leases
 * (nothing is written). Null until answered.
 */
export function useStrandedLeases(text: string, options: { networkId?: string; enabled: boolean }): Stranded | null {
  const [answer, setAnswer] = useState<Stranded | null>(null);
  const [reported, setReported] = useState(0);
  const { networkId, enabled } = options;
  useLiveEvents("ipam", () => setReported((n) => n + 1));
  useEffect(() => {
    if (!enabled || !networkId) return;
    let current = true;
    const timer = setTimeout(() => {
      askStranded(networkId, text)
        .then((r) => current && setAnswer(r))
        .catch(() => current && setAnswer(null));
    }, DEBOUNCE_MS);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [text, networkId, enabled, reported]);
  return enabled && networkId ? answer : null;
}

/** Which held addresses fall outside the new ranges, per host, with their holders. */
export function StrandedLeases({ data }: { data: Stranded }) {
  if (data.total === 0) return null;
  const holds = (n: number) => `${n} address${n === 1 ? "" : "es"}`;
  return (
    <div className="warn-box" role="status" aria-label="Stranded leases">
      <div>
        <strong>{data.total === 1 ? "1 held address falls" : `${data.total} held addresses fall`} outside the new ranges</strong>
        {data.ranges.length > 0 ? <> ({data.ranges.join(", ")})</> : <> (the new config has no host-local range)</>}: host-local will not hand
        {data.total === 1 ? " it" : " them"} out again, and the holders keep addresses the network no longer has until they are attached again.
      </div>
      <ul className="evidence">
        {data.hosts.map((h) => (
          <li key={h.hostId}><Link href={`/hosts/${h.hostId}`}>{h.hostName}</Link>: {holds(h.count)}</li>
        ))}
      </ul>
      <ul className="evidence mono">
        {data.leases.map((l) => (
          <li key={`${l.hostId}-${l.address}-${l.containerId}`}>
            {l.address} on {l.hostName}: {l.containerId}/{l.ifName}
            {l.attachmentId ? <> (attachment, {l.attachmentState})</> : <> (no known attachment)</>}
          </li>
        ))}
        {data.total > data.leases.length && <li className="muted">and {data.total - data.leases.length} more</li>}
      </ul>
      {data.alreadyOutside > 0 && <div className="muted">{holds(data.alreadyOutside)} outside the saved ranges already are not counted.</div>}
    </div>
  );
}

/** A rollback strands leases as an edit does: what saving an earlier revision's config again would leave out. */
export function useStrandedByRevision(networkId: string, revision: number | null): Stranded | null {
  const trpc = useTRPC();
  const old = useQuery({ ...trpc.networks.revision.queryOptions({ id: networkId, number: revision ?? 1 }), enabled: revision !== null });
  const text = revision === null ? undefined : old.data?.text;
  const stranded = useQuery({
    queryKey: ["stranded-by-revision", networkId, revision, text],
    queryFn: () => askStranded(networkId, text!),
    enabled: text !== undefined,
  });
  return revision === null ? null : (stranded.data ?? null);
}
