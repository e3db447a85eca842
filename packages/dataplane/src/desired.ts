import { parseCidr, parseIp } from "@switchyard/ipam";
import { z } from "zod";
import { PoolName, ProxySettings } from "./proxy/settings";

/**
 * What one host must program for its services, per address family (issue 12): the console
 * computes it for the host, the agent fetches it, validates it again with this same schema, and
 * renders its nftables table from it. Every value that reaches a rule text is validated here,
 * and the renderer checks each identifier again as it writes it (a second wall, HARDENING 6).
 *
 * The whole state, not a change: a host that was away applies the latest version and is current.
 */

export const SERVICE_LIMITS = {
  servicesPerHost: 10_000,
  portsPerService: 64,
  membersPerService: 10_000,
  serviceCidrs: 16,
  /** Session affinity: the longest a client stays with its member, in seconds (a day, as kube-proxy's maximum). */
  affinityTimeoutMax: 86_400,
  weightMax: 1000,
} as const;

/** A service's name: a DNS label (RFC 1123), so chain names and comments built from it stay plain. */
export const ServiceName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS label: lowercase letters, digits and '-', starting with a letter, not ending with '-', at most 63 characters");

/** The console's id of a service (a cuid): the stable part of its chain names' hashes. */
export const ServiceId = z.string().regex(/^[a-z0-9]{1,40}$/, "must be 1-40 lowercase letters and digits");

export const PROTOCOLS = ["tcp", "udp", "sctp"] as const;
export const Protocol = z.enum(PROTOCOLS);
export type Protocol = z.infer<typeof Protocol>;

export const PortNumber = z.number().int().min(1, "a port is 1-65535").max(65535, "a port is 1-65535");

export const MEMBER_STATES = ["active", "draining", "maintenance"] as const;
export const MemberState = z.enum(MEMBER_STATES);
export type MemberState = z.infer<typeof MemberState>;

/**
 * A member's health: `none` (its service has no check), `unknown` (checked, no verdict yet),
 * `healthy`, `unhealthy`. Only `unhealthy` takes a member out: a new member is given traffic
 * before its first verdict, as Envoy does by default.
 */
export const MEMBER_HEALTHS = ["none", "unknown", "healthy", "unhealthy"] as const;
export const MemberHealth = z.enum(MEMBER_HEALTHS);
export type MemberHealth = z.infer<typeof MemberHealth>;

/** An address in canonical form (dotted quad, RFC 5952), never the submitted text reprinted. */
export const CanonicalIp = z
  .string()
  .max(45)
  .refine((v) => {
    const parsed = parseIp(v);
    return parsed.ok && parsed.value.text === v;
  }, "must be an IPv4 or IPv6 address in canonical form");

/** A CIDR in canonical form (network address, no host bits). */
export const CanonicalCidr = z
  .string()
  .max(49)
  .refine((v) => {
    const parsed = parseCidr(v);
    return parsed.ok && parsed.value.text === v;
  }, "must be a CIDR in canonical form, without host bits (10.96.0.0/16, fd00:96::/112)");

/**
 * Why a member's address can never be a member (HARDENING 7): the host's loopback, link-local
 * and unspecified addresses, multicast. The console also refuses the host's own addresses; the
 * agent checks those against its interfaces.
 */
export function memberAddressProblem(address: string): string | null {
  const parsed = parseIp(address);
  if (!parsed.ok) return parsed.error.message;
  const { family, value } = parsed.value;
  if (family === 4) {
    const first = Number(value >> 24n);
    if (first === 127) return `${address} is a loopback address`;
    if (first === 0) return `${address} is in 0.0.0.0/8 ("this network")`;
    if (value >> 16n === 0xa9fen) return `${address} is link-local (169.254.0.0/16)`;
    if (first >= 224) return `${address} is multicast or reserved (224.0.0.0/3)`;
    return null;
  }
  if (value === 0n) return `${address} is the unspecified address`;
  if (value === 1n) return `${address} is the loopback address`;
  if (value >> 118n === 0x3fan) return `${address} is link-local (fe80::/10)`;
  if (value >> 120n === 0xffn) return `${address} is multicast (ff00::/8)`;
  return null;
}

export const DesiredPort = z.object({
  /** Optional name (a DNS label), shown in the console; rules use protocol and port. */
  name: ServiceName.optional(),
  protocol: Protocol,
  port: PortNumber,
  /** The members' port, unless a member names its own. */
  targetPort: PortNumber,
});
export type DesiredPort = z.infer<typeof DesiredPort>;

export const DesiredMember = z.object({
  address: CanonicalIp.superRefine((a, ctx) => {
    const problem = memberAddressProblem(a);
    if (problem) ctx.addIssue({ code: "custom", message: `${problem}: it cannot be a member` });
  }),
  /** The member's own port, for every port of the service (the console allows it on one-port services only). */
  port: PortNumber.nullable(),
  weight: z.number().int().min(0).max(SERVICE_LIMITS.weightMax),
  state: MemberState,
  health: MemberHealth,
  /**
   * The CIDR of the member's network on THIS host when the member is attached here (clients on
   * that network are masqueraded: the reply must come back through the DNAT); null for a member
   * elsewhere (every client is masqueraded).
   */
  localCidr: CanonicalCidr.nullable(),
  /** The proxy plane's pool the member is in (routes pick pools), `default` when absent; the kernel plane takes every member. */
  pool: PoolName.optional(),
});
export type DesiredMember = z.infer<typeof DesiredMember>;

