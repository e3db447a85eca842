import { describe, expect, it } from "vitest";
import { findSubnetOverlaps, networkSubnets } from "./overlap";
import type { Conflist } from "./types";

const hostLocalNet = (name: string, ...sets: string[][]): Conflist => ({
  cniVersion: "1.0.0",
  name,
  plugins: [{ type: "bridge", ipam: { type: "host-local", ranges: sets.map((s) => s.map((subnet) => ({ subnet }))) } }],
});

describe("networkSubnets", () => {
  it("lists host-local ranges, the legacy subnet and static addresses as networks", () => {
    const conflist: Conflist = {
      cniVersion: "1.0.0",
      name: "a",
      plugins: [
        { type: "bridge", ipam: { type: "host-local", subnet: "10.5.0.7/24", ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00:1::/64" }]] } },
        { type: "macvlan", ipam: { type: "static", addresses: [{ address: "192.168.7.9/24" }] } },
        { type: "third-party", ipam: { type: "dhcp" } },
      ],
    };
    expect(networkSubnets(conflist)).toEqual(["10.5.0.0/24", "10.1.0.0/24", "fd00:1::/64", "192.168.7.0/24"]);
  });
});

describe("findSubnetOverlaps", () => {
  it("warns naming the other network and both subnets", () => {
    const mine = hostLocalNet("web", ["10.1.0.0/24"], ["fd00:1::/64"]);
    const others = [
      { name: "db", conflist: hostLocalNet("db", ["10.1.0.0/16"]) },
      { name: "cache", conflist: hostLocalNet("cache", ["10.2.0.0/24"], ["fd00:1::/48"]) },
      { name: "web", conflist: hostLocalNet("web", ["10.1.0.0/24"]) },
    ];
    expect(findSubnetOverlaps(mine, others)).toEqual([
      {
        path: ["plugins", 0, "ipam", "ranges", 0, 0, "subnet"],
        severity: "warning",
        message: 'subnet "10.1.0.0/24" overlaps subnet "10.1.0.0/16" of network "db": containers on both could get the same addresses',
      },
      {
        path: ["plugins", 0, "ipam", "ranges", 1, 0, "subnet"],
        severity: "warning",
        message: 'subnet "fd00:1::/64" overlaps subnet "fd00:1::/48" of network "cache": containers on both could get the same addresses',
      },
    ]);
  });

  it("finds nothing across families or disjoint subnets", () => {
    expect(findSubnetOverlaps(hostLocalNet("a", ["10.1.0.0/24"]), [{ name: "b", conflist: hostLocalNet("b", ["10.1.1.0/24"], ["fd00::/8"]) }])).toEqual([]);
  });
});
