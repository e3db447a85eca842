import type { VersionedResult } from "../result/types";

export interface BuildPluginConfigInput {
  name: string;
  cniVersion: string;
  plugin: Record<string, unknown>;
  prevResult?: VersionedResult | null;
  capabilityArgs?: Record<string, unknown>;
  /** Further keys set by the runtime (e.g. cni.dev/valid-attachments for GC). */
  inject?: Record<string, unknown>;
}

/** The capability args a plugin receives: those it enables in `capabilities` and the caller supplied. */
export function pluginRuntimeConfig(plugin: Record<string, unknown>, capabilityArgs: Record<string, unknown> = {}): Record<string, unknown> {
  const capabilities = plugin.capabilities;
  const out: Record<string, unknown> = {};
  if (typeof capabilities !== "object" || capabilities === null) return out;
  for (const [key, enabled] of Object.entries(capabilities)) {
    if (enabled === true && Object.hasOwn(capabilityArgs, key) && capabilityArgs[key] !== undefined) out[key] = capabilityArgs[key];
  }
  return out;
}

/**
 * The stdin of one plugin execution (libcni's buildOneConfig): the plugin's config with the
 * network's name and cniVersion, runtimeConfig and prevResult set by the runtime. Any
 * runtimeConfig or prevResult already in the stored config is dropped, so a stored config
 * cannot smuggle capability args (e.g. runtimeConfig.ipRanges) past the caller.
 */
export function buildPluginConfig(input: BuildPluginConfigInput): Record<string, unknown> {
  const { runtimeConfig: _rc, prevResult: _pr, ...rest } = input.plugin;
  const config: Record<string, unknown> = { ...rest, cniVersion: input.cniVersion, name: input.name };
  const runtimeConfig = pluginRuntimeConfig(input.plugin, input.capabilityArgs);
  if (Object.keys(runtimeConfig).length > 0) config.runtimeConfig = runtimeConfig;
  if (input.prevResult) config.prevResult = input.prevResult;
  if (input.inject) Object.assign(config, input.inject);
  return config;
}
