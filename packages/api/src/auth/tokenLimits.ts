import type { Db } from "@switchyard/db";
import { ApiError } from "../errors";
import { Id } from "../schemas";
import type { TokenIdentity } from "./apiTokens";

/**
 * Limits of a general API token to some networks and services (issue 13 §1). A limited token may
 * call a procedure only when the procedure says what it touches (its `touches` meta) and that is
 * within the limits; a procedure that says nothing (hosts, users, audit, anything added later) is
 * refused to it. Failing closed is the point: a new procedure cannot leak past a limit by
 * forgetting to check one.
 */

/** The networks and services a limited token may touch (ids). */
export interface Within {
  networkIds: ReadonlySet<string>;
  serviceIds: ReadonlySet<string>;
}

/**
 * What a procedure touches, named by the key of its input that holds the id. `network` with
 * `optional`: without the key the procedure lists, narrowed to `ctx.within` by the procedure
 * itself; `list`: always such a list.
 */
export type Touches =
  | { network: string; optional?: true }
  | { attachment: string }
  | { operation: string }
  | { reservation: string }
  | { service: string }
  | { probe: string }
  | { list: true };

export interface ProcedureMeta {
  touches?: Touches;
}

/** A general token's limits, or null when it has none (both lists empty). Registrar tokens keep their own rule. */
export function withinOf(token: Pick<TokenIdentity, "scope" | "networkIds" | "serviceIds">): Within | null {
  if (token.scope !== "general" || (token.networkIds.length === 0 && token.serviceIds.length === 0)) return null;
  return { networkIds: new Set(token.networkIds), serviceIds: new Set(token.serviceIds) };
}

type Target = { kind: "network" | "service"; id: string | null };

/** The network or service a call touches, read from its raw input (the id is checked as the procedure's input will be). */
async function targetOf(db: Db, touches: Exclude<Touches, { list: true }>, raw: unknown): Promise<Target | "list"> {
  const [key, optional] = "network" in touches ? [touches.network, touches.optional === true] : [Object.values(touches)[0] as string, false];
  const value = raw !== null && typeof raw === "object" ? (raw as Record<string, unknown>)[key] : undefined;
  if (value === undefined && optional) return "list";
  const parsed = Id.safeParse(value);
  // A malformed id touches nothing the token may touch; the input's own validation says what is wrong.
  if (!parsed.success) return { kind: "network", id: null };
  const id = parsed.data;
  if ("network" in touches) return { kind: "network", id };
  if ("service" in touches) return { kind: "service", id };
  if ("attachment" in touches) return { kind: "network", id: (await db.attachment.findUnique({ where: { id }, select: { networkId: true } }))?.networkId ?? null };
  if ("operation" in touches) {
    const op = await db.operation.findUnique({ where: { id }, select: { attachment: { select: { networkId: true } } } });
    return { kind: "network", id: op?.attachment.networkId ?? null };
  }
  if ("reservation" in touches) return { kind: "network", id: (await db.ipamReservation.findUnique({ where: { id }, select: { networkId: true } }))?.networkId ?? null };
  return { kind: "service", id: (await db.serviceProbe.findUnique({ where: { id }, select: { serviceId: true } }))?.serviceId ?? null };
}

/** What a limited token may touch, in words, for its refusals. */
async function describe(db: Db, within: Within): Promise<string> {
  const [networks, services] = await Promise.all([
    db.network.findMany({ where: { id: { in: [...within.networkIds] } }, select: { name: true }, orderBy: { name: "asc" } }),
    db.service.findMany({ where: { id: { in: [...within.serviceIds] } }, select: { name: true }, orderBy: { name: "asc" } }),
  ]);
  const parts = [
    networks.length ? `networks ${networks.map((n) => n.name).join(", ")}` : "",
    services.length ? `services ${services.map((s) => s.name).join(", ")}` : "",
  ].filter(Boolean);
  return parts.length ? parts.join(" and ") : "objects that no longer exist";
}

/** Refuses (FORBIDDEN) a call of a limited token outside its limits; passes everything else. */
export async function checkWithin(db: Db, token: Pick<TokenIdentity, "name">, within: Within, path: string, touches: Touches | undefined, raw: unknown): Promise<void> {
  if (touches && "list" in touches) return;
  const target = touches ? await targetOf(db, touches, raw) : null;
  if (target === "list") return;
  if (target && target.id !== null && (target.kind === "network" ? within.networkIds : within.serviceIds).has(target.id)) return;
  const limits = await describe(db, within);
  throw new ApiError(
    "FORBIDDEN",
    target
      ? `This API token (${token.name}) is limited to ${limits}: this ${target.kind} is outside its limits`
      : `This API token (${token.name}) is limited to ${limits}: ${path} is not about one of them`,
  );
}
