import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { HostEvent } from "../events";
import { BRIDGE_CONFLIST, setupApiTest, trpcError, type ApiTest } from "../testing";

// Issue 16 §1–2, the console's side: placements, each host's deployments (byte for byte), the
// doorbells to the hosts a change concerns, and the agents' conf dir reports per host.
let t: ApiTest;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;
let hosts: Record<"edge1" | "edge2" | "core", Awaited<ReturnType<ApiTest["enrollHost"]>>>;
/** The text as a person saved it: not JSON.stringify's layout, so byte-identity is a real check. */
const LAB_TEXT = `{
  "cniVersion": "1.0.0", "name": "dep-lab",
  "plugins": [ { "type": "bridge", "bridge": "dep0", "ipam": { "type": "host-local", "ranges": [[{ "subnet": "10.61.0.0/24" }]] } } ]
}
`;
let labId: string;

let heard: HostEvent[];
let stop: AbortController;
beforeEach(() => {
  heard = [];
  stop = new AbortController();
  void (async () => {
    for await (const e of t.deps.events.subscribe("host", stop.signal)) if ("hostId" in e && e.kind === "deploy") heard.push(e);
  })();
});
afterEach(() => stop.abort());
const rung = async () => {
  await new Promise((r) => setTimeout(r, 50));
  return [...new Set(heard.map((e) => e.hostId))].sort();
};

beforeAll(async () => {
  t = await setupApiTest();
  operator = await t.callerAs("operator", "dep-op");
  viewer = await t.callerAs("viewer", "dep-viewer");
  hosts = { edge1: await t.enrollHost("dep-edge1"), edge2: await t.enrollHost("dep-edge2"), core: await t.enrollHost("dep-core") };
  await operator.caller.services.setHostLabels({ hostId: hosts.edge1.identity.hostId, labels: { zone: "edge" } });
  await operator.caller.services.setHostLabels({ hostId: hosts.edge2.identity.hostId, labels: { zone: "edge" } });
  await operator.caller.services.setHostLabels({ hostId: hosts.core.identity.hostId, labels: { zone: "core" } });
  labId = (await operator.caller.networks.create({ text: LAB_TEXT, comment: "" })).id;
});
afterAll(() => t?.close());

const idOf = (name: keyof typeof hosts) => hosts[name].identity.hostId;

