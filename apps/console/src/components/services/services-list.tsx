"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { useLiveEvents, useRefetchLive } from "../live-updates";
import { useCan, useUser } from "../user-context";
import { parseSelectorText } from "./selector-text";

type ServiceRow = RouterOutputs["services"]["list"][number];

/** Every services query of the page, read again when hosts must program something new or report what they applied. */
export function useServiceChanges() {
  const trpc = useTRPC();
  const refetch = useRefetchLive();
  useLiveEvents("services", () => refetch({ queryKey: trpc.services.pathKey() }));
  // A host's report of what it applied comes with its heartbeat's doorbell.
  useLiveEvents("host", () => refetch({ queryKey: trpc.services.pathKey() }));
}

const portsText = (ports: ServiceRow["ports"]) => ports.map((p) => `${p.port}/${p.protocol}→${p.targetPort}`).join(", ");

/** Services: VIP, ports, members selectable of total, hosts that applied the last change of total. */
export function ServicesList() {
  const trpc = useTRPC();
  const can = useCan();
  const services = useQuery(trpc.services.list.queryOptions());
  const [creating, setCreating] = useState(false);
  useServiceChanges();

  return (
    <div>
      <div className="row" style={{ justifyContent: "space-between" }}>
        <h1>Services</h1>
        {can.editNetworks && !creating && <button className="primary" onClick={() => setCreating(true)}>New service</button>}
      </div>
      <p className="muted">
        A virtual IP and ports in front of a pool of endpoints. Every selected host programs it into its kernel (an nftables table of
        its own) and reports the version it applied.
      </p>
      <ServiceCidrs />
      {creating && <NewService onDone={() => setCreating(false)} />}
      {services.error && <div className="error-box" role="alert">{errorMessage(services.error)}</div>}
      {services.data && services.data.length === 0 && <p className="muted">No services yet.</p>}
      {services.data && services.data.length > 0 && (
        <table aria-label="Services">
          <thead>
            <tr><th>Name</th><th>VIP</th><th>Ports</th><th>Members</th><th>Hosts applied</th><th>Revision</th></tr>
          </thead>
          <tbody>
            {services.data.map((s) => (
              <tr key={s.id} data-testid={`service-row-${s.name}`}>
                <td><Link href={`/services/${s.id}`}>{s.name}</Link></td>
                <td className="mono">{s.vip}</td>
                <td className="mono">{portsText(s.ports)}</td>
                <td title="members taking new connections / all members">{s.members.selectable} / {s.members.total}</td>
                <td title="hosts that applied the service's last change / hosts it is programmed on">
                  {s.hosts.applied} / {s.hosts.total}
                  {s.hosts.failed > 0 && <span className="badge error" style={{ marginLeft: 6 }}>{s.hosts.failed} failed</span>}
                </td>
                <td>r{s.revision}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** The service CIDRs VIPs come from: shown to everyone, edited by admins. */
function ServiceCidrs() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const user = useUser();
  const cidrs = useQuery(trpc.services.cidrs.queryOptions());
  const [text, setText] = useState<string | null>(null);
  const save = useMutation(
    trpc.services.setCidrs.mutationOptions({
      onSuccess: () => {
        setText(null);
        void queryClient.invalidateQueries({ queryKey: trpc.services.pathKey() });
      },
    }),
  );
  if (!cidrs.data) return null;
  const editing = text !== null;
  return (
    <section className="panel" aria-label="Service CIDRs">
      <div className="row">
        <strong>Service CIDRs</strong>
        {!editing && <span className="mono">{cidrs.data.join(", ") || <span className="muted">none set</span>}</span>}
        {!editing && user.role === "admin" && <button onClick={() => setText(cidrs.data.join(", "))}>Edit</button>}
        {editing && (
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              save.mutate({ cidrs: text.split(",").map((c) => c.trim()).filter(Boolean) });
            }}
          >
            <input aria-label="Service CIDRs" className="mono" value={text} onChange={(e) => setText(e.target.value)} placeholder="10.96.0.0/16, fd00:96::/112" size={40} />
            <button type="submit" className="primary" disabled={save.isPending}>Save</button>
            <button type="button" onClick={() => setText(null)}>Cancel</button>
          </form>
        )}
      </div>
      {save.error && <div className="error-box" role="alert">{errorMessage(save.error)}</div>}
    </section>
  );
}

type PortDraft = { protocol: "tcp" | "udp" | "sctp"; port: string; targetPort: string };

/** A new service: name, ports, the pool's selector; the VIP is allocated unless given. */
function NewService({ onDone }: { onDone: () => void }) {
  const trpc = useTRPC();
  const router = useRouter();
  const [name, setName] = useState("");
  const [vip, setVip] = useState("");
  const [selector, setSelector] = useState("");
  const [affinity, setAffinity] = useState("");
  const [ports, setPorts] = useState<PortDraft[]>([{ protocol: "tcp", port: "80", targetPort: "8080" }]);
  const [problem, setProblem] = useState<string | null>(null);
  const create = useMutation(trpc.services.create.mutationOptions({ onSuccess: (s) => router.push(`/services/${s.id}`) }));

  function submit(e: FormEvent) {
    e.preventDefault();
    const sel = parseSelectorText(selector);
    if (!sel.ok) return setProblem(`Member selector: ${sel.error}`);
    setProblem(null);
    create.mutate({
      name: name.trim(),
      ...(vip.trim() ? { vip: vip.trim() } : {}),
      family: vip.includes(":") ? 6 : 4,
      spec: {
        ports: ports.map((p) => ({ protocol: p.protocol, port: Number(p.port), targetPort: Number(p.targetPort) })),
        memberSelector: sel.value,
        affinityTimeoutSeconds: affinity.trim() ? Number(affinity) : null,
      },
    });
  }

  return (
    <form className="panel" onSubmit={submit} aria-label="New service">
      <h2 style={{ marginTop: 0 }}>New service</h2>
      <div className="grid2">
        <label>Name <input value={name} onChange={(e) => setName(e.target.value)} placeholder="web" required /></label>
        <label>VIP <input className="mono" value={vip} onChange={(e) => setVip(e.target.value)} placeholder="allocated from the service CIDR" /></label>
        <label>
          Members: attachments labelled
          <input className="mono" aria-label="Member selector" value={selector} onChange={(e) => setSelector(e.target.value)} placeholder="app=web" />
        </label>
        <label>Client affinity (seconds) <input type="number" min={1} max={86400} value={affinity} onChange={(e) => setAffinity(e.target.value)} placeholder="none" /></label>
      </div>
      <p className="muted hint">Ports: the VIP's port, and the members' port traffic is sent to.</p>
      {ports.map((p, i) => (
        <div key={i} className="row">
          <select aria-label={`Port ${i + 1} protocol`} value={p.protocol} onChange={(e) => setPorts(ports.map((x, j) => (j === i ? { ...x, protocol: e.target.value as PortDraft["protocol"] } : x)))}>
            <option value="tcp">tcp</option>
            <option value="udp">udp</option>
            <option value="sctp">sctp</option>
          </select>
          <input aria-label={`Port ${i + 1}`} type="number" min={1} max={65535} value={p.port} onChange={(e) => setPorts(ports.map((x, j) => (j === i ? { ...x, port: e.target.value } : x)))} />
          →
          <input aria-label={`Port ${i + 1} target`} type="number" min={1} max={65535} value={p.targetPort} onChange={(e) => setPorts(ports.map((x, j) => (j === i ? { ...x, targetPort: e.target.value } : x)))} />
          {ports.length > 1 && <button type="button" onClick={() => setPorts(ports.filter((_, j) => j !== i))}>Remove</button>}
        </div>
      ))}
      <button type="button" onClick={() => setPorts([...ports, { protocol: "tcp", port: "", targetPort: "" }])}>Add a port</button>
      {(problem || create.error) && <div className="error-box" role="alert">{problem ?? errorMessage(create.error)}</div>}
      <div className="row">
        <button type="submit" className="primary" disabled={create.isPending}>Create</button>
        <button type="button" onClick={onDone}>Cancel</button>
      </div>
    </form>
  );
}
