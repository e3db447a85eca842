import { cidrContains } from "@switchyard/ipam";
import type { TableObjects } from "./lower";

/**
 * A packet tracer over the table's objects (kube-proxy's helpers_test.go idea): it walks the hook
 * chains a new flow's first packet meets, evaluates only the rule shapes this package emits (any
 * other shape throws, so an unexpected rule fails the test that traces it), follows every numgen
 * branch and says where the flow goes, with each branch's exact share.
 */

export interface TracePacket {
  saddr: string;
  daddr: string;
  protocol: "tcp" | "udp" | "sctp";
  dport: number;
  /** `sandbox`: forwarded (prerouting → forward); `host`: a host process (output). */
  from: "sandbox" | "host";
  /** Affinity sets that already hold saddr (a client seen recently); none by default. */
  pinnedIn?: readonly string[];
}

/** A share as an exact fraction. */
export interface Share {
  num: number;
  den: number;
}

export type TraceOutcome =
  | { kind: "member"; address: string; port: number; share: Share; masquerade: boolean }
  | { kind: "reject" | "drop"; share: Share }
  /** No rule of ours touched the flow: not a service address. */
  | { kind: "pass"; share: Share };

interface State {
  daddr: string;
  dport: number;
  mark: number;
  dnat: { address: string; port: number } | null;
  masquerade: boolean;
}
type End = "continue" | "return" | "accept" | "drop" | "reject";
interface Path {
  state: State;
  share: Share;
  end: End;
}

const ONE: Share = { num: 1, den: 1 };

export function tracePacket(table: TableObjects, packet: TracePacket): TraceOutcome[] {
  const start: State = { daddr: packet.daddr, dport: packet.dport, mark: 0, dnat: null, masquerade: false };
  const hooks = packet.from === "sandbox" ? ["nat-prerouting", "filter-forward", "nat-postrouting"] : ["filter-output", "nat-output", "filter-output-post-dnat", "nat-postrouting"];
  let paths: Path[] = [{ state: start, share: ONE, end: "continue" }];
  for (const hook of hooks) {
    paths = paths.flatMap((p) => (p.end === "drop" || p.end === "reject" ? [p] : runChain(table, packet, hook, { ...p, end: "continue" }).map((q) => ({ ...q, end: q.end === "return" ? "continue" : q.end }))));
  }
  return paths.map(({ state, share, end }): TraceOutcome => {
    if (end === "drop" || end === "reject") return { kind: end, share };
    if (state.dnat === null) return { kind: "pass", share };
    return { kind: "member", address: state.dnat.address, port: state.dnat.port, share, masquerade: state.masquerade };
  });
}

function runChain(table: TableObjects, packet: TracePacket, name: string, path: Path): Path[] {
  const chain = table.chains.get(name);
  if (!chain) throw new Error(`tracer: chain ${name} does not exist`);
  let live: Path[] = [path];
  const done: Path[] = [];
  for (const rule of chain.rules) {
    const next: Path[] = [];
    for (const p of live) {
      for (const q of runRule(table, packet, rule, p)) (q.end === "continue" ? next : done).push(q);
    }
    live = next;
    if (live.length === 0) break;
  }
  return [...done, ...live];
}

/** Jump: the callee's return continues here. Goto: it returns to our caller. */
function call(table: TableObjects, packet: TracePacket, verb: string, target: string, p: Path): Path[] {
  return runChain(table, packet, target, p).map((q) => (q.end === "return" || q.end === "continue" ? { ...q, end: verb === "goto" ? "return" : "continue" } : q));
}

function verdict(table: TableObjects, packet: TracePacket, text: string, p: Path): Path[] {
  const v = /^(jump|goto) (\S+)$/.exec(text);
  if (v) return call(table, packet, v[1]!, v[2]!, p);
  if (text === "drop" || text === "accept" || text === "return") return [{ ...p, end: text }];
  throw new Error(`tracer: unknown verdict ${JSON.stringify(text)}`);
}

