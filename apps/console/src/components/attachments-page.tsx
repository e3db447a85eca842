"use client";

import { useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { useTRPC } from "~/trpc/react";
import { AttachmentForm } from "./attachment-form";
import { AttachmentsTable } from "./attachments-table";
import { Field } from "./field";
import { useCan } from "./user-context";

/** Filters live in the URL (?hostId=&networkId=) so a filtered list can be linked to. */
export function AttachmentsPage({ hostId, networkId }: { hostId?: string; networkId?: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const can = useCan();
  const hosts = useQuery(trpc.hosts.list.queryOptions());
  const networks = useQuery(trpc.networks.list.queryOptions());
  const [creating, setCreating] = useState(false);

  function filterBy(next: { hostId?: string; networkId?: string }) {
    const params = new URLSearchParams();
    const merged = { hostId, networkId, ...next };
    if (merged.hostId) params.set("hostId", merged.hostId);
    if (merged.networkId) params.set("networkId", merged.networkId);
    const query = params.toString();
    router.push(query ? `/attachments?${query}` : "/attachments");
  }

  return (
    <div>
      <div className="row" style={{ justifyContent: "space-between" }}>
        <h1>Attachments</h1>
        {can.editAttachments && !creating && <button className="primary" onClick={() => setCreating(true)}>New attachment</button>}
      </div>
      {creating && <AttachmentForm initialHostId={hostId} initialNetworkId={networkId} onCancel={() => setCreating(false)} />}
      <div className="panel row" role="search" aria-label="Attachment filters">
        <Field label="Filter by host">
          <select value={hostId ?? ""} onChange={(e) => filterBy({ hostId: e.target.value || undefined })}>
            <option value="">All hosts</option>
            {hosts.data?.map((h) => <option key={h.id} value={h.id}>{h.name}</option>)}
          </select>
        </Field>
        <Field label="Filter by network">
          <select value={networkId ?? ""} onChange={(e) => filterBy({ networkId: e.target.value || undefined })}>
            <option value="">All networks</option>
            {networks.data?.map((n) => <option key={n.id} value={n.id}>{n.name}</option>)}
          </select>
        </Field>
      </div>
      <AttachmentsTable hostId={hostId} networkId={networkId} />
    </div>
  );
}
