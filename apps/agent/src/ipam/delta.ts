import type { IpamCachedResult, IpamDelta, IpamLease, IpamNetworkDelta, IpamNetworkSnapshot, IpamSnapshot } from "@switchyard/api/schemas/ipam";
import { compareHolders, compareNames, sortByAddress } from "./order";

/** The parts of a network's snapshot sent whole when they change (small, or rarely changing). */
const WHOLE_PARTS = ["knownFrom", "ipamType", "dataDir", "ranges", "reservedIps", "namespaces", "findings", "digest", "entries", "truncated"] as const;
type WholePart = (typeof WHOLE_PARTS)[number];

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const holderKey = (h: { containerId: string; ifName: string }) => `${h.containerId}\0${h.ifName}`;
const sameLease = (a: IpamLease, b: IpamLease) => a.containerId === b.containerId && a.ifName === b.ifName && a.mtimeMs === b.mtimeMs;

function diffKeyed<T>(before: readonly T[], after: readonly T[], key: (t: T) => string, equal: (a: T, b: T) => boolean): { upserted: T[]; removed: T[] } {
  const old = new Map(before.map((t) => [key(t), t]));
  const upserted: T[] = [];
  for (const t of after) {
    const prev = old.get(key(t));
    if (prev === undefined || !equal(prev, t)) upserted.push(t);
    old.delete(key(t));
  }
  return { upserted, removed: [...old.values()] };
}

function diffNetwork(before: IpamNetworkSnapshot | undefined, after: IpamNetworkSnapshot): IpamNetworkDelta | undefined {
  const leases = diffKeyed(before?.leases ?? [], after.leases, (l) => l.address, sameLease);
  const cached = diffKeyed(before?.cached ?? [], after.cached, holderKey, same);
  const delta: IpamNetworkDelta = {
    networkName: after.networkName,
    leasesUpserted: leases.upserted,
    leasesRemoved: leases.removed.map((l) => l.address),
    cachedUpserted: cached.upserted,
    cachedRemoved: cached.removed.map(({ containerId, ifName }) => ({ containerId, ifName })),
  };
  let changed = leases.upserted.length + leases.removed.length + cached.upserted.length + cached.removed.length > 0;
  for (const part of WHOLE_PARTS) {
    if (before && same(before[part], after[part])) continue;
    (delta as Record<WholePart, unknown>)[part] = after[part];
    changed = true;
  }
  return changed || !before ? delta : undefined;
}

/**
 * What changed from snapshot `a` to snapshot `b`: per network the leases and cached results
 * added, changed or gone, the small parts that changed, and the networks gone. A network
 * whose state did not change is left out, so an idle host's delta is empty.
 */
export function diffIpamSnapshots(a: IpamSnapshot, b: IpamSnapshot): IpamDelta {
  const before = new Map(a.networks.map((n) => [n.networkName, n]));
  const after = new Set(b.networks.map((n) => n.networkName));
  const networks = b.networks.map((n) => diffNetwork(before.get(n.networkName), n)).filter((d) => d !== undefined);
  return {
    baseTakenAt: a.takenAt,
    takenAt: b.takenAt,
    networksRemoved: a.networks.map((n) => n.networkName).filter((name) => !after.has(name)),
    networks,
  };
}

export function isEmptyIpamDelta(delta: IpamDelta): boolean {
  return delta.networksRemoved.length === 0 && delta.networks.length === 0;
}

function applyKeyed<T>(items: readonly T[], key: (t: T) => string, removed: readonly string[], upserted: readonly T[]): T[] {
  const map = new Map(items.map((t) => [key(t), t]));
  for (const k of removed) map.delete(k);
  for (const t of upserted) map.set(key(t), t);
  return [...map.values()];
}

function applyNetwork(before: IpamNetworkSnapshot | undefined, d: IpamNetworkDelta): IpamNetworkSnapshot {
  const whole = {} as Pick<IpamNetworkSnapshot, WholePart>;
  for (const part of WHOLE_PARTS) {
    const value = d[part] ?? before?.[part];
    if (value === undefined) throw new Error(`IPAM delta for new network "${d.networkName}" lacks "${part}": a new network carries every part`);
    (whole as Record<WholePart, unknown>)[part] = value;
  }
  return {
    networkName: d.networkName,
    ...whole,
    leases: sortByAddress(applyKeyed(before?.leases ?? [], (l) => l.address, d.leasesRemoved, d.leasesUpserted)),
    cached: applyKeyed<IpamCachedResult>(before?.cached ?? [], holderKey, d.cachedRemoved.map(holderKey), d.cachedUpserted).sort(compareHolders),
  };
}

/** Snapshot `a` with `delta` applied; refuses a delta taken against another snapshot (ask for a full one then). */
export function applyIpamDelta(a: IpamSnapshot, delta: IpamDelta): IpamSnapshot {
  if (delta.baseTakenAt !== a.takenAt) {
    throw new Error(`IPAM delta is against the snapshot of ${delta.baseTakenAt}, not ${a.takenAt}: a full snapshot is needed`);
  }
  const networks = new Map(a.networks.map((n) => [n.networkName, n]));
  for (const name of delta.networksRemoved) networks.delete(name);
  for (const d of delta.networks) networks.set(d.networkName, applyNetwork(networks.get(d.networkName), d));
  return { takenAt: delta.takenAt, networks: [...networks.values()].map(ordered).sort(compareNames) };
}

/** The snapshot's key order, so an applied network reads (and serialises) like a built one. */
function ordered(n: IpamNetworkSnapshot): IpamNetworkSnapshot {
  const { networkName, knownFrom, ipamType, dataDir, ranges, leases, reservedIps, cached, namespaces, findings, digest, entries, truncated } = n;
  return { networkName, knownFrom, ipamType, dataDir, ranges, leases, reservedIps, cached, namespaces, findings, digest, entries, truncated };
}
