"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState, type FormEvent } from "react";
import { AGENT_NODE_MAJOR, AgentDownload, chooseConsoleUrl, isLoopbackUrl, renderJoinCommand, renderServiceCommand } from "~/lib/agent-download";
import { errorIssues, errorMessage, useTRPC } from "~/trpc/react";
import { CopyButton } from "./copy-button";
import { Field } from "./field";
import { RelativeTime } from "./relative-time";
import { StateBadge } from "./state-badge";

/** Admins: create a single-use join token, see it once with the agent command, manage unused tokens. */
export function AddHostPanel() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [form, setForm] = useState({ note: "", ttlMinutes: "60" });
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.hosts.joinTokens.queryKey() });
  const create = useMutation(trpc.hosts.createJoinToken.mutationOptions({ onSuccess: () => { setForm({ note: "", ttlMinutes: "60" }); void invalidate(); } }));
  const issues = new Map(errorIssues(create.error).map((i) => [i.path.join("."), i.message]));

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ note: form.note, ttlMinutes: Number(form.ttlMinutes) });
  }

  return (
    <section className="panel" aria-labelledby="add-host-heading">
      <h2 id="add-host-heading" style={{ marginTop: 0 }}>Add a host</h2>
      <p className="muted">
        Create a single-use join token, then start the agent on the host with it. The agent dials the console; nothing listens on the host.
      </p>
      <form className="row" onSubmit={submit} aria-label="Create join token" style={{ alignItems: "flex-start" }}>
        <Field label="Note" error={issues.get("note")} hint="e.g. which machine it is for">
          <input value={form.note} maxLength={200} onChange={(e) => setForm({ ...form, note: e.target.value })} />
        </Field>
        <Field label="Expires after (minutes)" error={issues.get("ttlMinutes")}>
          <input type="number" min={1} max={7 * 24 * 60} required value={form.ttlMinutes} onChange={(e) => setForm({ ...form, ttlMinutes: e.target.value })} />
        </Field>
        <button type="submit" className="primary" disabled={create.isPending} style={{ marginTop: 18 }}>Create join token</button>
      </form>
      {create.error && issues.size === 0 && <div className="error-box" role="alert">{errorMessage(create.error)}</div>}
      {create.data && <NewToken token={create.data.token} expiresAt={create.data.expiresAt} onDone={() => create.reset()} />}
      <JoinTokens />
    </section>
  );
}

function NewToken({ token, expiresAt, onDone }: { token: string; expiresAt: Date; onDone: () => void }) {
  return (
    <div className="ok-box" role="status">
      <p style={{ marginTop: 0 }}>
        <strong>Copy the token now: it is shown only this once.</strong> It works for one enrolment and expires <RelativeTime date={expiresAt} />.
      </p>
      <div className="row">
        <code data-testid="join-token">{token}</code>
        <CopyButton text={token} label="Copy token" />
      </div>
      <JoinCommand token={token} />
      <div className="row">
        <button type="button" onClick={onDone}>Done</button>
      </div>
    </div>
  );
}

/** The agent is one file the console serves with its sha256: the command downloads, checks and runs it. */
async function fetchAgentDownload(): Promise<AgentDownload> {
  const res = await fetch("/downloads/agent.json", { cache: "no-store" });
  if (!res.ok) throw new Error((await res.text()).trim() || `GET /downloads/agent.json: HTTP ${res.status}`);
  return AgentDownload.parse(await res.json());
}

