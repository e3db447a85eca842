"use client";

import { ProxySettings } from "@switchyard/dataplane/proxy";
import { type FormEvent, useState } from "react";
import type { RouterOutputs } from "~/trpc/react";
import type { PlannedChange } from "./service-plan";

type Spec = RouterOutputs["services"]["get"]["spec"];
type Balance = ProxySettings["balance"];
type PortKind = "tcp" | "http";

const BALANCES: { value: string; label: string }[] = [
  { value: "round-robin", label: "Round robin (weighted)" },
  { value: "least-connections", label: "Least connections (weighted)" },
  { value: "consistent-hash:client", label: "Consistent hash on the client address" },
  { value: "consistent-hash:header", label: "Consistent hash on a header" },
];

const balanceValue = (b: Balance) => (b.algorithm !== "consistent-hash" ? b.algorithm : b.hashOn.kind === "header" ? "consistent-hash:header" : "consistent-hash:client");

/** One line for the facts panel: which plane, and on the proxy how it balances and what each port is. */
export function describePlane(spec: Spec): string {
  if (spec.dataPlane !== "proxy") return "kernel (nftables: L4, random weighted per connection)";
  const p = spec.proxy ?? ProxySettings.parse({});
  const ports = spec.ports.map((port) => {
    const s = p.ports.find((x) => x.port === port.port);
    return `${port.port} ${s?.kind === "http" ? "HTTP" : "TCP"}${s?.hostPort ? ` (+ host port ${s.hostPort})` : ""}`;
  });
  const b = p.balance;
  const balance = b.algorithm === "consistent-hash" ? `consistent hash on ${b.hashOn.kind === "header" ? `header ${b.hashOn.name}` : "client address"}` : b.algorithm;
  const passive = p.passiveHealth.consecutiveFailures > 0 ? `ejects after ${p.passiveHealth.consecutiveFailures} failures in a row` : "passive health off";
  return `proxy: ${ports.join(", ")} · ${balance} · ${passive}${p.routes.length ? ` · ${p.routes.length} route${p.routes.length === 1 ? "" : "s"}` : ""}`;
}

/**
 * The data plane, as a form (issue 14): kernel or proxy, how the proxy balances, and what each
 * port is (TCP or HTTP, and a host port). Routes, pools and passive-health thresholds are in the
 * spec's JSON (Edit spec). The change is planned before it is applied, as every edit is.
 */
export function PlaneEditor({ spec, onPlan, onCancel }: { spec: Spec; onPlan: (change: PlannedChange) => void; onCancel: () => void }) {
  const current = spec.proxy ?? ProxySettings.parse({});
  const [plane, setPlane] = useState<"kernel" | "proxy">(spec.dataPlane);
  const [balance, setBalance] = useState(balanceValue(current.balance));
  const [header, setHeader] = useState(current.balance.algorithm === "consistent-hash" && current.balance.hashOn.kind === "header" ? current.balance.hashOn.name : "");
  const [ports, setPorts] = useState(() =>
    spec.ports.map((p) => {
      const s = current.ports.find((x) => x.port === p.port);
      return { port: p.port, protocol: p.protocol, kind: (s?.kind ?? "tcp") as PortKind, hostPort: s?.hostPort ? String(s.hostPort) : "" };
    }),
  );
  const [error, setError] = useState<string | null>(null);
  const udp = spec.ports.filter((p) => p.protocol !== "tcp");

  function submit(e: FormEvent) {
    e.preventDefault();
    const nextBalance: Balance =
      balance === "consistent-hash:header"
        ? { algorithm: "consistent-hash", hashOn: { kind: "header", name: header.trim().toLowerCase() } }
        : balance === "consistent-hash:client"
          ? { algorithm: "consistent-hash", hashOn: { kind: "client-address" } }
          : { algorithm: balance as "round-robin" | "least-connections" };
    const settings = ProxySettings.safeParse({
      ...current,
      balance: nextBalance,
      ports: ports.map((p) => ({ port: p.port, kind: p.kind, hostPort: p.hostPort.trim() === "" ? null : Number(p.hostPort) })),
    });
    if (!settings.success) return setError(settings.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    setError(null);
    const title = plane === spec.dataPlane ? "proxy settings" : `data plane: ${spec.dataPlane} → ${plane}`;
    onPlan({ kind: "update", spec: { ...spec, dataPlane: plane, proxy: settings.data }, comment: title, title });
  }

  return (
    <form aria-label="Data plane" onSubmit={submit} className="panel">
      <fieldset>
        <legend>Data plane</legend>
        <label className="row">
          <input type="radio" name="plane" checked={plane === "kernel"} onChange={() => setPlane("kernel")} /> Kernel (nftables): every protocol, L4, no process on the path
        </label>
        <label className="row">
          <input type="radio" name="plane" checked={plane === "proxy"} onChange={() => setPlane("proxy")} disabled={udp.length > 0} /> Userspace proxy: HTTP routes, least connections, consistent hashing, retries, passive health, request logs
        </label>
        {udp.length > 0 && <p className="muted">The proxy carries TCP only: {udp.map((p) => `${p.port}/${p.protocol}`).join(", ")} keep this service on the kernel.</p>}
      </fieldset>
      <label htmlFor="plane-balance">Balancing</label>
      <select id="plane-balance" value={balance} onChange={(e) => setBalance(e.target.value)}>
        {BALANCES.map((b) => (
          <option key={b.value} value={b.value}>{b.label}</option>
        ))}
      </select>
      {balance === "consistent-hash:header" && (
        <>
          <label htmlFor="plane-header">Header</label>
          <input id="plane-header" value={header} onChange={(e) => setHeader(e.target.value)} placeholder="x-user-id" maxLength={64} />
        </>
      )}
      <table aria-label="Proxy ports">
        <thead>
          <tr><th>Port</th><th>Kind</th><th>Host port</th></tr>
        </thead>
        <tbody>
          {ports.map((p, i) => (
            <tr key={p.port}>
              <td className="mono">{p.port}/{p.protocol}</td>
              <td>
                <select aria-label={`Kind of port ${p.port}`} value={p.kind} onChange={(e) => setPorts(ports.map((x, j) => (j === i ? { ...x, kind: e.target.value as PortKind } : x)))}>
                  <option value="tcp">TCP</option>
                  <option value="http">HTTP/1.1</option>
                </select>
              </td>
              <td>
                <input aria-label={`Host port of ${p.port}`} value={p.hostPort} onChange={(e) => setPorts(ports.map((x, j) => (j === i ? { ...x, hostPort: e.target.value } : x)))} placeholder="none" style={{ width: 90 }} inputMode="numeric" />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {error && <div className="error-box" role="alert">{error}</div>}
      <div className="row" style={{ marginTop: 8 }}>
        <button type="submit">Review plan</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}
