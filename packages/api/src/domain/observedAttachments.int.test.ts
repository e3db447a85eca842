import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_CONFLIST, setupApiTest, trpcError, type ApiTest } from "../testing";

// Issue 16 §3, the console's side: a host's report of the containers other runtimes attached
// replaces the last one whole; bad reports are refused with nothing changed; foreign networks kept.
let t: ApiTest;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;
let host: Awaited<ReturnType<ApiTest["enrollHost"]>>;
let labId: string;

const web = (over: Record<string, unknown> = {}) => ({
  runtime: "podman" as const,
  containerId: "c0ffee01",
  networkName: "obs-lab",
  ifName: "eth0",
  netns: "/run/netns/netns-1",
  name: "web-1",
  image: "localhost/busybox",
  labels: { app: "web" },
  labelsLeftOut: 0,
  state: "running",
  addresses: ["10.70.0.5/24"],
  ...over,
});

beforeAll(async () => {
  t = await setupApiTest();
  const operator = await t.callerAs("operator", "obs-op");
  viewer = await t.callerAs("viewer", "obs-viewer");
  host = await t.enrollHost("obs-host");
  labId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("obs-lab", "10.70.0.0/24", "10.70.0.1"), comment: "" })).id;
});
afterAll(() => t?.close());

describe("observed attachments", () => {
  it("a report replaces the host's last one; the network's page lists its own, a foreign network's are kept", async () => {
    await host.agent.reportObserved({ attachments: [web(), web({ containerId: "c0ffee02", name: "web-2", addresses: ["10.70.0.6/24"] }), web({ containerId: "f0f0", networkName: "not-in-console", runtime: "unknown", name: "", labels: {} })], runtimes: [{ runtime: "podman", ok: true }] });
    const listed = await viewer.caller.networks.observed({ id: labId });
    expect(listed.attachments.map((a) => [a.hostName, a.name, a.runtime, a.labels, a.addresses])).toEqual([
      ["obs-host", "web-1", "podman", { app: "web" }, ["10.70.0.5/24"]],
      ["obs-host", "web-2", "podman", { app: "web" }, ["10.70.0.6/24"]],
    ]);
    expect(await t.db.observedAttachment.count({ where: { networkName: "not-in-console" } })).toBe(1);
    // The host's page shows all three, the unknown network's as foreign (no network id), not as an error.
    const onHost = await viewer.caller.hosts.observed({ id: host.identity.hostId });
    expect(onHost.attachments.map((a) => [a.networkName, a.containerId, a.networkId])).toEqual([
      ["not-in-console", "f0f0", null],
      ["obs-lab", "c0ffee01", labId],
      ["obs-lab", "c0ffee02", labId],
    ]);

    await host.agent.reportObserved({ attachments: [web({ containerId: "c0ffee02", name: "web-2" })], runtimes: [{ runtime: "podman", ok: false, error: "podman did not answer within 10000 ms" }] });
    expect((await viewer.caller.networks.observed({ id: labId })).attachments.map((a) => a.containerId)).toEqual(["c0ffee02"]);
    expect((await t.db.host.findUniqueOrThrow({ where: { id: host.identity.hostId } })).observedRuntimes).toEqual([{ runtime: "podman", ok: false, error: "podman did not answer within 10000 ms" }]);
  });

  it("only what changed is written: an unchanged row keeps its observedAt, a changed one is rewritten, a gone one removed; the totals count them", async () => {
    const rows = async () => new Map((await t.db.observedAttachment.findMany({ where: { hostId: host.identity.hostId } })).map((r) => [r.containerId, r]));
    await host.agent.reportObserved({ attachments: [web({ containerId: "k1" }), web({ containerId: "k2", labels: { app: "web", tier: "a" } }), web({ containerId: "k3" })], runtimes: [] });
    const first = await rows();
    await new Promise((r) => setTimeout(r, 20));
    // k1 the same; k2 the same labels in another order; k3 stopped; k4 new; k0… gone.
    await host.agent.reportObserved({ attachments: [web({ containerId: "k1" }), web({ containerId: "k2", labels: { tier: "a", app: "web" } }), web({ containerId: "k3", state: "exited" }), web({ containerId: "k4" })], runtimes: [] });
    const second = await rows();
    expect([...second.keys()].sort()).toEqual(["k1", "k2", "k3", "k4"]);
    expect(second.get("k1")!.observedAt).toEqual(first.get("k1")!.observedAt);
    expect(second.get("k2")!.observedAt).toEqual(first.get("k2")!.observedAt);
    expect(second.get("k3")!.state).toBe("exited");
    expect(second.get("k3")!.observedAt.getTime()).toBeGreaterThan(first.get("k3")!.observedAt.getTime());
    expect((await viewer.caller.networks.observed({ id: labId })).total).toBe(4);
    expect((await viewer.caller.hosts.observed({ id: host.identity.hostId })).total).toBe(4);
    await host.agent.reportObserved({ attachments: [web({ containerId: "k4" })], runtimes: [] });
    expect([...(await rows()).keys()]).toEqual(["k4"]);
  });

  it("refuses a bad report whole (a label that could break a selector, twice the same, too long) and keeps the last", async () => {
    const before = await t.db.observedAttachment.findMany({ where: { hostId: host.identity.hostId } });
    for (const bad of [
      [web({ labels: { "app;$(reboot)": "x" } })],
      [web({ labels: { app: "web\nx" } })],
      [web(), web()],
      [web({ containerId: "x".repeat(256) })],
      [web({ addresses: Array.from({ length: 65 }, () => "10.70.0.9/24") })],
    ]) {
      expect((await trpcError(host.agent.reportObserved({ attachments: bad, runtimes: [] }))).code).toBe("BAD_REQUEST");
    }
    expect(await t.db.observedAttachment.findMany({ where: { hostId: host.identity.hostId } })).toEqual(before);
  });

  it("a running, labelled container joins the pool of the service that selects it, on every host's view; it leaves when it stops", async () => {
    const admin = await t.callerAs("admin", "obs-admin");
    const operator = await t.callerAs("operator", "obs-op2");
    await admin.caller.services.setCidrs({ cidrs: ["10.97.0.0/16"] });
    const svc = await operator.caller.services.create({ name: "obs-web", spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }], memberSelector: { matchLabels: { app: "web" } } } });
    const other = await t.enrollHost("obs-other");
    const members = async (h: typeof host) => (await h.agent.servicesDesired({ family: 4 })).services.find((x) => x.id === svc.id)!.members;
    const generation = async () => (await host.agent.servicesDesired({ family: 4 })).version;

    const g0 = await generation();
    await host.agent.reportObserved({ attachments: [web({ addresses: ["10.70.0.5/24"] }), web({ containerId: "db1", name: "db", labels: { app: "db" }, addresses: ["10.70.0.7/24"] }), web({ containerId: "stopped", name: "old", state: "exited", addresses: ["10.70.0.8/24"] })], runtimes: [] });
    const g1 = await generation();
    expect(g1).toBeGreaterThan(g0);
    // Selected like an attachment of Switchyard's own: on its host with its local CIDR, elsewhere without.
    expect(await members(host)).toEqual([{ address: "10.70.0.5", port: null, weight: 100, state: "active", health: "none", localCidr: "10.70.0.0/24" }]);
    expect(await members(other)).toEqual([{ address: "10.70.0.5", port: null, weight: 100, state: "active", health: "none", localCidr: null }]);
    const page = await operator.caller.services.get({ id: svc.id });
    expect(page.members.map((m) => [m.address, m.source, m.attachmentId, m.containerId, m.hostName])).toEqual([["10.70.0.5", "selector", null, "c0ffee01", "obs-host"]]);

    // The same picture again moves nothing; the container stopped (its runtime's DEL): it leaves.
    await host.agent.reportObserved({ attachments: [web({ addresses: ["10.70.0.5/24"] }), web({ containerId: "db1", name: "db", labels: { app: "db" }, addresses: ["10.70.0.7/24"] }), web({ containerId: "stopped", name: "old", state: "exited", addresses: ["10.70.0.8/24"] })], runtimes: [] });
    expect(await generation()).toBe(g1);
    await host.agent.reportObserved({ attachments: [], runtimes: [] });
    expect(await generation()).toBeGreaterThan(g1);
    expect(await members(other)).toEqual([]);
  });
});
