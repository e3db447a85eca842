import { describe, expect, it } from "vitest";
import { readInventory, readPortMappings, readResult, toAttachmentView } from "./parsed";

describe("JSON columns read into typed shapes", () => {
  it("reads a stored inventory: ISO dates become Dates, lists an older agent did not send read as empty", () => {
    const inv = readInventory({
      hostname: "h1", kernel: "6.1", addresses: [{ ifName: "eth0", address: "192.0.2.1/24" }], plugins: [], cniPath: [], netnsDir: "/run/netns", namespaces: ["a"],
      confDir: "/etc/cni/net.d", confFiles: [], cacheDir: "/var/lib/cni", cachedAttachments: [], ipForward: { v4: true, v6: null }, tools: { nft: true, iptables: false, ip: true },
      pushStream: { open: true, since: "2026-12-05T10:00:00.000Z" },
      lastReconcile: { at: "2026-12-05T10:01:00.000Z", staleDeleted: 1, gcNetworks: 2, errors: [] },
    });
    expect(inv?.pushStream?.since).toEqual(new Date("2026-12-05T10:00:00.000Z"));
    expect(inv?.lastReconcile?.at).toEqual(new Date("2026-12-05T10:01:00.000Z"));
    expect(inv?.masquerade).toEqual([]);
    expect(inv?.networkStatus).toEqual([]);
    expect(inv?.namespaces).toEqual(["a"]);
    expect(readInventory(null)).toBeNull();
    expect(readInventory([1])).toBeNull();
  });

  it("reads a CNI result with its lists always present, and port mappings with their protocol", () => {
    expect(readResult({ cniVersion: "1.1.0", ips: [{ address: "10.0.0.2/24", gateway: "10.0.0.1", interface: 0 }] })).toEqual({
      cniVersion: "1.1.0", interfaces: [], ips: [{ address: "10.0.0.2/24", gateway: "10.0.0.1", interface: 0 }], routes: [],
    });
    expect(readResult(null)).toBeNull();
    expect(readPortMappings({ portMappings: [{ hostPort: 80, containerPort: 8080 }, { hostPort: "x" }] })).toEqual([{ hostPort: 80, containerPort: 8080, protocol: "tcp" }]);
    expect(readPortMappings({})).toEqual([]);
    expect(toAttachmentView({ id: "a", result: null, capabilityArgs: { portMappings: [{ hostPort: 81, containerPort: 1, protocol: "udp", hostIP: "::" }] } })).toEqual({
      id: "a", result: null, capabilityArgs: { portMappings: [{ hostPort: 81, containerPort: 1, protocol: "udp", hostIP: "::" }] }, portMappings: [{ hostPort: 81, containerPort: 1, protocol: "udp", hostIP: "::" }],
    });
  });
});
