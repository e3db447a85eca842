import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_CONFLIST, setupApiTest, trpcError, type ApiTest } from "./testing";

// Issue 13 §2: networks and services as files a team keeps in git. plan says what applying a
// directory would do, apply does exactly that or nothing, export writes the files back.
let t: ApiTest;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>["caller"];

const net = (name: string, third: number) => BRIDGE_CONFLIST(name, `10.83.${third}.0/24`, `10.83.${third}.1`);
const serviceFile = (name: string, port: number, extra: Record<string, unknown> = {}) =>
  `${JSON.stringify({ name, spec: { ports: [{ protocol: "tcp", port, targetPort: 8080 }] }, ...extra }, null, 2)}\n`;
const counts = async () => ({ networks: await t.db.network.count(), revisions: await t.db.networkRevision.count(), services: await t.db.service.count(), serviceRevisions: await t.db.serviceRevision.count() });

beforeAll(async () => {
  t = await setupApiTest();
  operator = (await t.callerAs("operator", "files-op")).caller;
  const admin = (await t.callerAs("admin", "files-admin")).caller;
  await admin.services.setCidrs({ cidrs: ["10.98.0.0/16"] });
});
afterAll(async () => {
  await t?.close();
});

describe("networks and services as files", () => {
  it("plans creates and updates with a diff, applies exactly that plan, and then nothing is left to do", async () => {
    await operator.networks.create({ text: net("files-a", 1), comment: "" });
    const files = [
      { path: "10-files-a.conflist", text: net("files-a", 2) }, // moved subnet: an update
      { path: "10-files-b.conflist", text: net("files-b", 3) },
      { path: "services/files-web.json", text: serviceFile("files-web", 80) },
      { path: "services/files-db.json", text: serviceFile("files-db", 5432, { vip: "10.98.0.53" }) },
    ];
    const plan = await operator.files.plan({ files });
    expect(plan.errors).toEqual([]);
    expect(plan.ok).toBe(true);
    expect(plan.changes.map((c) => [c.kind, c.name, c.action])).toEqual([
      ["network", "files-a", "update"],
      ["network", "files-b", "create"],
      ["service", "files-web", "create"],
      ["service", "files-db", "create"],
    ]);
    const update = plan.changes[0]!;
    expect(update.diff).toMatch(/^@@ -12,8 \+12,8 @@$/m);
    expect(update.diff).toMatch(/^-\s+"subnet": "10\.83\.1\.0\/24",$/m);
    expect(update.diff).toMatch(/^\+\s+"subnet": "10\.83\.2\.0\/24",$/m);
    expect(plan.changes[3]!.impact).toEqual(["VIP 10.98.0.53"]);
    expect(await counts()).toEqual({ networks: 1, revisions: 1, services: 0, serviceRevisions: 0 }); // a plan writes nothing

    const { applied } = await operator.files.applyPlan({ files, expectedDigest: plan.digest });
    expect(applied).toEqual([
      { kind: "network", name: "files-a", action: "update", revision: 2 },
      { kind: "network", name: "files-b", action: "create", revision: 1 },
      { kind: "service", name: "files-web", action: "create", revision: 1 },
      { kind: "service", name: "files-db", action: "create", revision: 1 },
    ]);
    expect((await t.db.service.findUniqueOrThrow({ where: { name: "files-db" } })).vip).toBe("10.98.0.53");
    const again = await operator.files.plan({ files });
    expect(again.changes.map((c) => c.action)).toEqual(["unchanged", "unchanged", "unchanged", "unchanged"]);
    expect(again.changes.every((c) => c.diff === "")).toBe(true);
  });

  it("changes a service's spec in place, says which hosts' rules change, and refuses a new VIP", async () => {
    const vip = (await t.db.service.findUniqueOrThrow({ where: { name: "files-db" } })).vip;
    const files = [{ path: "services/files-db.json", text: serviceFile("files-db", 5433, { vip }) }];
    const plan = await operator.files.plan({ files });
    expect(plan.changes).toEqual([expect.objectContaining({ kind: "service", name: "files-db", action: "update", impact: ["no host's rules change"] })]);
    expect(plan.changes[0]!.diff).toMatch(/-\s+"port": 5432,\n\+\s+"port": 5433,/);
    await operator.files.applyPlan({ files, expectedDigest: plan.digest });
    expect(await t.db.serviceRevision.count({ where: { service: { name: "files-db" } } })).toBe(2);
    const moved = await operator.files.plan({ files: [{ path: "services/files-db.json", text: serviceFile("files-db", 5433, { vip: "10.98.0.54" }) }] });
    expect(moved.ok).toBe(false);
    expect(moved.errors).toEqual([{ file: "services/files-db.json", path: ["vip"], message: `service "files-db" has VIP ${vip}: a VIP cannot change (delete the service and create it again)` }]);
  });

  it("refuses invalid files with the file and field named, and applies nothing of the others", async () => {
    const before = await counts();
    const files = [
      { path: "20-good.conflist", text: net("files-good", 9) },
      { path: "30-bad.conflist", text: '{"cniVersion":"1.0.0","name":"files-bad","plugins":[{"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.83.300.0/24"}]]}}]}' },
      { path: "40-twice.conflist", text: net("files-good", 10) },
      { path: "services/files-api.json", text: serviceFile("files-api", 70000) },
      { path: "services/wrong-name.json", text: serviceFile("files-other", 81) },
      { path: "services/files-junk.json", text: "{not json" },
      { path: "services/files-member.json", text: `${JSON.stringify({ name: "files-member", spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 80 }], manualMembers: [{ address: "10.98.1.1" }] } })}\n` },
    ];
    const plan = await operator.files.plan({ files });
    expect(plan.ok).toBe(false);
    const byFile = Object.fromEntries(plan.errors.map((e) => [e.file, `${e.path.join(".")}: ${e.message}`]));
    expect(Object.keys(byFile).sort()).toEqual(["30-bad.conflist", "40-twice.conflist", "services/files-api.json", "services/files-junk.json", "services/files-member.json", "services/wrong-name.json"]);
    expect(byFile["30-bad.conflist"]).toMatch(/^plugins\.0\.ipam\.ranges\.0\.0\.subnet: /);
    expect(byFile["40-twice.conflist"]).toBe('name: another file also defines network "files-good"');
    expect(byFile["services/files-api.json"]).toMatch(/^spec\.ports\.0\.port: /);
    expect(byFile["services/wrong-name.json"]).toBe('name: the file defines service "files-other": name it services/files-other.json');
    expect(byFile["services/files-junk.json"]).toMatch(/^: not JSON/);
    expect(byFile["services/files-member.json"]).toBe("spec.manualMembers.0.address: 10.98.1.1 is in the service CIDR 10.98.0.0/16: a member must be a real endpoint, not a VIP");

    const refused = await trpcError(operator.files.applyPlan({ files, expectedDigest: plan.digest }));
    expect(refused.code).toBe("BAD_REQUEST");
    expect(refused.message).toMatch(/^6 problems in the files; nothing was applied: /);
    expect(await counts()).toEqual(before);
    // paths outside the layout are refused by the input schema
    const outside = await trpcError(operator.files.plan({ files: [{ path: "../etc/passwd", text: "" }] }));
    expect(outside.code).toBe("BAD_REQUEST");
    expect(outside.message).toContain("not a network (a top-level .conflist, .conf or .json) or a service (services/<name>.json)");
  });

  it("refuses a plan the console has moved past, applying nothing", async () => {
    const files = [{ path: "10-files-b.conflist", text: net("files-b", 4) }];
    const plan = await operator.files.plan({ files });
    const b = await t.db.network.findUniqueOrThrow({ where: { name: "files-b" } });
    await operator.networks.update({ id: b.id, text: net("files-b", 5), comment: "meanwhile", expectedRevision: b.latestRevision });
    const stale = await trpcError(operator.files.applyPlan({ files, expectedDigest: plan.digest }));
    expect(stale.code).toBe("CONFLICT");
    expect(stale.message).toBe("The console changed since this plan was made; nothing was applied: plan again and review the new diff");
    expect((await t.db.network.findUniqueOrThrow({ where: { name: "files-b" } })).latestRevision).toBe(b.latestRevision + 1);
  });

  it("deletes what no file names only with prune, and never a network hosts still use", async () => {
    const exported = await operator.files.export();
    const withoutB = exported.filter((f) => f.path !== "10-files-b.conflist" && f.path !== "services/files-web.json");
    const kept = await operator.files.plan({ files: withoutB });
    expect(kept.changes.every((c) => c.action === "unchanged")).toBe(true);
    const pruned = await operator.files.plan({ files: withoutB, prune: true });
    expect(pruned.changes.filter((c) => c.action === "delete").map((c) => [c.kind, c.name])).toEqual([
      ["service", "files-web"],
      ["network", "files-b"],
    ]);
    // a file that fails validation still names its object: prune never deletes it
    const broken = withoutB.map((f) => (f.path === "services/files-db.json" ? { ...f, text: "{broken" } : f.path === "10-files-a.conflist" ? { ...f, text: f.text.replace('"plugins"', '"plugins": 1, "x"') } : f));
    const careful = await operator.files.plan({ files: broken, prune: true });
    expect(careful.ok).toBe(false);
    expect(careful.changes.filter((c) => c.action === "delete").map((c) => c.name)).toEqual(["files-web", "files-b"]);
    await operator.files.applyPlan({ files: withoutB, prune: true, expectedDigest: pruned.digest });
    expect(await t.db.network.count({ where: { name: "files-b" } })).toBe(0);
    expect(await t.db.service.count({ where: { name: "files-web" } })).toBe(0);

    const host = await t.enrollHost("files-host");
    const a = await t.db.network.findUniqueOrThrow({ where: { name: "files-a" } });
    await operator.attachments.create({ hostId: host.hostId, networkId: a.id, target: { kind: "netns", name: "files-ns" } });
    const inUse = await operator.files.plan({ files: withoutB.filter((f) => f.path !== "10-files-a.conflist"), prune: true });
    expect(inUse.ok).toBe(false);
    expect(inUse.errors).toEqual([{ file: "10-files-a.conflist", path: [], message: '--prune would delete network "files-a", which 1 attachment on hosts still use: detach them first, or keep its file' }]);
  });

  it("exports files that another console applies and exports again byte for byte", async () => {
    const exported = await operator.files.export();
    expect(exported.map((f) => f.path)).toEqual(["10-files-a.conflist", "services/files-db.json"]);
    const other = await setupApiTest();
    try {
      const admin = (await other.callerAs("admin", "files-admin-2")).caller;
      await admin.services.setCidrs({ cidrs: ["10.98.0.0/16"] });
      const plan = await admin.files.plan({ files: exported });
      expect(plan.changes.map((c) => c.action)).toEqual(["create", "create"]);
      await admin.files.applyPlan({ files: exported, expectedDigest: plan.digest });
      expect(await admin.files.export()).toEqual(exported);
    } finally {
      await other.close();
    }
  });
});
