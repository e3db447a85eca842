import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ipFromBigint, toIp } from "@switchyard/ipam";
import { carveReservations } from "./ipamReservationHoles";

const net = (ipam: Record<string, unknown>) => ({ cniVersion: "1.0.0", name: "n", plugins: [{ type: "bridge", bridge: "br0", ipam: { type: "host-local", ...ipam } }, { type: "portmap" }] });
const rangesOf = (c: ReturnType<typeof net>) => ((c.plugins[0] as { ipam: unknown }).ipam as { ranges: { rangeStart: string; rangeEnd: string }[][] }).ranges;

describe("carveReservations", () => {
  it("cuts a reserved span out of the range it falls in; subnet and gateway stay, the other plugins too", () => {
    const out = carveReservations(net({ subnet: "10.9.0.0/24", gateway: "10.9.0.1" }), [{ first: "10.9.0.10", last: "10.9.0.12" }]);
    expect(rangesOf(out)).toEqual([
      [
        // host-local starts at the first address after the network one and skips the gateway itself.
        { subnet: "10.9.0.0/24", gateway: "10.9.0.1", rangeStart: "10.9.0.1", rangeEnd: "10.9.0.9" },
        { subnet: "10.9.0.0/24", gateway: "10.9.0.1", rangeStart: "10.9.0.13", rangeEnd: "10.9.0.254" },
      ],
    ]);
    expect(out.plugins[1]).toEqual({ type: "portmap" });
    expect((out.plugins[0]!.ipam as Record<string, unknown>).subnet).toBeUndefined();
  });

  it("leaves a config no reservation touches as it was, the same object", () => {
    const c = net({ ranges: [[{ subnet: "10.9.0.0/24" }]] });
    expect(carveReservations(c, [{ first: "10.8.0.5", last: "10.8.0.5" }])).toBe(c);
    expect(carveReservations(c, [])).toBe(c);
  });

  it("a reservation at either end of a range, and one that covers it all (kept: host-local refuses an empty set)", () => {
    const c = net({ ranges: [[{ subnet: "10.9.0.0/29" }]] });
    expect(rangesOf(carveReservations(c, [{ first: "10.9.0.1", last: "10.9.0.2" }]))[0]!.map((r) => [r.rangeStart, r.rangeEnd])).toEqual([["10.9.0.3", "10.9.0.6"]]);
    expect(rangesOf(carveReservations(c, [{ first: "10.9.0.6", last: "10.9.0.6" }]))[0]!.map((r) => [r.rangeStart, r.rangeEnd])).toEqual([["10.9.0.1", "10.9.0.5"]]);
    expect(carveReservations(c, [{ first: "10.9.0.0", last: "10.9.0.7" }])).toBe(c);
  });

  it("property: no reserved address stays in a range, and every other address of the range does", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 8 })), { maxLength: 5 }), (spans) => {
        const reserved = spans.map(([a, n]) => ({ first: `10.9.0.${a}`, last: `10.9.0.${Math.min(63, a + n)}` }));
        const c = net({ ranges: [[{ subnet: "10.9.0.0/26" }]] });
        const out = carveReservations(c, reserved);
        const ranges = out === c ? [{ rangeStart: "10.9.0.1", rangeEnd: "10.9.0.62" }] : rangesOf(out)[0]!;
        const inRanges = (v: bigint) => ranges.some((r) => toIp(r.rangeStart).value <= v && v <= toIp(r.rangeEnd).value);
        const isReserved = (v: bigint) => reserved.some((r) => toIp(r.first).value <= v && v <= toIp(r.last).value);
        const base = toIp("10.9.0.0").value;
        const usable = Array.from({ length: 62 }, (_, i) => base + BigInt(i + 1));
        if (out === c) return usable.every(isReserved) || reserved.every((r) => !usable.some((v) => toIp(r.first).value <= v && v <= toIp(r.last).value));
        for (const v of usable) expect(inRanges(v)).toBe(!isReserved(v));
        expect(ranges.every((r) => toIp(r.rangeStart).value <= toIp(r.rangeEnd).value)).toBe(true);
        return ipFromBigint(4, base).text === "10.9.0.0";
      }),
    );
  });
});
