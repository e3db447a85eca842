import { guardComment, guardIdentifier } from "./names";
import { type PortIR, type TableIR, compareText, portKey } from "./render";
import { formatRange } from "./weights";

/**
 * The IR → the table's nft objects (chains with their rule texts, sets and maps with their
 * declarations, elements), the unit the transactions diff. Every rule text here was loaded with
 * nft 1.0.6 (design §3); numeric priorities because 1.0.6 refuses `dstnat` outside prerouting (§4).
 */

export interface ChainObject {
  /** The base chain's `{ type … hook … priority … ; }`, null for a regular chain. */
  spec: string | null;
  rules: string[];
}

export interface SetObject {
  kind: "set" | "map";
  /** What goes between the braces of `add set|map`. */
  spec: string;
}

/**
 * `member-chains`: the design's layout (a chain per member, as kube-proxy). `compact`: the design's
 * option (a) of §11: a port without affinity has no member chains; its service chain DNATs through
 * a numgen map and postrouting masquerades from two sets keyed by the member (fewer objects for nft).
 */
export const LAYOUTS = ["member-chains", "compact"] as const;
export type Layout = (typeof LAYOUTS)[number];

export interface TableObjects {
  family: 4 | 6;
  layout: Layout;
  chains: Map<string, ChainObject>;
  sets: Map<string, SetObject>;
  /** Per set or map, element key → the element's whole text (key, comment, value). */
  elements: Map<string, Map<string, string>>;
}

export const TABLE_COMMENT = "switchyard-agent: services; do not edit";

/** Chains every table has, in the order a cold transaction declares them. */
export const STATIC_CHAINS = [
  "filter-input",
  "filter-forward",
  "filter-output",
  "filter-output-post-dnat",
  "nat-prerouting",
  "nat-output",
  "nat-postrouting",
  "services",
  "service-endpoints-check",
  "vip-check",
  "reject-chain",
  "mark-for-masquerade",
  "masquerading",
] as const;
export const STATIC_SETS = ["service-ips", "no-endpoint-services", "vips", "proxy-vips", "masquerade-members", "masquerade-local"] as const;
/** Sets whose elements several services may hold (the same member in two services). */
export const SHARED_SETS: readonly string[] = ["masquerade-members", "masquerade-local"];

export function familyWord(family: 4 | 6): "ip" | "ip6" {
  return family === 4 ? "ip" : "ip6";
}

export function lowerTable(ir: TableIR): TableObjects {
  const objects = lowerStatic(ir);
  lowerPorts(ir.ports, objects);
  for (const vip of ir.proxiedVips) lowerProxied(vip, objects);
  return objects;
}

/** A service on the proxy plane: the table only lets its VIP through (the proxy listens on it). */
export function lowerProxied(vip: string, into: TableObjects): void {
  let m = into.elements.get("proxy-vips");
  if (!m) into.elements.set("proxy-vips", (m = new Map()));
  m.set(vip, vip);
}

/** The objects every table has: hook chains, dispatch maps, vip-check with the service CIDRs. */
export function lowerStatic(ir: Pick<TableIR, "family" | "markBit" | "serviceCidrs" | "layout">): TableObjects {
  const ip = familyWord(ir.family);
  const addrType = ir.family === 4 ? "ipv4_addr" : "ipv6_addr";
  const mark = `0x${ir.markBit.toString(16).padStart(8, "0")}`;
  const base = (hook: string, type: string, priority: number) => `{ type ${type} hook ${hook} priority ${priority} ; }`;
  const chains = new Map<string, ChainObject>([
    ["filter-input", { spec: base("input", "filter", -110), rules: ["ct state new jump service-endpoints-check"] }],
    ["filter-forward", { spec: base("forward", "filter", -110), rules: ["ct state new jump service-endpoints-check", "ct state new jump vip-check"] }],
    ["filter-output", { spec: base("output", "filter", -110), rules: ["ct state new jump service-endpoints-check"] }],
    ["filter-output-post-dnat", { spec: base("output", "filter", -90), rules: ["ct state new jump vip-check"] }],
    ["nat-prerouting", { spec: base("prerouting", "nat", -100), rules: ["jump services"] }],
    ["nat-output", { spec: base("output", "nat", -100), rules: ["jump services"] }],
    ["nat-postrouting", { spec: base("postrouting", "nat", 100), rules: ["jump masquerading"] }],
    ["services", { spec: null, rules: [`${ip} daddr . meta l4proto . th dport vmap @service-ips`] }],
    ["service-endpoints-check", { spec: null, rules: [`${ip} daddr . meta l4proto . th dport vmap @no-endpoint-services`] }],
    [
      "vip-check",
      {
        spec: null,
        // A proxied VIP is an address of the host where the proxy listens (issue 14): not dropped as a VIP nobody holds.
        rules: [`${ip} daddr @proxy-vips return comment "VIP of the proxy"`, `${ip} daddr @vips reject comment "VIP, no such port"`, ...ir.serviceCidrs.map((c) => `${ip} daddr ${c} drop comment "service CIDR, no such VIP"`)],
      },
    ],
    ["reject-chain", { spec: null, rules: ["reject"] }],
    ["mark-for-masquerade", { spec: null, rules: [`mark set mark or ${mark}`] }],
    ["masquerading", { spec: null, rules: [`mark and ${mark} == 0 return`, `mark set mark xor ${mark}`, "masquerade fully-random"] }],
  ]);
  if (ir.layout === "compact") {
    const dnated = `ct status dnat ct original ${ip} daddr @vips ${ip} daddr . meta l4proto . th dport`;
    chains.get("masquerading")!.rules.unshift(`${dnated} @masquerade-members masquerade fully-random`, `${dnated} . ${ip} saddr @masquerade-local masquerade fully-random`);
  }
  const keyType = `${addrType} . inet_proto . inet_service`;
  const sets = new Map<string, SetObject>([
    ["service-ips", { kind: "map", spec: `type ${keyType} : verdict ;` }],
    ["no-endpoint-services", { kind: "map", spec: `type ${keyType} : verdict ;` }],
    ["vips", { kind: "set", spec: `type ${addrType} ;` }],
    ["proxy-vips", { kind: "set", spec: `type ${addrType} ;` }],
  ]);
  if (ir.layout === "compact") {
    sets.set("masquerade-members", { kind: "set", spec: `type ${keyType} ;` });
    sets.set("masquerade-local", { kind: "set", spec: `type ${keyType} . ${addrType} ; flags interval ;` });
  }
  const elements = new Map([...sets.keys()].map((s) => [s, new Map<string, string>()]));
  return { family: ir.family, layout: ir.layout, chains, sets, elements };
}

