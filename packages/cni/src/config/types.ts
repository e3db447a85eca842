import { z } from "zod";

export type IssuePath = (string | number)[];

/** One problem found in a network configuration; offset/length point into the source text when known. */
export interface ConfigIssue {
  path: IssuePath;
  message: string;
  severity: "error" | "warning";
  offset?: number;
  length?: number;
}

export type ConfigResult =
  | { ok: true; conflist: Conflist; warnings: ConfigIssue[] }
  | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] };

export const DnsConfig = z.looseObject({
  nameservers: z.array(z.string()).optional(),
  domain: z.string().optional(),
  search: z.array(z.string()).optional(),
  options: z.array(z.string()).optional(),
});
export type DnsConfig = z.infer<typeof DnsConfig>;

/** `ipam` of a plugin; `{}` (no type) is how bridge and macvlan are told "no addresses". */
export const IpamConfig = z.looseObject({ type: z.string().optional() });
export type IpamConfig = z.infer<typeof IpamConfig>;

export const Route = z.looseObject({ dst: z.string(), gw: z.string().optional() });
export type Route = z.infer<typeof Route>;

export const HostLocalRange = z.looseObject({
  subnet: z.string(),
  rangeStart: z.string().optional(),
  rangeEnd: z.string().optional(),
  gateway: z.string().optional(),
});
export type HostLocalRange = z.infer<typeof HostLocalRange>;

export const HostLocalIpam = z.looseObject({
  type: z.literal("host-local"),
  ranges: z.array(z.array(HostLocalRange)).optional(),
  subnet: z.string().optional(),
  rangeStart: z.string().optional(),
  rangeEnd: z.string().optional(),
  gateway: z.string().optional(),
  routes: z.array(Route).optional(),
  dataDir: z.string().optional(),
  resolvConf: z.string().optional(),
});
export type HostLocalIpam = z.infer<typeof HostLocalIpam>;

export const StaticAddress = z.looseObject({ address: z.string(), gateway: z.string().optional() });
export type StaticAddress = z.infer<typeof StaticAddress>;

export const StaticIpam = z.looseObject({
  type: z.literal("static"),
  addresses: z.array(StaticAddress).optional(),
  routes: z.array(Route).optional(),
  dns: DnsConfig.optional(),
});
export type StaticIpam = z.infer<typeof StaticIpam>;

/** One plugin configuration object; unknown keys are kept because CNI passes them to the plugin. */
export const PluginConfig = z.looseObject({
  type: z.string(),
  capabilities: z.record(z.string(), z.boolean()).optional(),
  ipam: IpamConfig.optional(),
  dns: DnsConfig.optional(),
});
export type PluginConfig = z.infer<typeof PluginConfig>;

/** A network configuration list (conflist) as stored and written to /etc/cni/net.d. */
export const Conflist = z.looseObject({
  cniVersion: z.string(),
  cniVersions: z.array(z.string()).optional(),
  name: z.string(),
  disableCheck: z.boolean().optional(),
  disableGC: z.boolean().optional(),
  loadOnlyInlinedPlugins: z.boolean().optional(),
  plugins: z.array(PluginConfig).min(1),
});
export type Conflist = z.infer<typeof Conflist>;
