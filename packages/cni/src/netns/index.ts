import { lstatSync, statSync, statfsSync } from "node:fs";
import { dirname, isAbsolute, normalize } from "node:path";
import { CONTAINER_ID_MAX_LENGTH, IFNAME_MAX_BYTES, SAFE_NAME_RE, SAFE_NAME_RULE as ID_RULE } from "../names";
import { CNI_ERROR_CODES, CniError } from "../errors";

/** statfs f_type of nsfs, the filesystem of /proc/<pid>/ns/* and of `ip netns` bind mounts. */
export const NSFS_MAGIC = 0x6e736673;
export { CONTAINER_ID_MAX_LENGTH };
/** Longest file name on Linux filesystems; `<net>-<containerId>-<ifname>` must fit. */
export const CACHE_NAME_MAX_BYTES = 255;

function invalid(code: number, msg: string, details: string): CniError {
  return new CniError(code, msg, details, { reason: "invalidArgument" });
}

/** libcni's ValidateContainerID, with its codes (3 when missing, 4 when malformed). */
export function validateContainerId(containerId: unknown): asserts containerId is string {
  if (typeof containerId !== "string" || containerId === "") throw invalid(CNI_ERROR_CODES.unknownContainer, "missing containerID", "");
  if (containerId.length > CONTAINER_ID_MAX_LENGTH || !SAFE_NAME_RE.test(containerId)) {
    throw invalid(CNI_ERROR_CODES.invalidEnvironment, "invalid characters in containerID", `container id ${JSON.stringify(containerId.slice(0, 80))} ${ID_RULE}, at most ${CONTAINER_ID_MAX_LENGTH} characters`);
  }
}

/** libcni's ValidateNetworkName (code 7). */
export function validateNetworkName(name: unknown): asserts name is string {
  if (typeof name !== "string" || name === "") throw invalid(CNI_ERROR_CODES.invalidNetworkConfig, "missing network name", "");
  if (!SAFE_NAME_RE.test(name)) {
    throw invalid(CNI_ERROR_CODES.invalidNetworkConfig, "invalid characters found in network name", `network name ${JSON.stringify(name.slice(0, 80))} ${ID_RULE}`);
  }
}

/** libcni's ValidateInterfaceName (code 4): 1–15 bytes, not "." or "..", no "/", ":" or whitespace. */
export function validateIfName(ifName: unknown): asserts ifName is string {
  if (typeof ifName !== "string" || ifName === "") throw invalid(CNI_ERROR_CODES.invalidEnvironment, "interface name is empty", "");
  const bytes = Buffer.byteLength(ifName, "utf8");
  let problem: string | undefined;
  if (bytes > IFNAME_MAX_BYTES) problem = `is ${bytes} bytes: at most ${IFNAME_MAX_BYTES}`;
  else if (ifName === "." || ifName === "..") problem = 'must not be "." or ".."';
  else if (/[/:\s]/.test(ifName)) problem = 'must not contain "/", ":" or whitespace';
  // Stricter than libcni: the name also ends up in a file name and in argv of tools.
  else if (!SAFE_NAME_RE.test(ifName)) problem = ID_RULE;
  if (problem) throw invalid(CNI_ERROR_CODES.invalidEnvironment, "invalid interface name", `ifname ${JSON.stringify(ifName)} ${problem}`);
}

export interface AttachmentIds {
  networkName: string;
  containerId: string;
  ifName: string;
}

/** Validates the three ids of an attachment, and that its cache file name fits. */
export function validateAttachmentIds(ids: AttachmentIds): void {
  validateNetworkName(ids.networkName);
  validateContainerId(ids.containerId);
  validateIfName(ids.ifName);
  const name = `${ids.networkName}-${ids.containerId}-${ids.ifName}`;
  if (Buffer.byteLength(name) > CACHE_NAME_MAX_BYTES) {
    throw invalid(CNI_ERROR_CODES.invalidEnvironment, "attachment ids too long", `"${name.slice(0, 60)}…" is over ${CACHE_NAME_MAX_BYTES} bytes together`);
  }
}

