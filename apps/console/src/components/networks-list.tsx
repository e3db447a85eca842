"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { errorMessage, useTRPC, useTRPCClient } from "~/trpc/react";
import { downloadConfigFiles } from "./download";
import { ImportPanel } from "./network-import";
import { useCan } from "./user-context";

export function NetworksList() {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const can = useCan();
  const networks = useQuery(trpc.networks.list.queryOptions());
  const [showImport, setShowImport] = useState(false);

  async function exportAll() {
    const files = await client.networks.export.query({});
    downloadConfigFiles(files, "switchyard-networks.zip");
  }

  return (
    <div>
      <div className="row" style={{ justifyContent: "space-between" }}>
        <h1>Networks</h1>
        <div className="row">
          <button onClick={() => void exportAll()} disabled={!networks.data?.length}>Export all</button>
          {can.editNetworks && <button onClick={() => setShowImport((s) => !s)}>Import</button>}
          {can.editNetworks && <Link className="button primary" href="/networks/new">New network</Link>}
        </div>
      </div>
      {showImport && <ImportPanel onDone={() => setShowImport(false)} />}
      {networks.error && <div className="error-box">{errorMessage(networks.error)}</div>}
      <table>
        <thead>
          <tr><th>Name</th><th>Plugins</th><th>CNI version</th><th>Revision</th><th>Updated</th></tr>
        </thead>
        <tbody>
          {networks.data?.map((n) => (
            <tr key={n.id}>
              <td><Link href={`/networks/${n.id}`}>{n.name}</Link></td>
              <td>{n.plugins.map((p) => <span key={p} className="badge">{p}</span>)}</td>
              <td>{n.cniVersion}</td>
              <td>r{n.latestRevision}</td>
              <td>{n.updatedAt.toLocaleString()} <span className="muted">by {n.lastAuthor}</span></td>
            </tr>
          ))}
          {networks.data?.length === 0 && (
            <tr><td colSpan={5} className="muted">No networks yet.</td></tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
