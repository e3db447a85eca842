import { z } from "zod";
import { CanonicalIp, MemberHealth, MemberState, PortNumber, SERVICE_LIMITS, ServiceId, ServiceName, memberAddressProblem } from "../desired";

/**
 * What the userspace proxy runs (issue 14): its listeners, each a service port with its pools,
 * balancing, passive health, timeouts and limits. The agent derives it from the services the
 * console puts on the proxy plane, and hands the whole of it to the proxy process on every
 * change; the proxy validates it again with this schema and swaps it in without closing a
 * connection. A listener is keyed by its address and port: the same key across two configs is
 * the same socket, kept open.
 */

export const BALANCE_ALGORITHMS = ["round-robin", "least-connections", "consistent-hash"] as const;
export const BalanceAlgorithm = z.enum(BALANCE_ALGORITHMS);
export type BalanceAlgorithm = z.infer<typeof BalanceAlgorithm>;

/** An HTTP header name (RFC 9110 token), lowercase: what a hash or a route may read. */
export const HeaderName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, "must be a lowercase HTTP header name (letters, digits and !#$%&'*+.^_`|~-)");

export const Balance = z.discriminatedUnion("algorithm", [
  z.object({ algorithm: z.literal("round-robin") }),
  z.object({ algorithm: z.literal("least-connections") }),
  z.object({
    algorithm: z.literal("consistent-hash"),
    /** What a client is known by: its address, or a request header (HTTP only; requests without it hash on the address). */
    hashOn: z.discriminatedUnion("kind", [z.object({ kind: z.literal("client-address") }), z.object({ kind: z.literal("header"), name: HeaderName })]),
  }),
]);
export type Balance = z.infer<typeof Balance>;

/**
 * Passive health (outlier detection, after Envoy's): a member whose requests fail is ejected
 * without waiting for an active check. A failure is a refused or timed-out connection, a reset
 * before the response, or (HTTP) a 5xx answer.
 */
export const PassiveHealth = z.object({
  /** This many failures in a row eject the member (0: off). */
  consecutiveFailures: z.number().int().min(0).max(1000).default(5),
  /** A failure share at or above this percent over the window ejects (null: off)... */
  failureRatePercent: z.number().int().min(1).max(100).nullable().default(null),
  /** ...once the window holds at least this many requests. */
  failureRateMinRequests: z.number().int().min(1).max(100_000).default(20),
  windowSeconds: z.number().int().min(1).max(3600).default(10),
  /** The first ejection lasts this long; the n-th in a row lasts n times as long... */
  baseEjectionSeconds: z.number().int().min(1).max(3600).default(30),
  /** ...up to this. */
  maxEjectionSeconds: z.number().int().min(1).max(86_400).default(300),
  /** Never more than this share of a pool ejected at once (at least one member stays unless the pool has one). */
  maxEjectedPercent: z.number().int().min(0).max(100).default(50),
});
export type PassiveHealth = z.infer<typeof PassiveHealth>;

/** Per-phase timeouts, in milliseconds. */
export const Timeouts = z.object({
  /** Opening a connection to a member. */
  connectMs: z.number().int().min(10).max(60_000).default(2000),
  /** A client's request head must arrive whole within this (slowloris). */
  headerMs: z.number().int().min(100).max(120_000).default(10_000),
  /** A member's response head must start within this after the request was sent. */
  responseMs: z.number().int().min(100).max(600_000).default(30_000),
  /** A connection (either side) with no bytes for this long is closed. */
  idleMs: z.number().int().min(100).max(3_600_000).default(60_000),
});
export type Timeouts = z.infer<typeof Timeouts>;

export const Limits = z.object({
  /** Largest request head (request line and headers), in bytes. */
  maxHeaderBytes: z.number().int().min(1024).max(1_048_576).default(16_384),
  /** Largest request body, in bytes (null: no limit). */
  maxBodyBytes: z.number().int().min(0).max(2 ** 40).nullable().default(null),
  /** Keep-alive connections each worker keeps open to each member. */
  connectionsPerMember: z.number().int().min(1).max(4096).default(128),
});
export type Limits = z.infer<typeof Limits>;

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

/** A routing rule: the first that matches a request picks its pool; none matching picks `default`. */
export const Route = z
  .object({
    /** Exact host (`api.example.com`) or a wildcard for its subdomains (`*.example.com`); any when absent. */
    host: z
      .string()
      .max(253)
      .regex(/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, "must be a lowercase host name, or *. and one")
      .optional(),
    /** Path prefix, matched on whole segments (`/api` matches `/api` and `/api/x`, not `/apix`); any when absent. */
    pathPrefix: z.string().max(512).regex(/^\/[\x21-\x7e]*$/, "must start with '/' and hold only visible ASCII").optional(),
    pool: ServiceName,
  })
  .strict();
export type Route = z.infer<typeof Route>;

export const LISTENER_KINDS = ["tcp", "http"] as const;

export const Listener = z
  .object({
    serviceId: ServiceId,
    serviceName: ServiceName,
    /** Where it listens: the VIP (an address on this host) or, for a host port, an address of the host (0.0.0.0 or :: for all). */
    address: z.union([CanonicalIp, z.literal("0.0.0.0"), z.literal("::")]),
    port: PortNumber,
    kind: z.enum(LISTENER_KINDS),
    balance: Balance,
    /** Pools by name; `default` must be there. */
    pools: z.record(ServiceName, z.array(ProxyMember).max(SERVICE_LIMITS.membersPerService)),
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
