/** An interface created or used by a plugin (1.1.0 result). */
export interface CniInterface {
  name: string;
  mac?: string;
  /** Since 1.1.0. */
  mtu?: number;
  sandbox?: string;
  /** Since 1.1.0. */
  socketPath?: string;
  /** Since 1.1.0. */
  pciID?: string;
}

export interface CniIpConfig {
  /** CIDR notation, e.g. "10.1.0.5/24". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  /** The next five are since 1.1.0. */
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A result in the shape of the newest spec version (1.1.0); every result is converted to it. */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

/** A result as a plugin of a given version reads or writes it (JSON object). */
export type VersionedResult = Record<string, unknown> & { cniVersion: string };
