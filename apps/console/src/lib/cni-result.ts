import type { schemas } from "@switchyard/api";

export type CniResult = schemas.AttachmentResult;

/** The attachment's addresses in CIDR notation, e.g. ["10.88.0.5/16"] (the domain parsed the result). */
export function addressesOf(result: CniResult | null): string[] {
  return result?.ips.map((ip) => ip.address) ?? [];
}

/**
 * The gateway a route uses: its own `gw`, or, when it has none (CNI: "the plugin's default"), the
 * gateway of the result's address of the same family, which is where host-local's routes go.
 */
export function routeGateway(route: CniResult["routes"][number], result: CniResult): { gateway: string; implied: boolean } | null {
  if (route.gw) return { gateway: route.gw, implied: false };
  const v6 = route.dst.includes(":");
  const ip = result.ips.find((i) => i.gateway && i.gateway.includes(":") === v6);
  return ip?.gateway ? { gateway: ip.gateway, implied: true } : null;
}
