"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { errorMessage, useTRPC, type RouterInputs, type RouterOutputs } from "~/trpc/react";
import { RelativeTime } from "../relative-time";

type Service = RouterOutputs["services"]["get"];
type Probe = RouterOutputs["services"]["probes"][number];
type Result = NonNullable<Probe["result"]>;

const STATUS_TONE: Record<Probe["status"], string> = { pending: "busy", running: "busy", done: "success", failed: "error" };
const isLive = (p: Probe) => p.status === "pending" || p.status === "running";
const percent = (part: number, whole: number) => (whole > 0 ? Math.round((1000 * part) / whole) / 10 : 0);

/**
 * The probe panel (issue 12): an operator has a host that carries the service send a bounded
 * number of connections to the VIP, from the host itself or one of its ready attachments, and
 * sees how they spread over the members next to the share their weights ask for. Viewers see the
 * probes; the status is live (pending → running → done/failed).
 */
export function ServiceProbe({ service: s, canRun }: { service: Service; canRun: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  // While one is under way the list is read every second (the host's doorbell also refreshes it).
  const probes = useQuery({ ...trpc.services.probes.queryOptions({ serviceId: s.id }), refetchInterval: (q) => (q.state.data?.some(isLive) ? 1000 : false) });
  const start = useMutation(trpc.services.startProbe.mutationOptions({ onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.services.probes.queryKey({ serviceId: s.id }) }) }));
  const latest = probes.data?.[0];

  return (
    <section aria-label="Probe">
      {canRun && <ProbeForm service={s} busy={start.isPending} onRun={(input) => start.mutate(input)} />}
      {start.error && <div className="error-box" role="alert">{errorMessage(start.error)}</div>}
      {probes.error && <div className="error-box" role="alert">{errorMessage(probes.error)}</div>}
      {latest && <ProbeOutcome service={s} probe={latest} />}
      {probes.data && probes.data.length > 0 ? (
        <table aria-label="Recent probes">
          <thead>
            <tr><th>When</th><th>Host</th><th>From</th><th>Port</th><th>Connections</th><th>Status</th><th>By</th></tr>
          </thead>
          <tbody>
            {probes.data.map((p) => (
              <tr key={p.id}>
                <td><RelativeTime date={p.createdAt} /></td>
                <td>{p.hostName}</td>
                <td className="mono">{p.sourceKind === "host" ? "the host" : p.sourceName}</td>
                <td className="mono">{p.port}/{p.protocol}</td>
                <td>{p.result ? `${p.result.answered} / ${p.result.sent} answered` : p.count}</td>
                <td><span className={`badge ${STATUS_TONE[p.status]}`}>{p.status}</span></td>
                <td>{p.requestedByName}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        probes.data && <p className="muted">No probes yet.</p>
      )}
    </section>
  );
}

function ProbeForm({ service: s, busy, onRun }: { service: Service; busy: boolean; onRun: (input: RouterInputs["services"]["startProbe"]) => void }) {
  const trpc = useTRPC();
  const carriers = s.hosts.filter((h) => h.applied);
  const [hostId, setHostId] = useState(carriers[0]?.hostId ?? "");
  const [source, setSource] = useState("host");
  const [port, setPort] = useState(`${s.spec.ports[0]!.protocol}/${s.spec.ports[0]!.port}`);
  const [count, setCount] = useState("100");
  const chosenHost = hostId || carriers[0]?.hostId || "";
  const attachments = useQuery({ ...trpc.attachments.list.queryOptions({ hostId: chosenHost, states: ["ready"], limit: 200 }), enabled: chosenHost !== "" });

  function submit(e: FormEvent) {
    e.preventDefault();
    const [protocol, portText] = port.split("/") as ["tcp" | "udp" | "sctp", string];
    onRun({
      serviceId: s.id,
      hostId: chosenHost,
      protocol,
      port: Number(portText),
      source: source === "host" ? { kind: "host" } : { kind: "attachment", attachmentId: source },
      count: Number(count),
    });
  }

  if (s.hosts.length === 0) return <p className="muted">No host carries this service: nothing to probe from.</p>;
  return (
    <form className="panel row" onSubmit={submit} aria-label="Run a probe">
      <label>
        Host{" "}
        <select aria-label="Host" value={chosenHost} onChange={(e) => (setHostId(e.target.value), setSource("host"))}>
          {s.hosts.map((h) => (
            <option key={h.hostId} value={h.hostId} disabled={!h.applied}>{h.hostName}{h.applied ? "" : " (has not applied it)"}</option>
          ))}
        </select>
      </label>
      <label>
        From{" "}
        <select aria-label="From" value={source} onChange={(e) => setSource(e.target.value)}>
          <option value="host">the host itself</option>
          {(attachments.data?.items ?? []).map((a) => (
            <option key={a.id} value={a.id}>{a.containerId}/{a.ifName} ({a.networkName})</option>
          ))}
        </select>
      </label>
      <label>
        Port{" "}
        <select aria-label="Port" value={port} onChange={(e) => setPort(e.target.value)}>
          {s.spec.ports.map((p) => (
            <option key={`${p.protocol}/${p.port}`} value={`${p.protocol}/${p.port}`}>{p.port}/{p.protocol}</option>
          ))}
        </select>
      </label>
      <label>
        Connections <input aria-label="Connections" type="number" min={1} max={1000} value={count} onChange={(e) => setCount(e.target.value)} style={{ width: 90 }} />
      </label>
      <button type="submit" className="primary" disabled={busy || chosenHost === ""}>Run probe</button>
    </form>
  );
}

/** The share each member's weight asks for, among the members taking new connections on that port. */
function askedShares(s: Service, probe: Probe): Map<string, number> {
  const port = s.spec.ports.find((p) => p.protocol === probe.protocol && p.port === probe.port);
  const takers = s.members.filter((m) => m.selectable);
  const total = takers.reduce((a, m) => a + m.weight, 0);
  return new Map(takers.map((m) => [`${m.address}|${m.port ?? port?.targetPort}`, total > 0 ? m.weight / total : 0]));
}

function ProbeOutcome({ service: s, probe }: { service: Service; probe: Probe }) {
  const r: Result | null = probe.result;
  const asked = askedShares(s, probe);
  return (
    <div className="panel" aria-label="Probe result" data-testid="probe-result">
      <p>
        <span className={`badge ${STATUS_TONE[probe.status]}`} data-testid="probe-status">{probe.status}</span>{" "}
        {probe.count} connections to <span className="mono">{probe.vip}:{probe.port}/{probe.protocol}</span> from {probe.sourceKind === "host" ? `host ${probe.hostName}` : `${probe.sourceName} on ${probe.hostName}`}
        {r && <span className="muted"> · {r.durationMs} ms</span>}
      </p>
      {probe.status === "failed" && <div className="error-box" role="alert">{probe.error}</div>}
      {r && (
        <table aria-label="Spread over the members">
          <thead>
            <tr><th>Member</th><th>Connections</th><th>Share</th><th>Its weight asks</th><th /></tr>
          </thead>
          <tbody>
            {r.members.map((m) => {
              const share = percent(m.count, r.answered);
              const wanted = asked.get(`${m.address}|${m.port}`);
              return (
                <tr key={`${m.address}|${m.port}`} data-testid={`probe-member-${m.address}`}>
                  <td className="mono">{m.address}:{m.port}</td>
                  <td>{m.count}</td>
                  <td>{share}%</td>
                  <td>{wanted === undefined ? <span className="muted">not a member now</span> : `${percent(wanted, 1)}%`}</td>
                  <td style={{ width: "40%" }}>
                    <div aria-hidden style={{ position: "relative", height: 12, background: "var(--border, #ddd)", borderRadius: 3 }}>
                      <div style={{ width: `${share}%`, height: "100%", background: "var(--accent, #2563eb)", borderRadius: 3 }} />
                      {wanted !== undefined && <div title="the weight's share" style={{ position: "absolute", top: -2, bottom: -2, left: `${percent(wanted, 1)}%`, width: 2, background: "#111" }} />}
                    </div>
                  </td>
                </tr>
              );
            })}
            <tr data-testid="probe-refused"><td>refused</td><td>{r.refused}</td><td>{percent(r.refused, r.sent)}%</td><td /><td /></tr>
            <tr data-testid="probe-timed-out"><td>timed out</td><td>{r.timedOut}</td><td>{percent(r.timedOut, r.sent)}%</td><td /><td /></tr>
            {r.failed > 0 && <tr><td>other errors</td><td>{r.failed}</td><td>{percent(r.failed, r.sent)}%</td><td /><td /></tr>}
            {r.unattributed > 0 && <tr><td>answered, member unknown</td><td>{r.unattributed}</td><td>{percent(r.unattributed, r.answered)}%</td><td /><td /></tr>}
          </tbody>
        </table>
      )}
      {r && !r.membersKnown && <p className="muted">Members unknown: {r.notes[0]}</p>}
      {r && r.membersKnown && r.notes.length > 0 && <p className="muted">{r.notes.join(" · ")}</p>}
    </div>
  );
}
