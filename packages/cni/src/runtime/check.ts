import { isIncompleteAdd } from "../cache";
import { CNI_ERROR_CODES, CniError } from "../errors";
import { buildPluginConfig } from "../exec/inject";
import type { NetworkConfigList } from "../load";
import { checkNetns } from "../netns";
import { type RuntimeContext, asCniError, attachmentName, cachedNetworkList, cachedPrevResult, joinErrors, keyOf, readCache, requireVersion, resolvePlugins, runPlugin, validate, withAttachment } from "./context";
import type { RuntimeConf } from "./types";

/**
 * libcni's CheckNetworkList, with the cached config and arguments. Unlike libcni it asks every
 * plugin even after one failed, and reports them all (README: where we differ).
 */
export async function checkNetworkList(ctx: RuntimeContext, net: NetworkConfigList, rt: RuntimeConf): Promise<void> {
  requireVersion(net, "0.4.0", "CHECK");
  validate(net, rt);
  if (net.disableCheck) return;
  await checkNetns(rt.netns, ctx.netnsOptions);
  const key = keyOf(net, rt);
  await ctx.lock().shared(() =>
    withAttachment(ctx, key, async () => {
      const entry = await readCache(ctx, key, false);
      if (!entry?.result) {
        throw new CniError(CNI_ERROR_CODES.unknownContainer, `no cached result for network "${net.name}"`, `container ${rt.containerId} ifname ${rt.ifName}: ADD it first`, { reason: "noCachedResult" });
      }
      if (isIncompleteAdd(entry)) {
        throw new CniError(CNI_ERROR_CODES.unknownContainer, `attachment ${attachmentName(key)} was never made`, "its ADD failed and so did the rollback: DEL it (or ADD it again)", { reason: "noCachedResult" });
      }
      const cachedList = !entry.legacy && entry.config.length > 0 ? cachedNetworkList(entry.config, net) : undefined;
      const list = cachedList && cachedList.name === net.name ? cachedList : net;
      if (list.disableCheck) return;
      requireVersion(list, "0.4.0", "CHECK");
      const args = entry.legacy ? rt.args : entry.cniArgs;
      const capabilityArgs = entry.legacy ? rt.capabilityArgs : entry.capabilityArgs;
      const plugins = await resolvePlugins(ctx, list);
      const prevResult = cachedPrevResult(entry, list.cniVersion, list.cniVersion);
      const errors: CniError[] = [];
      for (const plugin of plugins) {
        const stdin = buildPluginConfig({ name: list.name, cniVersion: list.cniVersion, plugin: plugin.config, prevResult, ...(capabilityArgs ? { capabilityArgs } : {}) });
        try {
          await runPlugin(ctx, "CHECK", plugin, stdin, { containerId: rt.containerId, netns: rt.netns, ifName: rt.ifName, ...(args ? { args } : {}) });
        } catch (error) {
          errors.push(asCniError(error));
        }
      }
      if (errors.length > 0) throw joinErrors(errors, "CHECK");
    }),
  );
}
