"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { Fragment, useEffect, useRef, useState } from "react";
import { routeGateway, type CniResult } from "~/lib/cni-result";
import { isStuck } from "~/lib/stuck";
import { errorMessage, useTRPC, useTRPCClient, type RouterOutputs } from "~/trpc/react";
import { useLiveEvents, useRefetchLive } from "./live-updates";
import { AbsoluteTime, RelativeTime } from "./relative-time";
import { ApplyLatestToAttachment } from "./network-usage";
import { StateBadge } from "./state-badge";
import { useCan } from "./user-context";
import { formatTime } from "~/lib/time";

type Operation = RouterOutputs["attachments"]["operation"];
type LogLine = { id: number; at: Date; stream: string; line: string; attempt: number };

/** The stored log plus lines read since, each line once (a refetch of the operation returns them too). */
function mergeLog(stored: LogLine[], live: LogLine[]): LogLine[] {
  const last = stored.at(-1)?.id ?? 0;
  return [...stored, ...live.filter((l) => l.id > last)];
}

/**
 * Reads job lines after the last one held whenever the stream rings ("log"); one read at a
 * time, and one more if it rang meanwhile, so a burst of doorbells is a read or two.
 */
function useLogReader(id: string, stored: LogLine[] | undefined) {
  const client = useTRPCClient();
  const [live, setLive] = useState<LogLine[]>([]);
  const held = useRef({ stored, live, reading: false, again: false });
  held.current.stored = stored;
  held.current.live = live;
  const read = async () => {
    const h = held.current;
    if (h.reading) return void (h.again = true);
    h.reading = true;
    try {
      do {
        h.again = false;
        const afterId = Math.max(h.stored?.at(-1)?.id ?? 0, h.live.at(-1)?.id ?? 0);
        const page = await client.attachments.operationLogs.query({ operationId: id, afterId });
        if (page.lines.length > 0) {
          h.live = [...h.live, ...page.lines];
          setLive(h.live);
        }
        if (page.more) h.again = true;
      } while (h.again);
    } finally {
      h.reading = false;
    }
  };
  return { live, read: () => void read().catch(() => {}) };
}

const OPEN_JOB_REFETCH_MS = 3_000;

