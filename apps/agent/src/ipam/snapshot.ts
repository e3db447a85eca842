import { createHash } from "node:crypto";
import { statfsSync } from "node:fs";
import { basename } from "node:path";
import type { CachedAttachmentSummary, CniRuntime } from "@switchyard/cni";
import { LEASE_FINDING_KINDS } from "@switchyard/ipam";
import { digestHostLocalStore, readHostLocalStore } from "@switchyard/ipam/host-local";
import { IPAM_LIMITS, type IpamFinding, type IpamNetworkSnapshot, type IpamSnapshot, IpPrefixText } from "@switchyard/api/schemas/ipam";
import { readNamespaceAddresses } from "./namespaces";
import { type KnownNetwork, describeNetworkIpam } from "./networks";
import { compareHolders, compareNames } from "./order";

/** One of the agent's own attachments, whose namespace it may look into. */
export interface OwnAttachment {
  networkName: string;
  containerId: string;
  ifName: string;
  netns: string;
}

export interface IpamSnapshotDeps {
  networks: readonly KnownNetwork[];
  runtime: Pick<CniRuntime, "listCachedAttachments" | "getCachedResult">;
  /** The result cache's listing when the caller already took it (one readdir a report, not two). */
  cached?: readonly CachedAttachmentSummary[];
  /** The agent's netns dirs: namespaces are read only there (or /proc/<pid>/ns/net). */
  netnsDirs: readonly string[];
  ownAttachments?: readonly OwnAttachment[];
  /** Data dirs the agent reads leases from; default /var/lib/cni (host-local's default lives there). */
  allowedDataDirRoots?: readonly string[];
  /** Lease directory entries read per network (the reader's cap). */
  maxEntries?: number;
  /** How a namespace's addresses are read; default `nsenter … ip -j addr`. */
  readNamespace?: (netns: string, ifName: string) => Promise<string[]>;
  now?: () => number;
  /**
   * The last snapshot: a network whose lease directory has the same digest (and the same data
   * dir and ranges) keeps its leases from it instead of reading every file again. Cached results
   * and namespaces are read anew.
   */
  previous?: IpamSnapshot;
  /**
   * Look into every own attachment's namespace again (one `nsenter` each). Otherwise a namespace
   * seen in `previous` (same container, interface and path) keeps the addresses read then: they
   * change with CNI operations, which change the cache too, and a host with 1,000 attachments
   * does not spawn 1,000 processes after each operation. Default: true without `previous`.
   */
  refreshNamespaces?: boolean;
}

type StoreRead = Pick<IpamNetworkSnapshot, "leases" | "reservedIps" | "digest" | "entries" | "truncated"> & { findings: IpamFinding[] };

const LEASE_KINDS = new Set<string>(LEASE_FINDING_KINDS);

/** The lease directory's part of the snapshot: from `previous` when its digest did not change, read otherwise. */
async function readStore(known: KnownNetwork, ipam: ReturnType<typeof describeNetworkIpam>, deps: IpamSnapshotDeps): Promise<StoreRead> {
  const options = { dataDir: ipam.dataDir.path, network: known.name, ranges: ipam.ranges, maxEntries: deps.maxEntries };
  const prev = deps.previous?.networks.find((n) => n.networkName === known.name);
  if (prev && prev.dataDir.path === ipam.dataDir.path && JSON.stringify(prev.ranges) === JSON.stringify(ipam.ranges)) {
    const { digest } = await digestHostLocalStore(options);
    if (digest === prev.digest) {
      return { leases: prev.leases, reservedIps: prev.reservedIps, digest, entries: prev.entries, truncated: prev.truncated, findings: prev.findings.filter((f) => LEASE_KINDS.has(f.kind)) };
    }
  }
  const store = await readHostLocalStore(options);
  return {
    leases: store.leases.slice(0, IPAM_LIMITS.leasesPerNetwork).map(({ address, containerId, ifName, mtimeMs }) => ({ address, containerId, ifName, mtimeMs })),
    reservedIps: store.reservedIps.slice(0, IPAM_LIMITS.reservedIps),
    digest: store.digest,
    entries: store.entries,
    truncated: store.truncated,
    findings: store.findings,
  };
}

