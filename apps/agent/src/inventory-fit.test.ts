import { describe, expect, it } from "vitest";
import superjson from "superjson";
import { AGENT_BODY_BUDGET_BYTES, AGENT_MAX_BODY_BYTES_MIN, Inventory, type Inventory as InventoryValue } from "@switchyard/api/schemas";
import { fitInventory } from "./inventory-fit";

const hex = (i: number, n: number) => i.toString(16).padStart(n, "0").slice(-n);
const uuid = (i: number) => `${hex(i, 8)}-1234-4567-89ab-${hex(i, 12)}`;

/** A host at every list's limit, with the names real runtimes give (containerd's netns, 64-hex container ids). */
function fullHost(): InventoryValue {
  return {
    hostname: "edge-box-0123.lab.example.com",
    kernel: "6.1.0-28-amd64",
    addresses: Array.from({ length: 256 }, (_, i) => ({ ifName: `veth${hex(i, 8)}`, address: `fe80::${hex(i, 4)}:${hex(i * 7, 4)}:${hex(i * 13, 4)}:${hex(i * 17, 4)}/64` })),
    plugins: Array.from({ length: 128 }, (_, i) => ({ name: `plugin-${i}`, path: `/usr/lib/cni/plugin-${i}`, executable: true, cniVersion: "1.0.0", supportedVersions: ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"] })),
    cniPath: ["/opt/cni/bin", "/usr/lib/cni"],
    netnsDir: "/var/run/netns",
    namespaces: Array.from({ length: 4096 }, (_, i) => `cni-${uuid(i)}`),
    confDir: "/etc/cni/net.d",
    confFiles: Array.from({ length: 512 }, (_, i) => ({ file: `/etc/cni/net.d/10-network-${i}.conflist`, networkName: `network-${i}`, digest: hex(i, 64) })),
    cacheDir: "/var/lib/cni",
    cachedAttachments: Array.from({ length: 4096 }, (_, i) => ({ networkName: "network-123", containerId: hex(i, 64), ifName: "eth0", netns: `/var/run/netns/cni-${uuid(i)}` })),
    ipForward: { v4: true, v6: false },
    tools: { nft: true, iptables: true, ip: true },
    masquerade: Array.from({ length: 512 }, (_, i) => ({ networkName: `network-${i}`, subnet: "10.88.0.0/16, fd00:88::/64", containerId: hex(i, 64), present: true })),
    networkStatus: Array.from({ length: 512 }, (_, i) => ({ networkName: `network-${i}`, ready: true })),
    lastReconcile: { at: new Date(), staleDeleted: 0, gcNetworks: 3, errors: Array.from({ length: 50 }, () => "e".repeat(200)), warnings: [] },
    lastSubscriptionEventAt: new Date(),
    pushStream: { open: true, since: new Date() },
  };
}

/** What the heartbeat's body weighs: superjson, as the agent's client sends it. */
const heartbeatBytes = (inventory: InventoryValue) => Buffer.byteLength(JSON.stringify(superjson.serialize({ agentVersion: "1.0.0", inventory })));

describe("fitInventory (issue 15 §2)", () => {
  it("sends a host at every list's limit whole: 1.2 MB, within the 1.5 MiB budget, the console taking at least 3 MiB", () => {
    const inventory = fullHost();
    const bytes = heartbeatBytes(inventory);
    expect(bytes).toBeGreaterThan(1_100_000);
    expect(bytes).toBeLessThan(AGENT_BODY_BUDGET_BYTES);
    expect(AGENT_MAX_BODY_BYTES_MIN).toBeGreaterThanOrEqual(2 * AGENT_BODY_BUDGET_BYTES);
    expect(fitInventory(inventory)).toEqual(inventory);
  });

  it("cuts a host beyond that to the budget, heaviest list first, and says what it cut", () => {
    const inventory = fullHost();
    // Every network and conf file failing with a long error: 2.2 MB, over the console's 2 MiB default.
    inventory.networkStatus = inventory.networkStatus.map((n) => ({ ...n, ready: false, error: "e".repeat(1000) }));
    inventory.confFiles = inventory.confFiles.map((c) => ({ file: c.file, error: "e".repeat(1000) }));
    expect(heartbeatBytes(inventory)).toBeGreaterThan(2 * 1024 * 1024);
    const fitted = fitInventory(inventory);
    expect(heartbeatBytes(fitted)).toBeLessThanOrEqual(AGENT_BODY_BUDGET_BYTES);
    expect(Inventory.safeParse(fitted).success).toBe(true);
    expect(fitted.truncated?.length).toBeGreaterThan(0);
    for (const field of fitted.truncated!) expect((fitted as unknown as Record<string, unknown[]>)[field]!.length).toBeLessThan((inventory as unknown as Record<string, unknown[]>)[field]!.length);
    // What was not cut is all there.
    expect(fitted.plugins).toEqual(inventory.plugins);
  });

  it("leaves out the entries the console's schema refuses, instead of having every heartbeat refused for them", () => {
    const inventory = fullHost();
    inventory.namespaces = ["ok-1", "n".repeat(255), "ok-2"];
    inventory.hostname = `${"h".repeat(63)}.${"h".repeat(63)}.${"h".repeat(63)}.${"h".repeat(61)}`;
    inventory.cachedAttachments = [...inventory.cachedAttachments.slice(0, 10), { networkName: "x", containerId: "c".repeat(250), ifName: "eth0", netns: "/run/netns/x" }];
    inventory.addresses = [...inventory.addresses, { ifName: "extra", address: "10.0.0.1/8" }];
    expect(Inventory.safeParse(inventory).success).toBe(false);
    const fitted = fitInventory(inventory);
    expect(Inventory.safeParse(fitted).success).toBe(true);
    expect(fitted.namespaces).toEqual(["ok-1", "ok-2"]);
    expect(fitted.hostname).toHaveLength(200);
    expect(fitted.cachedAttachments).toHaveLength(10);
    expect(fitted.addresses).toHaveLength(256);
    expect(fitted.truncated).toEqual(["addresses", "cachedAttachments", "hostname", "namespaces"]);
  });
});