/** Live job view: status, attempts, the agent's log as it streams, and the result when done. */
export function OperationView({ id }: { id: string }) {
  const trpc = useTRPC();
  const op = useQuery(trpc.attachments.operation.queryOptions({ id }));
  const logs = useLogReader(id, op.data?.logs);
  // Covers this operation, its attachment and any attachment tables.
  const refetchLive = useRefetchLive();
  const refetch = () => refetchLive({ queryKey: trpc.attachments.pathKey() });
  useLiveEvents("operation", (e) => {
    if (e.kind === "resync") return refetch();
    if (e.operationId !== id) return;
    if (e.kind === "log") logs.read();
    if (e.kind === "status") refetch();
  });
  // Besides the live events, an open job is re-read every few seconds, with everything an event
  // would re-read (the attachment's result too): a stream that was down cannot leave it "running".
  // Reads on their way are left to finish (cancelling them every few seconds on a slow console
  // would never let one land).
  const queryClient = useQueryClient();
  const open = op.data?.status === "queued" || op.data?.status === "running";
  useEffect(() => {
    if (!open) return;
    const timer = setInterval(() => void queryClient.invalidateQueries({ queryKey: trpc.attachments.pathKey() }, { cancelRefetch: false }), OPEN_JOB_REFETCH_MS);
    return () => clearInterval(timer);
  }, [open, queryClient, trpc]);

  if (op.error) {
    return (
      <div>
        <p><Link href="/attachments">← Attachments</Link></p>
        <div className="error-box">{errorMessage(op.error)}</div>
      </div>
    );
  }
  if (!op.data) return <p className="muted">Loading…</p>;
  const o = op.data;
  const log = mergeLog(o.logs, logs.live);

  return (
    <div>
      <p><Link href={`/attachments?hostId=${o.hostId}`}>← Attachments on {o.host.name}</Link></p>
      <div className="row" style={{ justifyContent: "space-between" }}>
        <h1>
          {o.kind} {o.attachment.containerId}/{o.attachment.ifName}{o.kind === "detach" && o.toRevision !== null ? ` with r${o.toRevision}` : ""} <StateBadge state={o.status} testId="op-status" />
        </h1>
        <OperationActions op={o} />
      </div>
      <div className="panel">
        <dl className="facts">
          <dt>Host</dt><dd><Link href={`/hosts/${o.hostId}`}>{o.host.name}</Link></dd>
          <dt>Attachment</dt>
          <dd>
            <span className="mono">{o.attachment.containerId}/{o.attachment.ifName}</span> on{" "}
            <Link href={`/networks/${o.attachment.networkId}`}>{o.attachment.networkName}</Link> <span className="badge">r{o.attachment.networkRevision}</span>{" "}
            <span className="muted">(now</span> <StateBadge state={o.attachment.state} /><span className="muted">)</span>
          </dd>
          <dt>Attempt</dt><dd>{o.attempt} of {o.maxAttempts}</dd>
          <dt>Requested</dt><dd><AbsoluteTime date={o.createdAt} /> by {o.requestedByName || "the system"}</dd>
          {o.startedAt && <><dt>Started</dt><dd><AbsoluteTime date={o.startedAt} /></dd></>}
          {o.finishedAt && <><dt>Finished</dt><dd><AbsoluteTime date={o.finishedAt} /></dd></>}
          {o.status === "queued" && o.attempt > 0 && <><dt>Next attempt</dt><dd><RelativeTime date={o.notBefore} /></dd></>}
        </dl>
      </div>
      <ApplyLatestToAttachment attachmentId={o.attachmentId} />
      {o.error && <div className={o.status === "failed" ? "error-box" : "warn-box"} role="alert">{o.error}</div>}

      <h2>Log</h2>
      <ol className="log mono" data-testid="op-log" aria-label="Job log" aria-live="polite">
        {log.map((l, i) => (
          <li key={i} className={l.stream}>
            <span className="muted" title={formatTime(l.at)}>{l.at.toISOString().slice(11, 19)}Z</span> [{l.stream}
            {l.attempt > 1 ? ` #${l.attempt}` : ""}] {l.line}
          </li>
        ))}
        {log.length === 0 && <li className="muted">{o.status === "queued" ? "Waiting for the agent to claim this job…" : "No log lines."}</li>}
      </ol>

      {o.status === "succeeded" && o.kind !== "detach" && <AttachmentResult attachmentId={o.attachmentId} />}
      <OtherJobs attachmentId={o.attachmentId} currentId={o.id} />
    </div>
  );
}

