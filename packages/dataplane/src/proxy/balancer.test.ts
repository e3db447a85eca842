import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Endpoint, type Picker, createPicker } from "./balancer";
import { murmur3 } from "./murmur3";
import type { Balance } from "./config";

const roundRobin: Balance = { algorithm: "round-robin" };
const leastConnections: Balance = { algorithm: "least-connections" };
const consistentHash: Balance = { algorithm: "consistent-hash", hashOn: { kind: "client-address" } };
const ALL: Balance[] = [roundRobin, leastConnections, consistentHash];

/** mulberry32: a seeded uniform [0, 1), so sampled pickers give the same picks on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const endpointsOf = (weights: readonly number[]): Endpoint[] => weights.map((weight, i) => ({ key: `10.1.${i >> 8}.${i & 255}:8080`, weight }));
const totalOf = (endpoints: readonly Endpoint[]) => endpoints.reduce((sum, e) => sum + e.weight, 0);
const pickMany = (picker: Picker, count: number, hashKey: string | null = null) => Array.from({ length: count }, () => picker.pick(hashKey)!);
const clientKeys = (count: number) => Array.from({ length: count }, (_, i) => `198.51.${(i >> 8) & 255}.${i & 255}:${1024 + (i >> 16)}`);

function countOf(sequence: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const key of sequence) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}

/**
 * Every window of Σweight consecutive picks holds each member exactly `weight` times. Equivalent
 * and O(length): the first window is exact and the sequence repeats with period Σweight.
 */
function expectExactWindows(sequence: readonly string[], endpoints: readonly Endpoint[]): void {
  const period = totalOf(endpoints);
  expect(sequence.length).toBeGreaterThanOrEqual(period);
  const counts = countOf(sequence.slice(0, period));
  for (const e of endpoints) expect(counts.get(e.key) ?? 0).toBe(e.weight);
  for (let t = period; t < sequence.length; t++) if (sequence[t] !== sequence[t - period]) expect.fail(`pick ${t} differs from pick ${t - period}`);
}

/** An instrumented inflight map: how many counts the picker read. */
function countingMap(entries: Iterable<[string, number]> = []): Map<string, number> & { reads: number } {
  const map = Object.assign(new Map(entries), { reads: 0 });
  const get = map.get.bind(map);
  map.get = (key: string) => {
    map.reads++;
    return get(key);
  };
  return map;
}

