import { describe, expect, it } from "vitest";
import { groupBlocksByHost, parseBlockSize, spanLabel } from "./block-math";

describe("per-host blocks on the page", () => {
  it("a block size is a prefix or a count; anything else is refused with what would be right", () => {
    expect(parseBlockSize(" /26 ")).toEqual({ ok: true, value: "/26" });
    expect(parseBlockSize("64")).toEqual({ ok: true, value: 64 });
    expect(parseBlockSize("sixty")).toEqual({ ok: false, message: 'block size "sixty" is not a size: give a prefix length like "/26" or a number of addresses like 64' });
    expect(parseBlockSize("/26/")).toMatchObject({ ok: false });
  });

  it("an aligned block reads as a CIDR, a clipped one as its range", () => {
    expect(spanLabel("10.1.0.64", "10.1.0.127")).toBe("10.1.0.64/26");
    expect(spanLabel("fd00::100", "fd00::1ff")).toBe("fd00::100/120");
    expect(spanLabel("10.1.0.10", "10.1.0.63")).toBe("10.1.0.10 – 10.1.0.63");
    expect(spanLabel("10.1.0.96", "10.1.0.159")).toBe("10.1.0.96 – 10.1.0.159");
  });

  it("a host with two blocks is extended; used and capacity add up over its blocks", () => {
    const at = new Date("2026-12-06T08:00:00Z");
    const later = new Date("2026-12-06T09:00:00Z");
    const hosts = groupBlocksByHost([
      { hostId: "b", hostName: "beta", first: "10.1.0.0", last: "10.1.0.63", size: 64, leases: 64, createdAt: at },
      { hostId: "a", hostName: "alpha", first: "10.1.0.64", last: "10.1.0.127", size: 64, leases: 3, createdAt: at },
      { hostId: "b", hostName: "beta", first: "10.1.0.128", last: "10.1.0.191", size: 64, leases: 2, createdAt: later },
    ]);
    expect(hosts.map((h) => [h.hostName, h.blocks.length, h.leases, h.capacity])).toEqual([["alpha", 1, 3, 64], ["beta", 2, 66, 128]]);
    expect(hosts[1]!.since).toEqual(at);
    expect(hosts.map((h) => h.extensions)).toEqual([0, 1]);
  });

  it("a dual-stack host starts with a block of each family: not extended", () => {
    const at = new Date("2026-12-06T08:00:00Z");
    const [h] = groupBlocksByHost([
      { hostId: "a", hostName: "alpha", first: "10.1.0.0", last: "10.1.0.63", size: 64, leases: 1, createdAt: at },
      { hostId: "a", hostName: "alpha", first: "fd00::", last: "fd00::3f", size: 64, leases: 1, createdAt: at },
    ]);
    expect(h!.extensions).toBe(0);
  });
});
