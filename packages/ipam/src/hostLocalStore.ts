import { createHash } from "node:crypto";
import { type Stats, closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readSync } from "node:fs";
import { type FileHandle, open, opendir, realpath } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { type IpFamily, parseIp } from "./address";
import { LEASE_FINDING_KINDS, type LeaseFindingKind } from "./findings";
import { type NormalisedRange, createRangeMatcher } from "./ranges";

/**
 * A reader of host-local's disk store (plugins/ipam/host-local/backend/disk): one file per held
 * address under `<dataDir>/<network>/`, named by the address (Go's net.IP.String(): dotted quad,
 * RFC 5952 IPv6), holding `<containerID>\r\n<ifname>` (only the id before plugins 0.8), plus
 * `last_reserved_ip.<rangeSet>` and `lock`. The directory belongs to whoever runs the plugin, so
 * nothing in it is trusted: no link is followed, every read is bounded, and whatever is odd
 * becomes a finding instead of an exception.
 */

export { LEASE_FINDING_KINDS, type LeaseFindingKind };

export interface LeaseFinding {
  readonly kind: LeaseFindingKind;
  /** The entry's name in the network's directory (escaped when not printable), or the directory. */
  readonly file: string;
  readonly reason: string;
}

/**
 * An address host-local holds. A file named as an address holds it whatever it contains (host-local
 * creates lease files with O_EXCL), so a lease whose file could not be read still appears, with an
 * empty containerId, beside the finding that says why.
 */
export interface HostLocalLease {
  readonly address: string;
  readonly family: IpFamily;
  /** Empty when the holder could not be read. */
  readonly containerId: string;
  /** Empty for files written before plugins 0.8 (the id only) and when unreadable. */
  readonly ifName: string;
  readonly mtimeMs: number;
}

export interface ReservedIp {
  readonly rangeSet: number;
  readonly address: string;
}

export interface LeaseStoreRead {
  /** `<dataDir>/<network>`, as asked. */
  readonly dir: string;
  /** False when the directory does not exist (nothing allocated on this host yet): not a finding. */
  readonly exists: boolean;
  readonly leases: HostLocalLease[];
  readonly reservedIps: ReservedIp[];
  readonly findings: LeaseFinding[];
  readonly digest: string;
  /** Entries in the directory, counted to the end even past `maxEntries`. */
  readonly entries: number;
  readonly truncated: boolean;
}

export interface LeaseStoreOptions {
  dataDir: string;
  network: string;
  /** When given, a lease outside all of them is reported (`outside-ranges`). */
  ranges?: readonly NormalisedRange[];
  /** Entries read (lstat'ed, and opened when they are files); the rest are only counted. Default 70,000 (a /16 and spare). */
  maxEntries?: number;
  /** Default 4 KiB: a lease file is an id and an interface name. */
  maxFileBytes?: number;
  /** Default 1,000; past it one `truncated` finding counts the rest. */
  maxFindings?: number;
}