/** What can be done from the job: cancel it, retry, check or detach its attachment (each opens the new job). */
function OperationActions({ op }: { op: Operation }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const can = useCan();
  const dialog = useRef<HTMLDialogElement>(null);
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.attachments.pathKey() });
  const openJob = (r: { operation: { id: string } | null }) => {
    void invalidate();
    if (r.operation) router.push(`/operations/${r.operation.id}`);
  };
  const cancel = useMutation(trpc.attachments.cancelOperation.mutationOptions({ onSuccess: () => void invalidate() }));
  const retry = useMutation(trpc.attachments.retry.mutationOptions({ onSuccess: openJob }));
  const check = useMutation(trpc.attachments.check.mutationOptions({ onSuccess: openJob }));
  const detach = useMutation(trpc.attachments.detach.mutationOptions({ onSuccess: (r) => { dialog.current?.close(); openJob(r); } }));
  const detachCurrent = useMutation(trpc.attachments.detachWithCurrentRevision.mutationOptions({ onSuccess: openJob }));
  if (!can.editAttachments) return null;
  const a = op.attachment;
  const error = cancel.error ?? retry.error ?? check.error ?? detachCurrent.error;
  const busy = cancel.isPending || retry.isPending || check.isPending || detach.isPending || detachCurrent.isPending;
  return (
    <div>
      <div className="row">
        {op.status === "queued" && op.kind !== "detach" && (
          <button disabled={busy} onClick={() => cancel.mutate({ id: op.id })}>Cancel job</button>
        )}
        {a.state === "failed" && (
          <button className="primary" disabled={busy} onClick={() => retry.mutate({ id: op.attachmentId })}>Retry attachment</button>
        )}
        {a.present && a.state === "ready" && (
          <button disabled={busy} onClick={() => check.mutate({ id: op.attachmentId })}>Check attachment</button>
        )}
        {(a.present || a.state === "failed") && (
          <button className="danger" disabled={busy} onClick={() => { detach.reset(); dialog.current?.showModal(); }}>Detach</button>
        )}
        {isStuck(a) && (
          <button
            className="danger"
            disabled={busy}
            title={`CNI DEL with revision ${a.network.latestRevision} of ${a.networkName} only, not the config the host cached: the way out when that config keeps the detach failing`}
            onClick={() => detachCurrent.mutate({ id: op.attachmentId })}
          >
            Detach with r{a.network.latestRevision}
          </button>
        )}
      </div>
      {cancel.isSuccess && <div className="ok-box" role="status">Job cancelled.</div>}
      {error && <div className="error-box" role="alert">{errorMessage(error)}</div>}
      <dialog ref={dialog} aria-label="Detach attachment">
        <h2 style={{ marginTop: 0 }}>Detach {a.containerId}/{a.ifName}?</h2>
        <p>The agent on <strong>{op.host.name}</strong> runs CNI DEL for network <strong>{a.networkName}</strong>: the interface and its addresses are released.</p>
        {detach.error && <div className="error-box" role="alert">{errorMessage(detach.error)}</div>}
        <div className="row" style={{ marginTop: 12 }}>
          <button className="danger" disabled={detach.isPending} onClick={() => detach.mutate({ id: op.attachmentId })}>Yes, detach</button>
          <button onClick={() => dialog.current?.close()}>Cancel</button>
        </div>
      </dialog>
    </div>
  );
}

function dnsRows(dns: CniResult["dns"]): [string, string][] {
  const rows: [string, string | undefined][] = [
    ["Nameservers", dns?.nameservers?.join(", ")],
    ["Domain", dns?.domain],
    ["Search", dns?.search?.join(" ")],
    ["Options", dns?.options?.join(" ")],
  ];
  return rows.filter((r): r is [string, string] => Boolean(r[1]));
}

