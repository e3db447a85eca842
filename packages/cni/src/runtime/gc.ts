import { removeCacheLeftovers, scanCachedAttachments } from "../cache";
import { compareVersions } from "../config/versions";
import { CniError } from "../errors";
import { buildPluginConfig } from "../exec/inject";
import type { NetworkConfigList } from "../load";
import { validateAttachmentIds } from "../netns";
import { type RuntimeContext, asCniError, configSourceOf, joinErrors, keyOf, resolvePlugins, resolvePluginsForTeardown, runPlugin, withAttachment } from "./context";
import { delAttachment } from "./del";
import type { GcOptions, RuntimeConf } from "./types";

/** libcni's GCNetworkList: DEL of every cached attachment not in the valid set, then GC of every plugin (≥ 1.1.0). */
export async function gcNetworkList(ctx: RuntimeContext, net: NetworkConfigList, opts: GcOptions): Promise<void> {
  if (net.disableGC) return;
  const source = configSourceOf(opts.configSource);
  const valid = opts.validAttachments.map((a) => {
    validateAttachmentIds({ networkName: net.name, containerId: a.containerId, ifName: a.ifName });
    return { containerID: a.containerId, ifname: a.ifName };
  });
  const plugins = await resolvePluginsForTeardown(ctx, net);
  const validKeys = new Set(valid.map((a) => `${a.containerID}\0${a.ifname}`));
  await ctx.lock().exclusive(async () => {
    const errors: CniError[] = [];
    // No write is in flight in any process now: temp files in results/ are leftovers of crashes.
    await removeCacheLeftovers(ctx.cacheDir);
    const scan = await scanCachedAttachments(ctx.cacheDir, net.name);
    for (const error of scan.errors) ctx.warn(error);
    for (const stale of scan.attachments) {
      if (validKeys.has(`${stale.containerId}\0${stale.ifName}`)) continue;
      const rt: RuntimeConf = { containerId: stale.containerId, ifName: stale.ifName, netns: stale.netns };
      try {
        validateAttachmentIds(keyOf(net, rt));
        await withAttachment(ctx, keyOf(net, rt), () => delAttachment(ctx, net, rt, { configSource: source }));
      } catch (error) {
        const e = asCniError(error);
        errors.push(new CniError(e.code, `failed to delete stale attachment ${stale.containerId} ${stale.ifName}`, e.message, { ...(e.reason ? { reason: e.reason } : {}), file: stale.file, cause: error }));
      }
    }
    if (compareVersions(net.cniVersion, "1.1.0") >= 0) {
      // libcni sends both keys: the spec first named it cni.dev/attachments (containernetworking/cni#1101).
      const inject = { "cni.dev/valid-attachments": valid, "cni.dev/attachments": valid };
      for (const plugin of plugins) {
        if (plugin instanceof CniError) {
          errors.push(plugin);
          continue;
        }
        try {
          await runPlugin(ctx, "GC", plugin, buildPluginConfig({ name: net.name, cniVersion: net.cniVersion, plugin: plugin.config, inject }), {});
        } catch (error) {
          errors.push(asCniError(error));
        }
      }
    }
    if (errors.length > 0) throw joinErrors(errors, "GC");
  });
}

/** libcni's GetStatusNetworkList: before 1.1.0 there is no STATUS, and the network counts as ready. */
export async function getStatusNetworkList(ctx: RuntimeContext, net: NetworkConfigList): Promise<void> {
  if (compareVersions(net.cniVersion, "1.1.0") < 0) return;
  const plugins = await resolvePlugins(ctx, net);
  for (const plugin of plugins) {
    await runPlugin(ctx, "STATUS", plugin, buildPluginConfig({ name: net.name, cniVersion: net.cniVersion, plugin: plugin.config }), {});
  }
}
