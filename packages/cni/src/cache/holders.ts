import { readFileSync, readdirSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type AttachmentKey, cacheFilePath, parseCachedAttachment, resultsDir } from "./index";

/** A cached attachment that holds an interface name in a namespace. */
export interface InterfaceHolder extends AttachmentKey {
  netns: string;
  file: string;
}

export interface HolderIndex {
  /**
   * The cached attachment other than `except` (or an ADD of this process in flight) that holds
   * `ifName` in `netns`; stale entries, whose namespace was made again after them, hold nothing.
   */
  find(netns: string, ifName: string, except: AttachmentKey): InterfaceHolder | undefined;
  /** Record a cache file this process wrote, or removed: spares reading it back. */
  noteWritten(holder: InterfaceHolder): void;
  noteDeleted(key: AttachmentKey): void;
  /** Claims (netns, ifName) for an ADD in flight in this process; returns the release. */
  reserve(holder: InterfaceHolder): () => void;
}

const keyString = (k: AttachmentKey) => `${k.networkName}\0${k.containerId}\0${k.ifName}`;

// realpath of each netns directory seen, once: /var/run/netns and /run/netns are one directory on most hosts.
const realDirs = new Map<string, string>();
function normalizeNetns(netns: string): string {
  if (!netns) return "";
  // /proc/<pid>/ns/net: one entry per pid would grow the map without bound.
  if (netns.startsWith("/proc/")) return netns;
  const dir = dirname(netns);
  let real = realDirs.get(dir);
  if (real === undefined) {
    try {
      real = realpathSync(dir);
    } catch {
      real = dir;
    }
    realDirs.set(dir, real);
  }
  return join(real, basename(netns));
}

/**
 * A namespace bind-mounted at a path (`ip netns add`, containerd, CRI-O, podman) has an nsfs inode
 * whose ctime is when it was made. A cache entry written before that belongs to an earlier
 * namespace of the same name (a reboot, a reused name): its path no longer means its namespace.
 * /proc/<pid>/ns/net paths are left out: their nsfs inode may be made again at any open.
 */
export function isNamespaceNewer(file: string, netns: string): boolean {
  if (!netns || netns.startsWith("/proc/")) return false;
  const ns = statSync(netns, { throwIfNoEntry: false });
  const written = ns && statSync(file, { throwIfNoEntry: false });
  return !!written && written.mtimeMs < ns.ctimeMs;
}

function isCurrentHolder(holder: InterfaceHolder): boolean {
  return !!holder.netns && statSync(holder.netns, { throwIfNoEntry: false }) !== undefined && !isNamespaceNewer(holder.file, holder.netns);
}

/**
 * Which cached attachment holds which (netns, ifname), for one cache directory, across processes
 * and runtimes that share it (libcni's format). Kept in memory and brought up to date from the
 * directory: a stat of `results/` per lookup, and when it changed a readdir (names only, ~1 µs per
 * file) plus a read of each file not seen before. Known names are not read again: a file is only
 * ever replaced by DEL and ADD of the same attachment, which keeps its container id, network and
 * ifname; a namespace path that changed meanwhile in another process is caught at the failed ADD's
 * rollback instead (the namespace is looked at, see runtime.ts).
 */
export function createHolderIndex(cacheDir: string): HolderIndex {
  const dir = resultsDir(cacheDir);
  /** file name → holder; null for a file that is not a usable entry (truncated, legacy, corrupt). */
  const byName = new Map<string, InterfaceHolder | null>();
  /** `<netns>\0<ifname>` → file names, so a lookup does not walk every entry. */
  const byPlace = new Map<string, Set<string>>();
  const placeOf = (h: { netns: string; ifName: string }) => `${normalizeNetns(h.netns)}\0${h.ifName}`;

  function setName(name: string, holder: InterfaceHolder | null): void {
    dropName(name);
    byName.set(name, holder);
    if (!holder) return;
    const place = placeOf(holder);
    let names = byPlace.get(place);
    if (!names) byPlace.set(place, (names = new Set()));
    names.add(name);
  }

  function dropName(name: string): void {
    const old = byName.get(name);
    if (old === undefined) return;
    byName.delete(name);
    if (!old) return;
    const place = placeOf(old);
    const names = byPlace.get(place);
    names?.delete(name);
    if (names?.size === 0) byPlace.delete(place);
  }
  const reserved = new Map<string, InterfaceHolder>();
  let seenMtimeNs: bigint | undefined;
  let racy = true;

  function sync(): void {
    const info = statSync(dir, { bigint: true, throwIfNoEntry: false });
    if (!info) {
      byName.clear();
      byPlace.clear();
      seenMtimeNs = undefined;
      return;
    }
    if (info.mtimeNs === seenMtimeNs && !racy) return;
    const scannedAtMs = Date.now();
    const names = new Set(readdirSync(dir));
    for (const name of [...byName.keys()]) if (!names.has(name)) dropName(name);
    for (const name of names) {
      if (name.startsWith(".")) continue;
      const known = byName.get(name);
      if (known !== undefined && known !== null) continue;
      setName(name, readHolder(join(dir, name)));
    }
    seenMtimeNs = info.mtimeNs;
    // The kernel stamps directories with a coarse clock: a change within the same tick as the one we
    // saw would keep the mtime. Until the mtime is safely in the past, look at the names again.
    racy = scannedAtMs - Number(info.mtimeNs / 1_000_000n) < 50;
  }

  function readHolder(file: string): InterfaceHolder | null {
    try {
      const entry = parseCachedAttachment(readFileSync(file, "utf8"), file);
      if (entry.legacy || !entry.netns) return null;
      return { networkName: entry.networkName, containerId: entry.containerId, ifName: entry.ifName, netns: entry.netns, file };
    } catch {
      // Gone since the readdir, a directory, unreadable or corrupt: it holds nothing we can name.
      return null;
    }
  }

  return {
    find(netns, ifName, except) {
      const target = normalizeNetns(netns);
      if (!target) return undefined;
      const exceptKey = keyString(except);
      for (const held of reserved.values()) {
        if (held.ifName === ifName && keyString(held) !== exceptKey && normalizeNetns(held.netns) === target) return held;
      }
      sync();
      for (const name of byPlace.get(`${target}\0${ifName}`) ?? []) {
        const held = byName.get(name);
        if (held && keyString(held) !== exceptKey && isCurrentHolder(held)) return held;
      }
      return undefined;
    },
    noteWritten(holder) {
      setName(basename(holder.file), { ...holder });
    },
    noteDeleted(key) {
      dropName(basename(cacheFilePath(cacheDir, key)));
    },
    reserve(holder) {
      const k = keyString(holder);
      reserved.set(k, holder);
      return () => {
        if (reserved.get(k) === holder) reserved.delete(k);
      };
    },
  };
}