export const DEFAULT_MAX_ENTRIES = 70_000;
export const DEFAULT_MAX_FILE_BYTES = 4096;
export const DEFAULT_MAX_FINDINGS = 1000;
const MAX_CONTAINER_ID = 256;
const MAX_IFNAME = 64;
const BATCH = 128;
const LAST_RESERVED_RE = /^last_reserved_ip\.(0|[1-9][0-9]{0,5})$/;
const SAFE_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const EMPTY_DIGEST = createHash("sha256").update("absent").digest("hex");
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** A name as it may be shown: printable ASCII kept, the rest escaped, at most 255 characters. */
export function printableName(name: string): string {
  const escaped = name.replace(/[^\x20-\x7e]|\\/g, (c) => (c === "\\" ? "\\\\" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
  return escaped.length > 255 ? `${escaped.slice(0, 252)}...` : escaped;
}

interface Collector {
  findings: LeaseFinding[];
  dropped: number;
  max: number;
}

function report(c: Collector, kind: LeaseFindingKind, file: string, reason: string): void {
  if (c.findings.length < c.max) c.findings.push({ kind, file: printableName(file), reason: reason.slice(0, 1000) });
  else c.dropped++;
}

/** Whether the bytes are text host-local could have written (printable ASCII, CR, LF). */
function isText(bytes: Buffer): boolean {
  for (const b of bytes) if ((b < 0x20 && b !== 0x0a && b !== 0x0d) || b > 0x7e) return false;
  return true;
}

type Holder = { containerId: string; ifName: string } | { kind: LeaseFindingKind; reason: string };

/** `<id>\r\n<ifname>` (or `\n`), or `<id>` alone (plugins before 0.8); as host-local matches, surrounding space is trimmed. */
export function parseLeaseContent(bytes: Buffer): Holder {
  if (bytes.length === 0) return { kind: "empty", reason: "the file is empty: its holder is unknown" };
  if (!isText(bytes)) return { kind: "binary-content", reason: "the file holds bytes that are not text: expected <containerID>\\r\\n<ifname>" };
  const lines = bytes.toString("latin1").trim().split(/\r?\n/);
  if (lines.length > 2) return { kind: "malformed", reason: `the file has ${lines.length} lines: expected <containerID>\\r\\n<ifname> or the container id alone` };
  const containerId = lines[0]!.trim();
  const ifName = (lines[1] ?? "").trim();
  if (containerId.length > MAX_CONTAINER_ID || !SAFE_NAME_RE.test(containerId)) {
    return { kind: "invalid-container-id", reason: `container id "${printableName(containerId.slice(0, 80))}" is not a CNI container id (letters, digits, "_", ".", "-", at most ${MAX_CONTAINER_ID})` };
  }
  if (ifName.length > MAX_IFNAME || (ifName !== "" && !/^[^\s/:]+$/.test(ifName))) {
    return { kind: "malformed", reason: `interface name "${printableName(ifName.slice(0, 80))}" is not an interface name` };
  }
  return { containerId, ifName };
}

/**
 * Reads at most `max` + 1 bytes of a file opened without following a link; a directory or device
 * is refused. Synchronous on purpose: five small syscalls cost far less than five trips through
 * libuv's thread pool, and the walk yields to the event loop between batches.
 */
function readBounded(path: string, max: number, buffer: Buffer): { bytes: Buffer } | { kind: LeaseFindingKind; reason: string } {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP") return { kind: "symlink", reason: "a symbolic link: not followed" };
    return { kind: "unreadable", reason: `cannot open: ${code ?? (error as Error).message}` };
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return { kind: "directory", reason: "a directory, not a lease file" };
    if (!st.isFile()) return { kind: "not-regular-file", reason: "not a regular file (device, fifo or socket)" };
    if (st.size > max) return { kind: "too-large", reason: `${st.size} bytes: a lease file is at most ${max}` };
    const bytesRead = readSync(fd, buffer, 0, max + 1, 0);
    if (bytesRead > max) return { kind: "too-large", reason: `more than ${max} bytes: a lease file is at most ${max}` };
    return { bytes: Buffer.from(buffer.subarray(0, bytesRead)) };
  } catch (error) {
    return { kind: "unreadable", reason: `cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` };
  } finally {
    try {
      closeSync(fd);
    } catch {
      // nothing to do: the descriptor is gone either way
    }
  }
}

interface OpenedDir {
  /** Where entries are reached: /proc/self/fd/<fd> of the directory opened with O_NOFOLLOW, so a swap of the path afterwards changes nothing. */
  base: string;
  close(): Promise<void>;
}

/**
 * Opens `<dataDir>/<network>` refusing links anywhere in the path: realpath must be the path
 * itself, and the last two components are opened with O_NOFOLLOW. Undefined (with a finding)
 * when it cannot be read; `null` when it does not exist.
 */
async function openStoreDir(options: LeaseStoreOptions, c: Collector): Promise<OpenedDir | undefined | null> {
  const { dataDir, network } = options;
  if (!SAFE_NAME_RE.test(network) || network.length > 128) {
    report(c, "invalid-network-name", network, `network name "${printableName(network.slice(0, 80))}" is not a CNI network name: nothing read`);
    return undefined;
  }
  if (!isAbsolute(dataDir) || resolve(dataDir) !== dataDir.replace(/\/+$/, "") || dataDir.includes("\0")) {
    report(c, "data-dir-invalid", dataDir, `data dir "${printableName(dataDir)}" must be an absolute path without "..", "." or "//": nothing read`);
    return undefined;
  }
  const dir = join(dataDir, network);
  let real: string;
  try {
    real = await realpath(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    report(c, "unreadable", dir, `cannot resolve "${dir}": ${code}`);
    return undefined;
  }
  if (real !== dir) {
    report(c, "data-dir-symlink", dir, `"${dir}" goes through a symbolic link (it resolves to "${printableName(real)}"): not followed`);
    return undefined;
  }
  const useFd = existsSync("/proc/self/fd");
  let parent: FileHandle | undefined;
  let handle: FileHandle | undefined;
  try {
    parent = await open(dataDir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    const inParent = useFd ? `/proc/self/fd/${parent.fd}/${network}` : dir;
    handle = await open(inParent, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code === "ELOOP") report(c, "data-dir-symlink", dir, `"${dir}" became a symbolic link while it was opened: not followed`);
    else if (code === "ENOTDIR") report(c, "not-a-directory", dir, `"${dir}" is not a directory`);
    else report(c, "unreadable", dir, `cannot open "${dir}": ${code}`);
    return undefined;
  } finally {
    await parent?.close().catch(() => undefined);
  }
  const opened = handle;
  return { base: useFd ? `/proc/self/fd/${opened.fd}` : dir, close: () => opened.close().catch(() => undefined) };
}

interface Entry {
  name: string;
  stats: Stats | undefined;
}

/**
 * Walks the directory in batches: memory stays bounded by `maxEntries` (entries past it are
 * counted, never kept), and the event loop gets a turn after each batch.
 */
async function walk(base: string, maxEntries: number, onBatch: (entries: Entry[]) => Promise<void>): Promise<number> {
  const dir = await opendir(base, { bufferSize: BATCH });
  let count = 0;
  let batch: string[] = [];
  const flush = async () => {
    const names = batch;
    batch = [];
    const entries = names.map((name) => ({ name, stats: lstatSync(join(base, name), { throwIfNoEntry: false }) }));
    await onBatch(entries);
    // One batch of synchronous calls at a time: let the agent's other work run in between.
    await new Promise<void>((resolve) => setImmediate(resolve));
  };
  for await (const dirent of dir) {
    count++;
    if (count > maxEntries) continue;
    batch.push(dirent.name);
    if (batch.length >= BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  return count;
}

function createDigest() {
  const lines: string[] = [];
  return {
    add(e: Entry) {
      lines.push(`${e.name}\0${e.stats ? `${e.stats.mtimeMs}\0${e.stats.size}\0${e.stats.mode}` : "gone"}`);
    },
    /** Sorted, so the directory's listing order does not matter. */
    finish(count: number) {
      const hash = createHash("sha256");
      for (const line of lines.sort()) hash.update(line).update("\n");
      return hash.update(`count ${count}`).digest("hex");
    },
  };
}

function emptyRead(dir: string, c: Collector, exists: boolean): LeaseStoreRead {
  return { dir, exists, leases: [], reservedIps: [], findings: c.findings, digest: EMPTY_DIGEST, entries: 0, truncated: false };
}

/** The digest of `<dataDir>/<network>` (names, mtimes, sizes, modes): what a timer compares before reading everything. */
export async function digestHostLocalStore(options: LeaseStoreOptions): Promise<{ digest: string; entries: number; exists: boolean }> {
  const c: Collector = { findings: [], dropped: 0, max: 1 };
  const opened = await openStoreDir(options, c);
  if (!opened) return { digest: EMPTY_DIGEST, entries: 0, exists: opened !== null };
  try {
    const digest = createDigest();
    const entries = await walk(opened.base, options.maxEntries ?? DEFAULT_MAX_ENTRIES, async (batch) => batch.forEach(digest.add));
    return { digest: digest.finish(entries), entries, exists: true };
  } catch {
    return { digest: EMPTY_DIGEST, entries: 0, exists: true };
  } finally {
    await opened.close();
  }
}

/** Reads host-local's store of one network: leases, last reserved addresses, findings and a digest. Never throws. */
export async function readHostLocalStore(options: LeaseStoreOptions): Promise<LeaseStoreRead> {
  const c: Collector = { findings: [], dropped: 0, max: options.maxFindings ?? DEFAULT_MAX_FINDINGS };
  const dir = join(options.dataDir, options.network);
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const opened = await openStoreDir(options, c);
  if (!opened) return emptyRead(dir, c, opened === undefined);
  const matchRange = options.ranges ? createRangeMatcher(options.ranges) : undefined;
  const leases: (HostLocalLease & { value: bigint })[] = [];
  const reservedIps: ReservedIp[] = [];
  const digest = createDigest();
  let entries = 0;
  const buffer = Buffer.alloc(maxFileBytes + 1);
  const readEntry = ({ name, stats }: Entry): void => {
    digest.add({ name, stats });
    if (name === "lock") return;
    if (!stats) return; // gone since it was listed (a DEL ran meanwhile)
    const last = LAST_RESERVED_RE.exec(name);
    const ip = last ? undefined : parseIp(name);
    if (!last && !ip?.ok) {
      report(c, "not-an-address", name, `"${printableName(name)}" is neither an address nor one of host-local's own files (lock, last_reserved_ip.N)`);
      return;
    }
    if (ip?.ok && ip.value.text !== name) {
      report(c, "non-canonical-name", name, `"${printableName(name)}" is not the canonical form "${ip.value.text}" host-local writes: host-local does not see it as holding the address`);
      return;
    }
    const content = stats.isSymbolicLink()
      ? ({ kind: "symlink", reason: "a symbolic link: not followed" } as const)
      : readBounded(join(opened.base, name), maxFileBytes, buffer);
    if (last) {
      const text = "bytes" in content ? content.bytes.toString("latin1").trim() : "";
      const parsed = "bytes" in content && isText(content.bytes) ? parseIp(text) : undefined;
      if (parsed?.ok) reservedIps.push({ rangeSet: Number(last[1]), address: parsed.value.text });
      else report(c, "kind" in content ? content.kind : "malformed", name, "kind" in content ? content.reason : `"${printableName(text.slice(0, 60))}" is not an address`);
      return;
    }
    const address = ip!.ok ? ip!.value : undefined;
    if (!address) return;
    const holder = "bytes" in content ? parseLeaseContent(content.bytes) : content;
    if ("kind" in holder) report(c, holder.kind, name, `${holder.reason}; the address stays held (host-local will not hand it out)`);
    if (matchRange && !matchRange(address)) report(c, "outside-ranges", name, `${address.text} is outside every range of the network`);
    leases.push({
      address: address.text,
      family: address.family,
      containerId: "kind" in holder ? "" : holder.containerId,
      ifName: "kind" in holder ? "" : holder.ifName,
      mtimeMs: Math.trunc(stats.mtimeMs),
      value: address.value,
    });
  };
  try {
    entries = await walk(opened.base, maxEntries, async (batch) => batch.forEach(readEntry));
  } catch (error) {
    report(c, "unreadable", dir, `cannot list "${dir}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  } finally {
    await opened.close();
  }
  const truncated = entries > maxEntries;
  // Pushed past the findings' cap: these two say what the list leaves out.
  if (truncated) c.findings.push({ kind: "truncated", file: printableName(dir), reason: `${entries} entries: only the first ${maxEntries} were read` });
  if (c.dropped > 0) c.findings.push({ kind: "truncated", file: printableName(dir), reason: `${c.dropped} more findings not listed (at most ${c.max})` });
  leases.sort((a, b) => a.family - b.family || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  reservedIps.sort((a, b) => a.rangeSet - b.rangeSet);
  return { dir, exists: true, leases: leases.map(({ value: _, ...lease }) => lease), reservedIps, findings: c.findings, digest: digest.finish(entries), entries, truncated };
}

/** One lease file as a release sees it: gone, naming a holder (with its bytes), or not to be trusted. */
export type LeaseFileState =
  | { state: "absent"; dir: string; file: string }
  | { state: "held"; dir: string; file: string; containerId: string; ifName: string; content: string }
  | { state: "bad"; dir: string; file: string; kind: LeaseFindingKind; reason: string };

/**
 * Reads the lease file of one address with the store's rules (no link followed, for the file or
 * the directory; bounded size; the holder parsed as host-local writes it). `address` must be the
 * canonical text host-local names its files by.
 */
export async function readLeaseFile(options: Pick<LeaseStoreOptions, "dataDir" | "network" | "maxFileBytes"> & { address: string }): Promise<LeaseFileState> {
  const dir = join(options.dataDir, options.network);
  const file = join(dir, options.address);
  const c: Collector = { findings: [], dropped: 0, max: 1 };
  const parsed = parseIp(options.address);
  if (!parsed.ok || parsed.value.text !== options.address) return { state: "bad", dir, file, kind: "not-an-address", reason: `"${printableName(options.address.slice(0, 80))}" is not an address in canonical form` };
  const opened = await openStoreDir({ ...options, network: options.network }, c);
  if (opened === null) return { state: "absent", dir, file };
  if (opened === undefined) return { state: "bad", dir, file, kind: c.findings[0]?.kind ?? "unreadable", reason: c.findings[0]?.reason ?? `cannot open "${dir}"` };
  try {
    const max = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    const read = readBounded(join(opened.base, options.address), max, Buffer.alloc(max + 1));
    if ("kind" in read) {
      if (read.kind === "unreadable" && /ENOENT/.test(read.reason)) return { state: "absent", dir, file };
      return { state: "bad", dir, file, kind: read.kind, reason: read.reason };
    }
    const holder = parseLeaseContent(read.bytes);
    if ("kind" in holder) return { state: "bad", dir, file, kind: holder.kind, reason: holder.reason };
    return { state: "held", dir, file, ...holder, content: read.bytes.toString("latin1") };
  } finally {
    await opened.close();
  }
}
