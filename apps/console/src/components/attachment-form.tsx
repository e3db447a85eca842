"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import Link from "next/link";
import { useEffect, useState, type FormEvent } from "react";
import { errorIssues, errorMessage, useTRPC, type RouterInputs } from "~/trpc/react";
import { Field } from "./field";
import { LabelsEditor, labelsOf, type LabelRow } from "./labels-editor";

type TargetKind = "sandbox" | "netns" | "pid";
interface PortRow {
  hostPort: string;
  containerPort: string;
  protocol: "tcp" | "udp";
  /** Empty: every address of the host. */
  hostIP: string;
}
interface FormValues {
  hostId: string;
  networkId: string;
  targetKind: TargetKind;
  sandboxName: string;
  netnsName: string;
  pid: string;
  containerId: string;
  ifName: string;
  ports: PortRow[];
  /** Pools whose member selector matches take the attachment once it is ready. */
  labels: LabelRow[];
}

const TARGETS: { kind: TargetKind; label: string; hint: string }[] = [
  { kind: "sandbox", label: "Sandbox", hint: "The agent creates this namespace and deletes it on detach." },
  { kind: "netns", label: "Existing netns", hint: "A named namespace that already exists on the host (ip netns list)." },
  { kind: "pid", label: "Process", hint: "The network namespace of a running process." },
];

function toInput(v: FormValues): RouterInputs["attachments"]["create"] {
  const labels = labelsOf(v.labels);
  const name = (s: string) => s.trim();
  const target =
    v.targetKind === "sandbox"
      ? { kind: "sandbox" as const, ...(name(v.sandboxName) ? { name: name(v.sandboxName) } : {}) }
      : v.targetKind === "netns"
        ? { kind: "netns" as const, name: name(v.netnsName) }
        : { kind: "pid" as const, pid: Number(v.pid) };
  return {
    hostId: v.hostId,
    networkId: v.networkId,
    target,
    ...(name(v.containerId) ? { containerId: name(v.containerId) } : {}),
    ifName: name(v.ifName) || "eth0",
    portMappings: v.ports.map((p) => ({ hostPort: Number(p.hostPort), containerPort: Number(p.containerPort), protocol: p.protocol, ...(p.hostIP.trim() ? { hostIP: p.hostIP.trim() } : {}) })),
    labels: labels.ok ? labels.labels : {},
  };
}

/** What the server picks when the container id is left empty (see createAttachment). */
function defaultContainerId(v: FormValues): string {
  if (v.targetKind === "sandbox") return v.sandboxName.trim() || "the generated sandbox name";
  if (v.targetKind === "netns") return v.netnsName.trim() || "the namespace name";
  return v.pid.trim() ? `pid-${v.pid.trim()}` : "pid-<pid>";
}

