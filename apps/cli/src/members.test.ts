import { describe, expect, it } from "vitest";
import { CliError } from "./exit";
import { changeMember, parseMemberRef, type PoolMember, type SpecMembers } from "./members";

const spec: SpecMembers & { ports: unknown[] } = {
  ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }],
  manualMembers: [
    { address: "10.0.0.5", port: null, weight: 100, state: "active", hostId: null },
    { address: "fd00::5", port: 8081, weight: 100, state: "active", hostId: null },
    { address: "fd00::5", port: 8082, weight: 100, state: "active", hostId: null },
  ],
  overrides: [],
};
const members: PoolMember[] = [
  { source: "manual", address: "10.0.0.5", port: null, weight: 100, state: "active", attachmentId: null, containerId: null },
  { source: "selector", address: "10.0.1.9", port: null, weight: 100, state: "active", attachmentId: "att1", containerId: "web-1" },
  { source: "registered", address: "10.0.2.2", port: null, weight: 50, state: "active", attachmentId: null, containerId: null },
];

describe("naming a member", () => {
  it("parses addresses, ports and ids", () => {
    expect(parseMemberRef("10.0.0.5")).toEqual({ kind: "address", address: "10.0.0.5", port: null });
    expect(parseMemberRef("10.0.0.5:8080")).toEqual({ kind: "address", address: "10.0.0.5", port: 8080 });
    expect(parseMemberRef("fd00:0::05")).toEqual({ kind: "address", address: "fd00::5", port: null });
    expect(parseMemberRef("[fd00::5]:8081")).toEqual({ kind: "address", address: "fd00::5", port: 8081 });
    expect(parseMemberRef("web-1")).toEqual({ kind: "id", id: "web-1" });
    expect(() => parseMemberRef("10.0.0.5:70000")).toThrow(CliError);
    expect(() => parseMemberRef("a b")).toThrow(CliError);
  });

  it("changes a manual member in manualMembers, a selector member in overrides, nothing else", () => {
    const w = changeMember(spec, members, parseMemberRef("10.0.0.5"), { weight: 10 });
    expect(w.description).toBe("member 10.0.0.5: weight 100 → 10");
    expect(w.spec.manualMembers.map((m) => m.weight)).toEqual([10, 100, 100]);
    expect(w.spec.overrides).toEqual([]);
    const d = changeMember(spec, members, parseMemberRef("[fd00::5]:8082"), { state: "draining" });
    expect(d.spec.manualMembers.map((m) => m.state)).toEqual(["active", "active", "draining"]);
    const s = changeMember(spec, members, parseMemberRef("web-1"), { state: "draining" });
    expect(s.spec.overrides).toEqual([{ attachmentId: "att1", state: "draining" }]);
    const again = changeMember(s.spec, members, parseMemberRef("10.0.1.9"), { weight: 0 });
    expect(again.spec.overrides).toEqual([{ attachmentId: "att1", state: "draining", weight: 0 }]);
    expect(spec.manualMembers[0]!.weight).toBe(100); // the input is left as it was
  });

  it("refuses an ambiguous, unknown or registered member", () => {
    expect(() => changeMember(spec, members, parseMemberRef("fd00::5"), { weight: 1 })).toThrow(/fd00::5 is 2 members: name one with ADDRESS:PORT/);
    expect(() => changeMember(spec, members, parseMemberRef("10.9.9.9"), { weight: 1 })).toThrow(/no member 10\.9\.9\.9 in this service/);
    expect(() => changeMember(spec, members, parseMemberRef("10.0.2.2"), { weight: 1 })).toThrow(/registered through the API/);
  });
});
