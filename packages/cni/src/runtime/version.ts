import { CNI_ERROR_CODES, CniError } from "../errors";
import { findPlugin } from "../exec/find";
import type { NetworkConfigList } from "../load";
import { LATEST_CNI_VERSION } from "../result/convert";
import { type ResolvedPlugin, type RuntimeContext, asCniError, joinErrors, resolvePlugin, runPlugin } from "./context";
import type { PluginVersionInfo } from "./types";

async function versionOf(ctx: RuntimeContext, plugin: ResolvedPlugin): Promise<PluginVersionInfo> {
  let stdout: string;
  try {
    stdout = await runPlugin(ctx, "VERSION", plugin, { cniVersion: LATEST_CNI_VERSION }, {});
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

/** libcni's GetVersionInfo. */
export async function getVersionInfo(ctx: RuntimeContext, pluginType: string): Promise<PluginVersionInfo> {
  const path = await findPlugin(pluginType, ctx.pluginDirs);
  return versionOf(ctx, { type: pluginType, path, config: {} });
}

/** libcni's ValidateNetworkList: every plugin exists and supports the list's version; the capabilities. */
export async function validateNetworkList(ctx: RuntimeContext, net: NetworkConfigList): Promise<{ capabilities: string[] }> {
  const errors: CniError[] = [];
  const capabilities = new Set<string>();
  for (const plugin of net.plugins) {
    try {
      const info = await versionOf(ctx, await resolvePlugin(ctx, plugin));
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