function nsIdentity(path: string): string | undefined {
  try {
    const info = statSync(path, { throwIfNoEntry: false });
    return info ? `${info.dev}:${info.ino}` : undefined;
  } catch {
    return undefined;
  }
}

// Neither changes while the process runs (Node never calls setns), so each is read once.
let ownNamespaces: { path: string; identity: string | undefined }[] | undefined;
function ownNetworkNamespaces(): { path: string; identity: string | undefined }[] {
  ownNamespaces ??= ["/proc/self/ns/net", "/proc/1/ns/net"].map((path) => ({ path, identity: nsIdentity(path) }));
  return ownNamespaces;
}

function badNetns(path: string, why: string): CniError {
  return new CniError(CNI_ERROR_CODES.invalidEnvironment, "invalid netns", `netns ${JSON.stringify(path)} ${why}`, { reason: "invalidNetns" });
}

export interface CheckNetnsOptions {
  /** DEL: a missing netns is fine (the plugins still release what they hold). */
  allowMissing?: boolean;
  /**
   * When set, the path must be an entry directly in one of these directories (like /run/netns;
   * not a symlink) or a process's /proc/<pid>/ns/net (or /proc/<pid>/task/<tid>/ns/net).
   */
  netnsDirs?: readonly string[];
}

const PROC_NETNS_RE = /^\/proc\/[1-9][0-9]*\/(?:task\/[1-9][0-9]*\/)?ns\/net$/;

/** Why `path` is outside the allowed places, or undefined. */
function outsideNetnsDirs(path: string, dirs: readonly string[]): string | undefined {
  if (PROC_NETNS_RE.test(path)) return undefined;
  const normalized = normalize(path);
  const inDir = dirs.some((dir) => isAbsolute(dir) && normalized === path && dirname(path) === normalize(dir).replace(/\/+$/, ""));
  if (!inDir) return `is not in ${dirs.join(" or ")} and not /proc/<pid>/ns/net`;
  if (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) return "is a symlink: give the namespace's own path";
  return undefined;
}

/**
 * Checks that `path` names a network namespace other than the runtime's own or the host's
 * (kubernetes#100648: a host path once downed the host's `lo`). Returns false when the path
 * is missing and allowMissing is set. The stat calls are synchronous: nsfs and /proc answer in
 * microseconds, less than a thread-pool round trip.
 */
export async function checkNetns(path: unknown, options: CheckNetnsOptions = {}): Promise<boolean> {
  if (typeof path !== "string" || path === "") {
    if (options.allowMissing) return false;
    throw badNetns(String(path ?? ""), "is empty: give the path of a network namespace, like /run/netns/NAME");
  }
  if (!isAbsolute(path) || path.includes("\0")) throw badNetns(path, "must be an absolute path");
  const nsType = /^\/proc\/[^/]+\/(?:task\/[^/]+\/)?ns\/([^/]+)$/.exec(path)?.[1];
  if (nsType !== undefined && nsType !== "net") throw badNetns(path, `is a ${nsType} namespace, not a network namespace`);
  if (options.netnsDirs) {
    const why = outsideNetnsDirs(path, options.netnsDirs);
    if (why) throw badNetns(path, why);
  }
  let fsType: number;
  try {
    fsType = statfsSync(path).type;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && options.allowMissing) return false;
    throw badNetns(path, code === "ENOENT" ? "does not exist" : `cannot be read: ${(error as Error).message}`);
  }
  if (fsType !== NSFS_MAGIC) throw badNetns(path, "is not a network namespace (not on nsfs)");
  const identity = nsIdentity(path);
  for (const own of ownNetworkNamespaces()) {
    if (identity !== undefined && identity === own.identity) {
      throw badNetns(path, `is the host's or the runtime's own network namespace (${own.path}): refusing to configure it`);
    }
  }
  return true;
}
