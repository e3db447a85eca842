import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DesiredServices, MEMBER_HEALTHS, MEMBER_STATES, isSelectable } from "./desired";
import { fixtureDesired } from "./fixtures";
import { lowerTable } from "./lower";
import { renderTable } from "./render";
import { type TracePacket, tracePacket } from "./trace";

const table = lowerTable(renderTable(fixtureDesired(4)));
const trace = (p: Partial<TracePacket>) => tracePacket(table, { saddr: "10.88.0.50", daddr: "10.241.0.10", protocol: "tcp", dport: 80, from: "sandbox", ...p });
const summary = (outcomes: ReturnType<typeof tracePacket>) => outcomes.map((o) => (o.kind === "member" ? `${o.address}:${o.port} ${o.share.num}/${o.share.den}${o.masquerade ? " masq" : ""}` : `${o.kind} ${o.share.num}/${o.share.den}`));

describe("tracePacket over the rendered table (design §3 model)", () => {
  it("splits web 100/200/700 as 1/10, 2/10, 7/10; same-network clients and every client of a remote member are masqueraded", () => {
    expect(summary(trace({}))).toEqual(["10.88.0.11:8080 1/10 masq", "10.88.0.12:8080 2/10 masq", "10.89.3.7:8080 7/10 masq"]);
    expect(summary(trace({ saddr: "10.77.0.5" }))).toEqual(["10.88.0.11:8080 1/10", "10.88.0.12:8080 2/10", "10.89.3.7:8080 7/10 masq"]);
    expect(summary(trace({ from: "host", saddr: "10.99.0.1" }))).toEqual(["10.88.0.11:8080 1/10", "10.88.0.12:8080 2/10", "10.89.3.7:8080 7/10 masq"]);
  });

  it("draws in turn in the compact layout and reaches the same shares (each rule its own draw)", () => {
    const compact = lowerTable(renderTable(fixtureDesired(4), { layout: "compact" }));
    const traced = tracePacket(compact, { saddr: "10.77.0.5", daddr: "10.241.0.10", protocol: "tcp", dport: 80, from: "sandbox" });
    expect(summary(traced)).toEqual(["10.88.0.11:8080 1/10", "10.88.0.12:8080 2/10", "10.89.3.7:8080 7/10 masq"]);
  });

  it("leaves the draining member out (dns 500/300 → 5/8, 3/8)", () => {
    expect(summary(trace({ daddr: "10.241.0.11", protocol: "udp", dport: 53 }))).toEqual(["10.88.0.21:5353 5/8 masq", "10.88.0.22:5353 3/8 masq"]);
  });

  it("sends a pinned client to its member only", () => {
    const pinned = [...table.sets.keys()].find((s) => s.endsWith("__10.89.3.7/8080"))!;
    expect(summary(trace({ pinnedIn: [pinned] }))).toEqual(["10.89.3.7:8080 1/1 masq"]);
  });

  it("rejects a port without members and a VIP's unknown port, drops an unallocated VIP, passes anything else", () => {
    for (const from of ["sandbox", "host"] as const) {
      expect(summary(trace({ from, daddr: "10.241.0.12", dport: 8080 })), from).toEqual(["reject 1/1"]);
      expect(summary(trace({ from, dport: 81 })), from).toEqual(["reject 1/1"]);
      expect(summary(trace({ from, protocol: "udp" })), from).toEqual(["reject 1/1"]);
      expect(summary(trace({ from, daddr: "10.241.9.9" })), from).toEqual(["drop 1/1"]);
      expect(summary(trace({ from, daddr: "10.50.0.1" })), from).toEqual(["pass 1/1"]);
    }
  });

  it("throws on a rule shape it does not know (so a renderer change cannot slip past it)", () => {
    const edited = lowerTable(renderTable(fixtureDesired(4)));
    edited.chains.get("services")!.rules.push("ip daddr 10.241.0.10 counter");
    expect(() => tracePacket(edited, { saddr: "10.1.1.1", daddr: "10.50.0.1", protocol: "tcp", dport: 1, from: "sandbox" })).toThrow(/shape this tracer does not know/);
  });
});

const memberArb = fc.record({
  weight: fc.integer({ min: 0, max: 1000 }),
  state: fc.constantFrom(...MEMBER_STATES),
  health: fc.constantFrom(...MEMBER_HEALTHS),
  local: fc.boolean(),
});
const serviceArb = fc.record({
  members: fc.array(memberArb, { maxLength: 12 }),
  ports: fc.uniqueArray(fc.record({ protocol: fc.constantFrom("tcp", "udp", "sctp"), port: fc.integer({ min: 1, max: 65535 }) }), { minLength: 1, maxLength: 3, selector: (p) => `${p.protocol}/${p.port}` }),
  affinity: fc.boolean(),
});
const desiredArb = (family: 4 | 6) =>
  fc.array(serviceArb, { minLength: 1, maxLength: 6 }).map((services) =>
    DesiredServices.parse({
      version: 1,
      family,
      serviceCidrs: [family === 4 ? "10.241.0.0/16" : "fd00:241::/112"],
      services: services.map((s, i) => ({
        id: `svc${i}`,
        name: `s${i}`,
        vip: family === 4 ? `10.241.0.${i + 1}` : `fd00:241::${i + 1}`,
        ports: s.ports.map((p) => ({ ...p, targetPort: 8080 })),
        affinity: s.affinity ? { timeoutSeconds: 60 } : null,
        members: s.members.map((m, j) => ({
          address: family === 4 ? `10.88.${i}.${j + 1}` : `fd00:88::${i + 1}:${j + 1}`,
          port: null,
          weight: m.weight,
          state: m.state,
          health: m.health,
          localCidr: m.local ? (family === 4 ? "10.88.0.0/16" : "fd00:88::/64") : null,
        })),
      })),
    }),
  );

describe("tracePacket over generated desired states", () => {
  for (const [family, layout] of [[4, "member-chains"], [6, "member-chains"], [4, "compact"], [6, "compact"]] as const) {
    it(`IPv${family}, ${layout} layout: every port's shares are exactly weight/Σweight of its selectable members, or reject when none`, () => {
      fc.assert(
        fc.property(desiredArb(family), (desired) => {
          const objects = lowerTable(renderTable(desired, { layout }));
          for (const s of desired.services) {
            const selectable = s.members.filter(isSelectable);
            const total = selectable.reduce((sum, m) => sum + m.weight, 0);
            for (const p of s.ports) {
              for (const [client, inLocalNet] of family === 4 ? ([["10.88.0.77", true], ["10.77.0.1", false]] as const) : ([["fd00:88::77", true], ["fd00:77::1", false]] as const)) {
              const outcomes = tracePacket(objects, { saddr: client, daddr: s.vip, protocol: p.protocol, dport: p.port, from: "sandbox" });
              if (selectable.length === 0) {
                expect(outcomes).toEqual([{ kind: "reject", share: { num: 1, den: 1 } }]);
                continue;
              }
              expect(outcomes).toHaveLength(selectable.length);
              for (const m of selectable) {
                const o = outcomes.find((x) => x.kind === "member" && x.address === m.address);
                expect(o, m.address).toBeDefined();
                expect(o!.share.num * total).toBe(m.weight * o!.share.den);
                expect(o?.kind === "member" && o.masquerade).toBe(m.localCidr === null || inLocalNet);
              }
              }
            }
          }
        }),
        { numRuns: 150 },
      );
    });
  }
});
