import type { CniResult } from "@switchyard/cni/result";

export type { CniResult };

/** An attachment's stored CNI result (1.1.0 shape), or null when it has none yet. */
export function readResult(json: unknown): CniResult | null {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return null;
  const r = json as Partial<CniResult>;
  return {
    cniVersion: typeof r.cniVersion === "string" ? r.cniVersion : "",
    interfaces: Array.isArray(r.interfaces) ? r.interfaces : [],
    ips: Array.isArray(r.ips) ? r.ips : [],
    routes: Array.isArray(r.routes) ? r.routes : [],
    ...(r.dns && typeof r.dns === "object" ? { dns: r.dns } : {}),
  };
}

/** The attachment's addresses in CIDR notation, e.g. ["10.88.0.5/16"]. */
export function addressesOf(json: unknown): string[] {
  return readResult(json)?.ips?.map((ip) => ip.address) ?? [];
}
