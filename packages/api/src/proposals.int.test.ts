import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_CONFLIST, setupApiTest, trpcError, type ApiTest } from "./testing";

// Issue 13 §4: review before apply, with two people: one proposes, another approves, the policy
// decides what is needed, applying runs the plan once and links the operations it started.
let t: ApiTest;
type Caller = Awaited<ReturnType<ApiTest["callerAs"]>>["caller"];
let admin: Caller;
let alice: Caller;
let bob: Caller;
let viewer: Caller;
let networkId: string;
let host: Awaited<ReturnType<ApiTest["enrollHost"]>>;

const text = (third: number) => BRIDGE_CONFLIST("prop-net", `10.84.${third}.0/24`, `10.84.${third}.1`);
const revisionOf = async () => (await t.db.network.findUniqueOrThrow({ where: { id: networkId } })).latestRevision;

beforeAll(async () => {
  t = await setupApiTest();
  admin = (await t.callerAs("admin", "prop-admin")).caller;
  alice = (await t.callerAs("operator", "alice")).caller;
  bob = (await t.callerAs("operator", "bob")).caller;
  viewer = (await t.callerAs("viewer", "prop-viewer")).caller;
  networkId = (await alice.networks.create({ text: text(1), comment: "" })).id;
  host = await t.enrollHost("prop-host");
  // two attachments, made ready through the agent protocol as a host would report them
  for (const name of ["prop-a", "prop-b"]) await alice.attachments.create({ hostId: host.hostId, networkId, target: { kind: "netns", name } });
  for (const c of await host.agent.claim({ max: 8 })) await host.agent.complete({ operationId: c.operationId, attempt: c.attempt, outcome: "succeeded", result: { cniVersion: "1.1.0", ips: [] } });
  expect(await t.db.attachment.count({ where: { networkId, state: "ready" } })).toBe(2);
});
afterAll(async () => {
  await t?.close();
});

