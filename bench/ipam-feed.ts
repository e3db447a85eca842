import type { NetworkView } from "../apps/agent/src/ipam/report";

/** The i-th address of the /16 10.<b>.0.0 from its .0.2 on. */
export const addressOf = (b: number, i: number) => `10.${b}.${(i + 2) >> 8}.${(i + 2) & 255}`;

/**
 * What the agent's snapshotViews gives for a network whose lease files hold `n` addresses of
 * 10.<b>.0.0/16: the view the IPAM benchmarks feed through the agent's own request builders.
 */
export function viewOf(networkName: string, n: number, b: number): NetworkView {
  const leases = new Map<string, { address: string; containerId: string; ifName: string; seenIn: number }>();
  for (let i = 0; i < n; i++) {
    const address = addressOf(b, i);
    leases.set(address, { address, containerId: `bench-ctr-${i}`, ifName: "eth0", seenIn: 1 });
  }
  return { networkName, dataDir: "/var/lib/cni/networks", digest: "a".repeat(64), findings: [], leases };
}
