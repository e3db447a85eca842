import { stat, statfs } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { IFNAME_MAX_BYTES, SAFE_NAME_RE } from "../config/check";
import { CNI_ERROR_CODES, CniError } from "../errors";

/** statfs f_type of nsfs, the filesystem of /proc/<pid>/ns/* and of `ip netns` bind mounts. */
export const NSFS_MAGIC = 0x6e736673;
export const CONTAINER_ID_MAX_LENGTH = 255;
/** Longest file name on Linux filesystems; `<net>-<containerId>-<ifname>` must fit. */
export const CACHE_NAME_MAX_BYTES = 255;

const ID_RULE = 'must start with a letter or digit and contain only letters, digits, "_", "." or "-"';

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

async function nsIdentity(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    return `${info.dev}:${info.ino}`;
  } catch {
    return undefined;
  }
}

function badNetns(path: string, why: string): CniError {
  return new CniError(CNI_ERROR_CODES.invalidEnvironment, "invalid netns", `netns ${JSON.stringify(path)} ${why}`, { reason: "invalidNetns" });
}

export interface CheckNetnsOptions {
  /** DEL: a missing netns is fine (the plugins still release what they hold). */
  allowMissing?: boolean;
}

/**
 * Checks that `path` names a network namespace other than the runtime's own or the host's
 * (kubernetes#100648: a host path once downed the host's `lo`). Returns false when the path
 * is missing and allowMissing is set.
 */
export async function checkNetns(path: unknown, options: CheckNetnsOptions = {}): Promise<boolean> {
  if (typeof path !== "string" || path === "") {
    if (options.allowMissing) return false;
    throw badNetns(String(path ?? ""), "is empty: give the path of a network namespace, like /run/netns/NAME");
  }
  if (!isAbsolute(path) || path.includes("\0")) throw badNetns(path, "must be an absolute path");
  const nsType = /^\/proc\/[^/]+\/(?:task\/[^/]+\/)?ns\/([^/]+)$/.exec(path)?.[1];
  if (nsType !== undefined && nsType !== "net") throw badNetns(path, `is a ${nsType} namespace, not a network namespace`);
  let fsType: number;
  try {
    fsType = (await statfs(path)).type;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && options.allowMissing) return false;
    throw badNetns(path, code === "ENOENT" ? "does not exist" : `cannot be read: ${(error as Error).message}`);
  }
  if (fsType !== NSFS_MAGIC) throw badNetns(path, "is not a network namespace (not on nsfs)");
  const identity = await nsIdentity(path);
  for (const own of ["/proc/self/ns/net", "/proc/1/ns/net"]) {
    if (identity !== undefined && identity === (await nsIdentity(own))) {
      throw badNetns(path, `is the host's or the runtime's own network namespace (${own}): refusing to configure it`);
    }
  }
  return true;
}
