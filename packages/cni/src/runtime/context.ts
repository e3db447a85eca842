import { resolve } from "node:path";
import { type HolderIndex, createHolderIndex, isNamespaceNewer } from "../cache/holders";
import { type AttachmentKey, type CachedAttachment, DEFAULT_CACHE_DIR, cacheFilePath, readCachedAttachment } from "../cache";
import { compareVersions } from "../config/versions";
import { CNI_ERROR_CODES, CniError } from "../errors";
import { type CniVerb, buildPluginEnv, formatCniArgs, validatePassEnv } from "../exec/env";
import { findPlugin } from "../exec/find";
import { execPlugin } from "../exec/invoke";
import { type NetworkConfigList, loadCachedNetworkList } from "../load";
import { type CacheDirLock, createCacheDirLock, createKeyedMutex } from "../lock";
import { validateAttachmentIds } from "../netns";
import { convertResult, parseResult } from "../result/convert";
import type { VersionedResult } from "../result/types";
import type { CniRuntimeOptions, ConfigSource, RuntimeConf } from "./types";

/**
 * What every verb of one runtime shares: its options, locks, cache directory and the plugin
 * runner. The verbs (add.ts, del.ts, check.ts, gc.ts, version.ts) take it as their first argument.
 */
export interface RuntimeContext {
  options: CniRuntimeOptions;
  pluginDirs: string[];
  cacheDir: string;
  netnsOptions: { netnsDirs?: string[] };
  passEnv: string[];
  holders: HolderIndex;
  warn(error: CniError): void;
  lock(): CacheDirLock;
}

export interface ResolvedPlugin {
  type: string;
  path: string;
  config: Record<string, unknown>;
}

export interface RunContext {
  containerId?: string;
  netns?: string;
  ifName?: string;
  args?: [string, string][];
}

// Shared by every runtime of the process: one attachment, one operation, whichever instance asks.
const attachmentMutex = createKeyedMutex();
const cacheDirLocks = new Map<string, CacheDirLock>();
const holderIndexes = new Map<string, HolderIndex>();

function holderIndex(cacheDir: string): HolderIndex {
  let index = holderIndexes.get(cacheDir);
  if (!index) {
    index = createHolderIndex(cacheDir);
    holderIndexes.set(cacheDir, index);
  }
  return index;
}

function cacheDirLock(cacheDir: string, waitTimeoutMs?: number): CacheDirLock {
  let lock = cacheDirLocks.get(cacheDir);
  if (!lock) {
    lock = createCacheDirLock(cacheDir, waitTimeoutMs === undefined ? {} : { waitTimeoutMs });
    cacheDirLocks.set(cacheDir, lock);
  }
  return lock;
}

export function createRuntimeContext(options: CniRuntimeOptions): RuntimeContext {
  const cacheDir = resolve(options.cacheDir ?? DEFAULT_CACHE_DIR);
  return {
    options,
    pluginDirs: [...options.pluginDirs],
    cacheDir,
    netnsOptions: options.netnsDirs ? { netnsDirs: [...options.netnsDirs] } : {},
    passEnv: validatePassEnv(options.passEnv ?? []),
    holders: holderIndex(cacheDir),
    warn: (error) => options.onWarning?.(error),
    lock: () => cacheDirLock(cacheDir, options.lockTimeoutMs),
  };
}

export function joinErrors(errors: CniError[], what: string): CniError {
  if (errors.length === 1) return errors[0]!;
  const first = errors[0]!;
  return new CniError(first.code, `${errors.length} plugins failed (${what})`, errors.map((e) => e.message).join("; "), { reason: "multiple", errors });
}

export function asCniError(error: unknown): CniError {
  if (error instanceof CniError) return error;
  return new CniError(CNI_ERROR_CODES.ioFailure, (error as Error)?.message ?? String(error), "", { cause: error });
}

export const attachmentName = (k: AttachmentKey) => `${k.networkName}/${k.containerId}/${k.ifName}`;

export function requireVersion(net: NetworkConfigList, min: string, verb: string): void {
  if (compareVersions(net.cniVersion, min) < 0) {
    throw new CniError(CNI_ERROR_CODES.incompatibleVersion, `configuration version "${net.cniVersion}" does not support the ${verb} command`, `${verb} needs cniVersion ${min} or later`, {
      reason: "notSupported",
    });
  }
}

const CONFIG_SOURCES: readonly ConfigSource[] = ["cached", "given"];

export function configSourceOf(value: unknown): ConfigSource {
  if (value === undefined) return "cached";
  if (CONFIG_SOURCES.includes(value as ConfigSource)) return value as ConfigSource;
  throw new CniError(CNI_ERROR_CODES.invalidEnvironment, "invalid configSource", `configSource ${JSON.stringify(value)}: expected "cached" or "given"`, { reason: "invalidArgument" });
}

export function keyOf(net: { name: string }, rt: RuntimeConf): AttachmentKey {
  return { networkName: net.name, containerId: rt.containerId, ifName: rt.ifName };
}

