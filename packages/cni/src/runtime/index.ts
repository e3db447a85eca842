import { isIncompleteAdd, readCachedAttachment, scanCachedAttachments } from "../cache";
import type { NetworkConfigList } from "../load";
import { LATEST_CNI_VERSION, convertResult, parseResult } from "../result/convert";
import type { CniResult } from "../result/types";
import { addNetworkList } from "./add";
import { checkNetworkList } from "./check";
import { type RuntimeContext, createRuntimeContext, keyOf, validate } from "./context";
import { delCachedAttachment, delNetworkList } from "./del";
import { gcNetworkList, getStatusNetworkList } from "./gc";
import type { CachedAttachmentSummary, CniRuntime, CniRuntimeOptions, RuntimeConf } from "./types";
import { getVersionInfo, validateNetworkList } from "./version";

export type { CachedAttachmentSummary, CniRuntime, CniRuntimeOptions, ConfigSource, DelOptions, GcOptions, PluginVersionInfo, RuntimeConf } from "./types";

/** libcni's GetNetworkListCachedResult, in the 1.1.0 shape. */
async function getCachedResult(ctx: RuntimeContext, net: NetworkConfigList, rt: RuntimeConf): Promise<CniResult | null> {
  validate(net, rt);
  const entry = await readCachedAttachment(ctx.cacheDir, keyOf(net, rt));
  if (!entry?.result || isIncompleteAdd(entry)) return null;
  return convertResult(parseResult(entry.result, net.cniVersion), LATEST_CNI_VERSION) as unknown as CniResult;
}

/** libcni's GetCachedAttachments (of one network when given); unreadable files go to onWarning. */
async function listCachedAttachments(ctx: RuntimeContext, networkName?: string): Promise<CachedAttachmentSummary[]> {
  const scan = await scanCachedAttachments(ctx.cacheDir, networkName);
  for (const error of scan.errors) ctx.warn(error);
  return scan.attachments.map(({ networkName: n, containerId, ifName, netns, file, entry }) => ({
    networkName: n,
    containerId,
    ifName,
    netns,
    file,
    ...(isIncompleteAdd(entry) ? { addIncomplete: true as const } : {}),
  }));
}

/** Creates a CNI runtime: libcni's CNIConfig, with locking, validation and a Go-compatible cache. */
export function createCniRuntime(options: CniRuntimeOptions): CniRuntime {
  const ctx = createRuntimeContext(options);
  return {
    addNetworkList: (net, rt) => addNetworkList(ctx, net, rt),
    checkNetworkList: (net, rt) => checkNetworkList(ctx, net, rt),
    delNetworkList: (net, rt, opts) => delNetworkList(ctx, net, rt, opts),
    getStatusNetworkList: (net) => getStatusNetworkList(ctx, net),
    gcNetworkList: (net, opts) => gcNetworkList(ctx, net, opts),
    getCachedResult: (net, rt) => getCachedResult(ctx, net, rt),
    delCachedAttachment: (key) => delCachedAttachment(ctx, key),
    listCachedAttachments: (networkName) => listCachedAttachments(ctx, networkName),
    getVersionInfo: (pluginType) => getVersionInfo(ctx, pluginType),
    validateNetworkList: (net) => validateNetworkList(ctx, net),
  };
}
