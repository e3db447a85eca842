import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { toIp } from "@switchyard/ipam";
import { type BlockSpan, blockRangeSets, blockRanges, blockSizeProblem, nextFreeBlock, needsAnotherBlock, renderHostConflist } from "./ipamBlockMath";

const macvlan = (ipam: Record<string, unknown>) => ({ cniVersion: "1.0.0", name: "lan", plugins: [{ type: "macvlan", master: "eth0", ipam: { type: "host-local", ...ipam } }] });
const v = (text: string) => toIp(text).value;

/** The rendered host-local range set 0 as [start, end] values. */
function renderedRanges(conflist: unknown): { subnet: string; rangeStart: string; rangeEnd: string }[] {
  return (conflist as { plugins: { ipam: { ranges: { subnet: string; rangeStart: string; rangeEnd: string }[][] } }[] }).plugins[0]!.ipam.ranges[0]!;
}

describe("per-host blocks", () => {
  it("gives the first host the first block and the second the next, clipped to the range", () => {
    const net = macvlan({ ranges: [[{ subnet: "10.9.0.0/24", rangeStart: "10.9.0.10", rangeEnd: "10.9.0.200" }]] });
    const ranges = blockRanges(net);
    const a = nextFreeBlock(ranges, 64, [])!;
    const b = nextFreeBlock(ranges, 64, [a])!;
    expect(a).toEqual({ first: "10.9.0.10", last: "10.9.0.63" });
    expect(b).toEqual({ first: "10.9.0.64", last: "10.9.0.127" });
    const c = nextFreeBlock(ranges, 64, [a, b])!;
    expect(nextFreeBlock(ranges, 64, [a, b, c])).toEqual({ first: "10.9.0.192", last: "10.9.0.200" });
    expect(nextFreeBlock(ranges, 64, [a, b, c, { first: "10.9.0.192", last: "10.9.0.200" }])).toBeNull();
  });

  it("renders the legacy range as one range per block and keeps the other range sets", () => {
    const net = macvlan({ subnet: "10.9.0.0/24", gateway: "10.9.0.1", ranges: [[{ subnet: "fd00:9::/64" }]], routes: [{ dst: "0.0.0.0/0" }] });
    const out = renderHostConflist(net, [{ first: "10.9.0.128", last: "10.9.0.191" }, { first: "10.9.0.2", last: "10.9.0.63" }]);
    expect(out.plugins[0]!.ipam).toEqual({
      type: "host-local",
      routes: [{ dst: "0.0.0.0/0" }],
      ranges: [
        [
          { subnet: "10.9.0.0/24", rangeStart: "10.9.0.2", rangeEnd: "10.9.0.63", gateway: "10.9.0.1" },
          { subnet: "10.9.0.0/24", rangeStart: "10.9.0.128", rangeEnd: "10.9.0.191", gateway: "10.9.0.1" },
        ],
        [{ subnet: "fd00:9::/64" }],
      ],
    });
    // The input is left as it was.
    expect((net.plugins[0]!.ipam as Record<string, unknown>).subnet).toBe("10.9.0.0/24");
  });

  it("narrows every range set the host has blocks in; a set without one (a legacy top-level range here) stays as written", () => {
    const net = macvlan({ subnet: "10.9.0.0/24", gateway: "10.9.0.1", ranges: [[{ subnet: "fd00:9::/64", rangeStart: "fd00:9::10" }]] });
    const sets = blockRangeSets(net);
    expect(sets.map((set) => set.map((r) => r.subnet))).toEqual([["10.9.0.0/24"], ["fd00:9::/64"]]);
    const v6 = nextFreeBlock(sets[1]!, 64, [])!;
    expect(v6).toEqual({ first: "fd00:9::10", last: "fd00:9::3f" });
    expect(renderHostConflist(net, [v6]).plugins[0]!.ipam).toEqual({
      type: "host-local",
      ranges: [
        [{ subnet: "10.9.0.0/24", gateway: "10.9.0.1" }],
        [{ subnet: "fd00:9::/64", rangeStart: "fd00:9::10", rangeEnd: "fd00:9::3f", gateway: "fd00:9::1" }],
      ],
    });
    const v4 = nextFreeBlock(sets[0]!, 64, [v6])!;
    const both = renderHostConflist(net, [v6, v4]).plugins[0]!.ipam as unknown as { ranges: { rangeStart: string; rangeEnd: string }[][] };
    expect(both.ranges.map((set) => set.map((r) => [r.rangeStart, r.rangeEnd]))).toEqual([[["10.9.0.1", "10.9.0.63"]], [["fd00:9::10", "fd00:9::3f"]]]);
  });

  it("leaves a config without blocks, or without host-local, as it is", () => {
    const net = macvlan({ subnet: "10.9.0.0/24" });
    expect(renderHostConflist(net, [])).toBe(net);
    const dhcp = { cniVersion: "1.0.0", name: "d", plugins: [{ type: "macvlan", ipam: { type: "dhcp" } }] };
    expect(renderHostConflist(dhcp, [{ first: "10.9.0.2", last: "10.9.0.63" }])).toBe(dhcp);
    // A block outside the (since edited) range is not rendered.
    expect(renderHostConflist(net, [{ first: "10.8.0.2", last: "10.8.0.63" }])).toBe(net);
  });

  it("refuses a block size that does not fit", () => {
    const ranges = blockRanges(macvlan({ subnet: "10.9.0.0/28" }));
    expect(blockSizeProblem(ranges, 64)).toMatch(/block size 64 does not fit: the largest range \(14 addresses\)/);
    expect(blockSizeProblem(ranges, 4)).toBeNull();
    expect(blockSizeProblem(ranges, 1)).toMatch(/too small/);
    expect(blockSizeProblem(blockRanges({ plugins: [{ type: "bridge", ipam: { type: "static" } }] }), 4)).toMatch(/no host-local range/);
  });

  it("asks for another block when less than an eighth of a block is left", () => {
    expect(needsAnotherBlock(64, 55, 64)).toBe(false);
    expect(needsAnotherBlock(64, 56, 64)).toBe(true);
    expect(needsAnotherBlock(4, 2, 4)).toBe(false);
    expect(needsAnotherBlock(4, 3, 4)).toBe(true);
  });

  it("properties: blocks of different hosts never overlap and every rendered range lies in the network's range", () => {
    const config = fc.record({
      third: fc.integer({ min: 0, max: 255 }),
      prefix: fc.integer({ min: 20, max: 28 }),
      startOffset: fc.integer({ min: 1, max: 40 }),
      endCut: fc.integer({ min: 1, max: 40 }),
      blockSize: fc.integer({ min: 2, max: 300 }),
      hosts: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 30 }),
    });
    fc.assert(
      fc.property(config, ({ third, prefix, startOffset, endCut, blockSize, hosts }) => {
        const size = 2 ** (32 - prefix);
        const base = (10n << 24n) | (BigInt(third & ~((size >> 8) - 1 || 0) & 255) << 8n);
        const baseText = [24n, 16n, 8n, 0n].map((s) => String((base >> s) & 255n)).join(".");
        const net = macvlan({ subnet: `${baseText}/${prefix}`, rangeStart: ip(base + BigInt(startOffset)), rangeEnd: ip(base + BigInt(size - 1 - endCut)) });
        const ranges = blockRanges(net);
        fc.pre(ranges.length === 1 && blockSizeProblem(ranges, blockSize) === null);
        const byHost = new Map<number, BlockSpan[]>();
        const taken: BlockSpan[] = [];
        for (const host of hosts) {
          const block = nextFreeBlock(ranges, blockSize, taken);
          if (!block) break;
          taken.push(block);
          byHost.set(host, [...(byHost.get(host) ?? []), block]);
        }
        const start = v(ranges[0]!.start);
        const end = v(ranges[0]!.end);
        const spans: { host: number; first: bigint; last: bigint }[] = [];
        for (const [host, blocks] of byHost) {
          for (const r of renderedRanges(renderHostConflist(net, blocks))) {
            expect(v(r.rangeStart)).toBeGreaterThanOrEqual(start);
            expect(v(r.rangeEnd)).toBeLessThanOrEqual(end);
            expect(v(r.rangeStart)).toBeLessThanOrEqual(v(r.rangeEnd));
            expect(r.subnet).toBe(ranges[0]!.subnet);
            spans.push({ host, first: v(r.rangeStart), last: v(r.rangeEnd) });
          }
        }
        for (const a of spans) for (const b of spans) if (a.host !== b.host) expect(a.first > b.last || b.first > a.last).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

function ip(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join(".");
}
