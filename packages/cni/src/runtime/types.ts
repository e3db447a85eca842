import type { CniError } from "../errors";
import type { ExecEvent } from "../exec/invoke";
import type { Spawner } from "../exec/spawner";
import type { NetworkConfigList } from "../load";
import type { CniResult } from "../result/types";

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
  /** Environment the allow-listed variables (and `passEnv`) are read from; default process.env. */
  baseEnv?: Record<string, string | undefined>;
  /**
   * More variables of `baseEnv` the plugins see, beyond PLUGIN_ENV_ALLOW_LIST (PATH, LANG, LC_ALL,
   * TZ, XDG_RUNTIME_DIR, DBUS_SYSTEM_BUS_ADDRESS), e.g. a proxy or a plugin's own setting. Names
   * only; CNI_ variables are refused (the runtime sets them).
   */
  passEnv?: string[];
  /**
   * ADD pins the MAC address of the bridges its `bridge` plugins use (sets it to the one it has,
   * so the kernel stops moving it to the lowest port's), so that a later CHECK of an attachment
   * still finds the bridge MAC its result recorded (bridge-mac.ts). Default true; false leaves
   * bridges as the plugins make them.
   */
  pinBridgeMac?: boolean;
}

/**
 * Which configuration DEL (and GC's DEL of stale attachments) runs with.
 * - "cached" (default): the one the attachment's ADD ran, from the result cache. When it cannot
 *   be used — unparsable, or its DEL fails only for reasons of the config itself (CNI error 1
 *   version, 2 field, 7 config, 50 plugin not found) — and the caller's configuration's DEL
 *   succeeds, the caller's wins and `onWarning` says so (reason "cachedConfigFailed").
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
  /** Set when the entry is what a failed ADD (and failed rollback) left: no attachment was made; DEL or GC clears it, a new ADD goes ahead. */
  addIncomplete?: true;
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
