import { z } from "zod";
import { IpamFinding, IpAddressText, IPAM_LIMITS, IpamNetworkSnapshot } from "./ipam";

/**
 * What an agent sends the console of its host's IPAM: per network, one row per address with where
 * it was seen (the agent merges its lease files, result cache and namespaces into this view).
 * A full report replaces what the console holds for the host; a change report carries what changed
 * since the last report the console acknowledged. Large networks go in parts: a part of a full
 * report replaces the leases within its address span only, so parts are independent and each is
 * idempotent (a retried part changes nothing more).
 */
export const IPAM_REPORT_LIMITS = {
  /** Leases in one request: ~1.3 MB of JSON, inside the agent endpoint's body limit. */
  leasesPerRequest: 10_000,
  networksPerRequest: 64,
} as const;

/** Where an address was seen on its host (bits): its lease file, the result cache, its namespace. */
export const SEEN_IN = { leaseFile: 1, resultCache: 2, namespace: 4 } as const;

export const ReportedLease = z.object({
  address: IpAddressText,
  containerId: IpamNetworkSnapshot.shape.leases.element.shape.containerId,
  ifName: IpamNetworkSnapshot.shape.leases.element.shape.ifName,
  seenIn: z.number().int().min(1).max(7),
  /** The holder's namespace as the result cache names it ("" when no cache entry names one). */
  netns: z.string().max(1024).optional(),
  /** Whether that namespace still exists: false is a leak's strongest evidence; null when unknown. */
  netnsAlive: z.boolean().nullable().optional(),
});
export type ReportedLease = z.infer<typeof ReportedLease>;

const Leases = z.array(ReportedLease).max(IPAM_REPORT_LIMITS.leasesPerRequest);

const NetworkHeader = z.object({
  networkName: IpamNetworkSnapshot.shape.networkName,
  dataDir: z.string().max(1024),
  digest: IpamNetworkSnapshot.shape.digest,
  /** Leases the host holds in this network in all (the parts of a full report add up to it). */
  leaseCount: z.number().int().min(0).max(IPAM_LIMITS.leasesPerNetwork),
  findings: z.array(IpamFinding).max(IPAM_LIMITS.findingsPerNetwork),
});

export const IpamReportNetwork = z.discriminatedUnion("mode", [
  NetworkHeader.extend({
    mode: z.literal("replace"),
    /** The addresses this part covers, both ends included; null is unbounded (the first and last part). */
    span: z.object({ from: IpAddressText.nullable(), to: IpAddressText.nullable() }),
    leases: Leases,
  }),
  NetworkHeader.extend({
    mode: z.literal("change"),
    upserted: Leases,
    removed: z.array(IpAddressText).max(IPAM_REPORT_LIMITS.leasesPerRequest),
  }),
]);
export type IpamReportNetwork = z.infer<typeof IpamReportNetwork>;

export const IpamReport = z
  .object({
    takenAt: z.number().int().min(0),
    networks: z.array(IpamReportNetwork).max(IPAM_REPORT_LIMITS.networksPerRequest),
    /**
     * Sent with the last request of a full report: every network the host has. The console
     * releases the leases of networks it holds for the host that are not among them.
     */
    allNetworks: z.array(IpamNetworkSnapshot.shape.networkName).max(IPAM_LIMITS.networks).optional(),
  })
  .superRefine((r, ctx) => {
    const leases = r.networks.reduce((n, net) => n + (net.mode === "replace" ? net.leases.length : net.upserted.length + net.removed.length), 0);
    if (leases > IPAM_REPORT_LIMITS.leasesPerRequest) {
      ctx.addIssue({ code: "custom", path: ["networks"], message: `${leases} leases in one report: at most ${IPAM_REPORT_LIMITS.leasesPerRequest} (send parts)` });
    }
  });
export type IpamReport = z.infer<typeof IpamReport>;
