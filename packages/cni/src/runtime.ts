import { resolve } from "node:path";
import { type HolderIndex, createHolderIndex, isNamespaceNewer } from "./cache/holders";
import { type AttachmentKey, DEFAULT_CACHE_DIR, type CachedAttachment, cacheFilePath, deleteCachedAttachment, readCachedAttachment, removeCacheLeftovers, scanCachedAttachments, writeCachedAttachment } from "./cache";
import { compareVersions } from "./config/versions";
import { CNI_ERROR_CODES, CniError } from "./errors";
import { type CniVerb, buildPluginEnv, formatCniArgs } from "./exec/env";
import { findPlugin } from "./exec/find";
import { buildPluginConfig } from "./exec/inject";
import { type ExecEvent, execPlugin } from "./exec/invoke";
import type { Spawner } from "./exec/spawner";
import { type NetworkConfigList, loadCachedNetworkList } from "./load";
import { type CacheDirLock, createCacheDirLock, createKeyedMutex } from "./lock";
import { checkNetns, validateAttachmentIds } from "./netns";
import { hasInterface } from "./netns/interfaces";
import { LATEST_CNI_VERSION, convertResult, parseResult } from "./result/convert";
import type { CniResult, VersionedResult } from "./result/types";

export interface RuntimeConf {
  containerId: string;
  /** Path of the network namespace; may be missing for DEL. */
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs. */
  args?: [string, string][];
  /** portMappings, ipRanges, bandwidth, dns, ips, mac, …; passed only to plugins that enable them. */
  capabilityArgs?: Record<string, unknown>;
}

export interface CniRuntimeOptions {
  /** CNI_PATH, e.g. ["/opt/cni/bin", "/usr/lib/cni"]. */
  pluginDirs: string[];
  /** Default "/var/lib/cni" (libcni's). */
  cacheDir?: string;
  /** Per plugin execution; default 60 000. */
  timeoutMs?: number;
  onExec?: (event: ExecEvent) => void;
  /** Problems that do not stop the operation (a corrupt cache file during DEL or GC). */
  onWarning?: (error: CniError) => void;
  /** How long ADD/DEL wait for a GC of the same cache directory (and GC for them); default 5 minutes. */
  lockTimeoutMs?: number;
  /**
   * Where network namespaces may be: a netns path must be an entry directly in one of these
   * directories (e.g. ["/run/netns"]) or /proc/<pid>/ns/net. Unset: any network namespace
   * but the host's and the runtime's own.
   */
  netnsDirs?: string[];
  /**
   * Who starts the plugins: default spawn() from this process. A long-running process that runs
   * many plugins at once passes createHelperSpawner() to keep fork() off its event loop.
   */
  spawner?: Spawner;
  /** Environment the allow-listed variables (PATH, LANG, LC_ALL, TZ) are read from; default process.env. */
  baseEnv?: Record<string, string | undefined>;
}

/**
 * Which configuration DEL (and GC's DEL of stale attachments) runs with.
 * - "cached" (default): the one the attachment's ADD ran, from the result cache. When it cannot
 *   be used (unparsable, a version no plugin accepts, a plugin binary gone) and its DEL fails
 *   where the caller's configuration's DEL succeeds, the caller's wins and `onWarning` says so.
 * - "given": the caller's configuration only, with the cached result as prevResult and the
 *   cached arguments — libcni's DelNetworkList (and GCNetworkList) semantics.
 */
export type ConfigSource = "cached" | "given";

export interface DelOptions {
  configSource?: ConfigSource;
}

export interface GcOptions {
  validAttachments: { containerId: string; ifName: string }[];
  /** For the DEL of each stale attachment; see ConfigSource. The plugins' GC always uses the given list (as libcni). */
  configSource?: ConfigSource;
}

export interface CachedAttachmentSummary {
  networkName: string;
  containerId: string;
  ifName: string;
  netns: string;
  file: string;
}