/** Operators: desired attachment in, attach job queued; opens the job view. */
export function AttachmentForm({ initialHostId = "", initialNetworkId = "", onCancel }: { initialHostId?: string; initialNetworkId?: string; onCancel: () => void }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const hosts = useQuery(trpc.hosts.list.queryOptions({ limit: 200 }));
  const networks = useQuery(trpc.networks.list.queryOptions({ limit: 200 }));
  const [v, setV] = useState<FormValues>({
    hostId: initialHostId,
    networkId: initialNetworkId,
    targetKind: "sandbox",
    sandboxName: "",
    netnsName: "",
    pid: "",
    containerId: "",
    ifName: "eth0",
    ports: [],
    labels: [],
  });
  const create = useMutation(
    trpc.attachments.create.mutationOptions({
      onSuccess: (r) => {
        void queryClient.invalidateQueries({ queryKey: trpc.attachments.pathKey() });
        router.push(`/operations/${r.operation.id}`);
      },
    }),
  );
  const issues = errorIssues(create.error);
  const issue = (path: string) => issues.find((i) => i.path.join(".") === path)?.message;
  const set = <K extends keyof FormValues>(key: K, value: FormValues[K]) => setV((old) => ({ ...old, [key]: value }));
  const setPort = (i: number, row: Partial<PortRow>) => set("ports", v.ports.map((p, j) => (j === i ? { ...p, ...row } : p)));
  const liveHosts = hosts.data?.items.filter((h) => !h.revokedAt) ?? [];
  const targetError = issue("target.name") ?? issue("target.pid") ?? issue("target");
  // With one host or one network there is nothing to choose: take it.
  const onlyHost = liveHosts.length === 1 ? liveHosts[0]!.id : "";
  const onlyNetwork = networks.data?.items.length === 1 ? networks.data.items[0]!.id : "";
  useEffect(() => {
    if (onlyHost) setV((old) => (old.hostId ? old : { ...old, hostId: onlyHost }));
  }, [onlyHost]);
  useEffect(() => {
    if (onlyNetwork) setV((old) => (old.networkId ? old : { ...old, networkId: onlyNetwork }));
  }, [onlyNetwork]);
  const host = useQuery({ ...trpc.hosts.get.queryOptions({ id: v.hostId }), enabled: v.hostId !== "" });
  const namespaces = host.data?.inventory?.namespaces ?? [];
  const hostAddresses = (host.data?.inventory?.addresses ?? []).map((a) => a.address.split("/")[0]!).filter((a) => a !== "");

  function submit(e: FormEvent) {
    e.preventDefault();
    // Rows with a problem show it beside them; nothing is sent until they are fixed.
    if (!labelsOf(v.labels).ok) return;
    create.mutate(toInput(v));
  }

  if (hosts.data && networks.data && (liveHosts.length === 0 || networks.data.items.length === 0)) {
    return (
      <div className="panel" role="status">
        <h2 style={{ marginTop: 0 }}>New attachment</h2>
        {liveHosts.length === 0 && <p>No host is enrolled yet: an attachment runs on a host&apos;s agent. <Link href="/hosts">Add a host</Link> first.</p>}
        {networks.data.items.length === 0 && <p>No network exists yet: an attachment joins a network. <Link href="/networks/new">Create a network</Link> first.</p>}
        <button type="button" onClick={onCancel}>Close</button>
      </div>
    );
  }
  return (
    <form className="panel" onSubmit={submit} aria-label="New attachment">
      <h2 style={{ marginTop: 0 }}>New attachment</h2>
      <div className="grid2">
        <Field label="Host" error={issue("hostId")}>
          <select required value={v.hostId} onChange={(e) => set("hostId", e.target.value)}>
            <option value="">Choose a host…</option>
            {liveHosts.map((h) => <option key={h.id} value={h.id}>{h.name} ({h.liveness})</option>)}
          </select>
        </Field>
        <Field label="Network" error={issue("networkId")}>
          <select required value={v.networkId} onChange={(e) => set("networkId", e.target.value)}>
            <option value="">Choose a network…</option>
            {networks.data?.items.map((n) => <option key={n.id} value={n.id}>{n.name} (r{n.latestRevision})</option>)}
          </select>
        </Field>
      </div>
      <fieldset style={{ border: "1px solid var(--line)", borderRadius: 6, marginBottom: 10 }}>
        <legend>Target</legend>
        <div className="row">
          {TARGETS.map((t) => (
            <label key={t.kind} className="row" style={{ margin: 0, gap: 4 }}>
              <input type="radio" name="targetKind" value={t.kind} checked={v.targetKind === t.kind} onChange={() => set("targetKind", t.kind)} /> {t.label}
            </label>
          ))}
        </div>
        <p className="muted hint">{TARGETS.find((t) => t.kind === v.targetKind)!.hint}</p>
        {v.targetKind === "sandbox" && (
          <Field label="Sandbox name (optional)" error={targetError} hint="Empty for a generated name like sy-1a2b3c4d">
            <input value={v.sandboxName} onChange={(e) => set("sandboxName", e.target.value)} aria-invalid={Boolean(targetError)} />
          </Field>
        )}
        {v.targetKind === "netns" && (
          <NamespaceField value={v.netnsName} namespaces={namespaces} error={targetError} hostChosen={v.hostId !== ""} onChange={(name) => set("netnsName", name)} />
        )}
        {v.targetKind === "pid" && (
          <Field label="Process id" error={targetError}>
            <input required type="number" min={2} value={v.pid} onChange={(e) => set("pid", e.target.value)} aria-invalid={Boolean(targetError)} />
          </Field>
        )}
      </fieldset>
      <div className="grid2">
        <Field label="Container id (optional)" error={issue("containerId")} hint="Empty for the default shown">
          <input value={v.containerId} placeholder={defaultContainerId(v)} onChange={(e) => set("containerId", e.target.value)} aria-invalid={Boolean(issue("containerId"))} />
        </Field>
        <Field label="Interface name" error={issue("ifName")} hint="Inside the namespace; at most 15 characters">
          <input value={v.ifName} onChange={(e) => set("ifName", e.target.value)} aria-invalid={Boolean(issue("ifName"))} />
        </Field>
      </div>
      <PortMappings ports={v.ports} issue={issue} hostAddresses={hostAddresses} onChange={(ports) => set("ports", ports)} onEdit={setPort} />
      <fieldset style={{ border: "1px solid var(--line)", borderRadius: 6, marginBottom: 10 }}>
        <legend>Labels</legend>
        <p className="muted hint" style={{ marginTop: 0 }}>Service pools whose member selector matches take this attachment once it is ready.</p>
        <LabelsEditor name="Labels of the attachment" rows={v.labels} onChange={(labels) => set("labels", labels)} />
        {issue("labels") && <div className="field-error" role="alert">{issue("labels")}</div>}
      </fieldset>
      {create.error && <div className="error-box" role="alert">{errorMessage(create.error)}</div>}
      <div className="row">
        <button type="submit" className="primary" disabled={create.isPending}>Attach</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}

const OTHER = "\u0000other";

/** The host's namespaces (from its inventory) to pick from, or a name typed by hand. */
function NamespaceField({ value, namespaces, error, hostChosen, onChange }: { value: string; namespaces: string[]; error?: string; hostChosen: boolean; onChange: (name: string) => void }) {
  const [typing, setTyping] = useState(false);
  if (namespaces.length === 0 || typing) {
    return (
      <Field label="Namespace name" error={error} hint={hostChosen ? "The host's inventory lists no namespaces: type the name (ip netns list on the host)." : "Choose the host first to pick from its namespaces."}>
        <input required value={value} onChange={(e) => onChange(e.target.value)} aria-invalid={Boolean(error)} />
      </Field>
    );
  }
  return (
    <Field label="Namespace name" error={error} hint="From the host's inventory (its netns dir).">
      <select
        required
        value={namespaces.includes(value) ? value : ""}
        aria-invalid={Boolean(error)}
        onChange={(e) => {
          if (e.target.value === OTHER) {
            setTyping(true);
            return;
          }
          onChange(e.target.value);
        }}
      >
        <option value="">Choose a namespace…</option>
        {namespaces.map((n) => <option key={n} value={n}>{n}</option>)}
        <option value={OTHER}>Another name…</option>
      </select>
    </Field>
  );
}

function PortMappings(props: {
  ports: PortRow[];
  hostAddresses: string[];
  issue: (path: string) => string | undefined;
  onChange: (ports: PortRow[]) => void;
  onEdit: (i: number, row: Partial<PortRow>) => void;
}) {
  const { ports, issue } = props;
  return (
    <fieldset style={{ border: "1px solid var(--line)", borderRadius: 6, marginBottom: 10 }}>
      <legend>Port mappings</legend>
      <p className="muted hint" style={{ marginTop: 0 }}>Passed to the portmap plugin as the portMappings capability; the network needs portmap chained.</p>
      {ports.map((p, i) => (
        <div key={i} className="row" style={{ alignItems: "flex-start" }}>
          <Field label={`Host port ${i + 1}`} error={issue(`portMappings.${i}.hostPort`)}>
            <input type="number" min={1} max={65535} required value={p.hostPort} onChange={(e) => props.onEdit(i, { hostPort: e.target.value })} />
          </Field>
          <Field label={`Container port ${i + 1}`} error={issue(`portMappings.${i}.containerPort`)}>
            <input type="number" min={1} max={65535} required value={p.containerPort} onChange={(e) => props.onEdit(i, { containerPort: e.target.value })} />
          </Field>
          <Field label={`Protocol ${i + 1}`} error={issue(`portMappings.${i}.protocol`)}>
            <select value={p.protocol} onChange={(e) => props.onEdit(i, { protocol: e.target.value as PortRow["protocol"] })}>
              <option>tcp</option>
              <option>udp</option>
            </select>
          </Field>
          <Field label={`Host IP ${i + 1}`} error={issue(`portMappings.${i}.hostIP`)} hint="Empty: every address">
            <input list="host-addresses" value={p.hostIP} placeholder="all addresses" onChange={(e) => props.onEdit(i, { hostIP: e.target.value })} />
          </Field>
          <button type="button" style={{ marginTop: 18 }} onClick={() => props.onChange(ports.filter((_, j) => j !== i))} aria-label={`Remove port mapping ${i + 1}`}>
            Remove
          </button>
        </div>
      ))}
      <datalist id="host-addresses">{props.hostAddresses.map((a) => <option key={a} value={a} />)}</datalist>
      <button type="button" onClick={() => props.onChange([...ports, { hostPort: "", containerPort: "", protocol: "tcp", hostIP: "" }])}>Add port mapping</button>
    </fieldset>
  );
}
