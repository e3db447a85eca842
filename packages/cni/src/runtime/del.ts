import { type AttachmentKey, type CachedAttachment, cacheFilePath, deleteCachedAttachment, readCachedAttachment } from "../cache";
import { compareVersions } from "../config/versions";
import { CNI_ERROR_CODES, CniError } from "../errors";
import { buildPluginConfig } from "../exec/inject";
import { type NetworkConfigList, loadCachedNetworkList } from "../load";
import { checkNetns, validateAttachmentIds } from "../netns";
import type { VersionedResult } from "../result/types";
import {
  type ResolvedPlugin,
  type RuntimeContext,
  asCniError,
  attachmentName,
  cachedNetworkList,
  cachedPrevResult,
  configSourceOf,
  joinErrors,
  keyOf,
  otherHolder,
  ownerElsewhere,
  readCache,
  resolvePluginsForTeardown,
  runPlugin,
  validate,
  withAttachment,
} from "./context";
import type { ConfigSource, DelOptions, RuntimeConf } from "./types";

/** libcni's DelNetworkList, with the cached config (see ConfigSource), locks and namespace checks. */
export async function delNetworkList(ctx: RuntimeContext, net: NetworkConfigList, rt: RuntimeConf, opts: DelOptions = {}): Promise<void> {
  validate(net, rt);
  const source = configSourceOf(opts.configSource);
  await checkNetns(rt.netns, { ...ctx.netnsOptions, allowMissing: true });
  const key = keyOf(net, rt);
  await ctx.lock().shared(() => withAttachment(ctx, key, () => delAttachment(ctx, net, rt, { netnsChecked: true, configSource: source })));
}

/** DEL of a cached attachment with the config, netns and arguments its cache entry holds. */
export async function delCachedAttachment(ctx: RuntimeContext, key: AttachmentKey): Promise<void> {
  validateAttachmentIds(key);
  const entry = await readCachedAttachment(ctx.cacheDir, key);
  if (!entry) return;
  const net = entry.legacy ? undefined : loadCachedNetworkList(entry.config);
  if (!net || net.name !== key.networkName) {
    const file = cacheFilePath(ctx.cacheDir, key);
    throw new CniError(CNI_ERROR_CODES.decodeFailure, "cannot DEL from the cache alone", `${file} holds no usable config for network "${key.networkName}"`, { reason: "cacheCorrupt", file });
  }
  const rt: RuntimeConf = { containerId: key.containerId, ifName: key.ifName, netns: entry.netns ?? "" };
  await ctx.lock().shared(() => withAttachment(ctx, key, () => delAttachment(ctx, net, rt, {})));
}

/**
 * DEL of every plugin in reverse order, best effort: all that were found run, failures and the
 * plugins that could not be found are collected (libcni stops at the first).
 */
export async function delPlugins(ctx: RuntimeContext, net: NetworkConfigList, plugins: (ResolvedPlugin | CniError)[], rt: RuntimeConf, prevResult: VersionedResult | null): Promise<CniError[]> {
  const errors: CniError[] = [];
  for (let i = plugins.length - 1; i >= 0; i--) {
    const plugin = plugins[i]!;
    if (plugin instanceof CniError) {
      errors.push(plugin);
      continue;
    }
    const stdin = buildPluginConfig({ name: net.name, cniVersion: net.cniVersion, plugin: plugin.config, prevResult, ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}) });
    try {
      await runPlugin(ctx, "DEL", plugin, stdin, { containerId: rt.containerId, netns: rt.netns, ifName: rt.ifName, ...(rt.args ? { args: rt.args } : {}) });
    } catch (error) {
      errors.push(asCniError(error));
    }
  }
  return errors;
}

export interface DelAttachmentOptions {
  /** delNetworkList checked the caller's netns already. */
  netnsChecked?: boolean;
  configSource?: ConfigSource;
}