describe("network placement and each host's deployments", () => {
  it("places by labels: the matching hosts get the revision's text byte for byte, the others nothing, and are rung", async () => {
    await operator.caller.networks.place({ networkId: labId, mode: "labels", selector: { matchLabels: { zone: "edge" } }, drift: "warn" });
    expect(await rung()).toEqual([idOf("edge1"), idOf("edge2")].sort());
    expect(await hosts.edge1.agent.deployments()).toEqual({ networks: [{ network: "dep-lab", revision: 1, conflist: LAB_TEXT, drift: "warn" }] });
    expect(await hosts.core.agent.deployments()).toEqual({ networks: [] });
    const audit = await t.db.auditEvent.findFirst({ where: { action: "network.placement.set", targetId: labId }, orderBy: { at: "desc" } });
    expect(audit?.actorName).toBe("dep-op");
  });

  it("a host's new labels move it in or out of a placement, and ring it", async () => {
    await operator.caller.services.setHostLabels({ hostId: idOf("core"), labels: { zone: "edge" } });
    expect(await rung()).toEqual([idOf("core")]);
    expect((await hosts.core.agent.deployments()).networks.map((n) => n.network)).toEqual(["dep-lab"]);
    await operator.caller.services.setHostLabels({ hostId: idOf("core"), labels: { zone: "core" } });
    expect((await hosts.core.agent.deployments()).networks).toEqual([]);
  });

  it("a new revision reaches the hosts only by a rollout: planned first, then host by host, paused by a host that cannot take it", async () => {
    await operator.caller.networks.update({ id: labId, expectedRevision: 1, text: LAB_TEXT.replace("dep0", "dep1"), comment: "r2" });
    // Saving rings nobody: the hosts keep revision 1 until a rollout gives them 2.
    expect(await rung()).toEqual([]);
    expect((await hosts.edge2.agent.deployments()).networks[0]).toMatchObject({ revision: 1, conflist: LAB_TEXT });
    const file = "50-switchyard-dep-lab.conflist";
    for (const h of [hosts.edge1, hosts.edge2]) await h.agent.reportConfDir({ actions: [{ kind: "create", network: "dep-lab", file, revision: 1 }] });

    const plan = await viewer.caller.networks.rolloutPlan({ id: labId });
    expect(plan).toMatchObject({ fromRevision: 1, toRevision: 2, blocked: null });
    expect(plan.hosts.map((h) => [h.hostName, h.fileRevision, h.inOrder])).toEqual([["dep-edge1", 1, true], ["dep-edge2", 1, true]]);
    expect(plan.diff).toContain('-  "plugins": [ { "type": "bridge", "bridge": "dep0"');
    expect(plan.diff).toContain('+  "plugins": [ { "type": "bridge", "bridge": "dep1"');
    expect((await trpcError(operator.caller.networks.startRollout({ networkId: labId, revision: 1 }))).code).toBe("CONFLICT");

    heard = [];
    await operator.caller.networks.startRollout({ networkId: labId, revision: 2 });
    expect(await rung()).toEqual([idOf("edge1")]);
    expect((await hosts.edge1.agent.deployments()).networks[0]).toMatchObject({ revision: 2, conflist: LAB_TEXT.replace("dep0", "dep1") });
    expect((await hosts.edge2.agent.deployments()).networks[0]).toMatchObject({ revision: 1 });
    expect((await trpcError(operator.caller.networks.startRollout({ networkId: labId, revision: 2 }))).message).toContain("is running");

    // edge1 wrote it: edge2 is next.
    heard = [];
    await hosts.edge1.agent.reportConfDir({ actions: [{ kind: "update", network: "dep-lab", file, revision: 2 }] });
    expect(await rung()).toEqual([idOf("edge2")]);
    // edge2's file was edited by hand and the policy is warn: it cannot take it; the rollout pauses, saying why.
    await hosts.edge2.agent.reportConfDir({ actions: [{ kind: "drifted", network: "dep-lab", file, revision: 1, change: "edited", diff: "-a\n+b\n" }] });
    let status = await viewer.caller.networks.deployments({ id: labId });
    expect(status.placement?.rollout).toMatchObject({ state: "paused", revision: 2, reached: 2, error: "dep-edge2: its file was edited by hand and is left (drift policy warn)" });
    const by = Object.fromEntries(status.hosts.map((h) => [h.hostName, h]));
    expect(by["dep-edge1"]).toMatchObject({ placed: true, wantedRevision: 2, current: true, file: { state: "deployed", revision: 2 } });
    expect(by["dep-edge2"]).toMatchObject({ placed: true, wantedRevision: 2, current: false, file: { state: "drifted", revision: 1, diff: "-a\n+b\n" } });
    // The host's own page says the same; a host the placement does not take lists nothing.
    expect(await viewer.caller.hosts.deployments({ id: idOf("edge2") })).toEqual({
      confDirError: "",
      networks: [expect.objectContaining({ networkId: labId, networkName: "dep-lab", placed: true, wantedRevision: 2, current: false, file: expect.objectContaining({ name: file, state: "drifted", revision: 1 }) })],
    });
    expect((await viewer.caller.hosts.deployments({ id: idOf("core") })).networks).toEqual([]);
    expect((await trpcError(viewer.caller.hosts.deployments({ id: "nope" }))).code).toBe("NOT_FOUND");

    // Resumed: edge2 is rung again; once it wrote revision 2 the rollout is done and 2 is the placement's.
    heard = [];
    await operator.caller.networks.steerRollout({ networkId: labId, action: "resume" });
    expect(await rung()).toEqual([idOf("edge2")]);
    await hosts.edge2.agent.reportConfDir({ actions: [{ kind: "restore", network: "dep-lab", file, revision: 2, change: "edited" }] });
    status = await viewer.caller.networks.deployments({ id: labId });
    expect(status.placement).toMatchObject({ revision: 2, rollout: { state: "done" } });
    expect(status.hosts.every((h) => h.current)).toBe(true);
    expect((await viewer.caller.networks.rolloutPlan({ id: labId })).blocked).toContain("already hold revision 2");
    const audit = await t.db.auditEvent.findMany({ where: { targetId: labId, action: { startsWith: "network.rollout" } }, select: { action: true } });
    expect(audit.map((a) => a.action).sort()).toEqual(["network.rollout.resume", "network.rollout.start"]);
  });

  it("a stopped rollout takes the hosts it reached back to the placement's revision", async () => {
    await operator.caller.networks.update({ id: labId, expectedRevision: 2, text: LAB_TEXT.replace("dep0", "dep3"), comment: "r3" });
    await operator.caller.networks.startRollout({ networkId: labId, revision: 3 });
    expect((await hosts.edge1.agent.deployments()).networks[0]).toMatchObject({ revision: 3 });
    heard = [];
    await operator.caller.networks.steerRollout({ networkId: labId, action: "stop" });
    expect(await rung()).toEqual([idOf("edge1")]);
    expect((await hosts.edge1.agent.deployments()).networks[0]).toMatchObject({ revision: 2 });
    expect((await viewer.caller.networks.placement({ id: labId }))?.rollout).toBeNull();
  });

  it("under a review policy, only a revision an applied proposal wrote rolls out", async () => {
    const admin = await t.callerAs("admin", "dep-admin");
    const reviewer = await t.callerAs("operator", "dep-reviewer");
    await admin.caller.proposals.setPolicy({ kind: "network", targetId: labId, approvals: 1, whenInUse: false, authorMayApply: true });
    try {
      // Revision 3 was saved before the policy: the hosts (back on 2) do not get it unreviewed.
      const refused = await trpcError(operator.caller.networks.startRollout({ networkId: labId, revision: 3 }));
      expect(refused.code).toBe("FORBIDDEN");
      expect(refused.message).toBe('revision 3 of network "dep-lab" was not made through a proposal, and its review policy (1 approval by someone other than the author) asks for one before it reaches the hosts: propose the change');
      expect((await viewer.caller.networks.placement({ id: labId }))?.rollout).toBeNull();
      // The plan says so before anyone tries.
      expect((await operator.caller.networks.rolloutPlan({ id: labId })).blocked).toBe(refused.message);
      const { id } = await operator.caller.proposals.create({ kind: "network", targetId: labId, title: "dep4", text: LAB_TEXT.replace("dep0", "dep4") });
      await reviewer.caller.proposals.review({ id, approve: true, body: "" });
      await operator.caller.proposals.applyProposal({ id });
      await operator.caller.networks.startRollout({ networkId: labId, revision: 4 });
      expect((await hosts.edge1.agent.deployments()).networks[0]).toMatchObject({ revision: 4 });
      await operator.caller.networks.steerRollout({ networkId: labId, action: "stop" });
    } finally {
      await admin.caller.proposals.setPolicy({ kind: "network", targetId: labId, approvals: 0, whenInUse: false, authorMayApply: true });
    }
  });

  it("refuses bad placements and bad reports with the reason, storing nothing", async () => {
    const before = await viewer.caller.networks.placement({ id: labId });
    for (const bad of [
      { networkId: labId, mode: "labels" as const },
      { networkId: labId, mode: "hosts" as const, hostIds: [] },
      { networkId: labId, mode: "hosts" as const, hostIds: ["no-such-host"] },
    ]) {
      const error = await trpcError(operator.caller.networks.place(bad));
      expect(error.code).toBe("BAD_REQUEST");
    }
    expect((await trpcError(operator.caller.networks.place({ networkId: "missing", mode: "all" }))).code).toBe("NOT_FOUND");
    expect((await trpcError(viewer.caller.networks.place({ networkId: labId, mode: "all" }))).code).toBe("FORBIDDEN");
    expect(await viewer.caller.networks.placement({ id: labId })).toEqual(before);

    const rows = await t.db.hostNetworkFile.count();
    for (const bad of [
      { actions: [{ kind: "create" as const, network: "../etc", file: "x", revision: 1 }] },
      { actions: [{ kind: "create" as const, network: "dep-lab", file: "x", revision: -1 }] },
      { actions: [{ kind: "keep" as const, network: "dep-lab", file: "x", revision: 1, diff: "x".repeat(20_001) }] },
    ]) {
      expect((await trpcError(hosts.edge1.agent.reportConfDir(bad))).code).toBe("BAD_REQUEST");
    }
    expect(await t.db.hostNetworkFile.count()).toBe(rows);
  });

  it("a conf dir the agent could not look at keeps its files' last state and shows the error on the host", async () => {
    await hosts.edge1.agent.reportConfDir({ error: "conf dir /etc/cni/net.d cannot be read: EACCES", actions: [] });
    const status = await viewer.caller.networks.deployments({ id: labId });
    const edge1 = status.hosts.find((h) => h.hostName === "dep-edge1")!;
    expect(edge1.confDirError).toContain("EACCES");
    expect(edge1.file).toMatchObject({ state: "deployed", revision: 2 });
  });

  it("picked hosts, then unplaced: the hosts it leaves are rung and get nothing; a removed file's row goes", async () => {
    await operator.caller.networks.place({ networkId: labId, mode: "hosts", hostIds: [idOf("core")] });
    expect(await rung()).toEqual([idOf("edge1"), idOf("edge2"), idOf("core")].sort());
    expect((await hosts.edge1.agent.deployments()).networks).toEqual([]);
    expect((await hosts.core.agent.deployments()).networks.map((n) => n.network)).toEqual(["dep-lab"]);
    await hosts.edge1.agent.reportConfDir({ actions: [{ kind: "remove", network: "dep-lab", file: "50-switchyard-dep-lab.conflist", revision: 2 }] });
    expect((await viewer.caller.networks.deployments({ id: labId })).hosts.map((h) => h.hostName)).not.toContain("dep-edge1");

    heard = [];
    expect(await operator.caller.networks.unplace({ id: labId })).toEqual({ networkId: labId, removed: true });
    expect(await rung()).toEqual([idOf("core")]);
    expect((await hosts.core.agent.deployments()).networks).toEqual([]);
    expect(await viewer.caller.networks.placement({ id: labId })).toBeNull();
  });

  it("a deleted network's hosts are rung, and its placement goes with it", async () => {
    const gone = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("dep-gone", "10.62.0.0/24", "10.62.0.1"), comment: "" })).id;
    await operator.caller.networks.place({ networkId: gone, mode: "all" });
    expect(await hosts.core.agent.deployments()).toMatchObject({ networks: [{ network: "dep-gone" }] });
    heard = [];
    await operator.caller.networks.delete({ id: gone, confirmName: "dep-gone" });
    expect(await rung()).toEqual([idOf("edge1"), idOf("edge2"), idOf("core")].sort());
    expect(await t.db.networkPlacement.count({ where: { networkId: gone } })).toBe(0);
    expect((await hosts.core.agent.deployments()).networks).toEqual([]);
  });
});
