import { describe, expect, it } from "vitest";
import { compareIps, ipFamily, ipFromBigint, isIpv4, isIpv6, parseCidr, parseIp } from "./address";

describe("parseIp", () => {
  it("parses IPv4 and IPv6 to canonical text and integer value", () => {
    expect(parseIp("10.1.0.1")).toEqual({ ok: true, value: { family: 4, text: "10.1.0.1", value: 0x0a010001n } });
    const v6 = parseIp("2001:DB8:0:0::1");
    expect(v6).toEqual({ ok: true, value: { family: 6, text: "2001:db8::1", value: 0x20010db8000000000000000000000001n } });
    expect(parseIp("0.0.0.0")).toMatchObject({ ok: true, value: { value: 0n } });
    expect(parseIp("255.255.255.255")).toMatchObject({ ok: true, value: { value: 0xffffffffn } });
    expect(parseIp("::")).toMatchObject({ ok: true, value: { family: 6, text: "::", value: 0n } });
  });

  it.each([
    ["10.1", "invalid-address"],
    ["0x0a.0.0.1", "invalid-address"],
    ["010.0.0.1", "invalid-address"],
    ["256.0.0.1", "invalid-address"],
    ["10.0.0.1 ", "invalid-address"],
    ["1::2::3", "invalid-address"],
    ["12345::1", "invalid-address"],
    ["fe80::1%eth0", "zone-not-allowed"],
    ["::ffff:10.0.0.1", "ipv4-mapped"],
    ["::ffff:a00:1", "ipv4-mapped"],
    ["", "empty"],
    ["1".repeat(46), "too-long"],
  ])("refuses %j as %s", (input, kind) => {
    const result = parseIp(input);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.kind).toBe(kind);
      expect(result.error.input).toBe(input);
    }
  });

  it("explains the expected IPv4 form and the IPv4-mapped alternative", () => {
    const bad = parseIp("010.0.0.1");
    expect(!bad.ok && bad.error.message).toContain('"010.0.0.1" is not a valid IPv4 address');
    const mapped = parseIp("::ffff:10.0.0.1");
    expect(!mapped.ok && mapped.error.message).toContain('write it as plain IPv4 ("10.0.0.1")');
  });
});

describe("parseCidr", () => {
  it("parses network CIDRs of both families", () => {
    const v4 = parseCidr("10.1.0.0/16");
    expect(v4.ok && v4.value).toMatchObject({ family: 4, prefixLength: 16, text: "10.1.0.0/16", hasHostBits: false });
    const v6 = parseCidr("fd00:10::/64");
    expect(v6.ok && v6.value).toMatchObject({ family: 6, prefixLength: 64, text: "fd00:10::/64", hasHostBits: false });
  });

  it("handles /0, /32 and /128", () => {
    expect(parseCidr("0.0.0.0/0")).toMatchObject({ ok: true, value: { text: "0.0.0.0/0" } });
    expect(parseCidr("::/0")).toMatchObject({ ok: true, value: { text: "::/0" } });
    expect(parseCidr("10.0.0.7/32")).toMatchObject({ ok: true, value: { text: "10.0.0.7/32", hasHostBits: false } });
    expect(parseCidr("fd00::7/128")).toMatchObject({ ok: true, value: { text: "fd00::7/128", hasHostBits: false } });
  });

  it("reports host bits as their own error kind, naming the network", () => {
    const strict = parseCidr("10.1.0.5/24");
    expect(strict).toEqual({
      ok: false,
      error: { kind: "host-bits-set", input: "10.1.0.5/24", message: '"10.1.0.5/24" has host bits set: the network is "10.1.0.0/24"' },
    });
    const v6 = parseCidr("fd00::1/64");
    expect(!v6.ok && v6.error.kind).toBe("host-bits-set");
    expect(!v6.ok && v6.error.message).toContain('"fd00::/64"');
    const lenient = parseCidr("10.1.0.5/24", { allowHostBits: true });
    expect(lenient.ok && lenient.value).toMatchObject({
      hasHostBits: true,
      text: "10.1.0.0/24",
      address: { text: "10.1.0.5" },
      network: { text: "10.1.0.0" },
    });
    const anyOnZero = parseCidr("10.0.0.1/0", { allowHostBits: true });
    expect(anyOnZero.ok && anyOnZero.value.text).toBe("0.0.0.0/0");
  });

  it.each([
    ["10.0.0.0", "invalid-prefix"],
    ["10.0.0.0/", "invalid-prefix"],
    ["10.0.0.0/33", "invalid-prefix"],
    ["10.0.0.0/024", "invalid-prefix"],
    ["10.0.0.0/-1", "invalid-prefix"],
    ["10.0.0.0/24/1", "invalid-prefix"],
    ["fd00::/129", "invalid-prefix"],
    ["10.0.0/24", "invalid-address"],
    ["fe80::%eth0/64", "zone-not-allowed"],
    ["", "empty"],
  ])("refuses %j as %s", (input, kind) => {
    const result = parseCidr(input);
    expect(!result.ok && result.error.kind).toBe(kind);
  });

  it("says which prefix lengths are valid for the family", () => {
    const r = parseCidr("10.0.0.0/33");
    expect(!r.ok && r.error.message).toBe('"10.0.0.0/33" has an invalid prefix length "33": expected a decimal number 0–32 for IPv4');
    const r6 = parseCidr("fd00::/129");
    expect(!r6.ok && r6.error.message).toContain("0–128 for IPv6");
  });
});

describe("family helpers", () => {
  it("identifies families of addresses and CIDRs", () => {
    expect(ipFamily("10.0.0.1")).toBe(4);
    expect(ipFamily("fd00::/8")).toBe(6);
    expect(ipFamily("10.0.0.1/8")).toBe(4);
    expect(ipFamily("nope")).toBeUndefined();
    expect(isIpv4("10.0.0.1")).toBe(true);
    expect(isIpv4("10.0.0.0/8")).toBe(false);
    expect(isIpv6("::1")).toBe(true);
    expect(isIpv6("10.0.0.1")).toBe(false);
  });

  it("orders addresses within and across families", () => {
    const a = ipFromBigint(4, 1n);
    const b = ipFromBigint(4, 2n);
    const c = ipFromBigint(6, 0n);
    expect(compareIps(a, b)).toBe(-1);
    expect(compareIps(b, a)).toBe(1);
    expect(compareIps(a, a)).toBe(0);
    expect(compareIps(b, c)).toBeLessThan(0);
    expect(ipFromBigint(6, (1n << 128n) - 1n).text).toBe("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    expect(() => ipFromBigint(4, 1n << 32n)).toThrow(RangeError);
  });
});
