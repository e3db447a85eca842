import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomSuffix } from "./netns";

export const PLUGIN_DIRS = ["/opt/cni/bin", "/usr/lib/cni"];
/** Debian's plugins (1.1.1) speak up to 1.0.0. */
export const PLUGIN_CNI_VERSION = "1.0.0";

export interface TestDirs {
  root: string;
  cacheDir: string;
  dataDir: string;
  remove(): Promise<void>;
}

/** An isolated result cache and host-local dataDir for one test. */
export async function createTestDirs(): Promise<TestDirs> {
  const root = await mkdtemp(join(tmpdir(), "sytest-cni-"));
  return {
    root,
    cacheDir: join(root, "cache"),
    dataDir: join(root, "ipam"),
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

/** A unique network name, a bridge name (sy + 8 hex, ≤ 15 bytes) and subnets in 10.x / fd00::/8. */
export function uniqueNames(): { network: string; bridge: string; v4Subnet: string; v6Subnet: string; octet: number } {
  const hex = randomSuffix();
  // 10.200-249.<n>.0/24 from the random bytes: collisions between concurrently running tests are unlikely
  // and each test has its own dataDir anyway; the subnet only matters for routes on the host.
  const n = Number.parseInt(hex.slice(0, 4), 16);
  const octet = 200 + (n % 50);
  const third = (n >> 6) % 256;
  return {
    network: `sytest-${hex}`,
    bridge: `sy${hex}`,
    v4Subnet: `10.${octet}.${third}.0/24`,
    v6Subnet: `fd00:5959:${hex.slice(0, 4)}:${hex.slice(4, 8)}::/64`,
    octet,
  };
}

export function hostLocal(dataDir: string, subnets: string[]): Record<string, unknown> {
  return { type: "host-local", dataDir, ranges: subnets.map((subnet) => [{ subnet }]) };
}

export interface BridgeNetOptions {
  dataDir: string;
  ipv4?: boolean;
  ipv6?: boolean;
  /** Extra plugins chained after bridge (portmap, bandwidth, firewall, tuning …). */
  chain?: Record<string, unknown>[];
  isGateway?: boolean;
  ipMasq?: boolean;
}

/** bridge + host-local conflist; IPv6 networks do not set isGateway so the plugin leaves IPv6 forwarding alone. */
export function bridgeConflist(opts: BridgeNetOptions) {
  const names = uniqueNames();
  const subnets = [...(opts.ipv4 !== false ? [names.v4Subnet] : []), ...(opts.ipv6 ? [names.v6Subnet] : [])];
  const conflist = {
    cniVersion: PLUGIN_CNI_VERSION,
    name: names.network,
    plugins: [
      {
        type: "bridge",
        bridge: names.bridge,
        isGateway: opts.isGateway ?? false,
        ipMasq: opts.ipMasq ?? false,
        ipam: hostLocal(opts.dataDir, subnets),
      },
      ...(opts.chain ?? []),
    ],
  };
  return { conflist, names, text: JSON.stringify(conflist) };
}
