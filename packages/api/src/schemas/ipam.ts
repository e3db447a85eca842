import { NETWORK_NAME_MAX_LENGTH, SAFE_NAME_RE, SAFE_NAME_RULE } from "@switchyard/cni/names";
import { LEASE_FINDING_KINDS, parseIp } from "@switchyard/ipam";
import { z } from "zod";

/**
 * What an agent reports of its host's IPAM state (issue 11): one snapshot when it connects, then
 * deltas. The one definition for the agent (which builds and checks them) and the console
 * (which re-validates them at the boundary). Every array and string is bounded: a host with a
 * /16's worth of leases fits, a hostile report does not get further than parsing.
 */
export const IPAM_LIMITS = {
  networks: 512,
  /** A /16 and spare: the reader's default entry cap (DEFAULT_MAX_ENTRIES of @switchyard/ipam/host-local). */
  leasesPerNetwork: 70_000,
  cachedPerNetwork: 70_000,
  namespacesPerNetwork: 4096,
  addressesPerHolder: 64,
  /** The reader's 1,000 plus its two summary findings, plus the agent's own. */
  findingsPerNetwork: 1100,
  rangesPerNetwork: 256,
  reservedIps: 64,
} as const;

/** Findings of the host-local reader, and the agent's own about the network's config, cache and namespaces. */
export const IPAM_FINDING_KINDS = [
  ...LEASE_FINDING_KINDS,
  /** The config's dataDir is outside the directories the agent may read (default /var/lib/cni). */
  "data-dir-not-allowed",
  /** The ipam section has ranges host-local would refuse. */
  "ipam-config",
  /** A result cache file that could not be read or parsed. */
  "cache-unreadable",
  /** The addresses in an attachment's namespace could not be read. */
  "namespace-unreadable",
  /** A lease's container has cached attachments on this host, but only on other networks. */
  "holder-on-other-network",
] as const;
export const IpamFindingKind = z.enum(IPAM_FINDING_KINDS);
export type IpamFindingKind = z.infer<typeof IpamFindingKind>;

// A canonical dotted quad (no leading zeros): the common case, checked without parsing (50,000 leases a snapshot).
const IPV4_RE = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;
/** An address in canonical form (dotted quad, RFC 5952): what host-local names its files. */
export const IpAddressText = z
  .string()
  .min(2)
  .max(45)
  .refine((v) => {
    if (IPV4_RE.test(v)) return true;
    const parsed = parseIp(v);
    return parsed.ok && parsed.value.text === v;
  }, "must be an IPv4 or IPv6 address in canonical form");
/** `address/prefix`, as results and `ip addr` give them. */
export const IpPrefixText = z
  .string()
  .max(49)
  .regex(/^[0-9a-fA-F.:]+\/(0|[1-9][0-9]{0,2})$/, "must be an address with its prefix length, like 10.1.0.5/24");

const NetworkName = z.string().min(1).max(NETWORK_NAME_MAX_LENGTH).regex(SAFE_NAME_RE, SAFE_NAME_RULE);
/** Other runtimes' container ids (podman, containerd: 64 hex) are longer than ours; empty when the holder is unknown. */
const ContainerId = z.string().max(256).regex(/^([a-zA-Z0-9][a-zA-Z0-9_.-]*)?$/, "must be a container id or empty");
const IfName = z.string().max(64).regex(/^[^\s/:]*$/, "must be an interface name or empty");
const Path = z.string().max(1024);

export const IpamFinding = z.object({ kind: IpamFindingKind, file: z.string().max(300), reason: z.string().max(1000) });
export type IpamFinding = z.infer<typeof IpamFinding>;

export const IpamLease = z.object({
  address: IpAddressText,
  containerId: ContainerId,
  /** Empty for lease files written before plugins 0.8, and when the file could not be read. */
  ifName: IfName,
  mtimeMs: z.number().int().min(0),
});
export type IpamLease = z.infer<typeof IpamLease>;

/** What an attachment's result cache entry says it got. */
export const IpamCachedResult = z.object({
  containerId: ContainerId,
  ifName: IfName,
  netns: Path,
  /** Whether the namespace the cache names is still a network namespace (nsfs); null when it names none. */
  netnsAlive: z.boolean().nullable().optional(),
  addresses: z.array(IpPrefixText).max(IPAM_LIMITS.addressesPerHolder),
});
export type IpamCachedResult = z.infer<typeof IpamCachedResult>;

/** The addresses found in one of the agent's own attachments' namespaces (`ip -j addr`). */
export const IpamNamespaceAddresses = z.object({
  containerId: ContainerId,
  ifName: IfName,
  netns: Path,
  addresses: z.array(IpPrefixText).max(IPAM_LIMITS.addressesPerHolder),
});
export type IpamNamespaceAddresses = z.infer<typeof IpamNamespaceAddresses>;

/** One host-local range as normaliseIpamRanges (@switchyard/ipam) fills it in. */
export const IpamRange = z.object({
  family: z.union([z.literal(4), z.literal(6)]),
  subnet: IpPrefixText,
  start: z.string().min(2).max(45),
  end: z.string().min(2).max(45),
  gateway: z.string().min(2).max(45),
  rangeSet: z.number().int().min(0).max(63),
});

/**
 * Where the network's leases are read from: the config's `dataDir`, host-local's default, or
 * nowhere (an IPAM that keeps nothing on disk: static, dhcp; or no IPAM).
 */
export const IpamDataDir = z.object({ source: z.enum(["config", "default", "none"]), path: Path });

export const IpamNetworkSnapshot = z.object({
  networkName: NetworkName,
  /** Where the agent knows the network from: the console's configs, the host's conf dir, or both. */
  knownFrom: z.array(z.enum(["console", "confDir"])).min(1).max(2),
  ipamType: z.string().max(64),
  dataDir: IpamDataDir,
  ranges: z.array(IpamRange).max(IPAM_LIMITS.rangesPerNetwork),
  leases: z.array(IpamLease).max(IPAM_LIMITS.leasesPerNetwork),
  reservedIps: z.array(z.object({ rangeSet: z.number().int().min(0).max(999_999), address: IpAddressText })).max(IPAM_LIMITS.reservedIps),
  cached: z.array(IpamCachedResult).max(IPAM_LIMITS.cachedPerNetwork),
  namespaces: z.array(IpamNamespaceAddresses).max(IPAM_LIMITS.namespacesPerNetwork),
  findings: z.array(IpamFinding).max(IPAM_LIMITS.findingsPerNetwork),
  /** Of the lease directory (names, mtimes, sizes): equal digests, nothing to resend. */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  /** Entries in the lease directory, counted past the read cap. */
  entries: z.number().int().min(0),
  truncated: z.boolean(),
});
export type IpamNetworkSnapshot = z.infer<typeof IpamNetworkSnapshot>;

export const IpamSnapshot = z.object({
  takenAt: z.number().int().min(0),
  networks: z.array(IpamNetworkSnapshot).max(IPAM_LIMITS.networks),
});
export type IpamSnapshot = z.infer<typeof IpamSnapshot>;
