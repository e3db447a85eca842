import type { TableObjects } from "@switchyard/dataplane";
import { describe, expect, it } from "vitest";
import type { ResolvedMember } from "./serviceDesired";
import { summarizeMembers, summarizeTables } from "./servicePlanSummary";

const member = (address: string, port: number | null, weight = 100, state: ResolvedMember["state"] = "active"): ResolvedMember => ({
  source: "manual", attachmentId: null, hostId: null, hostName: null, containerId: null, address, port, weight, state, health: "none", localCidr: null, pool: "default",
});

const table = (chains: Record<string, string[]>, elements: Record<string, string[]>): TableObjects => ({
  family: 4,
  layout: "compact",
  chains: new Map(Object.entries(chains).map(([n, rules]) => [n, { spec: null, rules }])),
  sets: new Map(),
  elements: new Map(Object.entries(elements).map(([s, els]) => [s, new Map(els.map((e) => [e.split(" : ")[0]!, e]))])),
});

describe("the plan's summary", () => {
  it("names members added, removed, reweighted and moved to another state, by address and port", () => {
    const got = summarizeMembers([member("10.0.0.1", null), member("10.0.0.2", 80), member("10.0.0.3", null)], [member("10.0.0.1", null, 300), member("10.0.0.3", null, 100, "draining"), member("10.0.0.4", 8080)]);
    expect(got).toEqual({
      added: ["10.0.0.4:8080"],
      removed: ["10.0.0.2:80"],
      reweighted: [{ member: "10.0.0.1", from: 100, to: 300 }],
      restated: [{ member: "10.0.0.3", from: "active", to: "draining" }],
    });
  });

  it("counts rules per chain (a repeated rule too) and elements, a changed element on both sides; an absent table has none", () => {
    const before = table({ a: ["r1", "r2", "r2"], b: ["r3"] }, { m: ["k1 : v1", "k2 : v2"] });
    const after = table({ a: ["r1", "r2"], c: ["r3"] }, { m: ["k1 : v1", "k2 : v9", "k3 : v3"] });
    expect(summarizeTables(before, after)).toEqual({ rulesAdded: 1, rulesRemoved: 2, elementsAdded: 2, elementsRemoved: 1 });
    expect(summarizeTables(null, after)).toEqual({ rulesAdded: 3, rulesRemoved: 0, elementsAdded: 3, elementsRemoved: 0 });
    expect(summarizeTables(before, null)).toEqual({ rulesAdded: 0, rulesRemoved: 4, elementsAdded: 0, elementsRemoved: 2 });
  });
});
