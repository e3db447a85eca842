"use client";

import { ServiceSpec } from "@switchyard/api/schemas/services";
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useTRPC, type RouterOutputs } from "~/trpc/react";
import { Field } from "../field";
import type { PlannedChange } from "./service-plan";

type Service = RouterOutputs["services"]["get"];
type Spec = Service["spec"];

const memberText = (m: { address: string; port: number | null }) => `${m.address}${m.port === null ? "" : `:${m.port}`}`;

/** The spec without one manual member (by address and port). */
export function withoutManualMember(spec: Spec, member: { address: string; port: number | null }): Spec {
  return { ...spec, manualMembers: spec.manualMembers.filter((m) => !(m.address === member.address && m.port === member.port)) };
}

/**
 * Operators: add a member by hand (an address, a port on a one-port service, the host it lives on
 * when known, a weight). Checked here with the API's own schema; the plan shows what each host
 * would run before anything is written.
 */
export function AddManualMember({ service: s, onPlan }: { service: Service; onPlan: (change: PlannedChange) => void }) {
  const trpc = useTRPC();
  const hosts = useQuery(trpc.hosts.list.queryOptions({ limit: 200 }));
  const [v, setV] = useState({ address: "", port: "", hostId: "", weight: "100" });
  const [error, setError] = useState<{ field: "address" | "port" | "weight" | "form"; message: string } | null>(null);
  const onePort = s.spec.ports.length === 1;

  function submit(e: FormEvent) {
    e.preventDefault();
    const member = {
      address: v.address.trim(),
      port: v.port.trim() === "" ? null : Number(v.port),
      hostId: v.hostId || null,
      weight: v.weight.trim() === "" ? 100 : Number(v.weight),
      state: "active" as const,
    };
    const parsed = ServiceSpec.safeParse({ ...s.spec, manualMembers: [...s.spec.manualMembers, member] });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path[2];
      const name = field === "address" || field === "port" || field === "weight" ? field : "form";
      return setError({ field: name, message: `${memberText({ address: member.address || "(empty)", port: member.port })}: ${issue.message}` });
    }
    setError(null);
    onPlan({ kind: "update", spec: parsed.data, comment: `${memberText(member)}: added by hand`, title: `add member ${memberText(member)}` });
  }

  const fieldError = (f: "address" | "port" | "weight") => (error?.field === f ? error.message : undefined);
  return (
    <form aria-label="Add member" onSubmit={submit} className="panel" noValidate>
      <div className="row" style={{ alignItems: "flex-start" }}>
        <Field label="Address" error={fieldError("address")} hint="IPv4 or IPv6, as the VIP">
          <input value={v.address} onChange={(e) => setV({ ...v, address: e.target.value })} placeholder="10.88.0.50" className="mono" />
        </Field>
        {onePort && (
          <Field label="Port" error={fieldError("port")} hint={`empty: the target port ${s.spec.ports[0]!.targetPort}`}>
            <input value={v.port} onChange={(e) => setV({ ...v, port: e.target.value })} inputMode="numeric" style={{ width: 90 }} />
          </Field>
        )}
        <Field label="Host" hint="where it lives, when known">
          <select value={v.hostId} onChange={(e) => setV({ ...v, hostId: e.target.value })}>
            <option value="">unknown</option>
            {hosts.data?.items.filter((h) => !h.revokedAt).map((h) => (
              <option key={h.id} value={h.id}>{h.name}</option>
            ))}
          </select>
        </Field>
        <Field label="Weight" error={fieldError("weight")} hint="0–1000">
          <input value={v.weight} onChange={(e) => setV({ ...v, weight: e.target.value })} inputMode="numeric" style={{ width: 80 }} />
        </Field>
      </div>
      {error?.field === "form" && <div className="error-box" role="alert">{error.message}</div>}
      <button type="submit">Review adding</button>
    </form>
  );
}