/** Adds ports' chains, sets and elements to `into` (a whole table, or one service's share of it). */
export function lowerPorts(ports: readonly PortIR[], into: TableObjects): void {
  const ip = familyWord(into.family);
  const addrType = into.family === 4 ? "ipv4_addr" : "ipv6_addr";
  const element = (set: string) => {
    let m = into.elements.get(set);
    if (!m) into.elements.set(set, (m = new Map()));
    return m;
  };
  for (const p of ports) {
    const key = portKey(p);
    element("vips").set(p.vip, p.vip);
    if (p.serviceChain === null) {
      element("no-endpoint-services").set(key, `${key} comment "${guardComment(p.label)}" : goto reject-chain`);
      continue;
    }
    element("service-ips").set(key, `${key} : goto ${guardIdentifier(p.serviceChain)}`);
    if (into.layout === "compact" && p.affinityTimeout === null) lowerCompactPort(p, ip, into.chains, element);
    else lowerPort(p, ip, addrType, into.chains, into.sets);
  }
}

/** A table's objects without the static ones: what one service adds. */
export function emptyObjects(family: 4 | 6, layout: Layout): TableObjects {
  return { family, layout, chains: new Map(), sets: new Map(), elements: new Map() };
}

/**
 * Sequential draws, as iptables' `statistic` chains, and no set: member i's rule DNATs when
 * `numgen random mod Rᵢ < wᵢ`, Rᵢ being the weight the members before it did not take, and the
 * last member's rule has no condition. Each rule draws its own number, so member i is reached
 * with probability (1 − Σⱼ<ᵢ wⱼ/W) · wᵢ/Rᵢ = wᵢ/W exactly. One anonymous numgen map per service
 * cost the kernel O(services²) to load (each anonymous set's name walks the table's sets: 13 s
 * at 10,000 services); rules cost it almost nothing (bench/README.md). The masquerade sets say
 * which clients are masqueraded (§7).
 */
function lowerCompactPort(p: PortIR, ip: string, chains: Map<string, ChainObject>, element: (set: string) => Map<string, string>): void {
  let remaining = p.modulus;
  const rules = p.members.map((m) => {
    const width = m.last - m.first + 1;
    const draw = width < remaining ? `numgen random mod ${remaining} < ${width} ` : "";
    remaining -= width;
    const destination = ip === "ip" ? `${m.address}:${m.targetPort}` : `[${m.address}]:${m.targetPort}`;
    return `meta l4proto ${p.protocol} ${draw}dnat to ${destination}`;
  });
  chains.set(guardIdentifier(p.serviceChain!), { spec: null, rules });
  for (const m of p.members) {
    const key = `${m.address} . ${p.protocol} . ${m.targetPort}`;
    if (m.masqueradeFrom === null) element("masquerade-members").set(key, key);
    else element("masquerade-local").set(`${key} . ${m.masqueradeFrom}`, `${key} . ${m.masqueradeFrom}`);
  }
}

function lowerPort(p: PortIR, ip: string, addrType: string, chains: Map<string, ChainObject>, sets: Map<string, SetObject>): void {
  const serviceRules: string[] = [];
  for (const m of p.members) {
    const chain = guardIdentifier(m.chain);
    const rules = [m.masqueradeFrom === null ? "jump mark-for-masquerade" : `${ip} saddr ${m.masqueradeFrom} jump mark-for-masquerade`];
    if (m.affinitySet !== null && p.affinityTimeout !== null) {
      const set = guardIdentifier(m.affinitySet);
      sets.set(set, { kind: "set", spec: `type ${addrType} ; flags dynamic,timeout ; timeout ${p.affinityTimeout}s ;` });
      rules.push(`update @${set} { ${ip} saddr }`);
      serviceRules.push(`${ip} saddr @${set} goto ${chain}`);
    }
    const destination = ip === "ip" ? `${m.address}:${m.targetPort}` : `[${m.address}]:${m.targetPort}`;
    rules.push(`meta l4proto ${p.protocol} dnat to ${destination}`);
    chains.set(chain, { spec: null, rules });
  }
  const branches = p.members.map((m) => `${formatRange(m)} : goto ${m.chain}`).join(", ");
  serviceRules.push(`numgen random mod ${p.modulus} vmap { ${branches} }`);
  chains.set(guardIdentifier(p.serviceChain!), { spec: null, rules: serviceRules });
}

/** Static objects first in their fixed order, then the per-service ones by name. */
export function orderedNames(names: Iterable<string>, statics: readonly string[]): string[] {
  const all = new Set(names);
  const fixed = statics.filter((n) => all.has(n));
  const rest = [...all].filter((n) => !(statics as readonly string[]).includes(n)).sort(compareText);
  return [...fixed, ...rest];
}