describe("review before apply", () => {
  it("a policy (admins set it) sends changes of a network in use through proposals", async () => {
    expect((await trpcError(alice.proposals.setPolicy({ kind: "network", targetId: networkId, approvals: 1, whenInUse: true, authorMayApply: false }))).code).toBe("FORBIDDEN");
    await admin.proposals.setPolicy({ kind: "network", targetId: networkId, approvals: 1, whenInUse: true, authorMayApply: false });
    const direct = await trpcError(alice.networks.update({ id: networkId, text: text(2), comment: "", expectedRevision: 1 }));
    expect(direct.code).toBe("FORBIDDEN");
    expect(direct.message).toBe('Network "prop-net" is changed through proposals (review policy: 1 approval by someone other than the author while it has attachments): propose the change instead');
    expect((await trpcError(alice.networks.delete({ id: networkId, confirmName: "prop-net" }))).code).toBe("FORBIDDEN");
    // the files path too: apply -f cannot go around the review
    const plan = await alice.files.plan({ files: [{ path: "10-prop-net.conflist", text: text(2) }] });
    expect(plan.ok).toBe(false);
    expect(plan.errors[0]!.message).toContain("is changed through proposals");
    expect(await revisionOf()).toBe(1);
  });

  it("a proposal shows its plan, needs another person's approval, and its author may not apply it", async () => {
    // a team's webhook hears that it waits for review (delivery is webhooks.int.test.ts's business)
    await admin.webhooks.create({ name: "reviews", url: "http://127.0.0.1:9/hook", events: ["proposal.awaiting_review"], allowLocal: true });
    const { id, approvalsNeeded } = await alice.proposals.create({ kind: "network", targetId: networkId, title: "Move to 10.84.2.0/24", text: text(2) });
    expect(approvalsNeeded).toBe(1);
    const rung = await t.db.webhookDelivery.findFirstOrThrow({ where: { event: "proposal.awaiting_review" } });
    expect(rung.payload).toMatchObject({ data: { proposal: { id, title: "Move to 10.84.2.0/24" }, target: { kind: "network", name: "prop-net" }, author: "alice", approvalsNeeded: 1 } });
    const seen = await viewer.proposals.get({ id });
    expect(seen).toMatchObject({ status: "open", stale: false, approvers: [], policy: { needed: 1 }, canApply: { ok: false } });
    expect(seen.canApply.reason).toBe("it needs 1 approval by someone other than the author (1 approval by someone other than the author while it has attachments); it has 0");
    expect(seen.plan?.kind).toBe("network");
    if (seen.plan?.kind !== "network") throw new Error("a network plan");
    expect(seen.plan.diff).toMatch(/^\+\s+"subnet": "10\.84\.2\.0\/24",$/m);
    expect(seen.plan.reapply.total).toBe(2);
    expect(seen.plan.reapply.hosts).toEqual([{ name: "prop-host", attachments: 2 }]);
    expect(seen.plan.reapply.attachments.map((a) => a.containerId).sort()).toEqual(["prop-a", "prop-b"]);

    expect((await trpcError(alice.proposals.review({ id, approve: true, body: "" }))).message).toBe("You proposed this change: an approval must come from someone else (comment instead)");
    await alice.proposals.review({ id, approve: false, body: "ranges checked against the lab plan" });
    expect((await trpcError(alice.proposals.applyProposal({ id }))).code).toBe("FORBIDDEN");
    await bob.proposals.review({ id, approve: true, body: "looks right" });
    const author = await trpcError(alice.proposals.applyProposal({ id }));
    expect(author.message).toBe('Proposal "Move to 10.84.2.0/24" cannot be applied: the review policy does not let its author apply it: someone else must');
    expect(await revisionOf()).toBe(1);

    const applied = await bob.proposals.applyProposal({ id });
    expect(applied.revision).toBe(2);
    expect(applied.operationIds).toHaveLength(2);
    expect(await revisionOf()).toBe(2);
    const ops = await t.db.operation.findMany({ where: { id: { in: applied.operationIds } } });
    expect(ops.map((o) => [o.kind, o.toRevision])).toEqual([["reapply", 2], ["reapply", 2]]);
    const after = await viewer.proposals.get({ id });
    expect(after).toMatchObject({ status: "applied", appliedByName: "bob", appliedRevision: 2, approvers: ["bob"] });
    expect(after.operations.map((o) => o.id).sort()).toEqual([...applied.operationIds].sort());
    expect((await t.db.networkRevision.findFirstOrThrow({ where: { networkId, number: 2 } })).comment).toContain("approved by bob");

    // applied twice: refused, nothing written again
    const twice = await trpcError(bob.proposals.applyProposal({ id }));
    expect(twice.code).toBe("CONFLICT");
    expect(twice.message).toContain("it was applied by bob");
    expect(await revisionOf()).toBe(2);
  });

  it("goes stale when its network moves on, and says so", async () => {
    const first = await alice.proposals.create({ kind: "network", targetId: networkId, title: "Widen", text: text(3) });
    const second = await alice.proposals.create({ kind: "network", targetId: networkId, title: "Other idea", text: text(4) });
    await bob.proposals.review({ id: first.id, approve: true, body: "" });
    await bob.proposals.applyProposal({ id: first.id });
    const stale = await viewer.proposals.get({ id: second.id });
    expect(stale).toMatchObject({ stale: true, plan: null, canApply: { ok: false } });
    expect(stale.canApply.reason).toBe('it is stale: network "prop-net" moved from revision 2 to 3 since it was proposed; propose the change again');
    await bob.proposals.review({ id: second.id, approve: true, body: "" });
    expect((await trpcError(bob.proposals.applyProposal({ id: second.id }))).code).toBe("CONFLICT");
    expect(await revisionOf()).toBe(3);
    expect((await viewer.proposals.list({ status: "open" })).find((p) => p.id === second.id)).toMatchObject({ stale: true, approvals: 1 });
  });

  it("without a policy a proposal needs no approval; concurrent applies write once", async () => {
    await admin.proposals.setPolicy({ kind: "network", targetId: networkId, approvals: 0 });
    const { id, approvalsNeeded } = await alice.proposals.create({ kind: "network", targetId: networkId, title: "Back", text: text(1) });
    expect(approvalsNeeded).toBe(0);
    const results = await Promise.allSettled([alice.proposals.applyProposal({ id }), bob.proposals.applyProposal({ id })]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(await revisionOf()).toBe(4);
    // and nothing is left to review: a proposal of the current config is refused
    expect((await trpcError(alice.proposals.create({ kind: "network", targetId: networkId, title: "Same", text: text(1) }))).message).toBe("The proposed config is the current one: there is nothing to review");
    expect((await trpcError(viewer.proposals.create({ kind: "network", targetId: networkId, title: "x", text: text(5) }))).code).toBe("FORBIDDEN");
  });

  it("a service's proposal shows which hosts' rules change and applies the spec", async () => {
    await admin.services.setCidrs({ cidrs: ["10.99.0.0/16"] });
    const svc = await alice.services.create({ name: "prop-web", spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }] } });
    await admin.proposals.setPolicy({ kind: "service", targetId: svc.id, approvals: 1, authorMayApply: true });
    expect((await trpcError(alice.services.update({ id: svc.id, spec: { ports: [{ protocol: "tcp", port: 81, targetPort: 8080 }] }, expectedRevision: 1 }))).code).toBe("FORBIDDEN");
    const { id } = await alice.proposals.create({ kind: "service", targetId: svc.id, title: "Port 81", spec: { ports: [{ protocol: "tcp", port: 81, targetPort: 8080 }] } });
    const seen = await viewer.proposals.get({ id });
    if (seen.plan?.kind !== "service") throw new Error("a service plan");
    expect(seen.plan.diff).toMatch(/^-\s+"port": 80,\n\+\s+"port": 81,$/m);
    expect(seen.plan.hosts.map((h) => [h.change, h.hosts])).toEqual([["update", ["prop-host"]]]);
    await bob.proposals.review({ id, approve: true, body: "" });
    const applied = await alice.proposals.applyProposal({ id }); // the policy lets the author apply once approved
    expect(applied).toEqual({ revision: 2, operationIds: [] });
    const spec = (await t.db.serviceRevision.findFirstOrThrow({ where: { serviceId: svc.id, number: 2 } })).spec as { ports: { port: number }[] };
    expect(spec.ports[0]!.port).toBe(81);
  });
});
