export {
  type ConfigIssue,
  type ConfigResult,
  type IssuePath,
  Conflist,
  DnsConfig,
  HostLocalIpam,
  HostLocalRange,
  IpamConfig,
  PluginConfig,
  Route,
  StaticAddress,
  StaticIpam,
} from "./types";
export {
  type CniVersion,
  SUPPORTED_CNI_VERSIONS,
  compareVersions,
  effectiveCniVersion,
  isSupportedCniVersion,
} from "./versions";
export {
  type ValidateOptions,
  DEFAULT_MAX_DEPTH,
  NETWORK_NAME_MAX_LENGTH,
  NETWORK_NAME_RE,
  PLUGIN_TYPE_MAX_LENGTH,
  RESERVED_KEYS,
  RESERVED_KEY_PREFIX,
  pluginTypeProblem,
  validateConflist,
} from "./validate";
export { type ParseOptions, DEFAULT_MAX_BYTES, confToConflist, locateIssues, parseNetworkConfig } from "./parse";
export { type OtherNetwork, findSubnetOverlaps, networkSubnets } from "./overlap";
export { DEFAULT_CONFLIST_PRIORITY, conflistFileName, isSingleConfText, serializeConflist } from "./serialize";
export { KNOWN_PLUGINS } from "./plugins";
export { IFNAME_MAX_BYTES, SAFE_NAME_RE, ifNameProblem } from "./check";
export { formatConfig } from "./format";
