import { z } from "zod";
import { CanonicalIp, MemberHealth, MemberState, PortNumber, SERVICE_LIMITS, ServiceId, ServiceName, memberAddressProblem } from "../desired";
import { Balance, Limits, ListenerKind, PassiveHealth, PoolName, Route, Timeouts } from "./settings";

/**
 * What the userspace proxy runs (issue 14): its listeners, each a service port with its pools,
 * balancing, passive health, timeouts and limits. The agent derives it from the services the
 * console puts on the proxy plane, and hands the whole of it to the proxy process on every
 * change; the proxy validates it again with this schema and swaps it in without closing a
 * connection. A listener is keyed by its address and port: the same key across two configs is
 * the same socket, kept open.
 */

export * from "./settings";

export const ProxyMember = z.object({
  address: CanonicalIp.superRefine((a, ctx) => {
    const problem = memberAddressProblem(a);
    if (problem) ctx.addIssue({ code: "custom", message: `${problem}: it cannot be a member` });
  }),
  port: PortNumber,
  weight: z.number().int().min(0).max(SERVICE_LIMITS.weightMax),
  state: MemberState,
  /** The active checks' verdict (the console's); passive health is the proxy's own. */
  health: MemberHealth,
});
export type ProxyMember = z.infer<typeof ProxyMember>;


export const Listener = z
  .object({
    serviceId: ServiceId,
    serviceName: ServiceName,
    /** Where it listens: the VIP (an address on this host) or, for a host port, an address of the host (0.0.0.0 or :: for all). */
    address: z.union([CanonicalIp, z.literal("0.0.0.0"), z.literal("::")]),
    port: PortNumber,
    kind: ListenerKind,
    balance: Balance,
    /** Pools by name; `default` must be there. */
    pools: z.record(PoolName, z.array(ProxyMember).max(SERVICE_LIMITS.membersPerService)),
    routes: z.array(Route).max(256).default([]),
    passiveHealth: PassiveHealth.default(PassiveHealth.parse({})),
    timeouts: Timeouts.default(Timeouts.parse({})),
    limits: Limits.default(Limits.parse({})),
  })
  .superRefine((l, ctx) => {
    if (!Object.hasOwn(l.pools, "default")) ctx.addIssue({ code: "custom", path: ["pools"], message: "a listener needs a pool named default" });
    l.routes.forEach((r, i) => {
      if (!Object.hasOwn(l.pools, r.pool)) ctx.addIssue({ code: "custom", path: ["routes", i, "pool"], message: `no pool named ${r.pool}` });
    });
    if (l.kind === "tcp" && l.routes.length > 0) ctx.addIssue({ code: "custom", path: ["routes"], message: "routes need an HTTP listener: a TCP listener sees no host or path" });
    if (l.kind === "tcp" && l.balance.algorithm === "consistent-hash" && l.balance.hashOn.kind === "header") {
      ctx.addIssue({ code: "custom", path: ["balance", "hashOn"], message: "hashing on a header needs an HTTP listener" });
    }
    // A member that is the listener itself would send every connection back to the proxy (a loop).
    for (const [pool, members] of Object.entries(l.pools)) {
      const seen = new Set<string>();
      members.forEach((m, i) => {
        const key = `${m.address}/${m.port}`;
        if (m.address === l.address && m.port === l.port) ctx.addIssue({ code: "custom", path: ["pools", pool, i], message: `member ${m.address}:${m.port} is this listener itself: it would loop` });
        if (seen.has(key)) ctx.addIssue({ code: "custom", path: ["pools", pool, i], message: `member ${m.address}:${m.port} is listed twice` });
        seen.add(key);
      });
    }
  });
export type Listener = z.infer<typeof Listener>;
export type ListenerInput = z.input<typeof Listener>;

export const ProxyConfig = z
  .object({
    /** The agent's desired version this config came from; the proxy reports the one it runs. */
    version: z.number().int().min(0),
    listeners: z.array(Listener).max(SERVICE_LIMITS.servicesPerHost),
    /** Access log lines: every request below this many per second per worker, then a sample. */
    accessLog: z.object({ enabled: z.boolean().default(true), fullRatePerSecond: z.number().int().min(0).max(1_000_000).default(100), sampleOneIn: z.number().int().min(1).max(1_000_000).default(100) }).default({ enabled: true, fullRatePerSecond: 100, sampleOneIn: 100 }),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.listeners.forEach((l, i) => {
      const key = listenerKey(l);
      if (seen.has(key)) ctx.addIssue({ code: "custom", path: ["listeners", i], message: `two listeners on ${key}` });
      seen.add(key);
    });
    // A member that is another listener of this proxy loops through it too.
    const listening = new Set(c.listeners.map(listenerKey));
    c.listeners.forEach((l, i) => {
      for (const [pool, members] of Object.entries(l.pools)) {
        members.forEach((m, j) => {
          const key = listenerKey({ address: m.address, port: m.port });
          if (listening.has(key) && !(m.address === l.address && m.port === l.port)) {
            ctx.addIssue({ code: "custom", path: ["listeners", i, "pools", pool, j], message: `member ${key} is a listener of this proxy: it would loop` });
          }
        });
      }
    });
  });
export type ProxyConfig = z.infer<typeof ProxyConfig>;
export type ProxyConfigInput = z.input<typeof ProxyConfig>;

/** `10.96.0.10:80`, `[fd00::a]:80`: a listener's identity across configs. */
export function listenerKey(l: { address: string; port: number }): string {
  return l.address.includes(":") ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`;
}

/** A member's identity within a listener: `10.1.0.5:8080`. */
export function memberKey(m: { address: string; port: number }): string {
  return listenerKey(m);
}
