import { describe, expect, it } from "vitest";
import {
  addressCount,
  checkRange,
  cidrContains,
  cidrContainsCidr,
  cidrsOverlap,
  firstAddress,
  firstUsable,
  lastAddress,
  lastUsable,
  toCidr,
} from "./cidr";
import { IpamError } from "./errors";

describe("cidrContains", () => {
  it("checks IPv4 membership at the edges", () => {
    expect(cidrContains("10.1.0.0/24", "10.1.0.0")).toBe(true);
    expect(cidrContains("10.1.0.0/24", "10.1.0.255")).toBe(true);
    expect(cidrContains("10.1.0.0/24", "10.1.1.0")).toBe(false);
    expect(cidrContains("10.0.255.255/32", "10.0.255.255")).toBe(true);
    expect(cidrContains("10.0.255.255/32", "10.0.255.254")).toBe(false);
    expect(cidrContains("0.0.0.0/0", "255.255.255.255")).toBe(true);
  });

  it("checks IPv6 membership at the edges", () => {
    expect(cidrContains("fd00:1::/64", "fd00:1::ffff:ffff:ffff:ffff")).toBe(true);
    expect(cidrContains("fd00:1::/64", "fd00:1:0:1::")).toBe(false);
    expect(cidrContains("fd00::1/128", "fd00::1")).toBe(true);
    expect(cidrContains("fd00::1/128", "fd00::2")).toBe(false);
    expect(cidrContains("::/0", "ffff::1")).toBe(true);
  });

  it("never matches across families", () => {
    expect(cidrContains("0.0.0.0/0", "::1")).toBe(false);
    expect(cidrContains("::/0", "10.0.0.1")).toBe(false);
  });

  it("reads a CIDR with host bits as its network", () => {
    expect(cidrContains("10.1.0.77/24", "10.1.0.3")).toBe(true);
  });

  it("throws IpamError naming the malformed input", () => {
    expect(() => cidrContains("10.1.0.0/33", "10.1.0.1")).toThrow(IpamError);
    try {
      cidrContains("10.1.0.0/24", "10.1.0.999");
    } catch (error) {
      expect(error).toBeInstanceOf(IpamError);
      expect((error as IpamError).kind).toBe("invalid-address");
      expect((error as IpamError).input).toBe("10.1.0.999");
    }
  });
});

describe("cidrContainsCidr and cidrsOverlap", () => {
  it("nests and overlaps IPv4 networks", () => {
    expect(cidrContainsCidr("10.0.0.0/8", "10.1.0.0/16")).toBe(true);
    expect(cidrContainsCidr("10.1.0.0/16", "10.0.0.0/8")).toBe(false);
    expect(cidrContainsCidr("10.1.0.0/16", "10.1.0.0/16")).toBe(true);
    expect(cidrsOverlap("10.1.0.0/16", "10.0.0.0/8")).toBe(true);
    expect(cidrsOverlap("10.0.0.0/8", "10.1.2.3/32")).toBe(true);
    expect(cidrsOverlap("10.1.0.0/24", "10.1.1.0/24")).toBe(false);
    expect(cidrsOverlap("10.1.0.0/23", "10.1.1.0/24")).toBe(true);
    expect(cidrsOverlap("0.0.0.0/0", "192.168.0.0/16")).toBe(true);
  });

  it("nests and overlaps IPv6 networks", () => {
    expect(cidrContainsCidr("fd00::/8", "fd12:3456::/32")).toBe(true);
    expect(cidrsOverlap("fd00:1::/64", "fd00:1::/48")).toBe(true);
    expect(cidrsOverlap("fd00:1::/64", "fd00:2::/64")).toBe(false);
    expect(cidrsOverlap("::/0", "fd00::1/128")).toBe(true);
  });

  it("never overlaps across families", () => {
    expect(cidrsOverlap("0.0.0.0/0", "::/0")).toBe(false);
    expect(cidrContainsCidr("::/0", "10.0.0.0/8")).toBe(false);
  });
});

