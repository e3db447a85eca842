import { type AttachmentKey, type CachedAttachment, cacheFilePath, deleteCachedAttachment, isIncompleteAdd, readCachedAttachment, writeCachedAttachment } from "../cache";
import { CNI_ERROR_CODES, CniError } from "../errors";
import { buildPluginConfig } from "../exec/inject";
import { type NetworkConfigList, cachedConfigBytes } from "../load";
import { checkNetns } from "../netns";
import { hasInterface } from "../netns/interfaces";
import { LATEST_CNI_VERSION, convertResult, parseResult } from "../result/convert";
import type { CniResult, VersionedResult } from "../result/types";
import { type BridgePins, prepareBridgePins } from "./bridge-mac";
import { type ResolvedPlugin, type RuntimeContext, asCniError, attachmentName, keyOf, otherHolder, resolvePlugins, runPlugin, validate, withAttachment } from "./context";
import { delAttachment, delPlugins } from "./del";
import type { RuntimeConf } from "./types";

/** libcni's AddNetworkList, with locks, the one-ADD rule, and a rollback that leaves nothing behind. */
export async function addNetworkList(ctx: RuntimeContext, net: NetworkConfigList, rt: RuntimeConf): Promise<CniResult> {
  validate(net, rt);
  await checkNetns(rt.netns, ctx.netnsOptions);
  const plugins = await resolvePlugins(ctx, net);
  const key = keyOf(net, rt);
  return ctx.lock().shared(() =>
    withAttachment(ctx, key, async () => {
      // The spec forbids a second ADD without DEL; refusing it also keeps a failed
      // second ADD's rollback from tearing down the first, working attachment.
      const existing = await readCachedAttachment(ctx.cacheDir, key).catch(() => "corrupt" as const);
      if (existing && existing !== "corrupt" && isIncompleteAdd(existing)) {
        // What a failed ADD whose rollback failed left: no attachment exists, so this ADD goes
        // ahead — after a DEL of the leftovers (cached config, else this one), best effort.
        await clearIncompleteAdd(ctx, net, key, existing);
      } else if (existing) {
        throw new CniError(CNI_ERROR_CODES.invalidEnvironment, `attachment ${attachmentName(key)} already exists`, "DEL it first; a runtime must not ADD the same attachment twice", {
          reason: "alreadyAttached",
          file: cacheFilePath(ctx.cacheDir, key),
        });
      }
      // One interface name in a namespace belongs to one attachment, whatever the network: a
      // second ADD would fail in the plugin, and its rollback or a later DEL remove the first's.
      const holder = ctx.holders.find(rt.netns, rt.ifName, key);
      if (holder) {
        throw new CniError(
          CNI_ERROR_CODES.invalidEnvironment,
          `interface ${rt.ifName} in ${rt.netns} is held by attachment ${attachmentName(holder)}`,
          `DEL that attachment first, or ADD ${attachmentName(key)} with another ifname`,
          { reason: "ifnameInUse", file: holder.file },
        );
      }
      const release = ctx.holders.reserve({ ...key, netns: rt.netns, file: cacheFilePath(ctx.cacheDir, key) });
      let pins: BridgePins | undefined;
      try {
        pins = await prepareBridgePins(ctx, plugins);
        const result = await addPlugins(ctx, net, rt, plugins, key);
        await pins.afterAdd();
        return result;
      } finally {
        pins?.release();
        release();
      }
    }),
  );
}

/**
 * The namespace a failed ADD's rollback DEL may touch: none when the interface is not this ADD's —
 * another cached attachment holds it, or no plugin succeeded and it is there (it was there before:
 * the plugin refused to make it, e.g. "container veth name provided (eth0) already exists").
 */
async function rollbackNetns(ctx: RuntimeContext, key: AttachmentKey, netns: string, madeSomething: boolean): Promise<string> {
  const reason = otherHolder(ctx, key, netns);
  if (reason === undefined && madeSomething) return netns;
  if (reason === undefined) {
    const { options } = ctx;
    const present = await hasInterface(netns, key.ifName, { ...(options.spawner ? { spawner: options.spawner } : {}), path: (options.baseEnv ?? process.env).PATH ?? "" });
    if (present === false) return netns;
    if (present === undefined) ctx.warn(new CniError(CNI_ERROR_CODES.ioFailure, `cannot list the interfaces in ${netns}`, `nsenter failed: the rollback of ${attachmentName(key)} leaves the namespace alone`));
  }
  return "";
}