function runRule(table: TableObjects, packet: TracePacket, rule: string, p: Path): Path[] {
  const ip = "(?:ip|ip6)";
  let m: RegExpExecArray | null;
  if ((m = /^ct state new (jump|goto) (\S+)$/.exec(rule))) return call(table, packet, m[1]!, m[2]!, p);
  if ((m = /^(jump|goto) (\S+)$/.exec(rule))) return call(table, packet, m[1]!, m[2]!, p);
  if ((m = new RegExp(`^${ip} daddr \\. meta l4proto \\. th dport vmap @(\\S+)$`).exec(rule))) {
    const element = table.elements.get(m[1]!)?.get(`${p.state.daddr} . ${packet.protocol} . ${p.state.dport}`);
    if (element === undefined) return [p];
    return verdict(table, packet, element.replace(/^.* : /, ""), p);
  }
  if ((m = new RegExp(`^${ip} daddr @(\\S+) (reject|return) comment "[^"]*"$`).exec(rule))) {
    return [table.elements.get(m[1]!)?.has(p.state.daddr) ? { ...p, end: m[2] as "reject" | "return" } : p];
  }
  if ((m = new RegExp(`^${ip} daddr ([0-9a-f.:]+/\\d+) drop comment "[^"]*"$`).exec(rule))) return [cidrContains(m[1]!, p.state.daddr) ? { ...p, end: "drop" } : p];
  if (rule === "reject") return [{ ...p, end: "reject" }];
  if ((m = /^mark set mark or (0x[0-9a-f]+)$/.exec(rule))) return [{ ...p, state: { ...p.state, mark: p.state.mark | Number(m[1]) } }];
  if ((m = /^mark and (0x[0-9a-f]+) == 0 return$/.exec(rule))) return [(p.state.mark & Number(m[1])) === 0 ? { ...p, end: "return" } : p];
  if ((m = /^mark set mark xor (0x[0-9a-f]+)$/.exec(rule))) return [{ ...p, state: { ...p.state, mark: p.state.mark ^ Number(m[1]) } }];
  if (rule === "masquerade fully-random") return [{ ...p, state: { ...p.state, masquerade: true }, end: "accept" }];
  if ((m = new RegExp(`^${ip} saddr ([0-9a-f.:]+/\\d+) (jump|goto) (\\S+)$`).exec(rule))) return cidrContains(m[1]!, packet.saddr) ? call(table, packet, m[2]!, m[3]!, p) : [p];
  if ((m = new RegExp(`^${ip} saddr @(\\S+) goto (\\S+)$`).exec(rule))) return packet.pinnedIn?.includes(m[1]!) ? call(table, packet, "goto", m[2]!, p) : [p];
  if ((m = new RegExp(`^update @(\\S+) \\{ ${ip} saddr \\}$`).exec(rule))) return [p];
  if ((m = /^meta l4proto (\S+) (?:numgen random mod (\d+) < (\d+) )?dnat to (?:\[([0-9a-f:]+)\]|([0-9.]+)):(\d+)$/.exec(rule))) {
    if (m[1] !== packet.protocol) return [p];
    const address = (m[4] ?? m[5])!;
    const taken: Path = { ...p, state: { ...p.state, dnat: { address, port: Number(m[6]) }, daddr: address, dport: Number(m[6]) }, end: "accept" };
    if (m[2] === undefined) return [taken];
    // Its own draw: taken with wᵢ/Rᵢ of the share that reached it, passed on with the rest. What
    // reaches rule i is Rᵢ/W, so Rᵢ cancels and the shares keep the denominator W (1/10, 2/10, 7/10).
    const [modulus, width] = [Number(m[2]), Number(m[3])];
    const part = (k: number): Share => (p.share.num % modulus === 0 ? { num: (p.share.num / modulus) * k, den: p.share.den } : { num: p.share.num * k, den: p.share.den * modulus });
    return [{ ...taken, share: part(width) }, { ...p, share: part(modulus - width) }];
  }
  if ((m = new RegExp(`^meta l4proto (\\S+) dnat ${ip} addr \\. port to numgen random mod (\\d+) map \\{ (.*) \\}$`).exec(rule))) {
    if (m[1] !== packet.protocol) return [p];
    const modulus = Number(m[2]);
    return m[3]!.split(", ").map((branch) => {
      const b = /^(\d+)(?:-(\d+))? : ([0-9a-f.:]+) \. (\d+)$/.exec(branch);
      if (!b) throw new Error(`tracer: dnat map branch ${JSON.stringify(branch)} has an unknown shape`);
      const width = Number(b[2] ?? b[1]) - Number(b[1]) + 1;
      const dnat = { address: b[3]!, port: Number(b[4]) };
      return { state: { ...p.state, dnat, daddr: dnat.address, dport: dnat.port }, share: { num: p.share.num * width, den: p.share.den * modulus }, end: "accept" as const };
    });
  }
  if ((m = new RegExp(`^ct status dnat ct original ${ip} daddr @(\\S+) ${ip} daddr \\. meta l4proto \\. th dport( \\. ${ip} saddr)? @(\\S+) masquerade fully-random$`).exec(rule))) {
    if (p.state.dnat === null || !table.elements.get(m[1]!)?.has(packet.daddr)) return [p];
    const prefix = `${p.state.daddr} . ${packet.protocol} . ${p.state.dport}`;
    const held = [...(table.elements.get(m[3]!)?.keys() ?? [])];
    const hit = m[2] === undefined ? held.includes(prefix) : held.some((k) => k.startsWith(`${prefix} . `) && cidrContains(k.slice(prefix.length + 3), packet.saddr));
    return [hit ? { ...p, state: { ...p.state, masquerade: true }, end: "accept" } : p];
  }
  if ((m = /^numgen random mod (\d+) vmap \{ (.*) \}$/.exec(rule))) {
    const modulus = Number(m[1]);
    return m[2]!.split(", ").flatMap((branch) => {
      const b = /^(\d+)(?:-(\d+))? : (.+)$/.exec(branch);
      if (!b) throw new Error(`tracer: numgen branch ${JSON.stringify(branch)} has an unknown shape`);
      const width = Number(b[2] ?? b[1]) - Number(b[1]) + 1;
      return verdict(table, packet, b[3]!, { ...p, share: { num: p.share.num * width, den: p.share.den * modulus } });
    });
  }
  throw new Error(`tracer: rule ${JSON.stringify(rule)} has a shape this tracer does not know`);
}