describe("counts and bounds", () => {
  it("counts addresses as bigint", () => {
    expect(addressCount("10.0.0.0/24")).toBe(256n);
    expect(addressCount("10.0.0.1/32")).toBe(1n);
    expect(addressCount("0.0.0.0/0")).toBe(4294967296n);
    expect(addressCount("fd00::/64")).toBe(18446744073709551616n);
    expect(addressCount("::/0")).toBe(1n << 128n);
    expect(addressCount("fd00::1/128")).toBe(1n);
  });

  it("gives first, last and usable IPv4 addresses", () => {
    expect(firstAddress("10.1.0.9/24").text).toBe("10.1.0.0");
    expect(lastAddress("10.1.0.0/24").text).toBe("10.1.0.255");
    expect(firstUsable("10.1.0.0/24").text).toBe("10.1.0.1");
    expect(lastUsable("10.1.0.0/24").text).toBe("10.1.0.254");
    expect([firstUsable("10.1.0.0/31").text, lastUsable("10.1.0.0/31").text]).toEqual(["10.1.0.0", "10.1.0.1"]);
    expect([firstUsable("10.1.0.5/32").text, lastUsable("10.1.0.5/32").text]).toEqual(["10.1.0.5", "10.1.0.5"]);
    expect([firstUsable("0.0.0.0/0").text, lastUsable("0.0.0.0/0").text]).toEqual(["0.0.0.1", "255.255.255.254"]);
  });

  it("gives first, last and usable IPv6 addresses (no broadcast)", () => {
    expect(firstUsable("fd00::/64").text).toBe("fd00::1");
    expect(lastUsable("fd00::/64").text).toBe("fd00::ffff:ffff:ffff:ffff");
    expect(lastAddress("::/0").text).toBe("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    expect([firstUsable("fd00::9/128").text, lastUsable("fd00::9/128").text]).toEqual(["fd00::9", "fd00::9"]);
    expect([firstUsable("fd00::/127").text, lastUsable("fd00::/127").text]).toEqual(["fd00::", "fd00::1"]);
  });

  it("accepts parsed CIDRs as well as text", () => {
    const c = toCidr("10.2.0.0/16");
    expect(addressCount(c)).toBe(65536n);
    expect(cidrContains(c, "10.2.3.4")).toBe(true);
  });
});

describe("checkRange", () => {
  it("accepts a range inside the subnet, and open ends", () => {
    expect(checkRange({ subnet: "10.1.0.0/24", rangeStart: "10.1.0.10", rangeEnd: "10.1.0.20" })).toEqual([]);
    expect(checkRange({ subnet: "10.1.0.0/24", rangeStart: "10.1.0.10" })).toEqual([]);
    expect(checkRange({ subnet: "fd00::/64", rangeEnd: "fd00::ff" })).toEqual([]);
    expect(checkRange({ subnet: "10.1.0.0/24", rangeStart: "10.1.0.7", rangeEnd: "10.1.0.7" })).toEqual([]);
  });

  it("reports each end outside the subnet with the subnet's bounds", () => {
    const issues = checkRange({ subnet: "10.1.0.0/24", rangeStart: "10.2.0.10", rangeEnd: "10.1.1.0" });
    expect(issues).toEqual([
      {
        kind: "start-outside-subnet",
        field: "rangeStart",
        message: 'rangeStart "10.2.0.10" is outside subnet "10.1.0.0/24": must be between "10.1.0.0" and "10.1.0.255"',
      },
      {
        kind: "end-outside-subnet",
        field: "rangeEnd",
        message: 'rangeEnd "10.1.1.0" is outside subnet "10.1.0.0/24": must be between "10.1.0.0" and "10.1.0.255"',
      },
    ]);
  });

  it("reports a start after the end, including against the default end", () => {
    expect(checkRange({ subnet: "10.1.0.0/24", rangeStart: "10.1.0.20", rangeEnd: "10.1.0.10" })).toEqual([
      {
        kind: "start-after-end",
        field: "rangeStart",
        message: 'rangeStart "10.1.0.20" is after rangeEnd "10.1.0.10": the start must not be greater than the end',
      },
    ]);
    expect(checkRange({ subnet: "10.1.0.0/24", rangeStart: "10.1.0.255" })[0]?.kind).toBe("start-after-end");
  });

  it("reports mixed families and malformed ends", () => {
    expect(checkRange({ subnet: "fd00::/64", rangeStart: "10.0.0.1" })).toEqual([
      { kind: "family-mismatch", field: "rangeStart", message: 'rangeStart "10.0.0.1" is IPv4 but subnet "fd00::/64" is IPv6' },
    ]);
    const bad = checkRange({ subnet: "10.0.0.0/8", rangeEnd: "10.0.0" });
    expect(bad[0]).toMatchObject({ kind: "invalid-end", field: "rangeEnd" });
    expect(bad[0]?.message).toContain('rangeEnd "10.0.0" is not a valid IPv4 address');
  });
});