export const DesiredService = z
  .object({
    id: ServiceId,
    name: ServiceName,
    vip: CanonicalIp,
    ports: z.array(DesiredPort).min(1).max(SERVICE_LIMITS.portsPerService),
    /** Client-IP affinity: a client's new connections go to its last member for this long. */
    affinity: z.object({ timeoutSeconds: z.number().int().min(1).max(SERVICE_LIMITS.affinityTimeoutMax) }).nullable(),
    members: z.array(DesiredMember).max(SERVICE_LIMITS.membersPerService),
    /**
     * Which data plane carries it (issue 14): the kernel's nftables table, or the userspace proxy
     * listening on the VIP (an address of the host then). The kernel's table lets a proxied VIP
     * through instead of dropping it as a VIP it does not hold. Absent: the kernel (what consoles
     * before the proxy send).
     */
    plane: z.enum(["kernel", "proxy"]).optional(),
    /** The proxy plane's settings (only there). */
    proxy: ProxySettings.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.plane === "proxy") {
      if (s.proxy === undefined) ctx.addIssue({ code: "custom", path: ["proxy"], message: "a service on the proxy plane needs its proxy settings" });
      s.ports.forEach((p, i) => {
        if (p.protocol !== "tcp") ctx.addIssue({ code: "custom", path: ["ports", i, "protocol"], message: `the proxy carries TCP (and HTTP over it), not ${p.protocol}: put this service on the kernel plane` });
      });
      if (s.affinity !== null) ctx.addIssue({ code: "custom", path: ["affinity"], message: "client affinity on the proxy plane is consistent hashing on the client address" });
    }
    const seenPorts = new Set<string>();
    s.ports.forEach((p, i) => {
      const key = `${p.protocol}/${p.port}`;
      if (seenPorts.has(key)) ctx.addIssue({ code: "custom", path: ["ports", i], message: `port ${key} is listed twice` });
      seenPorts.add(key);
    });
    const seenMembers = new Set<string>();
    s.members.forEach((m, i) => {
      const key = `${m.address}/${m.port ?? "*"}`;
      if (seenMembers.has(key)) ctx.addIssue({ code: "custom", path: ["members", i], message: `member ${m.address}${m.port === null ? "" : `:${m.port}`} is listed twice` });
      seenMembers.add(key);
    });
    // A member without its own port and one naming the port's targetPort would be the same
    // destination (and the same chain) for that port.
    for (const p of s.ports) {
      const targets = new Set<string>();
      s.members.forEach((m, i) => {
        const key = `${m.address}/${m.port ?? p.targetPort}`;
        if (targets.has(key)) ctx.addIssue({ code: "custom", path: ["members", i], message: `member ${m.address}:${m.port ?? p.targetPort} is listed twice for port ${p.protocol}/${p.port}` });
        targets.add(key);
      });
    }
  });
export type DesiredService = z.infer<typeof DesiredService>;

export const DesiredServices = z
  .object({
    /** Increases with every change of what this host must program; the agent reports the one it applied. */
    version: z.number().int().min(0),
    family: z.union([z.literal(4), z.literal(6)]),
    /** Where VIPs come from: traffic to an address in them that no service holds is dropped, never routed on. */
    serviceCidrs: z.array(CanonicalCidr).max(SERVICE_LIMITS.serviceCidrs),
    services: z.array(DesiredService).max(SERVICE_LIMITS.servicesPerHost),
  })
  .superRefine((d, ctx) => {
    const familyOf = (text: string) => (text.includes(":") ? 6 : 4);
    d.serviceCidrs.forEach((c, i) => {
      if (familyOf(c) !== d.family) ctx.addIssue({ code: "custom", path: ["serviceCidrs", i], message: `${c} is not IPv${d.family}` });
    });
    const vips = new Map<string, string>();
    const ids = new Set<string>();
    d.services.forEach((s, i) => {
      if (ids.has(s.id)) ctx.addIssue({ code: "custom", path: ["services", i, "id"], message: `service id ${s.id} is listed twice` });
      ids.add(s.id);
      if (familyOf(s.vip) !== d.family) ctx.addIssue({ code: "custom", path: ["services", i, "vip"], message: `${s.vip} is not IPv${d.family}` });
      s.members.forEach((m, j) => {
        if (familyOf(m.address) !== d.family) ctx.addIssue({ code: "custom", path: ["services", i, "members", j, "address"], message: `${m.address} is not IPv${d.family}` });
      });
      const other = vips.get(s.vip);
      if (other !== undefined) ctx.addIssue({ code: "custom", path: ["services", i, "vip"], message: `${s.vip} is also the VIP of ${other}` });
      vips.set(s.vip, s.name);
    });
  });
export type DesiredServices = z.infer<typeof DesiredServices>;

/** Whether a member takes new flows: active, weight above 0, and not unhealthy. */
export function isSelectable(m: Pick<DesiredMember, "state" | "weight" | "health">): boolean {
  return m.state === "active" && m.weight > 0 && m.health !== "unhealthy";
}