describe("any algorithm", () => {
  it("picks nothing from an empty pool, or when every member is excluded", () => {
    for (const balance of ALL) {
      expect(createPicker(balance, [], new Map()).pick("198.51.100.1")).toBeNull();
      expect(createPicker(balance, [], new Map()).pick(null)).toBeNull();
      const endpoints = endpointsOf([1, 2, 3]);
      expect(createPicker(balance, endpoints, new Map()).pick("198.51.100.1", new Set(endpoints.map((e) => e.key)))).toBeNull();
    }
  });

  it("never picks an excluded member, and picks one whenever any is left (small pools and large)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ALL),
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 90 }),
        fc.infiniteStream(fc.boolean()),
        fc.option(fc.string(), { nil: null }),
        fc.integer(),
        (balance, weights, excluded, hashKey, seed) => {
          const endpoints = endpointsOf(weights);
          const exclude = new Set(endpoints.filter(() => excluded.next().value).map((e) => e.key));
          const picker = createPicker(balance, endpoints, new Map(), { random: seeded(seed) });
          for (let i = 0; i < 20; i++) {
            const picked = picker.pick(hashKey, exclude);
            if (exclude.size === endpoints.length) expect(picked).toBeNull();
            else {
              expect(picked).not.toBeNull();
              expect(exclude.has(picked!)).toBe(false);
              expect(endpoints.some((e) => e.key === picked)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("ignores members of weight 0 and refuses weights outside 1..1000 or a member listed twice", () => {
    for (const balance of ALL) {
      const picker = createPicker(balance, [{ key: "a", weight: 0 }, { key: "b", weight: 1 }], new Map());
      expect(new Set(pickMany(picker, 10, "k"))).toEqual(new Set(["b"]));
      expect(createPicker(balance, [{ key: "a", weight: 0 }], new Map()).pick("k")).toBeNull();
      expect(() => createPicker(balance, [{ key: "a", weight: 1.5 }], new Map())).toThrow("endpoint a has weight 1.5: it must be a whole number from 1 to 1000");
      expect(() => createPicker(balance, [{ key: "a", weight: 1001 }], new Map())).toThrow(/from 1 to 1000/);
      expect(() => createPicker(balance, [{ key: "a", weight: 1 }, { key: "a", weight: 2 }], new Map())).toThrow("endpoint a is listed twice");
    }
  });
});

describe("round robin", () => {
  it("gives each member exactly its weight in every window of Σweight consecutive picks", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 12 }), fc.integer(), (weights, seed) => {
        const endpoints = endpointsOf(weights);
        expectExactWindows(pickMany(createPicker(roundRobin, endpoints, new Map(), { random: seeded(seed) }), 3 * totalOf(endpoints)), endpoints);
      }),
      { numRuns: 300 },
    );
  });

  it("stays exact with the largest weights", () => {
    const endpoints = endpointsOf([1000, 999, 1, 500, 1000, 1]);
    expectExactWindows(pickMany(createPicker(roundRobin, endpoints, new Map()), 2 * totalOf(endpoints) + 17), endpoints);
  });

  it("never picks a member twice in a row while another has its weight", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 10 }), fc.integer(), (weights, seed) => {
        const endpoints = endpointsOf(weights);
        const weightOf = new Map(endpoints.map((e) => [e.key, e.weight]));
        const sequence = pickMany(createPicker(roundRobin, endpoints, new Map(), { random: seeded(seed) }), 2 * totalOf(endpoints));
        for (let t = 1; t < sequence.length; t++) {
          if (sequence[t] !== sequence[t - 1]) continue;
          const w = weightOf.get(sequence[t]!)!;
          expect(weights.filter((x) => x === w)).toHaveLength(1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keeps every member within 1.5 + k/2 picks of its exact share at every point (k = distinct weights)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 12 }), fc.integer(), (weights, seed) => {
        const endpoints = endpointsOf(weights);
        const total = totalOf(endpoints);
        const bound = 1.5 + new Set(weights).size / 2;
        const counts = new Map<string, number>();
        const picker = createPicker(roundRobin, endpoints, new Map(), { random: seeded(seed) });
        let worst = 0;
        for (let t = 1; t <= 2 * total; t++) {
          const key = picker.pick(null)!;
          counts.set(key, (counts.get(key) ?? 0) + 1);
          for (const e of endpoints) worst = Math.max(worst, Math.abs((counts.get(e.key) ?? 0) - (t * e.weight) / total));
        }
        expect(worst).toBeLessThanOrEqual(bound);
      }),
      { numRuns: 100 },
    );
  });

  it("interleaves light members with a heavy one ({5,1,1}: a b a a a c a, where nginx gives a a b a c a a)", () => {
    const picker = createPicker(roundRobin, [{ key: "a", weight: 5 }, { key: "b", weight: 1 }, { key: "c", weight: 1 }], new Map(), { random: () => 0 });
    expect(pickMany(picker, 14).join(" ")).toBe("a b a a a c a a b a a a c a");
  });

  it("moves a retry to the next member in turn", () => {
    const endpoints = endpointsOf([1, 1, 1]);
    const picker = createPicker(roundRobin, endpoints, new Map(), { random: () => 0 });
    const first = picker.pick(null)!;
    const retry = picker.pick(null, new Set([first]))!;
    expect(retry).not.toBe(first);
    expect(new Set([first, retry, picker.pick(null)!]).size).toBe(3);
  });

  it("is exact over 10,000 members (a pick costs O(log distinct weights), not O(n))", () => {
    const endpoints = endpointsOf(Array.from({ length: 10_000 }, (_, i) => 1 + ((i * 7919) % 3)));
    expectExactWindows(pickMany(createPicker(roundRobin, endpoints, new Map()), 2 * totalOf(endpoints)), endpoints);
  });
});