export function validate(net: { name: string }, rt: RuntimeConf): void {
  validateAttachmentIds(keyOf(net, rt));
  formatCniArgs(rt.args);
}

/** Finds one plugin (and its IPAM plugin). */
export async function resolvePlugin(ctx: RuntimeContext, plugin: NetworkConfigList["plugins"][number]): Promise<ResolvedPlugin> {
  const path = await findPlugin(plugin.config.type ?? plugin.type, ctx.pluginDirs);
  const ipam = plugin.config.ipam;
  if (typeof ipam === "object" && ipam !== null && Object.hasOwn(ipam, "type")) {
    await findPlugin((ipam as { type: unknown }).type, ctx.pluginDirs, "ipam.type");
  }
  return { type: plugin.type, path, config: plugin.config };
}

/** Finds every plugin (and IPAM plugin) of the list before anything runs (ADD, CHECK, STATUS). */
export async function resolvePlugins(ctx: RuntimeContext, net: NetworkConfigList): Promise<ResolvedPlugin[]> {
  const out: ResolvedPlugin[] = [];
  for (const plugin of net.plugins) out.push(await resolvePlugin(ctx, plugin));
  return out;
}

/**
 * Each plugin of the list found, or the error saying why not (DEL and GC: they run every plugin
 * they can and report the others, as libcni's FindInPath per plugin).
 */
export async function resolvePluginsForTeardown(ctx: RuntimeContext, net: NetworkConfigList): Promise<(ResolvedPlugin | CniError)[]> {
  const out: (ResolvedPlugin | CniError)[] = [];
  for (const plugin of net.plugins) out.push(await resolvePlugin(ctx, plugin).catch(asCniError));
  return out;
}

/** Runs one plugin verb; its stdout. */
export async function runPlugin(ctx: RuntimeContext, verb: CniVerb, plugin: ResolvedPlugin, stdin: Record<string, unknown>, run: RunContext): Promise<string> {
  const { options } = ctx;
  const env = buildPluginEnv({ verb, pluginDirs: ctx.pluginDirs, ...run, passEnv: ctx.passEnv, ...(options.baseEnv ? { baseEnv: options.baseEnv } : {}) });
  const output = await execPlugin({
    pluginPath: plugin.path,
    verb,
    env,
    stdin: JSON.stringify(stdin),
    timeoutMs: options.timeoutMs ?? 60_000,
    ...(options.spawner ? { spawner: options.spawner } : {}),
    ...(options.onExec ? { onExec: options.onExec } : {}),
  });
  return output.stdout;
}

/** One operation per attachment: in arrival order within the process, and across processes by its lock file. */
export function withAttachment<T>(ctx: RuntimeContext, key: AttachmentKey, fn: () => Promise<T>): Promise<T> {
  return attachmentMutex.run(`${ctx.cacheDir}\0${key.networkName}\0${key.containerId}\0${key.ifName}`, () =>
    ctx.lock().attachment(`${key.networkName}-${key.containerId}-${key.ifName}`, fn),
  );
}

/** The cached entry, or null; a corrupt file is reported through onWarning when `tolerate`. */
export async function readCache(ctx: RuntimeContext, key: AttachmentKey, tolerate: boolean): Promise<CachedAttachment | null> {
  try {
    return await readCachedAttachment(ctx.cacheDir, key);
  } catch (error) {
    if (!tolerate) throw error;
    ctx.warn(asCniError(error));
    return null;
  }
}

/**
 * The cached conflist: the caller's own when the bytes are the same (the usual case) — what it runs,
 * or its file's bytes (what an entry written before the cache held the merged list has) —, else loaded from them.
 */
export function cachedNetworkList(bytes: Uint8Array, net: NetworkConfigList): NetworkConfigList | undefined {
  const cached = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (cached.equals(net.bytes) || (net.mergedBytes && cached.equals(net.mergedBytes))) return net;
  return loadCachedNetworkList(bytes);
}

export function cachedPrevResult(entry: CachedAttachment | null, toVersion: string, fromVersion: string): VersionedResult | null {
  if (!entry?.result) return null;
  return convertResult(parseResult(entry.result, fromVersion), toVersion);
}

/** Why the interface (netns, ifName) is not `key`'s to remove: another cached attachment holds it. */
export function otherHolder(ctx: RuntimeContext, key: AttachmentKey, netns: string): string | undefined {
  const holder = netns ? ctx.holders.find(netns, key.ifName, key) : undefined;
  return holder && `it is held by attachment ${attachmentName(holder)} (${holder.file})`;
}

/** As otherHolder, and also when the namespace at that path was made after `key`'s ADD (a reboot, a reused name). */
export function ownerElsewhere(ctx: RuntimeContext, key: AttachmentKey, netns: string): string | undefined {
  if (isNamespaceNewer(cacheFilePath(ctx.cacheDir, key), netns)) return "the namespace at that path was made after this attachment's ADD";
  return otherHolder(ctx, key, netns);
}