/** DEL of what an incomplete ADD left, in the namespace its rollback was allowed to touch; a failure is a warning. */
async function clearIncompleteAdd(ctx: RuntimeContext, net: NetworkConfigList, key: AttachmentKey, entry: CachedAttachment): Promise<void> {
  try {
    await delAttachment(ctx, net, { containerId: key.containerId, ifName: key.ifName, netns: entry.netns ?? "" }, {});
  } catch (error) {
    const e = asCniError(error);
    ctx.warn(new CniError(e.code, `DEL of what the failed ADD of ${attachmentName(key)} left failed; ADD goes ahead`, e.message, { ...(e.reason ? { reason: e.reason } : {}), file: cacheFilePath(ctx.cacheDir, key), cause: error }));
  }
}

function cacheEntry(net: NetworkConfigList, rt: RuntimeConf, prevResult: VersionedResult | null, addIncomplete = false): CachedAttachment {
  return {
    kind: "cniCacheV1",
    containerId: rt.containerId,
    config: cachedConfigBytes(net),
    ifName: rt.ifName,
    networkName: net.name,
    netns: rt.netns,
    ...(rt.args?.length ? { cniArgs: rt.args } : {}),
    ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}),
    ...(prevResult ? { result: prevResult } : {}),
    ...(addIncomplete ? { addIncomplete } : {}),
  };
}

/** ADD of every plugin in order; on failure, DEL of what this ADD did. Under the attachment's locks. */
async function addPlugins(ctx: RuntimeContext, net: NetworkConfigList, rt: RuntimeConf, plugins: ResolvedPlugin[], key: AttachmentKey): Promise<CniResult> {
  let prevResult: VersionedResult | null = null;
  let latest: CniResult | null = null;
  const run = { containerId: rt.containerId, netns: rt.netns, ifName: rt.ifName, ...(rt.args ? { args: rt.args } : {}) };
  try {
    for (const plugin of plugins) {
      const stdin = buildPluginConfig({ name: net.name, cniVersion: net.cniVersion, plugin: plugin.config, prevResult, ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}) });
      const stdout = await runPlugin(ctx, "ADD", plugin, stdin, run);
      let value: unknown;
      try {
        value = JSON.parse(stdout);
      } catch {
        throw new CniError(CNI_ERROR_CODES.decodeFailure, `plugin ${plugin.type} returned no valid result (ADD)`, stdout.trim() ? `stdout: ${JSON.stringify(stdout.slice(0, 300))}` : "stdout was empty", {
          reason: "badResult",
          plugin: plugin.type,
        });
      }
      latest = parseResult(value, net.cniVersion, (issue) => ctx.warn(new CniError(issue.code, `plugin ${plugin.type} returned a questionable result (ADD)`, issue.details, { reason: "badResult", plugin: plugin.type })));
      // Each plugin gets the previous result in the list's version, whatever the last one wrote.
      prevResult = convertResult(latest, net.cniVersion);
    }
    const file = await writeCachedAttachment(ctx.cacheDir, cacheEntry(net, rt, prevResult));
    ctx.holders.noteWritten({ ...key, netns: rt.netns, file });
  } catch (error) {
    // A failed ADD leaves nothing behind (containerd#12130): DEL the whole list — but only in
    // the namespace when the interface there is this ADD's.
    const undo: RuntimeConf = { ...rt, netns: await rollbackNetns(ctx, key, rt.netns, latest !== null) };
    const rollback = await delPlugins(ctx, net, plugins, undo, prevResult);
    if (rollback.length > 0) {
      // Keep what the failed DEL needs so a later DEL or GC can finish the job (and claim the
      // namespace only when the rollback was allowed to touch it).
      await writeCachedAttachment(ctx.cacheDir, cacheEntry(net, undo, prevResult, true)).catch(() => {});
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
    await deleteCachedAttachment(ctx.cacheDir, key).catch(() => {});
    throw error;
  }
  return convertResult(latest!, LATEST_CNI_VERSION) as unknown as CniResult;
}
