export * from "./config";
export {
  CNI_ERROR_CODES,
  CNI_ERROR_REASONS,
  type CniErrorCode,
  type CniErrorName,
  type CniErrorOptions,
  type CniErrorReason,
  CniError,
  formatIssuePath,
} from "./errors";
export {
  type CachedAttachmentSummary,
  type CniRuntime,
  type CniRuntimeOptions,
  type ConfigSource,
  type DelOptions,
  type GcOptions,
  type PluginVersionInfo,
  type RuntimeConf,
  createCniRuntime,
} from "./runtime";
export { type LoadOptions, type NetworkConfigList, CONF_EXTENSIONS, loadConfDir, loadNetworkList, loadNetworkListFile } from "./load";
export * from "./result";
export { type ExecEvent, execPlugin } from "./exec/invoke";
export { type ProcessHooks, type ProcessRun, type ProcessSpec, type Spawner, createHelperSpawner, inProcessSpawner } from "./exec/spawner";
export { type CniVerb, PLUGIN_ENV_ALLOW_LIST, buildPluginEnv, formatCniArgs, validatePassEnv } from "./exec/env";
export { findPlugin } from "./exec/find";
export { buildPluginConfig, pluginRuntimeConfig } from "./exec/inject";
export {
  type AttachmentKey,
  type CachedAttachment,
  CNI_CACHE_KIND,
  DEFAULT_CACHE_DIR,
  cacheFilePath,
  parseCachedAttachment,
  serializeCachedAttachment,
} from "./cache";
export { NSFS_MAGIC, checkNetns, validateAttachmentIds, validateContainerId, validateIfName, validateNetworkName } from "./netns";
export { createKeyedMutex } from "./lock";
export { type WriteFileAtomicOptions, FileError, describeFsError, writeFileAtomic } from "./files";
