export type { CniDns, CniInterface, CniIpConfig, CniResult, CniRoute, VersionedResult } from "./types";
export { LATEST_CNI_VERSION, type ResultFormat, convertResult, convertResultVersion, parseResult, resultFormat } from "./convert";
