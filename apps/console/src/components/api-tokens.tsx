"use client";

import { API_TOKEN_DEFAULT_DAYS } from "@switchyard/api/schemas/apiTokens";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { errorIssues, errorMessage, useTRPC } from "~/trpc/react";
import { ConfirmDialog } from "./confirm-dialog";
import { CopyButton } from "./copy-button";
import { Field } from "./field";
import { RelativeTime } from "./relative-time";
import { useCan, useUser } from "./user-context";

const ROLES = ["viewer", "operator", "admin"] as const;
type TokenRole = (typeof ROLES)[number];

/**
 * The signed-in user's API tokens (an admin sees everyone's). Two kinds: a registrar token
 * registers and deregisters service members and can do nothing else (issue 12); a general token
 * acts as you with a role no higher than yours, read-only if asked (issue 13).
 */
export function ApiTokensPanel() {
  const trpc = useTRPC();
  const can = useCan();
  const user = useUser();
  const queryClient = useQueryClient();
  const tokens = useQuery(trpc.tokens.list.queryOptions());
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.tokens.list.queryKey() });
  const roles = ROLES.slice(0, ROLES.indexOf(user.role as TokenRole) + 1);
  const blank = { name: "", scope: can.editNetworks ? ("registrar" as const) : ("general" as const), role: "viewer" as TokenRole, readOnly: false, services: "", networks: "", days: String(API_TOKEN_DEFAULT_DAYS) };
  const [form, setForm] = useState<{ name: string; scope: "registrar" | "general"; role: TokenRole; readOnly: boolean; services: string; networks: string; days: string }>(blank);
  const create = useMutation(trpc.tokens.create.mutationOptions({ onSuccess: () => { setForm(blank); void invalidate(); } }));
  const [revoking, setRevoking] = useState<{ id: string; name: string } | null>(null);
  const revoke = useMutation(trpc.tokens.revoke.mutationOptions({ onSuccess: () => { setRevoking(null); void invalidate(); } }));
  const issues = new Map(errorIssues(create.error).map((i) => [i.path.join("."), i.message]));

  function submit(e: FormEvent) {
    e.preventDefault();
    const expiresInDays = form.days.trim() === "" ? null : Number(form.days);
    const names = (text: string) => text.split(/[\s,]+/).filter(Boolean);
    if (form.scope === "general") create.mutate({ name: form.name.trim(), scope: "general", role: form.role, readOnly: form.readOnly, networks: names(form.networks), services: names(form.services), expiresInDays });
    else create.mutate({ name: form.name.trim(), scope: "registrar", services: names(form.services), expiresInDays });
  }

  return (
    <section className="panel" aria-labelledby="tokens-heading">
      <h2 id="tokens-heading" style={{ marginTop: 0 }}>API tokens</h2>
      <p className="muted">
        A <strong>general</strong> token acts as you for scripts and CI, with the role you give it (never above yours), read-only if you ask, and limited to some networks and services if you name them; it cannot sign in or make tokens.
        A <strong>registrar</strong> token lets a process register and deregister members of service pools (<code>services.register</code>, <code>services.deregister</code>) and nothing else.
        Each stops working when it expires, when it is revoked, or when you fall below the role it needs. Each is limited in calls per second (429 beyond).
      </p>
      <form className="row" onSubmit={submit} aria-label="Create API token" style={{ alignItems: "flex-start" }}>
        <Field label="Name" error={issues.get("name")} hint="what uses it, e.g. ci registrar">
          <input value={form.name} maxLength={64} required onChange={(e) => setForm({ ...form, name: e.target.value })} />
        </Field>
        <Field label="Kind" error={issues.get("scope")}>
          <select value={form.scope} onChange={(e) => setForm({ ...form, scope: e.target.value as "registrar" | "general" })}>
            {can.editNetworks && <option value="registrar">registrar</option>}
            <option value="general">general</option>
          </select>
        </Field>
        {form.scope === "general" ? (
          <>
            <Field label="Role" error={issues.get("role")} hint="at most yours">
              <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as TokenRole })}>
                {roles.map((r) => <option key={r} value={r}>{r}</option>)}
              </select>
            </Field>
            <label style={{ marginTop: 22 }}>
              <input type="checkbox" checked={form.readOnly} onChange={(e) => setForm({ ...form, readOnly: e.target.checked })} /> read-only
            </label>
            <Field label="Only networks" error={issues.get("networks")} hint="names, comma-separated; with services empty: no limit">
              <input value={form.networks} onChange={(e) => setForm({ ...form, networks: e.target.value })} />
            </Field>
            <Field label="Only services" error={issues.get("services")} hint="names, comma-separated">
              <input value={form.services} onChange={(e) => setForm({ ...form, services: e.target.value })} />
            </Field>
          </>
        ) : (
          <Field label="Services" error={issues.get("services")} hint="names, comma-separated; empty for every service">
            <input value={form.services} onChange={(e) => setForm({ ...form, services: e.target.value })} />
          </Field>
        )}
        <Field label="Expires after (days)" error={issues.get("expiresInDays")} hint={user.role === "admin" ? "empty: never" : undefined}>
          <input type="number" min={1} max={3650} required={user.role !== "admin"} value={form.days} onChange={(e) => setForm({ ...form, days: e.target.value })} />
        </Field>
        <button type="submit" className="primary" disabled={create.isPending} style={{ marginTop: 18 }}>Create {form.scope} token</button>
      </form>
      {create.error && issues.size === 0 && <div className="error-box" role="alert">{errorMessage(create.error)}</div>}
      {create.data && (
        <div className="ok-box" role="status">
          <p style={{ marginTop: 0 }}><strong>Copy the token now: it is shown only this once.</strong></p>
          <div className="row">
            <code data-testid="api-token">{create.data.token}</code>
            <CopyButton text={create.data.token} label="Copy token" />
          </div>
          <p className="muted">Send it as <code>Authorization: Bearer …</code> to <code>/api/trpc/…</code>; the README shows curl examples.</p>
          <button type="button" onClick={() => create.reset()}>Done</button>
        </div>
      )}
      {tokens.error && <div className="error-box" role="alert">{errorMessage(tokens.error)}</div>}
      {tokens.data && tokens.data.length === 0 && <p className="muted">No tokens.</p>}
      {tokens.data && tokens.data.length > 0 && (
        <table aria-label="API tokens">
          <thead>
            <tr><th>Name</th>{user.role === "admin" && <th>Owner</th>}<th>Kind</th><th>Limits</th><th>Expires</th><th>Last used</th><th>Status</th><th /></tr>
          </thead>
          <tbody>
            {tokens.data.map((t) => (
              <tr key={t.id}>
                <td>{t.name} <span className="mono muted">{t.hint}…</span></td>
                {user.role === "admin" && <td>{t.owner}</td>}
                <td>{t.scope === "general" ? `general · ${t.role ?? "?"}${t.readOnly ? " · read-only" : ""}` : t.scope}</td>
                <td className="mono">{limitsOf(t)}</td>
                <td>{t.expiresAt ? <RelativeTime date={t.expiresAt} /> : "never"}</td>
                <td>{t.lastUsedAt ? <><RelativeTime date={t.lastUsedAt} /> <span className="mono muted">{t.lastUsedIp}</span></> : <span className="muted">never</span>}</td>
                <td><span className={`badge ${t.status === "active" ? "success" : ""}`}>{t.status}</span></td>
                <td>{t.status === "active" && <button type="button" className="danger" onClick={() => setRevoking({ id: t.id, name: t.name })}>Revoke</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke token "${revoking?.name ?? ""}"?`}
        description="It stops working at once; whatever uses it will be refused."
        confirmLabel="Revoke"
        danger
        pending={revoke.isPending}
        error={revoke.error ? errorMessage(revoke.error) : null}
        onConfirm={() => revoking && revoke.mutate({ id: revoking.id })}
        onCancel={() => { setRevoking(null); revoke.reset(); }}
      />
    </section>
  );
}

/** What a token may touch, in the table's words. */
function limitsOf(t: { scope: string; networks: string[]; services: string[] }): string {
  if (t.scope !== "general") return t.services.length ? t.services.join(", ") : "every service";
  if (t.networks.length === 0 && t.services.length === 0) return "—";
  return [t.networks.length ? `networks ${t.networks.join(", ")}` : "", t.services.length ? `services ${t.services.join(", ")}` : ""].filter(Boolean).join("; ");
}
