import { planSync } from "@switchyard/dataplane";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setupApiTest, trpcError, type ApiTest, BRIDGE_CONFLIST } from "../testing";
import { desiredServicesFor } from "./serviceDesired";

// Issue 12, item 5: the plan shown before a service change — per host, the exact nft transaction
// the agent would run, hosts grouped by identical text, and nothing written.
let t: ApiTest;
let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;
const hosts: Record<string, string> = {};
let webId = "";

async function enroll(hostname: string, labels: Record<string, string>) {
  const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
  const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname, agentVersion: "test" });
  await operator.caller.services.setHostLabels({ hostId: enrolled.hostId, labels });
  hosts[hostname] = enrolled.hostId;
}

const spec = (extra: Record<string, unknown> = {}) => ({
  ports: [{ protocol: "tcp" as const, port: 80, targetPort: 8080 }],
  hostSelector: { matchLabels: { zone: "a" } },
  memberSelector: { matchLabels: { app: "web" } },
  manualMembers: [
    { address: "10.88.0.10", weight: 100 },
    { address: "10.88.0.11", weight: 100 },
  ],
  ...extra,
});

/** What the agent of `hostId` would run between two desired states the console computes for it (the unbounded path). */
function agentTransaction(before: Awaited<ReturnType<typeof desiredServicesFor>>, after: Awaited<ReturnType<typeof desiredServicesFor>>) {
  return planSync(planSync(null, before, { layout: "compact" }).belief, after, { layout: "compact" }).transaction;
}

async function written() {
  return { revisions: await t.db.serviceRevision.count(), changes: await t.db.serviceChange.count(), audits: await t.db.auditEvent.count() };
}

beforeAll(async () => {
  t = await setupApiTest();
  admin = await t.callerAs("admin", "plan-admin");
  operator = await t.callerAs("operator", "plan-op");
  viewer = await t.callerAs("viewer", "plan-viewer");
  const networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("plan-lab", "10.88.0.0/24", "10.88.0.1"), comment: "" })).id;
  await admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
  await enroll("plan-a1", { zone: "a" });
  await enroll("plan-a2", { zone: "a" });
  await enroll("plan-b", { zone: "b" });
  // A ready attachment on plan-a1: a member local to that host (its own masquerade-local element).
  await t.db.attachment.create({
    data: {
      hostId: hosts["plan-a1"]!, networkId, networkName: "plan-lab", networkRevision: 1, containerId: "web-1", ifName: "eth0", targetKind: "netns",
      target: "/var/run/netns/web-1", state: "ready", labels: { app: "web" }, result: { cniVersion: "1.0.0", ips: [{ address: "10.88.0.20/24", gateway: "10.88.0.1" }] },
    },
  });
  webId = (await operator.caller.services.create({ name: "web", vip: "10.96.0.10", spec: spec() })).id;
  // Another service only on zone a: there the table exists besides web.
  await operator.caller.services.create({ name: "other", vip: "10.96.0.20", spec: { ports: [{ protocol: "udp", port: 53, targetPort: 53 }], hostSelector: { matchLabels: { zone: "a" } }, manualMembers: [{ address: "10.88.0.30" }] } });
});
afterAll(() => t?.close());