function AttachmentResult({ attachmentId }: { attachmentId: string }) {
  const trpc = useTRPC();
  const attachment = useQuery(trpc.attachments.get.queryOptions({ id: attachmentId }));
  if (attachment.error) return <div className="error-box">{errorMessage(attachment.error)}</div>;
  if (!attachment.data) return <p className="muted">Loading result…</p>;
  const result = attachment.data.result;
  const ports = attachment.data.portMappings;
  if (!result) return <p className="muted">The attachment has no result (it is {attachment.data.state}).</p>;
  return (
    <section aria-labelledby="result-heading">
      <h2 id="result-heading">Result</h2>
      <div className="grid2">
        <div>
          <h3>Addresses</h3>
          <table aria-label="Addresses" data-testid="op-addresses">
            <thead><tr><th>Address</th><th>Gateway</th><th>Interface</th></tr></thead>
            <tbody>
              {result.ips.map((ip) => (
                <tr key={ip.address}>
                  <td className="mono">{ip.address}</td>
                  <td className="mono">{ip.gateway ?? ""}</td>
                  <td className="mono">{ip.interface !== undefined ? (result.interfaces[ip.interface]?.name ?? ip.interface) : ""}</td>
                </tr>
              ))}
              {result.ips.length === 0 && <tr><td colSpan={3} className="muted">No addresses.</td></tr>}
            </tbody>
          </table>
        </div>
        <div>
          <h3>Interfaces</h3>
          <table aria-label="Interfaces">
            <thead><tr><th>Name</th><th>MAC</th><th>Sandbox</th></tr></thead>
            <tbody>
              {result.interfaces.map((i, n) => (
                <tr key={n}><td className="mono">{i.name}</td><td className="mono">{i.mac ?? ""}</td><td className="mono">{i.sandbox ?? <span className="muted">host</span>}</td></tr>
              ))}
              {result.interfaces.length === 0 && <tr><td colSpan={3} className="muted">No interfaces.</td></tr>}
            </tbody>
          </table>
        </div>
        <div>
          <h3>Routes</h3>
          <table aria-label="Routes">
            <thead><tr><th>Destination</th><th>Gateway</th></tr></thead>
            <tbody>
              {result.routes.map((r) => {
                const gw = routeGateway(r, result);
                return (
                  <tr key={`${r.dst} ${r.gw ?? ""}`}>
                    <td className="mono">{r.dst}{r.dst === "0.0.0.0/0" || r.dst === "::/0" ? <span className="muted"> (default)</span> : null}</td>
                    <td className="mono">
                      {gw ? gw.gateway : <span className="muted">none (on-link)</span>}
                      {gw?.implied && <span className="muted" title="The route names no gateway: it goes through the address's gateway"> (the address&apos;s gateway)</span>}
                    </td>
                  </tr>
                );
              })}
              {result.routes.length === 0 && <tr><td colSpan={2} className="muted">No routes.</td></tr>}
            </tbody>
          </table>
        </div>
        <div>
          <h3>Port mappings</h3>
          <table aria-label="Port mappings" data-testid="op-ports">
            <thead><tr><th>Host</th><th>Container port</th><th>Protocol</th></tr></thead>
            <tbody>
              {ports.map((p) => (
                <tr key={`${p.protocol}/${p.hostIP ?? ""}:${p.hostPort}`}>
                  <td className="mono">{p.hostIP ? `${p.hostIP.includes(":") ? `[${p.hostIP}]` : p.hostIP}:${p.hostPort}` : `*:${p.hostPort}`}</td>
                  <td className="mono">{p.containerPort}</td>
                  <td>{p.protocol}</td>
                </tr>
              ))}
              {ports.length === 0 && <tr><td colSpan={3} className="muted">No port mappings.</td></tr>}
            </tbody>
          </table>
        </div>
        <div>
          <h3>DNS</h3>
          {dnsRows(result.dns).length > 0 ? (
            <dl className="facts">
              {dnsRows(result.dns).map(([name, value]) => (
                <Fragment key={name}>
                  <dt>{name}</dt>
                  <dd className="mono">{value}</dd>
                </Fragment>
              ))}
            </dl>
          ) : (
            <p className="muted">None.</p>
          )}
        </div>
      </div>
    </section>
  );
}

function OtherJobs({ attachmentId, currentId }: { attachmentId: string; currentId: string }) {
  const trpc = useTRPC();
  const attachment = useQuery(trpc.attachments.get.queryOptions({ id: attachmentId }));
  const others = attachment.data?.operations.filter((o) => o.id !== currentId) ?? [];
  if (others.length === 0) return null;
  return (
    <>
      <h2>Other jobs for this attachment</h2>
      <table aria-label="Other jobs">
        <thead><tr><th>Job</th><th>Status</th><th>Attempts</th><th>Requested</th></tr></thead>
        <tbody>
          {others.map((o) => (
            <tr key={o.id}>
              <td><Link href={`/operations/${o.id}`}>{o.kind} #{o.seq}</Link></td>
              <td><StateBadge state={o.status} /></td>
              <td>{o.attempt} of {o.maxAttempts}</td>
              <td><AbsoluteTime date={o.createdAt} /> by {o.requestedByName || "the system"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