export const DEFAULT_DATA_DIR_ROOTS = ["/var/lib/cni"] as const;
// Few enough that the agent's own CNI calls are not starved while a snapshot is taken.
const CONCURRENCY = 8;
const NO_STORE_DIGEST = createHash("sha256").update("absent").digest("hex");

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** statfs(2) f_type of a network namespace file (nsfs). */
const NSFS_MAGIC = 0x6e736673;

/**
 * Whether `path` is a network namespace now: a bind mount under a netns dir or a process's
 * /proc/<pid>/ns/net. A path that is gone, or a plain file left where a mount was, is not; an empty
 * path says nothing (null).
 */
export function namespaceAlive(path: string): boolean | null {
  if (!path) return null;
  try {
    return statfsSync(path).type === NSFS_MAGIC;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === "ENOENT" || code === "ENOTDIR" || code === "ESRCH" ? false : null;
  }
}

const validPrefixes = (addresses: readonly string[]) => addresses.filter((a) => IpPrefixText.safeParse(a).success).slice(0, IPAM_LIMITS.addressesPerHolder);
const message = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 900);

/** What the result cache says each attachment of the network got. */
async function readCachedResults(known: KnownNetwork, entries: readonly CachedAttachmentSummary[], runtime: IpamSnapshotDeps["runtime"], findings: IpamFinding[]) {
  const usable = entries.filter((e) => !e.addIncomplete).slice(0, IPAM_LIMITS.cachedPerNetwork);
  const results = await mapLimit(usable, CONCURRENCY, async (e) => {
    try {
      const result = await runtime.getCachedResult(known.net, { containerId: e.containerId, ifName: e.ifName, netns: e.netns });
      return {
        containerId: e.containerId,
        ifName: e.ifName,
        netns: e.netns.slice(0, 1024),
        netnsAlive: namespaceAlive(e.netns),
        addresses: validPrefixes((result?.ips ?? []).map((ip) => ip.address)),
      };
    } catch (error) {
      findings.push({ kind: "cache-unreadable", file: basename(e.file).slice(0, 300), reason: message(error) });
      return undefined;
    }
  });
  return results.filter((r) => r !== undefined).sort(compareHolders);
}

async function readNamespaces(networkName: string, own: readonly OwnAttachment[], deps: IpamSnapshotDeps, findings: IpamFinding[]) {
  const read = deps.readNamespace ?? ((netns: string, ifName: string) => readNamespaceAddresses(netns, ifName, { netnsDirs: deps.netnsDirs }));
  const keyOf = (a: { containerId: string; ifName: string; netns: string }) => `${a.containerId}\0${a.ifName}\0${a.netns}`;
  const refresh = deps.refreshNamespaces ?? deps.previous === undefined;
  const before = new Map(
    refresh ? [] : (deps.previous?.networks.find((n) => n.networkName === networkName)?.namespaces ?? []).map((n) => [keyOf(n), n] as const),
  );
  const results = await mapLimit(own.slice(0, IPAM_LIMITS.namespacesPerNetwork), CONCURRENCY, async (a) => {
    const known = before.get(keyOf({ ...a, netns: a.netns.slice(0, 1024) }));
    if (known) return known;
    try {
      return { containerId: a.containerId, ifName: a.ifName, netns: a.netns.slice(0, 1024), addresses: validPrefixes(await read(a.netns, a.ifName)) };
    } catch (error) {
      findings.push({ kind: "namespace-unreadable", file: a.netns.slice(0, 300), reason: `${a.containerId}/${a.ifName}: ${message(error)}` });
      return undefined;
    }
  });
  return results.filter((r) => r !== undefined).sort(compareHolders);
}

