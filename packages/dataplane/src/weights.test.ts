import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type WeighedMember, formatRange, planNumgen } from "./weights";

const memberAt = (i: number, weight: number, extra: Partial<WeighedMember> = {}): WeighedMember => ({
  address: `10.88.${i >> 8}.${i & 255}`,
  port: null,
  weight,
  state: "active",
  health: "none",
  ...extra,
});
const weightsArb = fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 64 });
const membersOf = (weights: number[]) => weights.map((w, i) => memberAt(i + 1, w));

/** Checks properties 1-3 of design §5 for one list of members. */
function checkPlan(members: WeighedMember[]): void {
  const plan = planNumgen(members);
  const selectable = members.filter((m) => m.weight > 0);
  if (selectable.length === 0) {
    expect(plan).toBeNull(); // (4) nothing selectable: no dispatch rule
    return;
  }
  expect(plan).not.toBeNull();
  const { modulus, ranges } = plan!;
  const total = selectable.reduce((s, m) => s + m.weight, 0);
  // (1) disjoint, contiguous, covering [0, M)
  expect(ranges[0]!.first).toBe(0);
  ranges.forEach((r, i) => {
    expect(r.last).toBeGreaterThanOrEqual(r.first);
    if (i > 0) expect(r.first).toBe(ranges[i - 1]!.last + 1);
  });
  expect(ranges.at(-1)!.last).toBe(modulus - 1);
  // (2) exact shares: width·Σw == w·M
  for (const r of ranges) expect((r.last - r.first + 1) * total).toBe(r.member.weight * modulus);
  // (3) zero weights absent, every selectable member present once
  expect(ranges.map((r) => r.member).sort((a, b) => a.address.localeCompare(b.address))).toEqual([...selectable].sort((a, b) => a.address.localeCompare(b.address)));
}

describe("planNumgen (design §5)", () => {
  it("gives exact, contiguous, disjoint ranges covering [0, M) for any weights 0..1000, zero weights absent", () => {
    fc.assert(fc.property(weightsArb, (weights) => checkPlan(membersOf(weights))), { numRuns: 500 });
  });

  it("holds for 10,000 members", () => {
    const weights = Array.from({ length: 10_000 }, (_, i) => (i * 7919) % 1001);
    checkPlan(membersOf(weights));
    expect(planNumgen(membersOf(weights))!.modulus).toBeLessThan(2 ** 32);
  });

  it("does not depend on the input order (5)", () => {
    fc.assert(
      fc.property(
        weightsArb.chain((w) => fc.tuple(fc.constant(w), fc.shuffledSubarray(w.map((_, i) => i), { minLength: w.length, maxLength: w.length }))),
        ([weights, order]) => {
          const members = membersOf(weights);
          expect(planNumgen(order.map((i) => members[i]!))).toEqual(planNumgen(members));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("divides by the gcd: equal weights give kube-proxy's mod N with single values", () => {
    const plan = planNumgen([memberAt(3, 50), memberAt(1, 50), memberAt(2, 50)])!;
    expect(plan.modulus).toBe(3);
    expect(plan.ranges.map((r) => [r.member.address, formatRange(r)])).toEqual([
      ["10.88.0.1", "0"],
      ["10.88.0.2", "1"],
      ["10.88.0.3", "2"],
    ]);
    expect(planNumgen([memberAt(1, 100), memberAt(2, 200), memberAt(3, 700)])!.ranges.map(formatRange)).toEqual(["0", "1-2", "3-9"]);
  });

  it("orders addresses numerically, then by port, and leaves out what is not selectable", () => {
    const plan = planNumgen([
      memberAt(10, 1, { port: 9000 }),
      memberAt(10, 1, { port: 80 }),
      memberAt(9, 1),
      memberAt(8, 5, { state: "draining" }),
      memberAt(7, 5, { state: "maintenance" }),
      memberAt(6, 5, { health: "unhealthy" }),
      memberAt(5, 5, { health: "unknown" }),
    ])!;
    expect(plan.ranges.map((r) => `${r.member.address}:${r.member.port}=${formatRange(r)}`)).toEqual(["10.88.0.5:null=0-4", "10.88.0.9:null=5", "10.88.0.10:80=6", "10.88.0.10:9000=7"]);
    expect(planNumgen([memberAt(1, 0), memberAt(2, 3, { state: "draining" })])).toBeNull();
  });
});