describe("least connections", () => {
  it("picks a member with the lowest inflight/weight (pools of up to 64 are scanned)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ weight: fc.integer({ min: 1, max: 20 }), inflight: fc.nat(10) }), { minLength: 1, maxLength: 64 }),
        (members) => {
          const endpoints = endpointsOf(members.map((m) => m.weight));
          const inflight = new Map(endpoints.map((e, i) => [e.key, members[i]!.inflight]));
          const lowest = Math.min(...members.map((m) => m.inflight / m.weight));
          const picked = createPicker(leastConnections, endpoints, inflight).pick(null)!;
          const m = members[endpoints.findIndex((e) => e.key === picked)]!;
          expect(m.inflight / m.weight).toBe(lowest);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("compares inflight by weight: 3 open on weight 2 is busier than 1 open on weight 1", () => {
    const inflight = new Map([["a", 3], ["b", 1]]);
    expect(createPicker(leastConnections, [{ key: "a", weight: 2 }, { key: "b", weight: 1 }], inflight).pick(null)).toBe("b");
    inflight.set("b", 2); // read live: no rebuild
    expect(createPicker(leastConnections, [{ key: "a", weight: 2 }, { key: "b", weight: 1 }], inflight).pick(null)).toBe("a");
  });

  it("spreads sequential traffic exactly by weight, as nginx's smooth round robin ({5,1,1}: a a b a c a a)", () => {
    const picker = createPicker(leastConnections, [{ key: "a", weight: 5 }, { key: "b", weight: 1 }, { key: "c", weight: 1 }], new Map());
    expect(pickMany(picker, 7).join(" ")).toBe("a a b a c a a");
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 64 }), (weights) => {
        const endpoints = endpointsOf(weights);
        expectExactWindows(pickMany(createPicker(leastConnections, endpoints, new Map()), 2 * totalOf(endpoints)), endpoints);
      }),
      { numRuns: 200 },
    );
  });

  it("breaks a tie on inflight/weight by weighted round robin among the tied alone", () => {
    // a: 2/2, b: 1/1, c: 5/1. a and b tie at 1 and share 2:1; c is never picked.
    const inflight = new Map([["a", 2], ["b", 1], ["c", 5]]);
    const picker = createPicker(leastConnections, [{ key: "a", weight: 2 }, { key: "b", weight: 1 }, { key: "c", weight: 1 }], inflight);
    expect(Object.fromEntries(countOf(pickMany(picker, 30)))).toEqual({ a: 20, b: 10 });
  });

  it("reads two members' counts a pick above 64 members (power of two choices), even at 10,000", () => {
    const inflight = countingMap();
    const picker = createPicker(leastConnections, endpointsOf(Array.from({ length: 10_000 }, (_, i) => 1 + (i % 10))), inflight, { random: seeded(7) });
    pickMany(picker, 10_000);
    expect(inflight.reads).toBe(20_000);
  });

  it("sends most traffic to idle members above 64 members (75% expected; weighted random would give 50%)", () => {
    const endpoints = endpointsOf(Array.from({ length: 200 }, () => 3));
    const inflight = new Map(endpoints.map((e, i) => [e.key, i % 2 === 0 ? 0 : 10]));
    const picks = pickMany(createPicker(leastConnections, endpoints, inflight, { random: seeded(42) }), 20_000);
    const idle = picks.filter((key) => inflight.get(key) === 0).length / picks.length;
    expect(idle).toBeGreaterThan(0.72);
    expect(idle).toBeLessThan(0.78);
  });

  it("spreads sequential traffic by weight above 64 members (each count within 5σ of its expectation)", () => {
    const endpoints = endpointsOf(Array.from({ length: 200 }, (_, i) => 1 + ((i * 13) % 10)));
    const total = totalOf(endpoints);
    const picks = 200_000;
    const counts = countOf(pickMany(createPicker(leastConnections, endpoints, new Map(), { random: seeded(1) }), picks));
    for (const e of endpoints) {
      const expected = (picks * e.weight) / total;
      expect(Math.abs((counts.get(e.key) ?? 0) - expected)).toBeLessThanOrEqual(5 * Math.sqrt(expected));
    }
  });

  it("finds the one member left when retries have excluded nearly all of a large pool", () => {
    const endpoints = endpointsOf(Array.from({ length: 100 }, () => 1));
    const exclude = new Set(endpoints.slice(1).map((e) => e.key));
    expect(createPicker(leastConnections, endpoints, new Map(), { random: seeded(3) }).pick(null, exclude)).toBe(endpoints[0]!.key);
  });
});

