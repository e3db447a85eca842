"use client";

import { WEBHOOK_EVENT_DESCRIPTIONS, WEBHOOK_EVENT_KINDS, type WebhookEventKind } from "@switchyard/api/schemas/webhooks";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { errorIssues, errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { ConfirmDialog } from "./confirm-dialog";
import { CopyButton } from "./copy-button";
import { Field } from "./field";
import { RelativeTime } from "./relative-time";
import { useCan } from "./user-context";

type Webhook = RouterOutputs["webhooks"]["list"][number];
type Delivery = RouterOutputs["webhooks"]["deliveries"]["items"][number];

/**
 * Webhooks (issue 13 §5): admins create, enable, test, delete and redeliver; operators see the
 * list (URLs by origin only) and the delivery log. The signing secret is shown once.
 */
export function WebhooksPage() {
  const trpc = useTRPC();
  const can = useCan();
  const isAdmin = can.manageUsers;
  const queryClient = useQueryClient();
  const hooks = useQuery({ ...trpc.webhooks.list.queryOptions(), enabled: can.editNetworks, refetchInterval: 10_000 });
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.webhooks.pathKey() });
  const [selected, setSelected] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const update = useMutation(trpc.webhooks.update.mutationOptions({ onSuccess: () => void invalidate() }));
  const sendTest = useMutation(trpc.webhooks.sendTest.mutationOptions({ onSuccess: () => { setNotice("Test event queued: it shows in the delivery log within seconds."); void invalidate(); } }));
  const remove = useMutation(trpc.webhooks.delete.mutationOptions({ onSuccess: () => { setDeleting(null); setSelected(null); void invalidate(); } }));
  if (!can.editNetworks) return <div><h1>Webhooks</h1><p>Webhooks are shown to operators and admins.</p></div>;
  const current = hooks.data?.find((h) => h.id === selected) ?? null;
  const actionError = update.error ?? sendTest.error;
  return (
    <div>
      <h1>Webhooks</h1>
      <p className="muted">
        Events a team reacts to, POSTed as signed JSON: {WEBHOOK_EVENT_KINDS.map((k, i) => <span key={k}>{i > 0 && ", "}<code>{k}</code></span>)}.
        Failed deliveries are retried with growing waits; the log below shows every delivery. How to check the signature: see the README&apos;s Webhooks section.
      </p>
      {isAdmin && <CreateWebhook onCreated={invalidate} />}
      {notice && <div className="ok-box" role="status">{notice}</div>}
      {actionError && <div className="error-box" role="alert">{errorMessage(actionError)}</div>}
      {hooks.error && <div className="error-box" role="alert">{errorMessage(hooks.error)}</div>}
      {hooks.data && hooks.data.length === 0 && <p className="muted">No webhooks.</p>}
      {hooks.data && hooks.data.length > 0 && (
        <table aria-label="Webhooks">
          <thead>
            <tr><th>Name</th><th>URL</th><th>Events</th><th>State</th><th>Deliveries</th><th>Last</th><th /></tr>
          </thead>
          <tbody>
            {hooks.data.map((h) => (
              <tr key={h.id} aria-selected={h.id === selected}>
                <td>{h.name}</td>
                <td className="mono">{h.url}{h.allowLocal && <> <span className="badge" title="An admin allowed loopback, link-local and the console itself">local allowed</span></>}</td>
                <td className="mono">{h.events.join(", ")}</td>
                <td><span className={`badge ${h.enabled ? "success" : ""}`}>{h.enabled ? "enabled" : "disabled"}</span></td>
                <td>{h.deliveries.succeeded} ok · {h.deliveries.failed} failed · {h.deliveries.pending} pending</td>
                <td>{h.lastDelivery ? <><span className={`badge ${h.lastDelivery.status === "succeeded" ? "success" : "denied"}`}>{h.lastDelivery.lastStatus ?? h.lastDelivery.status}</span> {h.lastDelivery.finishedAt && <RelativeTime date={h.lastDelivery.finishedAt} />}</> : <span className="muted">none</span>}</td>
                <td>
                  <div className="row">
                    <button type="button" onClick={() => setSelected(h.id === selected ? null : h.id)} aria-label={`Deliveries of ${h.name}`}>Deliveries</button>
                    {isAdmin && (
                      <>
                        <button type="button" disabled={sendTest.isPending || !h.enabled} onClick={() => { setNotice(null); sendTest.mutate({ id: h.id }); }} aria-label={`Send test event to ${h.name}`}>Send test</button>
                        <button type="button" disabled={update.isPending} onClick={() => update.mutate({ id: h.id, enabled: !h.enabled })} aria-label={`${h.enabled ? "Disable" : "Enable"} ${h.name}`}>{h.enabled ? "Disable" : "Enable"}</button>
                        <button type="button" className="danger" onClick={() => setDeleting(h)} aria-label={`Delete ${h.name}`}>Delete</button>
                      </>
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {current && <DeliveryLog webhook={current} isAdmin={isAdmin} />}
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete webhook "${deleting?.name ?? ""}"?`}
        description="Its delivery log goes with it, and deliveries not yet sent are dropped."
        confirmLabel="Delete"
        danger
        pending={remove.isPending}
        error={remove.error ? errorMessage(remove.error) : null}
        onConfirm={() => deleting && remove.mutate({ id: deleting.id })}
        onCancel={() => { setDeleting(null); remove.reset(); }}
      />
    </div>
  );
}

function CreateWebhook({ onCreated }: { onCreated: () => void }) {
  const trpc = useTRPC();
  const blank = { name: "", url: "", events: ["operation.failed", "host.offline"] as WebhookEventKind[], allowLocal: false };
  const [form, setForm] = useState(blank);
  const create = useMutation(trpc.webhooks.create.mutationOptions({ onSuccess: () => { setForm(blank); onCreated(); } }));
  const issues = new Map(errorIssues(create.error).map((i) => [i.path.join("."), i.message]));
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ name: form.name.trim(), url: form.url.trim(), events: form.events, allowLocal: form.allowLocal });
  }
  const toggle = (k: WebhookEventKind, on: boolean) => setForm({ ...form, events: on ? [...form.events, k] : form.events.filter((e) => e !== k) });
  return (
    <section className="panel" aria-labelledby="new-webhook-heading">
      <h2 id="new-webhook-heading" style={{ marginTop: 0 }}>New webhook</h2>
      <form onSubmit={submit} aria-label="Create webhook">
        <div className="row" style={{ alignItems: "flex-start" }}>
          <Field label="Name" error={issues.get("name")} hint="where it goes, e.g. on-call pager">
            <input value={form.name} maxLength={64} required onChange={(e) => setForm({ ...form, name: e.target.value })} />
          </Field>
          <Field label="URL" error={issues.get("url")} hint="http:// or https://; redirects are not followed">
            <input value={form.url} maxLength={2000} required size={48} onChange={(e) => setForm({ ...form, url: e.target.value })} />
          </Field>
        </div>
        <fieldset>
          <legend>Events</legend>
          {WEBHOOK_EVENT_KINDS.map((k) => (
            <label key={k} style={{ display: "block" }}>
              <input type="checkbox" checked={form.events.includes(k)} onChange={(e) => toggle(k, e.target.checked)} /> <code>{k}</code> <span className="muted">— {WEBHOOK_EVENT_DESCRIPTIONS[k]}</span>
            </label>
          ))}
          {issues.get("events") && <div className="field-error" role="alert">{issues.get("events")}</div>}
        </fieldset>
        <label style={{ display: "block", margin: "8px 0" }}>
          <input type="checkbox" checked={form.allowLocal} onChange={(e) => setForm({ ...form, allowLocal: e.target.checked })} /> Allow local destinations{" "}
          <span className="muted">(loopback, link-local such as 169.254.169.254, and the console itself: refused unless you allow them here)</span>
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>Create webhook</button>
      </form>
      {create.error && issues.size === 0 && <div className="error-box" role="alert">{errorMessage(create.error)}</div>}
      {create.data && (
        <div className="ok-box" role="status">
          <p style={{ marginTop: 0 }}><strong>Copy the signing secret now: it is shown only this once.</strong></p>
          <div className="row">
            <code data-testid="webhook-secret">{create.data.secret}</code>
            <CopyButton text={create.data.secret} label="Copy secret" />
          </div>
          <p className="muted">Each delivery carries <code>X-Switchyard-Signature: sha256=HMAC-SHA256(secret, timestamp + &quot;.&quot; + body)</code>.</p>
          <button type="button" onClick={() => create.reset()}>Done</button>
        </div>
      )}
    </section>
  );
}

function DeliveryLog({ webhook, isAdmin }: { webhook: Webhook; isAdmin: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const log = useQuery({ ...trpc.webhooks.deliveries.queryOptions({ webhookId: webhook.id, limit: 100 }), refetchInterval: 3000 });
  const redeliver = useMutation(trpc.webhooks.redeliver.mutationOptions({ onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.webhooks.pathKey() }) }));
  return (
    <section className="panel" aria-labelledby="deliveries-heading">
      <h2 id="deliveries-heading" style={{ marginTop: 0 }}>Deliveries of {webhook.name}</h2>
      {redeliver.error && <div className="error-box" role="alert">{errorMessage(redeliver.error)}</div>}
      {log.error && <div className="error-box" role="alert">{errorMessage(log.error)}</div>}
      {log.data && log.data.items.length === 0 && <p className="muted">No deliveries yet.</p>}
      {log.data && log.data.items.length > 0 && (
        <table aria-label={`Deliveries of ${webhook.name}`}>
          <thead>
            <tr><th>When</th><th>Event</th><th>Status</th><th>Attempts</th><th>Response</th><th>Took</th><th>Last error</th><th /></tr>
          </thead>
          <tbody>
            {log.data.items.map((d) => (
              <tr key={d.id}>
                <td><RelativeTime date={d.createdAt} /></td>
                <td className="mono">{d.event}</td>
                <td><span className={`badge ${d.status === "succeeded" ? "success" : d.status === "failed" ? "denied" : ""}`}>{statusText(d)}</span></td>
                <td>{d.attempts} / {d.maxAttempts}</td>
                <td className="mono">{d.lastStatus ?? "—"}</td>
                <td>{d.durationMs !== null ? `${d.durationMs} ms` : "—"}</td>
                <td className="mono" style={{ maxWidth: 360, overflowWrap: "anywhere" }}>{d.lastError || "—"}</td>
                <td>
                  <details>
                    <summary>Payload</summary>
                    <pre style={{ maxWidth: 480, overflow: "auto" }}>{JSON.stringify(d.payload, null, 2)}</pre>
                  </details>
                  {isAdmin && d.status !== "pending" && (
                    <button type="button" disabled={redeliver.isPending} onClick={() => redeliver.mutate({ deliveryId: d.id })} aria-label={`Redeliver ${d.id}`}>Redeliver</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function statusText(d: Delivery): string {
  if (d.status !== "pending") return d.status;
  if (d.claimedUntil && new Date(d.claimedUntil).getTime() > Date.now()) return "sending";
  return d.attempts === 0 ? "pending" : `retry ${new Date(d.nextAttemptAt).toLocaleTimeString()}`;
}
