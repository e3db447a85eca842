import { canonicalIp } from "@switchyard/api/schemas/services";
import { describeFailure, inNetns, runCommand } from "./command";
import { findConntrack } from "./conntrack";

/**
 * Which member each probe connection reached, from the conntrack table where the service rules
 * live: an entry's original tuple is the client's (source address and port → VIP:port), its
 * reply tuple's source is the member the DNAT chose. That holds for any backend, not only ones
 * that say their name.
 */

export interface ConntrackFlow {
  /** The client's address and port (the original tuple's source). */
  src: string;
  sport: number;
  /** The member (the reply tuple's source). */
  member: string;
  memberPort: number;
}

/** Parses `conntrack -L` lines: the first src/sport are the original tuple's, the second src/sport the reply's. */
export function parseConntrackFlows(text: string): ConntrackFlow[] {
  const flows: ConntrackFlow[] = [];
  for (const line of text.split("\n")) {
    const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]!);
    const sport = [...line.matchAll(/\bsport=(\d+)/g)].map((m) => Number(m[1]));
    if (src.length < 2 || sport.length < 2) continue;
    const client = canonicalIp(src[0]!);
    const member = canonicalIp(src[1]!);
    if (client === null || member === null) continue;
    flows.push({ src: client, sport: sport[0]!, member, memberPort: sport[1]! });
  }
  return flows;
}

/** `transient`: conntrack ran and failed (a dump cut short, a timeout), so one more look may succeed; not when it is missing. */
export type ConntrackListing = { status: "listed"; flows: ConntrackFlow[] } | { status: "unknown"; reason: string; transient?: boolean };

/** The flows to `vip:port` in `netns` (the host when undefined); a missing or failing conntrack is `unknown`, never thrown. */
export async function listProbeFlows(options: { vip: string; port: number; protocol: "tcp" | "udp"; netns?: string; searchPath?: readonly string[] }): Promise<ConntrackListing> {
  const binary = findConntrack(options.searchPath);
  if (binary === null) return { status: "unknown", reason: "conntrack is not installed (Debian package `conntrack`): which member answered is unknown" };
  const family = options.vip.includes(":") ? "ipv6" : "ipv4";
  const args = ["-L", "-f", family, "-p", options.protocol, "--orig-dst", options.vip, "--orig-port-dst", String(options.port)];
  const [file, argv] = inNetns(options.netns, binary, args);
  const r = await runCommand(file, argv, { timeoutMs: 10_000, maxOutputBytes: 16 * 1024 * 1024 });
  if (r.code !== 0) return { status: "unknown", reason: `conntrack could not be read: ${describeFailure(file, argv, r).slice(0, 250)}`, transient: true };
  return { status: "listed", flows: parseConntrackFlows(r.stdout) };
}

/**
 * One connection's entry, by its whole original tuple (`conntrack -G`): a hash lookup, not a dump.
 * A dump walks a table every namespace on the host shares and can skip entries while others churn
 * it, the same ones look after look; a lookup finds the entry if it exists. Null when it does not
 * (expired, flushed) or conntrack is missing or fails.
 */
export async function getProbeFlow(options: { vip: string; port: number; protocol: "tcp" | "udp"; src: string; sport: number; netns?: string; searchPath?: readonly string[] }): Promise<ConntrackFlow | null> {
  const binary = findConntrack(options.searchPath);
  if (binary === null) return null;
  // No `-f`: -G refuses it, and takes the family from the addresses.
  const args = ["-G", "-p", options.protocol, "-s", options.src, "-d", options.vip, "--sport", String(options.sport), "--dport", String(options.port)];
  const [file, argv] = inNetns(options.netns, binary, args);
  const r = await runCommand(file, argv, { timeoutMs: 5_000, maxOutputBytes: 64 * 1024 });
  if (r.code !== 0) return null;
  return parseConntrackFlows(r.stdout).find((f) => f.src === canonicalIp(options.src) && f.sport === options.sport) ?? null;
}
