import type { DesiredService, DesiredServices } from "./desired";
import type { Layout } from "./lower";
import { affinitySetName, guardAddress, guardCidr, memberChainName, portLabel, serviceChainName } from "./names";
import { planNumgen } from "./weights";

/**
 * DesiredServices → the IR of one family's table (design §3, §9): per service port, its dispatch
 * (a service chain, or reject when no member is selectable), its weighted members with their
 * chains, masquerade and affinity sets. Plain data, sorted, so a belief can be compared with the
 * next render and kept between syncs.
 */

export const DEFAULT_MARK_BIT = 0x2000;

export interface RenderOptions {
  /** The masquerade mark bit (kube-proxy uses 0x4000/0x8000: do not collide on a shared host). */
  markBit?: number;
  /** `member-chains` (default, the design's) or `compact` (§11 option (a)). */
  layout?: Layout;
}

export interface MemberIR {
  address: string;
  /** The member's own port, else the service port's targetPort. */
  targetPort: number;
  weight: number;
  chain: string;
  /** Null without session affinity. */
  affinitySet: string | null;
  /** The numgen values that pick this member: share = (last − first + 1) / modulus. */
  first: number;
  last: number;
  /** Clients masqueraded: from this CIDR (a member on this host) or, when null, every client (§7). */
  masqueradeFrom: string | null;
}

export interface PortIR {
  vip: string;
  protocol: string;
  port: number;
  /** `web/tcp/80`: the no-endpoint element's comment. */
  label: string;
  /** Null when no member is selectable: the port rejects (no-endpoint-services). */
  serviceChain: string | null;
  affinityTimeout: number | null;
  modulus: number;
  members: MemberIR[];
}

export interface TableIR {
  family: 4 | 6;
  layout: Layout;
  markBit: number;
  serviceCidrs: string[];
  ports: PortIR[];
  /** VIPs of services on the proxy plane (issue 14): let through, not programmed. */
  proxiedVips: string[];
}

export function renderTable(desired: DesiredServices, options: RenderOptions = {}): TableIR {
  const ports = desired.services.flatMap(renderService);
  ports.sort((a, b) => compareText(portKey(a), portKey(b)));
  const proxiedVips = desired.services.filter(isProxied).map((s) => guardAddress(s.vip)).sort(compareText);
  return { family: desired.family, layout: options.layout ?? "member-chains", markBit: checkMarkBit(options.markBit ?? DEFAULT_MARK_BIT), serviceCidrs: renderCidrs(desired.serviceCidrs), ports, proxiedVips };
}

export function checkMarkBit(markBit: number): number {
  if (!Number.isInteger(markBit) || markBit <= 0 || markBit > 0xffffffff || (markBit & (markBit - 1)) !== 0) {
    throw new RangeError(`markBit ${markBit} is invalid: must be one bit of a 32-bit mark (0x2000, 0x1000000…)`);
  }
  return markBit;
}

export function renderCidrs(cidrs: readonly string[]): string[] {
  return cidrs.map(guardCidr).sort(compareText);
}

export const isProxied = (service: Pick<DesiredService, "plane">) => service.plane === "proxy";

/** One service's ports, in its ports' order (the table sorts them); none for a service on the proxy plane. */
export function renderService(service: DesiredService): PortIR[] {
  if (isProxied(service)) return [];
  const plan = planNumgen(service.members);
  const affinityTimeout = plan === null ? null : (service.affinity?.timeoutSeconds ?? null);
  return service.ports.map((p) => {
    const ref = { serviceId: service.id, serviceName: service.name, protocol: p.protocol, port: p.port };
    const members: MemberIR[] = (plan?.ranges ?? []).map(({ member, first, last }) => {
      const targetPort = member.port ?? p.targetPort;
      return {
        address: guardAddress(member.address),
        targetPort,
        weight: member.weight,
        chain: memberChainName(ref, member.address, targetPort),
        affinitySet: affinityTimeout === null ? null : affinitySetName(ref, member.address, targetPort),
        first,
        last,
        masqueradeFrom: member.localCidr === null ? null : guardCidr(member.localCidr),
      };
    });
    return {
      vip: guardAddress(service.vip),
      protocol: p.protocol,
      port: p.port,
      label: portLabel(ref),
      serviceChain: plan === null ? null : serviceChainName(ref),
      affinityTimeout,
      modulus: plan?.modulus ?? 0,
      members,
    };
  });
}

/** `10.241.0.10 . tcp . 80`: the port's key in service-ips and no-endpoint-services. */
export function portKey(p: Pick<PortIR, "vip" | "protocol" | "port">): string {
  return `${p.vip} . ${p.protocol} . ${p.port}`;
}

/** Code-unit order, independent of locale. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