describe("services.plan", () => {
  it("a weight change: exactly the service chain's new draws on the selected hosts, one group; nothing on an unselected host; nothing written", async () => {
    const counts = await written();
    const proposed = spec({ manualMembers: [{ address: "10.88.0.10", weight: 100 }, { address: "10.88.0.11", weight: 300 }] });
    const plan = await viewer.caller.services.plan({ id: webId, change: { kind: "update", spec: proposed }, expectedRevision: 1 });
    expect(plan.baseRevision).toBe(1);
    expect(plan.members).toEqual({ added: [], removed: [], reweighted: [{ member: "10.88.0.11", from: 100, to: 300 }], restated: [] });
    expect(plan.unselectedCount).toBe(1);
    expect(plan.unchanged.hostCount).toBe(0);
    expect(plan.groups).toHaveLength(1);
    const [group] = plan.groups;
    expect(group!.change).toBe("update");
    expect(group!.hosts.map((h) => h.name).sort()).toEqual(["plan-a1", "plan-a2"]);
    expect(group!.tableCreated || group!.tableDeleted).toBe(false);
    // Weights 100, 300 and the attachment's 100 → 1:3:1, drawn in turn in address order: 1 of 5, 3 of the 4 left, the rest.
    const chain = /^add chain ip switchyard (service-[A-Z2-7]{8}-web\/tcp\/80)$/.exec(group!.lines[0]!)?.[1];
    expect(chain, group!.lines[0]).toBeDefined();
    expect(group!.lines).toEqual([
      `add chain ip switchyard ${chain}`,
      `flush chain ip switchyard ${chain}`,
      `add rule ip switchyard ${chain} meta l4proto tcp numgen random mod 5 < 1 dnat to 10.88.0.10:8080`,
      `add rule ip switchyard ${chain} meta l4proto tcp numgen random mod 4 < 3 dnat to 10.88.0.11:8080`,
      `add rule ip switchyard ${chain} meta l4proto tcp dnat to 10.88.0.20:8080`,
    ]);
    expect(group!.summary).toEqual({ rulesAdded: 2, rulesRemoved: 2, elementsAdded: 0, elementsRemoved: 0 });
    expect(await written()).toEqual(counts);

    // The same text the agent of each host computes from its own desired states, before and after.
    const before = { a1: await desiredServicesFor(t.db, hosts["plan-a1"]!, 4), b: await desiredServicesFor(t.db, hosts["plan-b"]!, 4) };
    await operator.caller.services.update({ id: webId, spec: proposed, expectedRevision: 1 });
    expect(agentTransaction(before.a1, await desiredServicesFor(t.db, hosts["plan-a1"]!, 4))).toBe(`${group!.lines.join("\n")}\n`);
    expect(agentTransaction(before.b, await desiredServicesFor(t.db, hosts["plan-b"]!, 4))).toBe("");
  });

  it("a host-selector change: the hosts left lose the service (the table stays for the other), the host gained gets a new table", async () => {
    const proposed = spec({ hostSelector: { matchLabels: { zone: "b" } }, manualMembers: [{ address: "10.88.0.10", weight: 100 }, { address: "10.88.0.11", weight: 300 }] });
    const plan = await operator.caller.services.plan({ id: webId, change: { kind: "update", spec: proposed } });
    const lost = plan.groups.filter((g) => g.change === "lost");
    const gained = plan.groups.find((g) => g.change === "gained")!;
    expect(lost.flatMap((g) => g.hosts.map((h) => h.name)).sort()).toEqual(["plan-a1", "plan-a2"]);
    expect(lost.every((g) => !g.tableDeleted && !g.lines.some((l) => l.startsWith("delete table")))).toBe(true);
    expect(gained.hosts.map((h) => h.name)).toEqual(["plan-b"]);
    expect(gained.tableCreated).toBe(true);
    expect(gained.lines[0]).toBe('add table ip switchyard { comment "switchyard-agent: services; do not edit" ; }');
    expect(gained.lines.join("\n")).toContain("10.96.0.10");
    expect(gained.lines.join("\n")).not.toContain("10.96.0.20");
    expect(plan.unselectedCount).toBe(0);

    // Exact against each agent's own computation; plan-a1 holds a local member, plan-a2 none.
    const before = Object.fromEntries(await Promise.all(Object.entries(hosts).map(async ([n, id]) => [n, await desiredServicesFor(t.db, id, 4)] as const)));
    await operator.caller.services.update({ id: webId, spec: proposed, expectedRevision: 2 });
    for (const [name, id] of Object.entries(hosts)) {
      const group = plan.groups.find((g) => g.hosts.some((h) => h.name === name))!;
      expect(agentTransaction(before[name]!, await desiredServicesFor(t.db, id, 4)), name).toBe(`${group.lines.join("\n")}\n`);
    }
  });

  it("a rollback is planned from the old revision; bad input is refused and nothing is written", async () => {
    const back = await operator.caller.services.plan({ id: webId, change: { kind: "rollback", toRevision: 1 } });
    // plan-a1 holds the attachment member (its own masquerade-local element): a group of its own.
    const gained = back.groups.filter((g) => g.change === "gained");
    expect(gained.map((g) => g.hosts.map((h) => h.name)).sort()).toEqual([["plan-a1"], ["plan-a2"]]);
    expect(gained.find((g) => g.hosts[0]!.name === "plan-a1")!.lines.join("\n")).toContain("10.88.0.20 . tcp . 8080 . 10.88.0.0/24");
    expect(back.groups.find((g) => g.change === "lost")!.hosts.map((h) => h.name)).toEqual(["plan-b"]);
    expect(back.members.reweighted).toEqual([{ member: "10.88.0.11", from: 300, to: 100 }]);

    const counts = await written();
    // Thunks: each call starts when it is awaited (a rejected promise nobody awaits yet is an unhandled error).
    const refusals: [() => Promise<unknown>, string, string][] = [
      [() => operator.caller.services.plan({ id: webId, change: { kind: "update", spec: spec({ manualMembers: [{ address: "127.0.0.1" }] }) } }), "BAD_REQUEST", "loopback"],
      [() => operator.caller.services.plan({ id: webId, change: { kind: "update", spec: spec({ manualMembers: [{ address: "10.96.0.99" }] }) } }), "BAD_REQUEST", "service CIDR"],
      [() => operator.caller.services.plan({ id: webId, change: { kind: "update", spec: spec({ manualMembers: [{ address: "10.88.0.10", weight: 1001 }] }) } } as never), "BAD_REQUEST", "1000"],
      [() => operator.caller.services.plan({ id: webId, change: { kind: "update", spec: spec({ hostSelector: { matchLabels: { "-x": "a" } } }) } } as never), "BAD_REQUEST", "label key"],
      [() => operator.caller.services.plan({ id: webId, change: { kind: "rollback", toRevision: 9 } }), "NOT_FOUND", "no revision 9"],
      [() => operator.caller.services.plan({ id: webId, change: { kind: "update", spec: spec() }, expectedRevision: 1 }), "CONFLICT", "at revision 3, not 1"],
      [() => operator.caller.services.plan({ id: "nope", change: { kind: "update", spec: spec() } }), "NOT_FOUND", "nope"],
    ];
    for (const [call, code, message] of refusals) {
      const err = await trpcError(call());
      expect(err.code, message).toBe(code);
      expect(err.message, message).toContain(message);
    }
    expect(await written()).toEqual(counts);
  });

  it("a change to a member on one host: that host computes alone, the others share one text; each equals its agent's own", async () => {
    const everywhere = spec({ hostSelector: null, manualMembers: [{ address: "10.88.0.10", weight: 100 }, { address: "10.88.0.11", weight: 300 }] });
    await operator.caller.services.update({ id: webId, spec: everywhere, expectedRevision: 3 });
    const attachment = await t.db.attachment.findFirstOrThrow({ where: { containerId: "web-1" }, select: { id: true } });
    const proposed = { ...everywhere, overrides: [{ attachmentId: attachment.id, state: "draining" as const }] };
    const plan = await operator.caller.services.plan({ id: webId, change: { kind: "update", spec: proposed }, expectedRevision: 4 });
    expect(plan.members.restated).toEqual([{ member: "10.88.0.20", from: "active", to: "draining" }]);
    expect(plan.groups.map((g) => g.hosts.map((h) => h.name).sort()).sort()).toEqual([["plan-a1"], ["plan-a2", "plan-b"]]);
    // The local member leaves plan-a1's masquerade-local set; elsewhere it was a remote member.
    expect(plan.groups.find((g) => g.hosts[0]!.name === "plan-a1")!.lines).toContain("delete element ip switchyard masquerade-local { 10.88.0.20 . tcp . 8080 . 10.88.0.0/24 }");
    const before = Object.fromEntries(await Promise.all(Object.entries(hosts).map(async ([n, id]) => [n, await desiredServicesFor(t.db, id, 4)] as const)));
    await operator.caller.services.update({ id: webId, spec: proposed, expectedRevision: 4 });
    for (const [name, id] of Object.entries(hosts)) {
      const group = plan.groups.find((g) => g.hosts.some((h) => h.name === name))!;
      expect(agentTransaction(before[name]!, await desiredServicesFor(t.db, id, 4)), name).toBe(`${group.lines.join("\n")}\n`);
    }
  });
});
