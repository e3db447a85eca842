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

    await host.agent.reportObserved({ attachments: [web({ containerId: "c0ffee02", name: "web-2" })], runtimes: [{ runtime: "podman", ok: false, error: "podman did not answer within 10000 ms" }] });
    expect((await viewer.caller.networks.observed({ id: labId })).attachments.map((a) => a.containerId)).toEqual(["c0ffee02"]);
    expect((await t.db.host.findUniqueOrThrow({ where: { id: host.identity.hostId } })).observedRuntimes).toEqual([{ runtime: "podman", ok: false, error: "podman did not answer within 10000 ms" }]);
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
});
