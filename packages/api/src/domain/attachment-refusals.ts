import type { Db } from "@switchyard/db";
import type { Context } from "../context";
import { ApiError } from "../errors";
import type { CreateAttachmentInput } from "../schemas";
import { readInventory } from "./parsed";

/**
 * Why attachments.create refuses an attachment another one is in the way of: an interface name
 * held in the same namespace of the host, a host port taken there, a port or host IP that cannot be
 * mapped. Each refusal names the value, the holder and what would be right.
 */

type Mappings = CreateAttachmentInput["portMappings"];

/** The attachment that holds an interface name in a namespace (every state but detached holds it). */
export interface InterfaceHolder {
  id: string;
  containerId: string;
  ifName: string;
  networkName: string;
  state: string;
}

/** The attachment that holds a host port (protocol, host IP) another mapping asks for. */
export interface PortHolder extends InterfaceHolder {
  hostPort: number;
  protocol: string;
  hostIP: string;
}

/** The name the partial unique index gives a held interface (migration 20261205215800). */
export const INTERFACE_HELD_INDEX = "Attachment_interface_held_key";

/**
 * The namespace an attachment's target names, as the interface index keys it: netns and sandbox
 * targets are names in the agent's netns dir, a pid target is its own key.
 */
export function namespaceKey(targetKind: "netns" | "pid" | "sandbox", target: string): string {
  return targetKind === "pid" ? `pid:${target}` : target;
}

/** Whether a database error is a unique violation of the named index (either driver adapter). */
export function isViolationOf(err: unknown, index: string): boolean {
  const text = `${(err as Error)?.message ?? ""} ${JSON.stringify((err as { meta?: unknown })?.meta ?? null)}`;
  return text.includes("23505") && text.includes(index);
}

export async function findInterfaceHolder(db: Db, hostId: string, nsKey: string, ifName: string): Promise<InterfaceHolder | null> {
  const [holder] = await db.$queryRaw<InterfaceHolder[]>`
    SELECT id, "containerId", "ifName", "networkName", state::text AS state FROM "Attachment"
    WHERE "hostId" = ${hostId}::text AND "ifName" = ${ifName}::text AND state <> 'detached'
      AND (CASE WHEN "targetKind" = 'pid' THEN 'pid:' || target ELSE target END) = ${nsKey}::text
    LIMIT 1`;
  return holder ?? null;
}

export function interfaceHeld(holder: InterfaceHolder | null, wanted: { target: string; ifName: string }): ApiError {
  const by = holder ? `${holder.containerId}/${holder.ifName} on network ${holder.networkName} (${holder.state})` : "another attachment";
  const message = `interface ${wanted.ifName} in namespace ${wanted.target} is already held by ${by} on this host: choose another interface name, or detach that attachment first`;
  return new ApiError("CONFLICT", message, [{ path: ["ifName"], message: `held by ${by}`, severity: "error" }]);
}

/** Wildcard host IPs: the mapping takes its port on every address of the host. */
export const WILDCARD_HOST_IPS = ["", "0.0.0.0", "::"] as const;

/**
 * HARDENING 4, the checks that need no database: host ports the console itself listens on, and
 * one port twice in one request (same protocol, overlapping host IPs). Ports other attachments
 * hold are refused by the create statement itself.
 */
export function checkPortMappings(ctx: Pick<Context, "reservedHostPorts">, mappings: Mappings) {
  const issue = (i: number, field: string, message: string) => new ApiError("BAD_INPUT", message, [{ path: ["portMappings", i, field], message, severity: "error" }]);
  const isWild = (ip: string | undefined) => (WILDCARD_HOST_IPS as readonly string[]).includes(ip ?? "");
  for (const [i, m] of mappings.entries()) {
    if (ctx.reservedHostPorts.includes(m.hostPort)) throw issue(i, "hostPort", `host port ${m.hostPort} is the console's own`);
    const twin = mappings.findIndex((n, j) => j < i && n.hostPort === m.hostPort && n.protocol === m.protocol && (isWild(n.hostIP) || isWild(m.hostIP) || n.hostIP === m.hostIP));
    if (twin >= 0) throw issue(i, "hostPort", `host port ${m.protocol}/${m.hostPort} is mapped twice (mappings ${twin + 1} and ${i + 1})`);
  }
}

/** A mapping's host IP must be one of the host's own addresses (or a wildcard). */
export async function checkHostIps(db: Db, hostId: string, mappings: Mappings) {
  const specific = mappings.map((m, i) => ({ ip: m.hostIP, i })).filter((m): m is { ip: string; i: number } => m.ip !== undefined && !(WILDCARD_HOST_IPS as readonly string[]).includes(m.ip));
  if (specific.length === 0) return;
  const host = await db.host.findUnique({ where: { id: hostId }, select: { inventory: true } });
  if (!host) return; // the create statement reports the missing host
  const local = new Set((readInventory(host.inventory)?.addresses ?? []).map((a) => a.address.split("/")[0]));
  for (const { ip, i } of specific) {
    if (!local.has(ip)) {
      const message = `${ip} is not an address of this host${local.size === 0 ? " (its agent has not reported its addresses yet)" : `: use one of ${[...local].slice(0, 8).join(", ")}, or leave it empty for all`}`;
      throw new ApiError("BAD_INPUT", message, [{ path: ["portMappings", i, "hostIP"], message, severity: "error" }]);
    }
  }
}

/** A host port another attachment holds: CONFLICT naming it, on the mapping that asked for it. */
export function portHeld(h: PortHolder, mappings: Mappings): ApiError {
  const i = mappings.findIndex((m) => m.hostPort === h.hostPort && m.protocol === h.protocol && (m.hostIP ?? "") === h.hostIP);
  const where = h.hostIP ? `${h.hostIP}:${h.hostPort}` : `${h.hostPort}`;
  const message = `host port ${h.protocol}/${where} is already mapped by ${h.containerId}/${h.ifName} on ${h.networkName} (${h.state}) on this host: choose another host port, or detach that attachment first`;
  return new ApiError("CONFLICT", message, [{ path: ["portMappings", Math.max(i, 0), "hostPort"], message: `taken by ${h.containerId}/${h.ifName} on ${h.networkName}`, severity: "error" }]);
}