function JoinCommand({ token }: { token: string }) {
  const download = useQuery({ queryKey: ["agent-download"], queryFn: fetchAgentDownload, staleTime: 60_000 });
  if (download.error) return <div className="error-box" role="alert">Cannot offer the agent for download: {download.error.message}</div>;
  if (!download.data) return <p className="muted">Preparing the command…</p>;
  const consoleUrl = chooseConsoleUrl(download.data.publicUrl, window.location.origin);
  const command = renderJoinCommand({ consoleUrl, download: download.data, token });
  const service = renderServiceCommand({ consoleUrl, download: download.data });
  return (
    <>
      {isLoopbackUrl(consoleUrl) && (
        <div className="error-box" role="alert" data-testid="join-loopback-warning">
          <strong>Another host cannot reach {consoleUrl}:</strong> it is a loopback address, so this command works only on this machine.
          Restart the console with <code>SWITCHYARD_PUBLIC_URL</code> set to the address other hosts use (e.g.{" "}
          <code>SWITCHYARD_PUBLIC_URL=http://192.0.2.10:3000 HOST=0.0.0.0 npm run quickstart</code>; <code>HOST=0.0.0.0</code> makes it listen beyond loopback),
          or open the console at that address.
        </div>
      )}
      <p>
        On the host, as root (it creates network namespaces and runs the CNI plugins), run the command below: it downloads the agent from this console ({Math.round(download.data.bytes / 1024)} KiB, one file),
        checks its SHA-256 and starts it with the token.
        The host needs <strong>Node.js {AGENT_NODE_MAJOR} or newer</strong> (<code>node --version</code>; Debian 13: <code>apt install nodejs</code>; Debian 12 ships 18, install Node.js {AGENT_NODE_MAJOR} from nodejs.org or NodeSource),
        <code>curl</code>, and the CNI plugins: <code>apt install containernetworking-plugins iproute2 iptables nftables conntrack</code>.
      </p>
      <pre className="mono" data-testid="join-command" style={{ whiteSpace: "pre-wrap", wordBreak: "break-all" }}>{command}</pre>
      <div className="row">
        <CopyButton text={command} label="Copy command" />
      </div>
      <details>
        <summary>Keep it running as a service (systemd)</summary>
        <p>Once the host is enrolled, stop the agent (Ctrl-C: its credential stays in <code>/var/lib/switchyard-agent</code>) and install it as a service:</p>
        <pre className="mono" data-testid="service-command" style={{ whiteSpace: "pre-wrap", wordBreak: "break-all" }}>{service}</pre>
        <CopyButton text={service} label="Copy service command" />
      </details>
    </>
  );
}

function JoinTokens() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const tokens = useQuery(trpc.hosts.joinTokens.queryOptions());
  const del = useMutation(trpc.hosts.deleteJoinToken.mutationOptions({ onSettled: () => queryClient.invalidateQueries({ queryKey: trpc.hosts.joinTokens.queryKey() }) }));
  return (
    <>
      <h3>Join tokens</h3>
      {tokens.error && <div className="error-box">{errorMessage(tokens.error)}</div>}
      {del.error && <div className="error-box" role="alert">{errorMessage(del.error)}</div>}
      <table aria-label="Join tokens">
        <thead>
          <tr><th>Note</th><th>State</th><th>Created</th><th>Expires</th><th>Host</th><th>Actions</th></tr>
        </thead>
        <tbody>
          {tokens.data?.map((t) => (
            <tr key={t.id}>
              <td>{t.note || <span className="muted">no note</span>}</td>
              <td><StateBadge state={t.state} /></td>
              <td><RelativeTime date={t.createdAt} /> <span className="muted">by {t.createdByName}</span></td>
              <td data-testid="join-token-expiry">
                {/* A used token no longer expires: it says when it was used instead. */}
                {t.state === "used" ? <span className="muted">used <RelativeTime date={t.usedAt} /></span> : t.state === "expired" ? <>expired <RelativeTime date={t.expiresAt} /></> : <RelativeTime date={t.expiresAt} />}
              </td>
              <td>{t.hostId ? <Link href={`/hosts/${t.hostId}`}>enrolled host</Link> : t.usedAt ? <span className="muted">used</span> : null}</td>
              <td>
                {t.state === "unused" && (
                  <button disabled={del.isPending} onClick={() => del.mutate({ id: t.id })} aria-label={`Delete join token ${t.note || t.id}`}>Delete</button>
                )}
              </td>
            </tr>
          ))}
          {tokens.data?.length === 0 && <tr><td colSpan={6} className="muted">No join tokens. Create one above, then start the agent on the new host with it.</td></tr>}
        </tbody>
      </table>
    </>
  );
}