export interface PluginVersionInfo {
  cniVersion: string;
  supportedVersions: string[];
}

export interface CniRuntime {
  addNetworkList(net: NetworkConfigList, rt: RuntimeConf): Promise<CniResult>;
  checkNetworkList(net: NetworkConfigList, rt: RuntimeConf): Promise<void>;
  delNetworkList(net: NetworkConfigList, rt: RuntimeConf, opts?: DelOptions): Promise<void>;
  getStatusNetworkList(net: NetworkConfigList): Promise<void>;
  gcNetworkList(net: NetworkConfigList, opts: GcOptions): Promise<void>;
  getCachedResult(net: NetworkConfigList, rt: RuntimeConf): Promise<CniResult | null>;
  /**
   * DEL of a cached attachment with the config, netns and arguments its cache entry holds: for
   * cleaning up attachments whose network the caller no longer has (stale after a reboot, say).
   */
  delCachedAttachment(key: { networkName: string; containerId: string; ifName: string }): Promise<void>;
  listCachedAttachments(networkName?: string): Promise<CachedAttachmentSummary[]>;
  getVersionInfo(pluginType: string): Promise<PluginVersionInfo>;
  validateNetworkList(net: NetworkConfigList): Promise<{ capabilities: string[] }>;
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

function joinErrors(errors: CniError[], what: string): CniError {
  if (errors.length === 1) return errors[0]!;
  const first = errors[0]!;
  return new CniError(first.code, `${errors.length} plugins failed (${what})`, errors.map((e) => e.message).join("; "), { reason: "multiple", errors });
}

function asCniError(error: unknown): CniError {
  if (error instanceof CniError) return error;
  return new CniError(CNI_ERROR_CODES.ioFailure, (error as Error)?.message ?? String(error), "", { cause: error });
}

const attachmentName = (k: AttachmentKey) => `${k.networkName}/${k.containerId}/${k.ifName}`;

const CONFIG_SOURCES: readonly ConfigSource[] = ["cached", "given"];

function configSourceOf(value: unknown): ConfigSource {
  if (value === undefined) return "cached";
  if (CONFIG_SOURCES.includes(value as ConfigSource)) return value as ConfigSource;
  throw new CniError(CNI_ERROR_CODES.invalidEnvironment, "invalid configSource", `configSource ${JSON.stringify(value)}: expected "cached" or "given"`, { reason: "invalidArgument" });
}

function requireVersion(net: NetworkConfigList, min: string, verb: string): void {
  if (compareVersions(net.cniVersion, min) < 0) {
    throw new CniError(CNI_ERROR_CODES.incompatibleVersion, `configuration version "${net.cniVersion}" does not support the ${verb} command`, `${verb} needs cniVersion ${min} or later`, {
      reason: "notSupported",
    });
  }
}

/** Creates a CNI runtime: libcni's CNIConfig, with locking, validation and a Go-compatible cache. */
export function createCniRuntime(options: CniRuntimeOptions): CniRuntime {
  const pluginDirs = [...options.pluginDirs];
  const cacheDir = resolve(options.cacheDir ?? DEFAULT_CACHE_DIR);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const warn = (error: CniError) => options.onWarning?.(error);
  const lock = () => cacheDirLock(cacheDir, options.lockTimeoutMs);
  const netnsOptions = options.netnsDirs ? { netnsDirs: [...options.netnsDirs] } : {};
  const holders = holderIndex(cacheDir);

  interface ResolvedPlugin {
    type: string;
    path: string;
    config: Record<string, unknown>;
  }

  /** Finds every plugin (and IPAM plugin) of the list before anything runs. */
  async function resolvePlugins(net: NetworkConfigList): Promise<ResolvedPlugin[]> {
    const out: ResolvedPlugin[] = [];
    for (const plugin of net.plugins) {
      const path = await findPlugin(plugin.config.type ?? plugin.type, pluginDirs);
      const ipam = plugin.config.ipam;
      if (typeof ipam === "object" && ipam !== null && Object.hasOwn(ipam, "type")) {
        await findPlugin((ipam as { type: unknown }).type, pluginDirs, "ipam.type");
      }
      out.push({ type: plugin.type, path, config: plugin.config });
    }
    return out;
  }

  async function run(verb: CniVerb, plugin: ResolvedPlugin, stdin: Record<string, unknown>, ctx: { containerId?: string; netns?: string; ifName?: string; args?: [string, string][] }): Promise<string> {
    const env = buildPluginEnv({ verb, pluginDirs, ...ctx, ...(options.baseEnv ? { baseEnv: options.baseEnv } : {}) });
    const output = await execPlugin({ pluginPath: plugin.path, verb, env, stdin: JSON.stringify(stdin), timeoutMs, ...(options.spawner ? { spawner: options.spawner } : {}), ...(options.onExec ? { onExec: options.onExec } : {}) });
    return output.stdout;
  }

  function keyOf(net: { name: string }, rt: RuntimeConf): AttachmentKey {
    return { networkName: net.name, containerId: rt.containerId, ifName: rt.ifName };
  }

  function validate(net: { name: string }, rt: RuntimeConf): void {
    validateAttachmentIds(keyOf(net, rt));
    formatCniArgs(rt.args);
  }

  /** One operation per attachment: in arrival order within the process, and across processes by its lock file. */
  function withAttachment<T>(key: AttachmentKey, fn: () => Promise<T>): Promise<T> {
    return attachmentMutex.run(`${cacheDir}\0${key.networkName}\0${key.containerId}\0${key.ifName}`, () =>
      lock().attachment(`${key.networkName}-${key.containerId}-${key.ifName}`, fn),
    );
  }

  /** The cached entry, or null; a corrupt file is reported through onWarning when `tolerate`. */
  async function readCache(key: AttachmentKey, tolerate: boolean): Promise<CachedAttachment | null> {
    try {
      return await readCachedAttachment(cacheDir, key);
    } catch (error) {
      if (!tolerate) throw error;
      warn(asCniError(error));
      return null;
    }
  }

  /** The cached conflist: the caller's own when the bytes are the same (the usual case), else loaded from them. */
  function cachedNetworkList(bytes: Uint8Array, net: NetworkConfigList): NetworkConfigList | undefined {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(net.bytes) ? net : loadCachedNetworkList(bytes);
  }

  function cachedPrevResult(entry: CachedAttachment | null, toVersion: string, fromVersion: string): VersionedResult | null {
    if (!entry?.result) return null;
    return convertResult(parseResult(entry.result, fromVersion), toVersion);
  }

  /** DEL of every plugin in reverse order, best effort: all run, failures are collected. */
  async function delPlugins(net: NetworkConfigList, plugins: ResolvedPlugin[], rt: RuntimeConf, prevResult: VersionedResult | null): Promise<CniError[]> {
    const errors: CniError[] = [];
    for (let i = plugins.length - 1; i >= 0; i--) {
      const plugin = plugins[i]!;
      const stdin = buildPluginConfig({ name: net.name, cniVersion: net.cniVersion, plugin: plugin.config, prevResult, ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}) });
      try {
        await run("DEL", plugin, stdin, { containerId: rt.containerId, netns: rt.netns, ifName: rt.ifName, ...(rt.args ? { args: rt.args } : {}) });
      } catch (error) {
        errors.push(asCniError(error));
      }
    }
    return errors;
  }

  /** DEL of one attachment; the caller holds the attachment mutex (and the shared lock, or GC's exclusive one). */
  async function delAttachment(net: NetworkConfigList, rt: RuntimeConf, netnsChecked: boolean, source: ConfigSource = "cached"): Promise<void> {
    const key = keyOf(net, rt);
    const entry = await readCache(key, true);
    // What ADD ran is what DEL must undo: the cached conflist and arguments win over the caller's,
    // unless the caller asks for its own configuration ("given", libcni's DelNetworkList).
    const usesCache = source === "cached" && entry !== null && !entry.legacy && entry.config.length > 0;
    const cachedList = usesCache ? cachedNetworkList(entry.config, net) : undefined;
    if (usesCache && !cachedList) {
      warn(new CniError(CNI_ERROR_CODES.decodeFailure, "unusable config in result cache file", `${attachmentName(key)}: using the caller's configuration`, { reason: "cacheCorrupt" }));
    }
    const list = cachedList && cachedList.name === net.name ? cachedList : net;
    const effective: RuntimeConf = {
      containerId: rt.containerId,
      ifName: rt.ifName,
      netns: rt.netns || entry?.netns || "",
      ...(entry && !entry.legacy ? { args: entry.cniArgs ?? [], capabilityArgs: entry.capabilityArgs ?? {} } : {}),
    };
    if (!entry || entry.legacy) {
      if (rt.args) effective.args = rt.args;
      if (rt.capabilityArgs) effective.capabilityArgs = rt.capabilityArgs;
    }
    // delNetworkList checked the caller's netns before locking; one from the cache is checked here.
    if (!netnsChecked || effective.netns !== rt.netns) await checkNetns(effective.netns, { ...netnsOptions, allowMissing: true });
    const spare = entry && !entry.legacy ? ownerElsewhere(key, effective.netns) : otherHolder(key, effective.netns);
    if (spare) {
      // DEL without a namespace (the spec allows it): the plugins release addresses and host state
      // and leave the interface, which is not this attachment's.
      warn(new CniError(CNI_ERROR_CODES.invalidEnvironment, `DEL of ${attachmentName(key)} leaves interface ${key.ifName} in ${effective.netns} alone`, spare, { reason: "ifnameInUse" }));
      effective.netns = "";
    }
    let errors = await delWithList(list, entry, effective, cachedList ? cachedList.cniVersion : net.cniVersion);
    if (errors.length > 0 && list !== net) {
      // The cached config cannot finish (a version no plugin takes, a binary gone): when the
      // caller's config can, the attachment comes free with it instead of staying stuck.
      const retry = await delWithList(net, entry, effective, list.cniVersion);
      if (retry.length === 0) {
        warn(
          new CniError(errors[0]!.code, `DEL of ${attachmentName(key)} with its cached configuration failed; the given configuration's DEL succeeded`, errors.map((e) => e.message).join("; "), {
            reason: "cachedConfigFailed",
            errors,
          }),
        );
        errors = [];
      } else {
        errors = [...errors, ...retry];
      }
    }
    if (errors.length > 0) throw joinErrors(errors, "DEL");
    await deleteCachedAttachment(cacheDir, key);
    holders.noteDeleted(key);
  }

  /** DEL of `list`'s plugins with the cached result as prevResult (from 0.4.0 on); the errors, none when it worked. */
  async function delWithList(list: NetworkConfigList, entry: CachedAttachment | null, rt: RuntimeConf, resultVersion: string): Promise<CniError[]> {
    let plugins: ResolvedPlugin[];
    try {
      plugins = await resolvePlugins(list);
    } catch (error) {
      return [asCniError(error)];
    }
    let prevResult: VersionedResult | null = null;
    // The cached result on DEL came with 0.4.0.
    if (compareVersions(list.cniVersion, "0.4.0") >= 0) {
      try {
        prevResult = cachedPrevResult(entry, list.cniVersion, resultVersion);
      } catch (error) {
        warn(asCniError(error));
      }
    }
    return delPlugins(list, plugins, rt, prevResult);
  }

  /** Why the interface (netns, ifName) is not `key`'s to remove: another cached attachment holds it. */
  function otherHolder(key: AttachmentKey, netns: string): string | undefined {
    const holder = netns ? holders.find(netns, key.ifName, key) : undefined;
    return holder && `it is held by attachment ${attachmentName(holder)} (${holder.file})`;
  }

  /** As otherHolder, and also when the namespace at that path was made after `key`'s ADD (a reboot, a reused name). */
  function ownerElsewhere(key: AttachmentKey, netns: string): string | undefined {
    if (isNamespaceNewer(cacheFilePath(cacheDir, key), netns)) return "the namespace at that path was made after this attachment's ADD";
    return otherHolder(key, netns);
  }

  /**
   * The namespace a failed ADD's rollback DEL may touch: none when the interface is not this ADD's —
   * another cached attachment holds it, or no plugin succeeded and it is there (it was there before:
   * the plugin refused to make it, e.g. "container veth name provided (eth0) already exists").
   */
  async function rollbackNetns(key: AttachmentKey, netns: string, madeSomething: boolean): Promise<string> {
    const reason = otherHolder(key, netns);
    if (reason === undefined && madeSomething) return netns;
    if (reason === undefined) {
      const present = await hasInterface(netns, key.ifName, { ...(options.spawner ? { spawner: options.spawner } : {}), path: (options.baseEnv ?? process.env).PATH ?? "" });
      if (present === false) return netns;
      if (present === undefined) warn(new CniError(CNI_ERROR_CODES.ioFailure, `cannot list the interfaces in ${netns}`, `nsenter failed: the rollback of ${attachmentName(key)} leaves the namespace alone`));
    }
    return "";
  }

  function cacheEntry(net: NetworkConfigList, rt: RuntimeConf, prevResult: VersionedResult | null): CachedAttachment {
    return {
      kind: "cniCacheV1",
      containerId: rt.containerId,
      config: net.bytes,
      ifName: rt.ifName,
      networkName: net.name,
      netns: rt.netns,
      ...(rt.args?.length ? { cniArgs: rt.args } : {}),
      ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}),
      ...(prevResult ? { result: prevResult } : {}),
    };
  }

  async function addNetworkList(net: NetworkConfigList, rt: RuntimeConf): Promise<CniResult> {
    validate(net, rt);
    await checkNetns(rt.netns, netnsOptions);
    const plugins = await resolvePlugins(net);
    const key = keyOf(net, rt);
    return lock().shared(() =>
      withAttachment(key, async () => {
        // The spec forbids a second ADD without DEL; refusing it also keeps a failed
        // second ADD's rollback from tearing down the first, working attachment.
        const existing = await readCachedAttachment(cacheDir, key).catch(() => "corrupt" as const);
        if (existing) {
          throw new CniError(
            CNI_ERROR_CODES.invalidEnvironment,
            `attachment ${net.name}/${rt.containerId}/${rt.ifName} already exists`,
            "DEL it first; a runtime must not ADD the same attachment twice",
            { reason: "alreadyAttached", file: cacheFilePath(cacheDir, key) },
          );
        }
        // One interface name in a namespace belongs to one attachment, whatever the network: a
        // second ADD would fail in the plugin, and its rollback or a later DEL remove the first's.
        const holder = holders.find(rt.netns, rt.ifName, key);
        if (holder) {
          throw new CniError(
            CNI_ERROR_CODES.invalidEnvironment,
            `interface ${rt.ifName} in ${rt.netns} is held by attachment ${attachmentName(holder)}`,
            `DEL that attachment first, or ADD ${attachmentName(key)} with another ifname`,
            { reason: "ifnameInUse", file: holder.file },
          );
        }
        const release = holders.reserve({ ...key, netns: rt.netns, file: cacheFilePath(cacheDir, key) });
        try {
          return await addPlugins(net, rt, plugins, key);
        } finally {
          release();
        }
      }),
    );
  }

  /** ADD of every plugin in order; on failure, DEL of what this ADD did. Under the attachment's locks. */
  async function addPlugins(net: NetworkConfigList, rt: RuntimeConf, plugins: ResolvedPlugin[], key: AttachmentKey): Promise<CniResult> {
    let prevResult: VersionedResult | null = null;
    let latest: CniResult | null = null;
    const ctx = { containerId: rt.containerId, netns: rt.netns, ifName: rt.ifName, ...(rt.args ? { args: rt.args } : {}) };
    try {
      for (const plugin of plugins) {
        const stdin = buildPluginConfig({ name: net.name, cniVersion: net.cniVersion, plugin: plugin.config, prevResult, ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}) });
        const stdout = await run("ADD", plugin, stdin, ctx);
        let value: unknown;
        try {
          value = JSON.parse(stdout);
        } catch {
          throw new CniError(CNI_ERROR_CODES.decodeFailure, `plugin ${plugin.type} returned no valid result (ADD)`, stdout.trim() ? `stdout: ${JSON.stringify(stdout.slice(0, 300))}` : "stdout was empty", {
            reason: "badResult",
            plugin: plugin.type,
          });
        }
        latest = parseResult(value, net.cniVersion);
        // Each plugin gets the previous result in the list's version, whatever the last one wrote.
        prevResult = convertResult(latest, net.cniVersion);
      }
      const file = await writeCachedAttachment(cacheDir, cacheEntry(net, rt, prevResult));
      holders.noteWritten({ ...key, netns: rt.netns, file });
    } catch (error) {
      // A failed ADD leaves nothing behind (containerd#12130): DEL the whole list — but only in
      // the namespace when the interface there is this ADD's.
      const undo: RuntimeConf = { ...rt, netns: await rollbackNetns(key, rt.netns, latest !== null) };
      const rollback = await delPlugins(net, plugins, undo, prevResult);
      if (rollback.length > 0) {
        // Keep what the failed DEL needs so a later DEL or GC can finish the job (and claim the
        // namespace only when the rollback was allowed to touch it).
        await writeCachedAttachment(cacheDir, cacheEntry(net, undo, prevResult)).catch(() => {});
        const original = asCniError(error);
        throw new CniError(original.code, original.msg, `${original.details ? `${original.details}; ` : ""}rollback DEL failed: ${rollback.map((e) => e.message).join("; ")}`, {
          reason: original.reason ?? "plugin",
          ...(original.plugin ? { plugin: original.plugin } : {}),
          ...(original.stderr !== undefined ? { stderr: original.stderr } : {}),
          errors: rollback,
          cause: error,
        });
      }
      // Rolled back cleanly: no cache entry may claim the attachment still exists.
      await deleteCachedAttachment(cacheDir, key).catch(() => {});
      throw error;
    }
    return convertResult(latest!, LATEST_CNI_VERSION) as unknown as CniResult;
  }

  async function checkNetworkList(net: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    requireVersion(net, "0.4.0", "CHECK");
    validate(net, rt);
    if (net.disableCheck) return;
    await checkNetns(rt.netns, netnsOptions);
    const key = keyOf(net, rt);
    await lock().shared(() =>
      withAttachment(key, async () => {
        const entry = await readCache(key, false);
        if (!entry?.result) {
          throw new CniError(CNI_ERROR_CODES.unknownContainer, `no cached result for network "${net.name}"`, `container ${rt.containerId} ifname ${rt.ifName}: ADD it first`, { reason: "noCachedResult" });
        }
        const cachedList = !entry.legacy && entry.config.length > 0 ? cachedNetworkList(entry.config, net) : undefined;
        const list = cachedList && cachedList.name === net.name ? cachedList : net;
        if (list.disableCheck) return;
        requireVersion(list, "0.4.0", "CHECK");
        const args = entry.legacy ? rt.args : entry.cniArgs;
        const capabilityArgs = entry.legacy ? rt.capabilityArgs : entry.capabilityArgs;
        const plugins = await resolvePlugins(list);
        const prevResult = cachedPrevResult(entry, list.cniVersion, list.cniVersion);
        const errors: CniError[] = [];
        for (const plugin of plugins) {
          const stdin = buildPluginConfig({ name: list.name, cniVersion: list.cniVersion, plugin: plugin.config, prevResult, ...(capabilityArgs ? { capabilityArgs } : {}) });
          try {
            await run("CHECK", plugin, stdin, { containerId: rt.containerId, netns: rt.netns, ifName: rt.ifName, ...(args ? { args } : {}) });
          } catch (error) {
            errors.push(asCniError(error));
          }
        }
        if (errors.length > 0) throw joinErrors(errors, "CHECK");
      }),
    );
  }

  async function delNetworkList(net: NetworkConfigList, rt: RuntimeConf, opts: DelOptions = {}): Promise<void> {
    validate(net, rt);
    const source = configSourceOf(opts.configSource);
    await checkNetns(rt.netns, { ...netnsOptions, allowMissing: true });
    const key = keyOf(net, rt);
    await lock().shared(() => withAttachment(key, () => delAttachment(net, rt, true, source)));
  }

  async function getStatusNetworkList(net: NetworkConfigList): Promise<void> {
    // As libcni: before 1.1.0 there is no STATUS, and the network counts as ready.
    if (compareVersions(net.cniVersion, "1.1.0") < 0) return;
    const plugins = await resolvePlugins(net);
    for (const plugin of plugins) {
      await run("STATUS", plugin, buildPluginConfig({ name: net.name, cniVersion: net.cniVersion, plugin: plugin.config }), {});
    }
  }

  async function gcNetworkList(net: NetworkConfigList, opts: GcOptions): Promise<void> {
    if (net.disableGC) return;
    const source = configSourceOf(opts.configSource);
    const valid = opts.validAttachments.map((a) => {
      validateAttachmentIds({ networkName: net.name, containerId: a.containerId, ifName: a.ifName });
      return { containerID: a.containerId, ifname: a.ifName };
    });
    const plugins = await resolvePlugins(net);
    const validKeys = new Set(valid.map((a) => `${a.containerID}\0${a.ifname}`));
    await lock().exclusive(async () => {
      const errors: CniError[] = [];
      // No write is in flight in any process now: temp files in results/ are leftovers of crashes.
      await removeCacheLeftovers(cacheDir);
      const scan = await scanCachedAttachments(cacheDir, net.name);
      for (const error of scan.errors) warn(error);
      for (const stale of scan.attachments) {
        if (validKeys.has(`${stale.containerId}\0${stale.ifName}`)) continue;
        const rt: RuntimeConf = { containerId: stale.containerId, ifName: stale.ifName, netns: stale.netns };
        try {
          validateAttachmentIds(keyOf(net, rt));
          await withAttachment(keyOf(net, rt), () => delAttachment(net, rt, false, source));
        } catch (error) {
          const e = asCniError(error);
          errors.push(new CniError(e.code, `failed to delete stale attachment ${stale.containerId} ${stale.ifName}`, e.message, { ...(e.reason ? { reason: e.reason } : {}), file: stale.file, cause: error }));
        }
      }
      if (compareVersions(net.cniVersion, "1.1.0") >= 0) {
        // libcni sends both keys: the spec first named it cni.dev/attachments (containernetworking/cni#1101).
        const inject = { "cni.dev/valid-attachments": valid, "cni.dev/attachments": valid };
        for (const plugin of plugins) {
          try {
            await run("GC", plugin, buildPluginConfig({ name: net.name, cniVersion: net.cniVersion, plugin: plugin.config, inject }), {});
          } catch (error) {
            errors.push(asCniError(error));
          }
        }
      }
      if (errors.length > 0) throw joinErrors(errors, "GC");
    });
  }

  async function getCachedResult(net: NetworkConfigList, rt: RuntimeConf): Promise<CniResult | null> {
    validate(net, rt);
    const entry = await readCachedAttachment(cacheDir, keyOf(net, rt));
    if (!entry?.result) return null;
    return convertResult(parseResult(entry.result, net.cniVersion), LATEST_CNI_VERSION) as unknown as CniResult;
  }

  async function delCachedAttachment(key: AttachmentKey): Promise<void> {
    validateAttachmentIds(key);
    const entry = await readCachedAttachment(cacheDir, key);
    if (!entry) return;
    const net = entry.legacy ? undefined : loadCachedNetworkList(entry.config);
    if (!net || net.name !== key.networkName) {
      throw new CniError(CNI_ERROR_CODES.decodeFailure, "cannot DEL from the cache alone", `${cacheFilePath(cacheDir, key)} holds no usable config for network "${key.networkName}"`, { reason: "cacheCorrupt", file: cacheFilePath(cacheDir, key) });
    }
    const rt: RuntimeConf = { containerId: key.containerId, ifName: key.ifName, netns: entry.netns ?? "" };
    await lock().shared(() => withAttachment(key, () => delAttachment(net, rt, false)));
  }

  async function listCachedAttachments(networkName?: string): Promise<CachedAttachmentSummary[]> {
    const scan = await scanCachedAttachments(cacheDir, networkName);
    for (const error of scan.errors) warn(error);
    return scan.attachments.map(({ networkName: n, containerId, ifName, netns, file }) => ({ networkName: n, containerId, ifName, netns, file }));
  }

  async function versionOf(plugin: ResolvedPlugin): Promise<PluginVersionInfo> {
    let stdout: string;
    try {
      stdout = await run("VERSION", plugin, { cniVersion: LATEST_CNI_VERSION }, {});
    } catch (error) {
      // Plugins older than 0.2.0 know no VERSION command (libcni's invoke.GetVersionInfo).
      if (error instanceof CniError && error.msg === "unknown CNI_COMMAND: VERSION") return { cniVersion: "0.1.0", supportedVersions: ["0.1.0"] };
      throw error;
    }
    let value: unknown;
    try {
      value = JSON.parse(stdout);
    } catch {
      value = undefined;
    }
    const info = value as Partial<PluginVersionInfo> | undefined;
    if (!info || typeof info.cniVersion !== "string" || !Array.isArray(info.supportedVersions) || !info.supportedVersions.every((v) => typeof v === "string")) {
      throw new CniError(CNI_ERROR_CODES.decodeFailure, `plugin ${plugin.type} returned an invalid VERSION answer`, JSON.stringify(stdout.slice(0, 300)), { reason: "badResult", plugin: plugin.type });
    }
    return { cniVersion: info.cniVersion, supportedVersions: info.supportedVersions };
  }

  async function getVersionInfo(pluginType: string): Promise<PluginVersionInfo> {
    const path = await findPlugin(pluginType, pluginDirs);
    return versionOf({ type: pluginType, path, config: {} });
  }

  async function validateNetworkList(net: NetworkConfigList): Promise<{ capabilities: string[] }> {
    const errors: CniError[] = [];
    const capabilities = new Set<string>();
    for (const plugin of net.plugins) {
      try {
        const [resolved] = await resolvePlugins({ ...net, plugins: [plugin] });
        const info = await versionOf(resolved!);
        if (!info.supportedVersions.includes(net.cniVersion)) {
          throw new CniError(CNI_ERROR_CODES.incompatibleVersion, `plugin type="${plugin.type}" does not support config version "${net.cniVersion}"`, `it supports ${info.supportedVersions.join(", ")}`, {
            reason: "notSupported",
            plugin: plugin.type,
          });
        }
      } catch (error) {
        errors.push(asCniError(error));
      }
      const caps = plugin.config.capabilities;
      if (typeof caps === "object" && caps !== null) {
        for (const [name, enabled] of Object.entries(caps)) if (enabled === true) capabilities.add(name);
      }
    }
    if (errors.length > 0) throw joinErrors(errors, "VERSION");
    return { capabilities: [...capabilities].sort() };
  }

  return {
    addNetworkList,
    checkNetworkList,
    delNetworkList,
    getStatusNetworkList,
    gcNetworkList,
    getCachedResult,
    delCachedAttachment,
    listCachedAttachments,
    getVersionInfo,
    validateNetworkList,
  };
}
