export {
  type Cidr,
  type IpAddress,
  type IpFamily,
  type IpParseError,
  type IpParseErrorKind,
  type ParseCidrOptions,
  type ParseResult,
  IP_PARSE_ERROR_KINDS,
  compareIps,
  familyBits,
  ipFamily,
  ipFromBigint,
  isIpv4,
  isIpv6,
  parseCidr,
  parseIp,
} from "./address";
export {
  type AddressRange,
  type CidrInput,
  type IpInput,
  type RangeErrorKind,
  type RangeIssue,
  RANGE_ERROR_KINDS,
  addressCount,
  checkRange,
  cidrContains,
  cidrContainsCidr,
  cidrsOverlap,
  firstAddress,
  firstUsable,
  lastAddress,
  lastUsable,
  toCidr,
  toIp,
} from "./cidr";
export { IPAM_ERROR_CODES, type IpamErrorCode, IpamError } from "./errors";
export {
  type IpamRanges,
  type NormaliseIpamOptions,
  type NormalisedRange,
  type RangeSetIssue,
  DEFAULT_HOST_LOCAL_DATA_DIR,
  createRangeMatcher,
  normaliseIpamRanges,
} from "./ranges";
export { LEASE_FINDING_KINDS, type LeaseFindingKind } from "./findings";
// The host-local store reader uses node:fs: it is "@switchyard/ipam/host-local", so this entry stays browser-safe.
