import type { ReactNode } from "react";
import type { ConfDrift, schemas } from "@switchyard/api";

type Inventory = schemas.StoredInventory;
import { RelativeTime } from "./relative-time";

function yesNo(value: boolean | null): ReactNode {
  if (value === null) return <span className="badge warn">unknown</span>;
  return value ? <span className="badge success">on</span> : <span className="badge error">off</span>;
}

function found(value: boolean): ReactNode {
  return value ? <span className="badge success">found</span> : <span className="badge error">missing</span>;
}

function Empty({ columns, text }: { columns: number; text: string }) {
  return <tr><td colSpan={columns} className="muted">{text}</td></tr>;
}

/** What the agent last reported about its host. */
const DRIFT_LABEL: Record<ConfDrift["status"], string> = { "in-sync": "latest revision", older: "older revision", differs: "differs", unmanaged: "not a Switchyard network" };

export function InventoryView({ inventory: inv, reportedAt, confDrift = [] }: { inventory: Inventory | null; reportedAt: Date | null; confDrift?: ConfDrift[] }) {
  if (!inv) return <p className="muted">The agent has not reported an inventory yet.</p>;
  return (
    <div>
      <div className="panel">
        <dl className="facts">
          <dt>Reported</dt><dd><RelativeTime date={reportedAt} /></dd>
          <dt>Host name</dt><dd className="mono">{inv.hostname}</dd>
          <dt>Kernel</dt><dd className="mono">{inv.kernel}</dd>
          <dt>IP forwarding</dt><dd>IPv4 {yesNo(inv.ipForward.v4)} IPv6 {yesNo(inv.ipForward.v6)}</dd>
          <dt>Tools</dt><dd>nft {found(inv.tools.nft)} iptables {found(inv.tools.iptables)} ip {found(inv.tools.ip)}</dd>
        </dl>
      </div>

      <h3>Addresses</h3>
      <table aria-label="Host addresses">
        <thead><tr><th>Interface</th><th>Address</th></tr></thead>
        <tbody>
          {inv.addresses.map((a) => <tr key={`${a.ifName} ${a.address}`}><td className="mono">{a.ifName}</td><td className="mono">{a.address}</td></tr>)}
          {inv.addresses.length === 0 && <Empty columns={2} text="No addresses reported." />}
        </tbody>
      </table>

      <h3>CNI plugins</h3>
      <p>CNI_PATH <code>{inv.cniPath.join(":") || "(empty)"}</code></p>
      <table aria-label="CNI plugins">
        <thead><tr><th>Name</th><th>Path</th><th>Executable</th><th>CNI version</th><th>Supported versions</th><th>Error</th></tr></thead>
        <tbody>
          {inv.plugins.map((p) => (
            <tr key={p.path}>
              <td className="mono">{p.name}</td>
              <td className="mono">{p.path}</td>
              <td>{p.executable ? <span className="badge success">yes</span> : <span className="badge error">no</span>}</td>
              <td className="mono">{p.cniVersion ?? ""}</td>
              <td className="mono">{p.supportedVersions?.join(", ") ?? ""}</td>
              <td className="warning">{p.error ?? ""}</td>
            </tr>
          ))}
          {inv.plugins.length === 0 && <Empty columns={6} text="No plugins found in CNI_PATH." />}
        </tbody>
      </table>

      <h3>Network namespaces</h3>
      <p>In <code>{inv.netnsDir}</code>: {inv.namespaces.length === 0 ? <span className="muted">none</span> : inv.namespaces.map((n) => <span key={n} className="badge mono">{n}</span>)}</p>

      <h3>Conf dir</h3>
      <p><code>{inv.confDir}</code></p>
      <table aria-label="Conf dir files">
        <thead><tr><th>File</th><th>Network</th><th>In the console</th><th>Error</th></tr></thead>
        <tbody>
          {inv.confFiles.map((f) => {
            const drift = confDrift.find((d) => d.file === f.file);
            return (
              <tr key={f.file}>
                <td className="mono">{f.file}</td>
                <td>{f.networkName ?? ""}</td>
                <td className={drift?.status === "older" || drift?.status === "differs" ? "warning" : ""}>
                  {drift ? `${DRIFT_LABEL[drift.status]}${drift.revision ? ` (r${drift.revision}${drift.status === "older" ? ` of r${drift.latestRevision}` : ""})` : ""}` : ""}
                </td>
                <td className="warning">{f.error ?? ""}</td>
              </tr>
            );
          })}
          {inv.confFiles.length === 0 && <Empty columns={4} text="No conf files." />}
        </tbody>
      </table>

      <h3>Cache dir</h3>
      <p><code>{inv.cacheDir}</code></p>
      <table aria-label="Cached attachments">
        <thead><tr><th>Network</th><th>Container id</th><th>Interface</th><th>Netns</th></tr></thead>
        <tbody>
          {inv.cachedAttachments.map((c) => (
            <tr key={`${c.networkName} ${c.containerId} ${c.ifName}`}>
              <td>{c.networkName}</td><td className="mono">{c.containerId}</td><td className="mono">{c.ifName}</td><td className="mono">{c.netns}</td>
            </tr>
          ))}
          {inv.cachedAttachments.length === 0 && <Empty columns={4} text="No cached attachments." />}
        </tbody>
      </table>

      <h3>Masquerade rules</h3>
      <table aria-label="Masquerade rules">
        <thead><tr><th>Network</th><th>Container id</th><th>Subnet</th><th>Rule</th></tr></thead>
        <tbody>
          {inv.masquerade.map((m) => (
            <tr key={`${m.networkName} ${m.containerId ?? ""} ${m.subnet}`}>
              <td>{m.networkName}</td>
              <td className="mono">{m.containerId ?? ""}</td>
              {/* Agents before issue 10 reported the container id in this field: show no subnet for them. */}
              <td className="mono">{m.containerId !== undefined ? m.subnet : <span className="muted">not reported by this agent version</span>}</td>
              <td>{found(m.present)}</td>
            </tr>
          ))}
          {inv.masquerade.length === 0 && <Empty columns={4} text="No network on this host masquerades." />}
        </tbody>
      </table>
    </div>
  );
}