/**
 * A lease held by a container the result cache knows only on other networks: a lease file from
 * elsewhere, or what a failed attach on this network left. Evidence for the console, not a verdict.
 */
function findForeignHolders(known: KnownNetwork, leases: readonly { address: string; containerId: string }[], networksOf: ReadonlyMap<string, ReadonlySet<string>>): IpamFinding[] {
  const out: IpamFinding[] = [];
  for (const lease of leases) {
    const networks = lease.containerId ? networksOf.get(lease.containerId) : undefined;
    if (!networks || networks.has(known.name)) continue;
    out.push({ kind: "holder-on-other-network", file: lease.address, reason: `container "${lease.containerId}" has cached attachments on this host only on ${[...networks].slice(0, 5).join(", ")}, not on ${known.name}`.slice(0, 1000) });
    if (out.length >= 100) break;
  }
  return out;
}

async function snapshotNetwork(known: KnownNetwork, cached: readonly CachedAttachmentSummary[], own: readonly OwnAttachment[], networksOf: ReadonlyMap<string, ReadonlySet<string>>, deps: IpamSnapshotDeps): Promise<IpamNetworkSnapshot> {
  const ipam = describeNetworkIpam(known.net, deps.allowedDataDirRoots ?? DEFAULT_DATA_DIR_ROOTS);
  const findings: IpamFinding[] = [...ipam.findings];
  let store: StoreRead | undefined;
  if (ipam.readable) {
    store = await readStore(known, ipam, deps);
    findings.push(...store.findings, ...findForeignHolders(known, store.leases, networksOf));
  }
  const cachedResults = await readCachedResults(known, cached, deps.runtime, findings);
  const namespaces = await readNamespaces(known.name, own, deps, findings);
  return {
    networkName: known.name,
    knownFrom: known.knownFrom,
    ipamType: ipam.ipamType,
    dataDir: ipam.dataDir,
    ranges: ipam.ranges,
    leases: store?.leases ?? [],
    reservedIps: store?.reservedIps ?? [],
    cached: cachedResults,
    namespaces,
    findings: findings.slice(0, IPAM_LIMITS.findingsPerNetwork),
    digest: store?.digest ?? NO_STORE_DIGEST,
    entries: store?.entries ?? 0,
    truncated: store?.truncated ?? false,
  };
}

/**
 * The host's IPAM state for the networks the agent knows: host-local's leases (the config's data
 * dir or the default), what the result cache says each attachment got, and the addresses in the
 * agent's own attachments' namespaces. Networks one after another (each reads its directory in
 * bounded batches); never throws for what it finds on the host.
 */
export async function buildIpamSnapshot(deps: IpamSnapshotDeps): Promise<IpamSnapshot> {
  const takenAt = (deps.now ?? Date.now)();
  const allCached = deps.cached ?? (await deps.runtime.listCachedAttachments().catch(() => [] as CachedAttachmentSummary[]));
  const cachedBy = new Map<string, CachedAttachmentSummary[]>();
  const networksOf = new Map<string, Set<string>>();
  for (const c of allCached) {
    const list = cachedBy.get(c.networkName);
    if (list) list.push(c);
    else cachedBy.set(c.networkName, [c]);
    const nets = networksOf.get(c.containerId);
    if (nets) nets.add(c.networkName);
    else networksOf.set(c.containerId, new Set([c.networkName]));
  }
  const networks: IpamNetworkSnapshot[] = [];
  for (const known of deps.networks.slice(0, IPAM_LIMITS.networks)) {
    const own = (deps.ownAttachments ?? []).filter((a) => a.networkName === known.name);
    networks.push(await snapshotNetwork(known, cachedBy.get(known.name) ?? [], own, networksOf, deps));
  }
  return { takenAt, networks: networks.sort(compareNames) };
}
