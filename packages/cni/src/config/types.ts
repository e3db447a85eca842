// zod/mini: the same schemas without the classic API and its locales, which cost every start of
// switchyard-cni ~60 ms (bench/README.md); validate.ts only proves the type with them.
import * as z from "zod/mini";

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
  nameservers: z.optional(z.array(z.string())),
  domain: z.optional(z.string()),
  search: z.optional(z.array(z.string())),
  options: z.optional(z.array(z.string())),
});
export type DnsConfig = z.infer<typeof DnsConfig>;

/** `ipam` of a plugin; `{}` (no type) is how bridge and macvlan are told "no addresses". */
export const IpamConfig = z.looseObject({ type: z.optional(z.string()) });
export type IpamConfig = z.infer<typeof IpamConfig>;

export const Route = z.looseObject({ dst: z.string(), gw: z.optional(z.string()) });
export type Route = z.infer<typeof Route>;

export const HostLocalRange = z.looseObject({
  subnet: z.string(),
  rangeStart: z.optional(z.string()),
  rangeEnd: z.optional(z.string()),
  gateway: z.optional(z.string()),
});
export type HostLocalRange = z.infer<typeof HostLocalRange>;

export const HostLocalIpam = z.looseObject({
  type: z.literal("host-local"),
  ranges: z.optional(z.array(z.array(HostLocalRange))),
  subnet: z.optional(z.string()),
  rangeStart: z.optional(z.string()),
  rangeEnd: z.optional(z.string()),
  gateway: z.optional(z.string()),
  routes: z.optional(z.array(Route)),
  dataDir: z.optional(z.string()),
  resolvConf: z.optional(z.string()),
});
export type HostLocalIpam = z.infer<typeof HostLocalIpam>;

export const StaticAddress = z.looseObject({ address: z.string(), gateway: z.optional(z.string()) });
export type StaticAddress = z.infer<typeof StaticAddress>;

export const StaticIpam = z.looseObject({
  type: z.literal("static"),
  addresses: z.optional(z.array(StaticAddress)),
  routes: z.optional(z.array(Route)),
  dns: z.optional(DnsConfig),
});
export type StaticIpam = z.infer<typeof StaticIpam>;

/** One plugin configuration object; unknown keys are kept because CNI passes them to the plugin. */
export const PluginConfig = z.looseObject({
  type: z.string(),
  capabilities: z.optional(z.record(z.string(), z.boolean())),
  ipam: z.optional(IpamConfig),
  dns: z.optional(DnsConfig),
});
export type PluginConfig = z.infer<typeof PluginConfig>;

/** A network configuration list (conflist) as stored and written to /etc/cni/net.d. */
export const Conflist = z.looseObject({
  cniVersion: z.string(),
  cniVersions: z.optional(z.array(z.string())),
  name: z.string(),
  disableCheck: z.optional(z.boolean()),
  disableGC: z.optional(z.boolean()),
  loadOnlyInlinedPlugins: z.optional(z.boolean()),
  plugins: z.array(PluginConfig).check(z.minLength(1)),
});
export type Conflist = z.infer<typeof Conflist>;