describe("consistent hash (Maglev)", () => {
  const keys = clientKeys(5000);

  it("maps a key to the same member while the pool is the same, whatever order it is listed in", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 30 }).chain((weights) => fc.tuple(fc.constant(endpointsOf(weights)), fc.shuffledSubarray(endpointsOf(weights), { minLength: weights.length }))),
        ([endpoints, shuffled]) => {
          const picker = createPicker(consistentHash, endpoints, new Map());
          const again = createPicker(consistentHash, shuffled, new Map());
          const members = keys.slice(0, 500).map((k) => picker.pick(k));
          expect(keys.slice(0, 500).map((k) => picker.pick(k))).toEqual(members);
          expect(keys.slice(0, 500).map((k) => again.pick(k))).toEqual(members);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("moves at most 1.5/n + 1% of keys when one of n equal members leaves", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 40 }), fc.nat(), (n, which) => {
        const endpoints = endpointsOf(Array.from({ length: n }, () => 10));
        const gone = which % n;
        const before = createPicker(consistentHash, endpoints, new Map());
        const after = createPicker(consistentHash, endpoints.toSpliced(gone, 1), new Map());
        const moved = keys.filter((k) => before.pick(k) !== after.pick(k)).length / keys.length;
        expect(moved).toBeLessThanOrEqual(1.5 / n + 0.01);
        // ...and every key of the member that left moved, to a member still there.
        for (const k of keys) if (before.pick(k) === endpoints[gone]!.key) expect(after.pick(k)).not.toBe(endpoints[gone]!.key);
      }),
      { numRuns: 25 },
    );
  });

  it("moves at most 1.5·w/Σw + 1% of keys when a member of weight w leaves a weighted pool", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 2, maxLength: 40 }), fc.nat(), (weights, which) => {
        const endpoints = endpointsOf(weights);
        const gone = which % endpoints.length;
        const before = createPicker(consistentHash, endpoints, new Map());
        const after = createPicker(consistentHash, endpoints.toSpliced(gone, 1), new Map());
        const moved = keys.filter((k) => before.pick(k) !== after.pick(k)).length / keys.length;
        expect(moved).toBeLessThanOrEqual((1.5 * endpoints[gone]!.weight) / totalOf(endpoints) + 0.01);
      }),
      { numRuns: 25 },
    );
  });

  it("spreads keys by weight: each share within 5% of its weight's share, plus 4σ of sampling noise", () => {
    const many = clientKeys(50_000);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 20 }), (weights) => {
        const endpoints = endpointsOf(weights);
        const picker = createPicker(consistentHash, endpoints, new Map());
        const counts = countOf(many.map((k) => picker.pick(k)!));
        for (const e of endpoints) {
          const expected = (many.length * e.weight) / totalOf(endpoints);
          expect(Math.abs((counts.get(e.key) ?? 0) - expected)).toBeLessThanOrEqual(0.05 * expected + 4 * Math.sqrt(expected));
        }
      }),
      { numRuns: 15 },
    );
  });

  it("walks a retry on to a member not tried, the same one for the same key, spread over the rest by weight", () => {
    const endpoints = endpointsOf([2, 1, 1, 2, 4]);
    const picker = createPicker(consistentHash, endpoints, new Map());
    const down = endpoints[0]!.key;
    const theirs = clientKeys(50_000).filter((k) => picker.pick(k) === down);
    const retries = theirs.map((k) => picker.pick(k, new Set([down]))!);
    expect(retries).toEqual(theirs.map((k) => picker.pick(k, new Set([down]))));
    expect(retries).not.toContain(down);
    // The rest weigh 1, 1, 2, 4 (of 8): within 10% of that share each.
    const counts = countOf(retries);
    for (const e of endpoints.slice(1)) expect(Math.abs(counts.get(e.key)! / retries.length - e.weight / 8)).toBeLessThan((0.1 * e.weight) / 8);
    // A key whose member was not excluded is not moved by the exclusion.
    for (const k of keys.slice(0, 200)) if (picker.pick(k) !== down) expect(picker.pick(k, new Set([down]))).toBe(picker.pick(k));
  });

  it("falls back to round robin without a hash key", () => {
    const endpoints = endpointsOf([3, 1, 2]);
    expectExactWindows(pickMany(createPicker(consistentHash, endpoints, new Map()), 3 * totalOf(endpoints)), endpoints);
  });

  it("builds for 10,000 members and gives nearly all of them keys", () => {
    const endpoints = endpointsOf(Array.from({ length: 10_000 }, () => 1));
    const picker = createPicker(consistentHash, endpoints, new Map());
    const hit = new Set(clientKeys(200_000).map((k) => picker.pick(k)));
    expect(hit.size).toBeGreaterThan(9_990);
  });
});

describe("murmur3", () => {
  it("matches the reference implementation's test vectors", () => {
    expect(murmur3("", 0)).toBe(0);
    expect(murmur3("", 1)).toBe(0x514e28b7);
    expect(murmur3("test", 0)).toBe(0xba6bd213);
    expect(murmur3("hello", 0)).toBe(0x248bfa47);
    expect(murmur3("Hello, world!", 0x9747b28c)).toBe(0x24884cba);
    expect(murmur3("The quick brown fox jumps over the lazy dog", 0)).toBe(0x2e4ff723);
  });

  it("hashes strings longer than its scratch buffer, and short ones after them", () => {
    const long = "x".repeat(10_000);
    const first = murmur3(long, 0);
    expect(murmur3("hello", 0)).toBe(0x248bfa47);
    expect(murmur3(long, 0)).toBe(first);
  });
});
