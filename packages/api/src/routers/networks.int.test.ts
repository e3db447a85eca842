import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "../testing";

let t: ApiTest;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;

beforeAll(async () => {
  t = await setupApiTest();
  operator = await t.callerAs("operator", "olivia");
  viewer = await t.callerAs("viewer", "victor");
});
afterAll(() => t?.close());

async function trpcCode(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TRPCError);
  return (err as TRPCError).code;
}

describe("networks", () => {
  it("creates a network as revision 1 and writes an audit event in the same transaction", async () => {
    const saved = await operator.caller.networks.create({ text: BRIDGE_CONFLIST("create-1", "10.10.0.0/24", "10.10.0.1"), comment: "first" });
    expect(saved.revision).toBe(1);
    const row = await t.db.networkRevision.findUnique({ where: { networkId_number: { networkId: saved.id, number: 1 } } });
    expect(row?.comment).toBe("first");
    expect(row?.authorName).toBe("olivia");
    const audit = await t.db.auditEvent.findFirst({ where: { action: "networks.create", targetId: saved.id } });
    expect(audit).toMatchObject({ outcome: "success", actorName: "olivia", targetType: "network" });
    expect((audit?.after as { name: string }).name).toBe("create-1");
  });

  it("wraps a single .conf into a conflist", async () => {
    const conf = JSON.stringify({ cniVersion: "1.0.0", name: "single-conf", type: "ptp", ipam: { type: "host-local", subnet: "10.11.0.0/24" } });
    const saved = await operator.caller.networks.create({ text: conf, comment: "" });
    const got = await viewer.caller.networks.get({ id: saved.id });
    expect(got.conflist.plugins).toHaveLength(1);
    expect(got.conflist.plugins[0]?.type).toBe("ptp");
  });

  it("refuses a gateway outside its subnet with a field path and stores nothing", async () => {
    const before = await t.db.network.count();
    const err = await operator.caller.networks
      .create({ text: BRIDGE_CONFLIST("bad-gw", "10.12.0.0/24", "10.99.0.1"), comment: "" })
      .catch((e: unknown) => e as TRPCError);
    expect((err as TRPCError).code).toBe("BAD_REQUEST");
    const issues = ((err as TRPCError).cause as unknown as { issues: { path: unknown[]; message: string }[] }).issues;
    expect(issues.some((i) => i.path.join(".") === "plugins.0.ipam.ranges.0.0.gateway" && i.message.includes("10.99.0.1"))).toBe(true);
    expect(await t.db.network.count()).toBe(before);
    const refused = await t.db.auditEvent.findFirst({ where: { action: "networks.create", outcome: "error" }, orderBy: { id: "desc" } });
    expect(refused?.message).toContain("BAD_REQUEST");
  });

  it("leaves the stored revision untouched when an update is malformed, huge, deeply nested or of unknown version (HARDENING 9)", async () => {
    const saved = await operator.caller.networks.create({ text: BRIDGE_CONFLIST("h9", "10.13.0.0/24", "10.13.0.1"), comment: "" });
    const bad = [
      "{ not json",
      `{"cniVersion":"1.0.0","name":"h9","plugins":[{"type":"bridge","x":"${"a".repeat(1_100_000)}"}]}`,
      `{"cniVersion":"1.0.0","name":"h9","plugins":[{"type":"bridge","x":${"[".repeat(5000)}${"]".repeat(5000)}}]}`,
      `{"cniVersion":"1.0.0","name":"h9","name":"h9b","plugins":[{"type":"bridge"}]}`,
      BRIDGE_CONFLIST("h9", "10.13.0.0/24", "10.13.0.1").replace('"1.0.0"', '"9.9.9"'),
      JSON.stringify({ cniVersions: ["7.0.0"], name: "h9", plugins: [{ type: "ptp" }] }),
    ];
    for (const text of bad) {
      expect(await trpcCode(operator.caller.networks.update({ id: saved.id, text, comment: "", expectedRevision: 1 }))).toBe("BAD_REQUEST");
    }
    const net = await t.db.network.findUniqueOrThrow({ where: { id: saved.id } });
    expect(net.latestRevision).toBe(1);
    expect(await t.db.networkRevision.count({ where: { networkId: saved.id } })).toBe(1);
  });

  it("refuses plugin types that would escape CNI_PATH", async () => {
    for (const type of ["../../bin/sh", "/bin/sh", "bridge/../x", ""]) {
      const text = JSON.stringify({ cniVersion: "1.0.0", name: "escape", plugins: [{ type }] });
      expect(await trpcCode(operator.caller.networks.create({ text, comment: "" }))).toBe("BAD_REQUEST");
    }
    expect(await t.db.network.count({ where: { name: "escape" } })).toBe(0);
  });

  it("edits into a new revision, refuses a stale edit, and rolls back as a new revision", async () => {
    const saved = await operator.caller.networks.create({ text: BRIDGE_CONFLIST("hist", "10.14.0.0/24", "10.14.0.1"), comment: "" });
    const r2 = await operator.caller.networks.update({ id: saved.id, text: BRIDGE_CONFLIST("hist", "10.14.0.0/24", "10.14.0.254"), comment: "move gw", expectedRevision: 1 });
    expect(r2.revision).toBe(2);
    expect(await trpcCode(operator.caller.networks.update({ id: saved.id, text: BRIDGE_CONFLIST("hist", "10.14.0.0/24", "10.14.0.9"), comment: "", expectedRevision: 1 }))).toBe("CONFLICT");
    const r3 = await operator.caller.networks.rollback({ id: saved.id, toRevision: 1, expectedRevision: 2 });
    expect(r3.revision).toBe(3);
    const got = await viewer.caller.networks.get({ id: saved.id });
    expect(got.text).toContain('"gateway": "10.14.0.1"');
    const revisions = await viewer.caller.networks.revisions({ id: saved.id });
    expect(revisions.map((r) => r.number)).toEqual([3, 2, 1]);
    expect(revisions[0]?.comment).toBe("Rollback to revision 1");
    const rev2 = await viewer.caller.networks.revision({ id: saved.id, number: 2 });
    expect(rev2.text).toContain("10.14.0.254");
    const audit = await t.db.auditEvent.findFirst({ where: { action: "networks.rollback", targetId: saved.id } });
    expect((audit?.before as { revision: number }).revision).toBe(2);
    expect((audit?.after as { revision: number }).revision).toBe(3);
  });

  it("warns when subnets overlap another network but still saves", async () => {
    await operator.caller.networks.create({ text: BRIDGE_CONFLIST("ov-a", "10.20.0.0/16", "10.20.0.1"), comment: "" });
    const b = await operator.caller.networks.create({ text: BRIDGE_CONFLIST("ov-b", "10.20.5.0/24", "10.20.5.1"), comment: "" });
    expect(b.warnings.some((w) => w.severity === "warning" && w.message.includes("ov-a"))).toBe(true);
  });

  it("refuses a duplicate name with CONFLICT", async () => {
    await operator.caller.networks.create({ text: BRIDGE_CONFLIST("dup", "10.30.0.0/24", "10.30.0.1"), comment: "" });
    expect(await trpcCode(operator.caller.networks.create({ text: BRIDGE_CONFLIST("dup", "10.31.0.0/24", "10.31.0.1"), comment: "" }))).toBe("CONFLICT");
  });

  it("deletes only with the name typed as confirmation", async () => {
    const saved = await operator.caller.networks.create({ text: BRIDGE_CONFLIST("to-delete", "10.40.0.0/24", "10.40.0.1"), comment: "" });
    expect(await trpcCode(operator.caller.networks.delete({ id: saved.id, confirmName: "nope" }))).toBe("BAD_REQUEST");
    expect(await t.db.network.count({ where: { id: saved.id } })).toBe(1);
    await operator.caller.networks.delete({ id: saved.id, confirmName: "to-delete" });
    expect(await t.db.network.count({ where: { id: saved.id } })).toBe(0);
    expect(await t.db.networkRevision.count({ where: { networkId: saved.id } })).toBe(0);
    expect(await trpcCode(viewer.caller.networks.get({ id: saved.id }))).toBe("NOT_FOUND");
  });

  it("exports files named as /etc/cni/net.d expects and imports them back all-or-nothing", async () => {
    const saved = await operator.caller.networks.create({ text: BRIDGE_CONFLIST("exp", "10.50.0.0/24", "10.50.0.1"), comment: "" });
    const [file] = await viewer.caller.networks.export({ id: saved.id });
    expect(file?.fileName).toBe("10-exp.conflist");
    expect(JSON.parse(file!.text).name).toBe("exp");
    const all = await viewer.caller.networks.export({});
    expect(all.length).toBe(await t.db.network.count());

    const unchanged = await operator.caller.networks.import({ files: [file!] });
    expect(unchanged[0]?.action).toBe("unchanged");
    const changed = file!.text.replace("10.50.0.1", "10.50.0.2");
    const fresh = BRIDGE_CONFLIST("imported", "10.51.0.0/24", "10.51.0.1");
    const result = await operator.caller.networks.import({ files: [{ fileName: "10-exp.conflist", text: changed }, { fileName: "20-imported.conflist", text: fresh }] });
    expect(result.map((r) => r.action)).toEqual(["updated", "created"]);

    const countBefore = await t.db.networkRevision.count();
    const broken = BRIDGE_CONFLIST("imported-2", "10.52.0.0/24", "10.99.0.1");
    expect(await trpcCode(operator.caller.networks.import({ files: [{ fileName: "a.conflist", text: BRIDGE_CONFLIST("ok-one", "10.53.0.0/24", "10.53.0.1") }, { fileName: "b.conflist", text: broken }] }))).toBe("BAD_REQUEST");
    expect(await t.db.networkRevision.count()).toBe(countBefore);
    expect(await t.db.network.count({ where: { name: "ok-one" } })).toBe(0);
  });

  it("pushes committed changes to subscribers", async () => {
    const stream = await viewer.caller.events.stream();
    const iterator = stream[Symbol.asyncIterator]();
    const next = iterator.next();
    await operator.caller.networks.create({ text: BRIDGE_CONFLIST("live", "10.60.0.0/24", "10.60.0.1"), comment: "" });
    const event = await next;
    expect(event.value).toMatchObject({ topic: "network", event: { kind: "created", name: "live" } });
    await iterator.return?.();
  });
});

