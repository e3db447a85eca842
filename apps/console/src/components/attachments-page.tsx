"use client";

import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useUrlState } from "~/lib/url-state";
import { useTRPC } from "~/trpc/react";
import { AttachmentForm } from "./attachment-form";
import { AttachmentsTable } from "./attachments-table";
import { Field } from "./field";
import { useCan } from "./user-context";

/** Filters live in the URL (?hostId=&networkId=&state=&q=) so a filtered list can be linked to and survives a reload. */
export function AttachmentsPage({ hostId, networkId }: { hostId?: string; networkId?: string }) {
  const trpc = useTRPC();
  const url = useUrlState();
  const can = useCan();
  // The filter menus offer the first 200 by name; the search box finds any network or host.
  const hosts = useQuery(trpc.hosts.list.queryOptions({ limit: 200 }));
  const networks = useQuery(trpc.networks.list.queryOptions({ limit: 200 }));
  const [creating, setCreating] = useState(false);

  function filterBy(next: { hostId?: string; networkId?: string }) {
    url.update(next);
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
            {hosts.data?.items.map((h) => <option key={h.id} value={h.id}>{h.name}</option>)}
          </select>
        </Field>
        <Field label="Filter by network">
          <select value={networkId ?? ""} onChange={(e) => filterBy({ networkId: e.target.value || undefined })}>
            <option value="">All networks</option>
            {networks.data?.items.map((n) => <option key={n.id} value={n.id}>{n.name}</option>)}
          </select>
        </Field>
      </div>
      <AttachmentsTable hostId={hostId} networkId={networkId} />
    </div>
  );
}
