import { listCacheFiles, readLeases, type Lease } from "./files";
import { readIptables, readNft, jumpTarget, mentioning, SHARED_CHAINS } from "./firewall";
import { listLinks, readSysctl, type LinkInfo } from "./links";
import { listNetns } from "./netns";

/** Sysctls a test must leave as it found them (HARDENING 8 and the bridge plugin's forwarding switch). */
export const WATCHED_SYSCTLS = [
  "net/ipv4/conf/all/route_localnet",
  "net/ipv4/conf/default/route_localnet",
  "net/ipv4/ip_forward",
  "net/ipv6/conf/all/forwarding",
] as const;

export interface SnapshotScope {
  /** Strings identifying this test's objects: network name, container id, bridge, IPs, veth names. */
  tokens: string[];
  cacheDir?: string;
  /** host-local dataDir and the network name whose leases to read. */
  dataDir?: string;
  network?: string;
}

export interface HostSnapshot {
  netns: string[];
  links: LinkInfo[];
  iptablesChains: string[];
  /** iptables rules mentioning a token, or jumping to / living in a chain that does. */
  iptablesRules: string[];
  nftChains: string[];
  nftRules: string[];
  leases: Lease[];
  cacheFiles: string[];
  sysctls: Record<string, string | null>;
}

/** One look at everything a CNI attachment can leave on the host. */
export async function snapshotHost(scope: SnapshotScope): Promise<HostSnapshot> {
  const [netns, links, ipt, nft, leases, cacheFiles, sysctlValues] = await Promise.all([
    listNetns(),
    listLinks(),
    readIptables(),
    readNft(),
    scope.dataDir && scope.network ? readLeases(scope.dataDir, scope.network) : Promise.resolve([]),
    scope.cacheDir ? listCacheFiles(scope.cacheDir) : Promise.resolve([]),
    Promise.all(WATCHED_SYSCTLS.map((k) => readSysctl(k))),
  ]);
  // Per-attachment chains are named by a hash; find them through the rules that mention us.
  const direct = mentioning(ipt.rules, scope.tokens);
  const ownChains = new Set<string>();
  for (const rule of direct) {
    const target = jumpTarget(rule);
    if (target && !SHARED_CHAINS.has(target)) ownChains.add(target);
    const chain = rule.split(" ")[3];
    if (chain?.startsWith("CNI-") && !SHARED_CHAINS.has(chain)) ownChains.add(chain);
  }
  const tokens = [...scope.tokens, ...ownChains];
  return {
    netns,
    links,
    iptablesChains: ipt.chains,
    iptablesRules: mentioning(ipt.rules, tokens),
    nftChains: nft.chains,
    nftRules: mentioning(nft.rules, tokens),
    leases,
    cacheFiles,
    sysctls: Object.fromEntries(WATCHED_SYSCTLS.map((k, i) => [k, sysctlValues[i] ?? null])),
  };
}

export interface HostLeaks {
  links: string[];
  netns: string[];
  iptablesChains: string[];
  iptablesRules: string[];
  nftChains: string[];
  nftRules: string[];
  leases: string[];
  cacheFiles: string[];
}

/**
 * What `after` holds that `before` did not, restricted to this test's objects: links named in the
 * tokens or enslaved to one, bandwidth's ifb devices, per-attachment chains (shared CNI chains are
 * created once per host on purpose), rules mentioning a token, and the scope's leases and cache files.
 */
export function diffSnapshots(
  before: HostSnapshot,
  after: HostSnapshot,
  tokens: readonly string[],
  /** Links expected to stay (the bridge device, which the bridge plugin never deletes by design). */
  keepLinks: readonly string[] = [],
): HostLeaks {
  const keep = new Set(keepLinks);
  const had = <T>(xs: readonly T[]) => new Set(xs);
  const beforeLinks = had(before.links.map((l) => l.ifname));
  const tokenSet = new Set(tokens);
  const isOwnChain = (c: string) => {
    const name = chainName(c);
    return name.startsWith("CNI-") && !SHARED_CHAINS.has(name);
  };
  const b = {
    chains: had(before.iptablesChains),
    rules: had(before.iptablesRules),
    nftChains: had(before.nftChains),
    nftRules: had(before.nftRules),
    netns: had(before.netns),
    leases: had(before.leases.map((l) => l.ip)),
    cache: had(before.cacheFiles),
  };
  return {
    links: after.links
      .filter((l) => !beforeLinks.has(l.ifname) && !keep.has(l.ifname))
      .filter((l) => tokenSet.has(l.ifname) || (l.master && tokenSet.has(l.master)) || l.ifname.startsWith("bwp"))
      .map((l) => `${l.ifname}${l.kind ? ` (${l.kind})` : ""}`),
    netns: after.netns.filter((n) => !b.netns.has(n) && tokenSet.has(n)),
    iptablesChains: after.iptablesChains.filter((c) => !b.chains.has(c) && isOwnChain(c) && (tokenSet.has(chainName(c)) || mentionedChain(c, after))),
    iptablesRules: after.iptablesRules.filter((r) => !b.rules.has(r)),
    nftChains: after.nftChains.filter((c) => !b.nftChains.has(c) && isOwnChain(c) && (tokenSet.has(chainName(c)) || mentionedChain(c, after))),
    nftRules: after.nftRules.filter((r) => !b.nftRules.has(r)),
    leases: after.leases.filter((l) => !b.leases.has(l.ip)).map((l) => l.ip),
    cacheFiles: after.cacheFiles.filter((f) => !b.cache.has(f)),
  };
}

const chainName = (chain: string): string => chain.split(" ")[2] ?? "";

// A new per-attachment chain counts as ours when its name is a token (pass `attachmentChains` of the
// snapshot taken after ADD, which also catches an emptied orphan) or a rule of ours refers to it.
function mentionedChain(chain: string, snap: HostSnapshot): boolean {
  const name = chainName(chain);
  return snap.iptablesRules.some((r) => r.includes(name)) || snap.nftRules.some((r) => r.includes(name));
}

/** Per-attachment chains named in `chains` that still exist (checks empty leftovers too). */
export function survivingChains(snap: HostSnapshot, chains: readonly string[]): string[] {
  const names = new Set(chains);
  return [...snap.iptablesChains, ...snap.nftChains].filter((c) => names.has(c.split(" ")[2] ?? ""));
}

/** Chain names of this attachment seen in a snapshot taken after ADD. */
export function attachmentChains(snap: HostSnapshot): string[] {
  const found = new Set<string>();
  for (const rule of snap.iptablesRules) {
    const chain = rule.split(" ")[3];
    if (chain?.startsWith("CNI-") && !SHARED_CHAINS.has(chain)) found.add(chain);
    const target = jumpTarget(rule);
    if (target && !SHARED_CHAINS.has(target)) found.add(target);
  }
  return [...found].sort();
}

export function isClean(leaks: HostLeaks): boolean {
  return Object.values(leaks).every((xs: string[]) => xs.length === 0);
}
