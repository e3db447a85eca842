import { z } from "zod";

/**
 * How a service on the proxy plane is proxied (issue 14): balancing, the listeners' kinds, HTTP
 * routes, passive health, timeouts and limits. The console keeps it in the service's spec, sends
 * it to the hosts in their desired services, and the agent builds the proxy's config from it.
 * Depends on nothing else of the data plane, so desired.ts and the proxy's config both take it.
 */

const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** A pool's name: a DNS label, as service names are. Members are in `default` unless they say otherwise. */
export const PoolName = z.string().min(1).max(63).regex(DNS_LABEL, "a pool name must be a DNS label: lowercase letters, digits and '-', starting with a letter");
export const DEFAULT_POOL = "default";

export const LISTENER_KINDS = ["tcp", "http"] as const;
export const ListenerKind = z.enum(LISTENER_KINDS);
export type ListenerKind = z.infer<typeof ListenerKind>;

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
    pool: PoolName,
  })
  .strict();
export type Route = z.infer<typeof Route>;


const Port = z.number().int().min(1, "a port is 1-65535").max(65535, "a port is 1-65535");

/** One service port on the proxy: TCP or HTTP, and optionally a port on every host address too. */
export const ProxyPortSettings = z.object({
  /** The service port (its `port`) these settings are for. */
  port: Port,
  kind: ListenerKind,
  /** Also listen on this port on all of the host's addresses (null: the VIP only). */
  hostPort: Port.nullable().default(null),
});
export type ProxyPortSettings = z.infer<typeof ProxyPortSettings>;

export const ProxySettings = z.object({
  balance: Balance.default({ algorithm: "round-robin" }),
  /** Per service port; a port not listed is TCP on the VIP only. */
  ports: z.array(ProxyPortSettings).max(64).default([]),
  routes: z.array(Route).max(256).default([]),
  /** Selected attachments go to the pool this label of theirs names (the default pool without it); null: every one in default. */
  poolLabel: z.string().min(1).max(317).nullable().default(null),
  passiveHealth: PassiveHealth.default(PassiveHealth.parse({})),
  timeouts: Timeouts.default(Timeouts.parse({})),
  limits: Limits.default(Limits.parse({})),
});
export type ProxySettings = z.infer<typeof ProxySettings>;
export type ProxySettingsInput = z.input<typeof ProxySettings>;
