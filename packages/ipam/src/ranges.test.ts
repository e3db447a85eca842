import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { type IpFamily, familyBits, ipFromBigint } from "./address";
import { createRangeMatcher, normaliseIpamRanges } from "./ranges";

describe("normaliseIpamRanges", () => {
  it("fills a legacy range as host-local does: .1 to .254, gateway .1", () => {
    const out = normaliseIpamRanges({ type: "host-local", subnet: "10.1.0.0/24" });
    expect(out.issues).toEqual([]);
    expect(out.dataDir).toBeUndefined();
    expect(out.rangeSets).toEqual([[{ family: 4, subnet: "10.1.0.0/24", start: "10.1.0.1", end: "10.1.0.254", gateway: "10.1.0.1", rangeSet: 0 }]]);
  });

  it("puts ipRanges, then the legacy range, then `ranges` in host-local's order, IPv4 and IPv6", () => {
    const out = normaliseIpamRanges(
      {
        subnet: "10.2.0.0/16",
        rangeStart: "10.2.1.10",
        rangeEnd: "10.2.1.20",
        gateway: "10.2.0.254",
        dataDir: "/var/lib/cni/other",
        ranges: [[{ subnet: "fd00:1::/64" }], [{ subnet: "10.3.0.0/24" }, { subnet: "10.4.0.0/24", rangeStart: "10.4.0.100" }]],
      },
      { ipRanges: [[{ subnet: "10.9.0.0/24" }]] },
    );
    expect(out.issues).toEqual([]);
    expect(out.dataDir).toBe("/var/lib/cni/other");
    expect(out.rangeSets.map((s) => s.map((r) => `${r.rangeSet} ${r.subnet} ${r.start}-${r.end} gw ${r.gateway}`))).toEqual([
      ["0 10.9.0.0/24 10.9.0.1-10.9.0.254 gw 10.9.0.1"],
      ["1 10.2.0.0/16 10.2.1.10-10.2.1.20 gw 10.2.0.254"],
      ["2 fd00:1::/64 fd00:1::1-fd00:1::ffff:ffff:ffff:ffff gw fd00:1::1"],
      ["3 10.3.0.0/24 10.3.0.1-10.3.0.254 gw 10.3.0.1", "3 10.4.0.0/24 10.4.0.100-10.4.0.254 gw 10.4.0.1"],
    ]);
  });

  it("counts the defaults from the address as written when host bits are set (host-local keeps them)", () => {
    const r = normaliseIpamRanges({ subnet: "10.1.0.5/24" }).rangeSets[0]?.[0];
    expect(r).toMatchObject({ subnet: "10.1.0.0/24", start: "10.1.0.6", gateway: "10.1.0.6", end: "10.1.0.254" });
  });

  it("matches addresses of an IPv6 range that reaches into the IPv4-mapped block (found by the property below)", () => {
    const r = normaliseIpamRanges({ ranges: [[{ subnet: "::/80" }]] }).rangeSets[0]?.[0];
    expect(r).toMatchObject({ start: "::1", end: "::ffff:ffff:ffff" });
    const match = createRangeMatcher(r ? [r] : []);
    expect(match(ipFromBigint(6, 0xffff_0000_0001n))).toBe(r);
    expect(match(ipFromBigint(6, 0x1_0000_0000_0000n))).toBeUndefined();
  });

  it("reports what host-local would refuse, naming the field and the value, and keeps the rest", () => {
    const out = normaliseIpamRanges({
      ranges: [
        [{ subnet: "10.1.0.0/31" }],
        [{ subnet: "10.2.0.0/24", rangeStart: "10.3.0.1" }],
        [{ subnet: "10.4.0.0/24", rangeStart: "10.4.0.200", rangeEnd: "10.4.0.100" }],
        [{ subnet: "10.5.0.0/24", gateway: "fd00::1" }],
        [{ subnet: "10.6.0.0/24" }],
        ["nope"],
        [{ subnet: "10.6.0.128/25" }],
      ],
    });
    expect(out.rangeSets.map((s) => s.length)).toEqual([0, 0, 0, 0, 1, 0, 1]);
    const text = out.issues.map((i) => `${i.path}: ${i.message}`).join("\n");
    expect(text).toContain('ranges[0][0].subnet: ranges[0][0].subnet "10.1.0.0/31" is too small');
    expect(text).toContain('ranges[1][0].rangeStart: ranges[1][0].rangeStart "10.3.0.1" is outside subnet "10.2.0.0/24"');
    expect(text).toContain('rangeStart "10.4.0.200" is after rangeEnd "10.4.0.100"');
    expect(text).toContain('ranges[3][0].gateway "fd00::1" is IPv6 but the subnet is IPv4');
    expect(text).toContain('ranges[5][0] must be an object');
    expect(text).toContain("overlaps range 10.6.0.1-10.6.0.254 (set 4)");
  });

  it("names the legacy fields where they are written", () => {
    const out = normaliseIpamRanges({ subnet: "10.1.0.0/24", rangeEnd: "10.1.0.300" });
    expect(out.issues[0]?.path).toBe("ipam.rangeEnd");
    expect(out.rangeSets).toEqual([[]]);
  });

  it("never throws, whatever the section holds", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (ipam, ipRanges) => {
        const out = normaliseIpamRanges(ipam, { ipRanges });
        expect(Array.isArray(out.rangeSets)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

/** An address of `family` from a bigint taken modulo the family's space. */
const ipOf = (family: IpFamily, v: bigint) => ipFromBigint(family, ((v % (1n << BigInt(familyBits(family)))) + (1n << BigInt(familyBits(family)))) % (1n << BigInt(familyBits(family))));

const rangeInput = fc
  .record({
    family: fc.constantFrom<IpFamily>(4, 6),
    base: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
    prefixFrom: fc.integer({ min: 0, max: 126 }),
    a: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
    b: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
    withStart: fc.boolean(),
    withEnd: fc.boolean(),
  })
  .map(({ family, base, prefixFrom, a, b, withStart, withEnd }) => {
    const bits = familyBits(family);
    const prefix = prefixFrom % (bits - 1); // 0 … bits-2: what host-local allocates from
    const size = 1n << BigInt(bits - prefix);
    const network = ipOf(family, base).value & ~(size - 1n) & ((1n << BigInt(bits)) - 1n);
    const [lo, hi] = [a % size, b % size].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)) as [bigint, bigint];
    return {
      family,
      prefix,
      network,
      size,
      subnet: `${ipFromBigint(family, network).text}/${prefix}`,
      rangeStart: withStart ? ipFromBigint(family, network + lo).text : undefined,
      rangeEnd: withEnd ? ipFromBigint(family, network + hi).text : undefined,
    };
  });

describe("normaliseIpamRanges properties", () => {
  it("gives every range a start ≤ end inside its subnet and a gateway inside it, with host-local's defaults", () => {
    fc.assert(
      fc.property(rangeInput, (input) => {
        const out = normaliseIpamRanges({ ranges: [[{ subnet: input.subnet, rangeStart: input.rangeStart, rangeEnd: input.rangeEnd }]] });
        // Read back with ipaddr.js itself: an IPv6 range may end in the IPv4-mapped block, which parseIp refuses.
        const value = (t: string) => ipaddr.parse(t).toByteArray().reduce((v, byte) => (v << 8n) | BigInt(byte), 0n);
        const last = input.network + input.size - 1n;
        const defaultStart = input.network + 1n;
        const defaultEnd = input.family === 4 ? last - 1n : last;
        const start = input.rangeStart ? value(input.rangeStart) : defaultStart;
        const end = input.rangeEnd ? value(input.rangeEnd) : defaultEnd;
        // A given IPv6 start or end in the IPv4-mapped block (::ffff:0:0/96) is refused with its own issue.
        const mapped = (t: string | undefined) => t !== undefined && input.family === 6 && (ipaddr.parse(t) as ipaddr.IPv6).isIPv4MappedAddress();
        if (mapped(input.rangeStart) || mapped(input.rangeEnd)) {
          expect(out.issues.some((i) => i.message.includes("embeds an IPv4 address in IPv6 form"))).toBe(true);
          return;
        }
        if (start > end) {
          expect(out.rangeSets).toEqual([[]]);
          expect(out.issues.length).toBe(1);
          return;
        }
        expect(out.issues).toEqual([]);
        const r = out.rangeSets[0]?.[0];
        if (!r) throw new Error("no range");
        expect(r.subnet).toBe(input.subnet);
        expect(value(r.start)).toBe(start);
        expect(value(r.end)).toBe(end);
        expect(value(r.gateway)).toBe(defaultStart);
        for (const v of [value(r.start), value(r.end), value(r.gateway)]) {
          expect(v >= input.network && v <= last).toBe(true);
        }
        // The matcher agrees with the bounds, at and just past each edge.
        const match = createRangeMatcher([r]);
        for (const [v, inside] of [[start, true], [end, true], [start - 1n, false], [end + 1n, false]] as const) {
          if (v < 0n || v >= 1n << BigInt(familyBits(input.family))) continue;
          expect(match(ipFromBigint(input.family, v)) !== undefined).toBe(inside);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
