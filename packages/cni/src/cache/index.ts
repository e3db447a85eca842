import { existsSync, readFileSync, unlinkSync } from "node:fs";
import { readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { type ParseError, parse as parseJsonc, printParseErrorCode } from "jsonc-parser";
import { CNI_ERROR_CODES, CniError } from "../errors";
import { FileError, describeFsError, writeFileAtomic } from "../files";

/** Go libcni's cache kind (libcni/api.go, CNICacheV1). */
export const CNI_CACHE_KIND = "cniCacheV1";
export const DEFAULT_CACHE_DIR = "/var/lib/cni";

/** One attachment's cache entry, field for field libcni's cachedInfo. */
export interface CachedAttachment {
  kind: typeof CNI_CACHE_KIND;
  containerId: string;
  /** The conflist bytes as given to ADD (base64 in the file). */
  config: Uint8Array;
  ifName: string;
  networkName: string;
  netns?: string;
  cniArgs?: [string, string][];
  capabilityArgs?: Record<string, unknown>;
  /** The result of ADD, in the network's cniVersion. */
  result?: Record<string, unknown>;
  /** A pre-cniCacheV1 file (libcni < 0.8) held only the result. */
  legacy?: boolean;
  /**
   * Written by a failed ADD whose rollback DEL failed too (`"addIncomplete": true` in the file,
   * a key libcni ignores): the attachment never existed, so a later ADD is not refused as
   * "already exists" — it first DELs what is left, then goes ahead. An entry without a result
   * (libcni always writes one) counts as incomplete as well: that is what such an entry looked like before.
   */
  addIncomplete?: boolean;
}

/** Whether the entry is what a failed ADD left, not an attachment that was made. */
export function isIncompleteAdd(entry: CachedAttachment): boolean {
  return entry.addIncomplete === true || (!entry.legacy && entry.result === undefined);
}

export interface AttachmentKey {
  networkName: string;
  containerId: string;
  ifName: string;
}

export function resultsDir(cacheDir: string): string {
  return join(cacheDir, "results");
}

/** `<cacheDir>/results/<net>-<containerID>-<ifname>`, as libcni's getCacheFilePath. Ids must be validated first. */
export function cacheFilePath(cacheDir: string, key: AttachmentKey): string {
  return join(resultsDir(cacheDir), `${key.networkName}-${key.containerId}-${key.ifName}`);
}

/** The file's JSON in libcni's field order (encoding/json follows the struct: kind … result). */
export function serializeCachedAttachment(entry: CachedAttachment): string {
  const out: Record<string, unknown> = {
    kind: CNI_CACHE_KIND,
    containerId: entry.containerId,
    config: Buffer.from(entry.config).toString("base64"),
    ifName: entry.ifName,
    networkName: entry.networkName,
  };
  if (entry.netns) out.netns = entry.netns;
  if (entry.cniArgs?.length) out.cniArgs = entry.cniArgs;
  if (entry.capabilityArgs && Object.keys(entry.capabilityArgs).length > 0) out.capabilityArgs = entry.capabilityArgs;
  if (entry.result) out.result = entry.result;
  if (entry.addIncomplete) out.addIncomplete = true;
  return JSON.stringify(out);
}

function corrupt(file: string, why: string): CniError {
  return new CniError(CNI_ERROR_CODES.decodeFailure, "corrupt result cache file", `${file}: ${why}`, { reason: "cacheCorrupt", file });
}

function ioError(what: string, file: string, error: unknown): CniError {
  return new CniError(CNI_ERROR_CODES.ioFailure, `cannot ${what} result cache file`, `${file}: ${describeFsError(error)}`, { file, cause: error });
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Whether `text` is what a crash mid-write leaves (the cache is not fsynced, as libcni's, and
 * libcni writes in place): nothing, NULs, or the start of a JSON object cut short — every parse
 * error is at the end of the text. Asked only of text that failed to parse.
 */
export function isTruncatedCacheText(text: string): boolean {
  const trimmed = text.replace(/[\s\0]+$/, "").trimStart();
  if (trimmed === "") return true;
  if (!trimmed.startsWith("{")) return false;
  const errors: ParseError[] = [];
  parseJsonc(trimmed, errors, { disallowComments: true, allowTrailingComma: false });
  return errors.length > 0 && errors.every((e) => e.offset >= trimmed.length || printParseErrorCode(e.error) === "UnexpectedEndOfString");
}

/** Parses a cache file's text; throws a CniError naming `file` when it is truncated or corrupt. */
export function parseCachedAttachment(text: string, file: string): CachedAttachment {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw corrupt(file, `not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw corrupt(file, "not a JSON object");
  const obj = value as Record<string, unknown>;
  if (obj.kind === undefined && typeof obj.cniVersion === "string") {
    return { kind: CNI_CACHE_KIND, containerId: "", config: new Uint8Array(), ifName: "", networkName: "", result: obj, legacy: true };
  }
  if (obj.kind !== CNI_CACHE_KIND) throw corrupt(file, `kind is ${JSON.stringify(obj.kind)}, expected "${CNI_CACHE_KIND}"`);
  for (const key of ["containerId", "ifName", "networkName"] as const) {
    if (typeof obj[key] !== "string" || obj[key] === "") throw corrupt(file, `${key} is missing or not a string`);
  }
  // Go's []byte decodes JSON null (and a missing key) as nil: no cached config, the caller's is used.
  const config = obj.config ?? "";
  if (typeof config !== "string" || !BASE64_RE.test(config)) throw corrupt(file, "config is not base64 text");
  const entry: CachedAttachment = {
    kind: CNI_CACHE_KIND,
    containerId: obj.containerId as string,
    config: new Uint8Array(Buffer.from(config, "base64")),
    ifName: obj.ifName as string,
    networkName: obj.networkName as string,
  };
  if (obj.netns !== undefined) {
    if (typeof obj.netns !== "string") throw corrupt(file, "netns is not a string");
    entry.netns = obj.netns;
  }
  if (obj.cniArgs !== undefined && obj.cniArgs !== null) {
    const args = obj.cniArgs;
    if (!Array.isArray(args) || args.some((p) => !Array.isArray(p) || p.length !== 2 || typeof p[0] !== "string" || typeof p[1] !== "string")) {
      throw corrupt(file, "cniArgs is not a list of [key, value] string pairs");
    }
    entry.cniArgs = args as [string, string][];
  }
  if (obj.capabilityArgs !== undefined && obj.capabilityArgs !== null) {
    if (typeof obj.capabilityArgs !== "object" || Array.isArray(obj.capabilityArgs)) throw corrupt(file, "capabilityArgs is not an object");
    entry.capabilityArgs = obj.capabilityArgs as Record<string, unknown>;
  }
  if (obj.result !== undefined && obj.result !== null) {
    if (typeof obj.result !== "object" || Array.isArray(obj.result)) throw corrupt(file, "result is not an object");
    entry.result = obj.result as Record<string, unknown>;
  }
  if (obj.addIncomplete === true) entry.addIncomplete = true;
  return entry;
}

/**
 * Reads one attachment's cache entry; null when there is none, or when a crash left the file empty
 * or cut short (DEL then goes on with the caller's config, and removes the file).
 */
export async function readCachedAttachment(cacheDir: string, key: AttachmentKey): Promise<CachedAttachment | null> {
  const file = cacheFilePath(cacheDir, key);
  let text: string;
  try {
    // Before an ADD there is none: existsSync answers without the cost of an ENOENT exception.
    if (!existsSync(file)) return null;
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw ioError("read", file, error);
  }
  let entry: CachedAttachment;
  try {
    entry = parseCachedAttachment(text, file);
  } catch (error) {
    if (isTruncatedCacheText(text)) return null;
    throw error;
  }
  if (entry.legacy) return { ...entry, networkName: key.networkName, containerId: key.containerId, ifName: key.ifName };
  return entry;
}

export async function writeCachedAttachment(cacheDir: string, entry: CachedAttachment): Promise<string> {
  const file = cacheFilePath(cacheDir, entry);
  try {
    // Not fsynced (as Go libcni): durability belongs to the caller's own records (the agent's
    // intents). A host crash may leave the file empty or cut short; it then reads as absent.
    await writeFileAtomic(file, serializeCachedAttachment(entry), { fsync: false });
  } catch (error) {
    throw ioError("write", file, error instanceof FileError ? error.cause : error);
  }
  return file;
}

/** Removes an attachment's cache entry; none is fine. */
export async function deleteCachedAttachment(cacheDir: string, key: AttachmentKey): Promise<void> {
  const file = cacheFilePath(cacheDir, key);
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw ioError("remove", file, error);
  }
}
/** Removes the temp files of interrupted writes (`.*.tmp`); only while no write is in flight (GC). */
export async function removeCacheLeftovers(cacheDir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(resultsDir(cacheDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw new CniError(CNI_ERROR_CODES.ioFailure, "cannot list result cache directory", `${resultsDir(cacheDir)}: ${describeFsError(error)}`, { file: resultsDir(cacheDir), cause: error });
  }
  let removed = 0;
  for (const name of names) {
    if (!name.startsWith(".") || !name.endsWith(".tmp")) continue;
    const file = join(resultsDir(cacheDir), name);
    await rm(file, { force: true }).catch((error: unknown) => {
      throw ioError("remove", file, error);
    });
    removed++;
  }
  return removed;
}

export interface CachedAttachmentInfo {
  networkName: string;
  containerId: string;
  ifName: string;
  netns: string;
  file: string;
  entry: CachedAttachment;
}

/**
 * Every readable cniCacheV1 entry (of one network when given), as libcni's GetCachedAttachments;
 * unreadable files are returned in `errors` instead of hiding the rest.
 */
export async function scanCachedAttachments(cacheDir: string, networkName?: string): Promise<{ attachments: CachedAttachmentInfo[]; errors: CniError[] }> {
  const dir = resultsDir(cacheDir);
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { attachments: [], errors: [] };
    throw new CniError(CNI_ERROR_CODES.ioFailure, "cannot list result cache directory", `${dir}: ${describeFsError(error)}`, { file: dir, cause: error });
  }
  const attachments: CachedAttachmentInfo[] = [];
  const errors: CniError[] = [];
  for (const name of names) {
    if (name.startsWith(".")) continue;
    if (networkName !== undefined && !name.startsWith(`${networkName}-`)) continue;
    const file = join(dir, name);
    try {
      const text = await readFile(file, "utf8");
      let entry: CachedAttachment;
      try {
        entry = parseCachedAttachment(text, file);
      } catch (error) {
        throw isTruncatedCacheText(text) ? corrupt(file, "empty or cut short (a crash while it was written): read as no attachment") : error;
      }
      if (entry.legacy) continue; // a legacy file has no ids to act on
      if (networkName !== undefined && entry.networkName !== networkName) continue;
      attachments.push({ networkName: entry.networkName, containerId: entry.containerId, ifName: entry.ifName, netns: entry.netns ?? "", file, entry });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EISDIR" || (error as NodeJS.ErrnoException).code === "ENOENT") continue;
      errors.push(error instanceof CniError ? error : ioError("read", file, error));
    }
  }
  return { attachments, errors };
}