describe("networks authorization", () => {
  it("refuses anonymous callers with UNAUTHORIZED on every procedure", async () => {
    const a = t.anonymous.networks;
    const calls = [
      () => a.list(),
      () => a.get({ id: "x" }),
      () => a.revisions({ id: "x" }),
      () => a.revision({ id: "x", number: 1 }),
      () => a.export({}),
      () => a.create({ text: "{}", comment: "" }),
      () => a.update({ id: "x", text: "{}", comment: "", expectedRevision: 1 }),
      () => a.rollback({ id: "x", toRevision: 1, expectedRevision: 1 }),
      () => a.delete({ id: "x", confirmName: "x" }),
      () => a.import({ files: [{ fileName: "a", text: "{}" }] }),
    ];
    for (const call of calls) expect(await trpcCode(call())).toBe("UNAUTHORIZED");
  });

  it("answers NOT_FOUND for ids that do not exist, and audits the attempt (HARDENING 12)", async () => {
    expect(await trpcCode(operator.caller.networks.update({ id: "cl-nonexistent", text: BRIDGE_CONFLIST("ghost", "10.80.0.0/24", "10.80.0.1"), comment: "", expectedRevision: 1 }))).toBe("NOT_FOUND");
    expect(await trpcCode(operator.caller.networks.delete({ id: "cl-nonexistent", confirmName: "ghost" }))).toBe("NOT_FOUND");
    expect(await trpcCode(viewer.caller.networks.revisions({ id: "cl-nonexistent" }))).toBe("NOT_FOUND");
    const events = await t.db.auditEvent.findMany({ where: { targetId: "cl-nonexistent", outcome: "denied" } });
    expect(events.map((e) => e.action).sort()).toEqual(["networks.delete", "networks.update"]);
  });

  it("lets viewers read but refuses every change with FORBIDDEN, audited as denied", async () => {
    const saved = await operator.caller.networks.create({ text: BRIDGE_CONFLIST("viewer-target", "10.70.0.0/24", "10.70.0.1"), comment: "" });
    const v = viewer.caller.networks;
    expect((await v.list({ q: "viewer-target" })).items.some((n) => n.id === saved.id)).toBe(true);
    const calls = [
      () => v.create({ text: BRIDGE_CONFLIST("by-viewer", "10.71.0.0/24", "10.71.0.1"), comment: "" }),
      () => v.update({ id: saved.id, text: BRIDGE_CONFLIST("viewer-target", "10.70.0.0/24", "10.70.0.2"), comment: "", expectedRevision: 1 }),
      () => v.rollback({ id: saved.id, toRevision: 1, expectedRevision: 1 }),
      () => v.delete({ id: saved.id, confirmName: "viewer-target" }),
      () => v.import({ files: [{ fileName: "a.conflist", text: BRIDGE_CONFLIST("by-viewer", "10.71.0.0/24", "10.71.0.1") }] }),
    ];
    for (const call of calls) expect(await trpcCode(call())).toBe("FORBIDDEN");
    expect(await t.db.network.count({ where: { name: "by-viewer" } })).toBe(0);
    expect((await t.db.network.findUniqueOrThrow({ where: { id: saved.id } })).latestRevision).toBe(1);
    const denied = await t.db.auditEvent.findMany({ where: { actorName: "victor", outcome: "denied" } });
    expect(denied.map((d) => d.action).sort()).toEqual(["networks.create", "networks.delete", "networks.import", "networks.rollback", "networks.update"]);
  });
});
