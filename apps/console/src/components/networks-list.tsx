"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { errorIssues, errorMessage, useTRPC, useTRPCClient } from "~/trpc/react";
import { downloadConfigFiles } from "./download";
import { useCan } from "./user-context";
import { AbsoluteTime } from "./relative-time";

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
              <td><AbsoluteTime date={n.updatedAt} /> <span className="muted">by {n.lastAuthor}</span></td>
            </tr>
          ))}
          {networks.data?.length === 0 && (
            <tr><td colSpan={5} className="muted">No networks yet. <Link href="/networks/new">Create one</Link> or import conflists from /etc/cni/net.d.</td></tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function ImportPanel({ onDone }: { onDone: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [pasted, setPasted] = useState("");
  const [files, setFiles] = useState<{ fileName: string; text: string }[]>([]);
  const importMut = useMutation(
    trpc.networks.import.mutationOptions({ onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.networks.pathKey() }) }),
  );
  async function pick(list: FileList | null) {
    setFiles(await Promise.all(Array.from(list ?? []).map(async (f) => ({ fileName: f.name, text: await f.text() }))));
  }
  const all = [...files, ...(pasted.trim() ? [{ fileName: "pasted.conflist", text: pasted }] : [])];
  return (
    <div className="panel">
      <h2 style={{ marginTop: 0 }}>Import conflists</h2>
      <label>
        <span>Files (.conflist, .conf, .json)</span>
        <input type="file" multiple accept=".conflist,.conf,.json" onChange={(e) => void pick(e.target.files)} />
      </label>
      <label>
        <span>Or paste one config</span>
        <textarea className="mono" rows={8} style={{ width: "100%" }} value={pasted} onChange={(e) => setPasted(e.target.value)} />
      </label>
      {importMut.error && (
        <div className="error-box" role="alert">
          {errorMessage(importMut.error)}
          {errorIssues(importMut.error).slice(1).map((i) => <div key={i.path.join(".") + i.message}>{i.path.join(".")}: {i.message}</div>)}
        </div>
      )}
      {importMut.data && (
        <div className="ok-box">
          {importMut.data.map((o) => <div key={o.fileName}>{o.fileName}: {o.name} {o.action} (r{o.revision})</div>)}
        </div>
      )}
      <div className="row">
        <button className="primary" disabled={all.length === 0 || importMut.isPending} onClick={() => importMut.mutate({ files: all })}>
          Import {all.length || ""} file{all.length === 1 ? "" : "s"}
        </button>
        <button onClick={onDone}>Close</button>
      </div>
    </div>
  );
}