/** DEL of one attachment; the caller holds the attachment mutex (and the shared lock, or GC's exclusive one). */
export async function delAttachment(ctx: RuntimeContext, net: NetworkConfigList, rt: RuntimeConf, opts: DelAttachmentOptions): Promise<void> {
  const { netnsChecked = false, configSource: source = "cached" } = opts;
  const key = keyOf(net, rt);
  const entry = await readCache(ctx, key, true);
  // What ADD ran is what DEL must undo: the cached conflist and arguments win over the caller's,
  // unless the caller asks for its own configuration ("given", libcni's DelNetworkList).
  const usesCache = source === "cached" && entry !== null && !entry.legacy && entry.config.length > 0;
  const cachedList = usesCache ? cachedNetworkList(entry.config, net) : undefined;
  if (usesCache && !cachedList) {
    ctx.warn(new CniError(CNI_ERROR_CODES.decodeFailure, "unusable config in result cache file", `${attachmentName(key)}: using the caller's configuration`, { reason: "cacheCorrupt" }));
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
  // delNetworkList checked the caller's netns before locking; one from the cache (GC,
  // delCachedAttachment, or a DEL without netns) is checked here.
  if (!netnsChecked || effective.netns !== rt.netns) {
    try {
      await checkNetns(effective.netns, { ...ctx.netnsOptions, allowMissing: true });
    } catch (error) {
      // A cached namespace that is no longer one (a file in its place, outside netnsDirs) must not
      // keep the attachment forever: DEL without it (the spec allows an empty CNI_NETNS).
      ctx.warn(new CniError(CNI_ERROR_CODES.invalidEnvironment, `DEL of ${attachmentName(key)} runs without its cached namespace ${effective.netns}`, asCniError(error).message, { reason: "invalidNetns", cause: error }));
      effective.netns = "";
    }
  }
  const spare = entry && !entry.legacy ? ownerElsewhere(ctx, key, effective.netns) : otherHolder(ctx, key, effective.netns);
  if (spare) {
    // DEL without a namespace (the spec allows it): the plugins release addresses and host state
    // and leave the interface, which is not this attachment's.
    ctx.warn(new CniError(CNI_ERROR_CODES.invalidEnvironment, `DEL of ${attachmentName(key)} leaves interface ${key.ifName} in ${effective.netns} alone`, spare, { reason: "ifnameInUse" }));
    effective.netns = "";
  }
  if (source === "given" && entry && !entry.legacy && entry.config.length > 0) {
    const ran = cachedNetworkList(entry.config, net);
    if (ran) warnSkippedPlugins(ctx, key, ran, net);
  }
  let errors = await delWithList(ctx, list, entry, effective, cachedList ? cachedList.cniVersion : net.cniVersion);
  if (errors.length > 0 && list !== net && errors.every(isConfigFailure)) {
    // The cached config cannot finish (a version no plugin takes, a binary gone): when the
    // caller's config can, the attachment comes free with it instead of staying stuck. Not for a
    // failure that may pass (a timeout, "try again later", a plugin's own error): the cache stays,
    // and a retry or `configSource: "given"` decides.
    const retry = await delWithList(ctx, net, entry, effective, list.cniVersion);
    if (retry.length === 0) {
      warnSkippedPlugins(ctx, key, list, net);
      ctx.warn(
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
  await deleteCachedAttachment(ctx.cacheDir, key);
  ctx.holders.noteDeleted(key);
}

/**
 * A DEL with a configuration other than the one ADD ran does not undo what the plugins it leaves out
 * did (a rule, a lease): say which, so the operator knows what to clean by hand.
 */
function warnSkippedPlugins(ctx: RuntimeContext, key: AttachmentKey, ran: NetworkConfigList, given: NetworkConfigList): void {
  const givenTypes = new Set(given.plugins.map((p) => p.type));
  const skipped = [...new Set(ran.plugins.map((p) => p.type).filter((type) => !givenTypes.has(type)))];
  if (skipped.length === 0) return;
  ctx.warn(
    new CniError(CNI_ERROR_CODES.invalidNetworkConfig, `DEL of ${attachmentName(key)} did not run plugin${skipped.length === 1 ? "" : "s"} ${skipped.join(", ")}`, "they ran at ADD but are not in the configuration DEL used: what they set up on the host stays", {
      reason: "pluginsSkipped",
    }),
  );
}

/**
 * Whether a DEL failure is the configuration's own: it names a version the plugin does not speak,
 * a field or a config it refuses, or a plugin that is not installed. The same failure again is
 * certain; the caller's configuration may not have it.
 */
export function isConfigFailure(error: CniError): boolean {
  const codes: number[] = [CNI_ERROR_CODES.incompatibleVersion, CNI_ERROR_CODES.unsupportedField, CNI_ERROR_CODES.invalidNetworkConfig, CNI_ERROR_CODES.pluginNotAvailable];
  return codes.includes(error.code) && error.reason !== "timeout";
}

/** DEL of `list`'s plugins with the cached result as prevResult (from 0.4.0 on); the errors, none when it worked. */
async function delWithList(ctx: RuntimeContext, list: NetworkConfigList, entry: CachedAttachment | null, rt: RuntimeConf, resultVersion: string): Promise<CniError[]> {
  const plugins = await resolvePluginsForTeardown(ctx, list);
  let prevResult: VersionedResult | null = null;
  // The cached result on DEL came with 0.4.0.
  if (compareVersions(list.cniVersion, "0.4.0") >= 0) {
    try {
      prevResult = cachedPrevResult(entry, list.cniVersion, resultVersion);
    } catch (error) {
      ctx.warn(asCniError(error));
    }
  }
  return delPlugins(ctx, list, plugins, rt, prevResult);
}
