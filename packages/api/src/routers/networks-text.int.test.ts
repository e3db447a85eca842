import { conflistDigest } from "@switchyard/cni/digest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "../testing";

let t: ApiTest;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;

beforeAll(async () => {
  t = await setupApiTest();
  operator = await t.callerAs("operator", "olga");
});
afterAll(() => t?.close());

/** Keys in an order jsonb would not keep (it sorts by length), odd spacing, a .conf-free conflist. */
const WRITTEN = (name: string, subnet: string) =>
  `{\n    "cniVersion": "1.0.0",\n  "name": "${name}",\n  "plugins": [\n    { "type": "bridge", "bridge": "br-${name.slice(0, 6)}",\n      "ipam": { "type": "host-local", "ranges": [[ { "subnet": "${subnet}" } ]] } },\n    {"type":"portmap","capabilities":{"portMappings":true}}\n  ]\n}`;

describe("a network's text is kept as written", () => {
  it("round-trips byte for byte through create, get, revision, export, update, rollback and import", async () => {
    const r1 = WRITTEN("kept-order", "10.140.0.0/24");
    const saved = await operator.caller.networks.create({ text: r1, comment: "" });
    expect((await operator.caller.networks.get({ id: saved.id })).text).toBe(r1);
    expect((await operator.caller.networks.revision({ id: saved.id, number: 1 })).text).toBe(r1);
    expect(await operator.caller.networks.export({ id: saved.id })).toEqual([{ fileName: "10-kept-order.conflist", text: r1 }]);

    const r2 = r1.replace("10.140.0.0/24", "10.141.0.0/24").replace('"name"', ' "name"');
    await operator.caller.networks.update({ id: saved.id, text: r2, comment: "", expectedRevision: 1 });
    expect((await operator.caller.networks.get({ id: saved.id })).text).toBe(r2);

    await operator.caller.networks.rollback({ id: saved.id, toRevision: 1, expectedRevision: 2 });
    expect((await operator.caller.networks.revision({ id: saved.id, number: 3 })).text).toBe(r1);
    expect((await operator.caller.networks.export({ id: saved.id }))[0]!.text).toBe(r1);

    // The exported file imported back is the same text: unchanged, no new revision.
    const [file] = await operator.caller.networks.export({ id: saved.id });
    expect(await operator.caller.networks.import({ files: [file!] })).toMatchObject([{ action: "unchanged", revision: 3 }]);
    // A reordered text is a new revision, kept as written.
    const r4 = r1.replace('{ "type": "bridge", "bridge"', '{ "bridge"').replace('"br-kept-o",\n', '"br-kept-o", "type": "bridge",\n');
    expect(await operator.caller.networks.import({ files: [{ fileName: "x.conflist", text: r4 }] })).toMatchObject([{ action: "updated", revision: 4 }]);
    expect((await operator.caller.networks.get({ id: saved.id })).text).toBe(r4);
    // A new network through import keeps its text too.
    const other = WRITTEN("imported-kept", "10.142.0.0/24");
    const [created] = await operator.caller.networks.import({ files: [{ fileName: "y.conflist", text: other }] });
    expect((await operator.caller.networks.get({ id: created!.networkId })).text).toBe(other);
  });

  it("exports a single-plugin .conf as a .conf with its text", async () => {
    const conf = `{"type":"ptp","name":"one-conf","cniVersion":"1.0.0","ipam":{"type":"host-local","subnet":"10.143.0.0/24"}}`;
    const saved = await operator.caller.networks.create({ text: conf, comment: "" });
    expect(await operator.caller.networks.export({ id: saved.id })).toEqual([{ fileName: "10-one-conf.conf", text: conf }]);
  });

  it("keeps the digest used for drift canonical: a reordered text digests the same", async () => {
    const a = WRITTEN("digest-a", "10.144.0.0/24");
    const saved = await operator.caller.networks.create({ text: a, comment: "" });
    const reordered = JSON.stringify({ plugins: JSON.parse(a).plugins, name: "digest-a", cniVersion: "1.0.0" }, null, 4);
    await operator.caller.networks.update({ id: saved.id, text: reordered, comment: "", expectedRevision: 1 });
    const [r1, r2] = await t.db.networkRevision.findMany({ where: { networkId: saved.id }, orderBy: { number: "asc" }, select: { conflist: true, text: true } });
    expect(r1!.text).not.toBe(r2!.text);
    expect(conflistDigest(r2!.conflist)).toBe(conflistDigest(r1!.conflist));
    expect(conflistDigest(JSON.parse(reordered))).toBe(conflistDigest(JSON.parse(a)));
  });
});

describe("drafts and imports are checked before anything is written", () => {
  it("validate returns errors and overlap warnings and writes nothing", async () => {
    await operator.caller.networks.create({ text: BRIDGE_CONFLIST("existing-150", "10.150.0.0/16", "10.150.0.1"), comment: "" });
    const counts = async () => [await t.db.network.count(), await t.db.networkRevision.count(), await t.db.networkSubnet.count(), await t.db.auditEvent.count()];
    const before = await counts();
    const overlapping = await operator.caller.networks.validate({ text: BRIDGE_CONFLIST("draft-150", "10.150.3.0/24", "10.150.3.1") });
    expect(overlapping.ok).toBe(true);
    expect(overlapping.warnings.map((w) => w.message).join("\n")).toContain('overlaps subnet "10.150.0.0/16" of network "existing-150"');
    const clear = await operator.caller.networks.validate({ text: BRIDGE_CONFLIST("draft-151", "10.151.0.0/24", "10.151.0.1") });
    expect(clear).toEqual({ ok: true, errors: [], warnings: [] });
    const bad = await operator.caller.networks.validate({ text: BRIDGE_CONFLIST("draft-152", "10.152.0.0/24", "10.99.0.1") });
    expect(bad.ok).toBe(false);
    expect(bad.errors.some((e) => e.path.join(".") === "plugins.0.ipam.ranges.0.0.gateway")).toBe(true);
    // Editing a network: its own subnets are no overlap.
    const self = await t.db.network.findUniqueOrThrow({ where: { name: "existing-150" } });
    expect((await operator.caller.networks.validate({ id: self.id, text: BRIDGE_CONFLIST("existing-150", "10.150.0.0/16", "10.150.0.1") })).warnings).toEqual([]);
    expect(await counts()).toEqual(before);
  });

  it("previewImport says what each file would do, with overlaps against networks and between files, and writes nothing", async () => {
    await operator.caller.networks.create({ text: BRIDGE_CONFLIST("existing-160", "10.160.0.0/24", "10.160.0.1"), comment: "" });
    const counts = async () => [await t.db.network.count(), await t.db.networkRevision.count(), await t.db.auditEvent.count()];
    const before = await counts();
    const [current] = await operator.caller.networks.export({});
    const preview = await operator.caller.networks.previewImport({
      files: [
        { fileName: "a.conflist", text: BRIDGE_CONFLIST("new-161", "10.160.0.0/25", "10.160.0.1") },
        { fileName: "b.conflist", text: BRIDGE_CONFLIST("new-162", "10.160.0.0/26", "10.160.0.1") },
        { fileName: "c.conflist", text: "{ nope" },
        { fileName: current!.fileName, text: current!.text },
      ],
    });
    expect(preview.ok).toBe(false);
    const [a, b, c, d] = preview.files;
    expect(a).toMatchObject({ name: "new-161", action: "create", errors: [] });
    expect(a!.warnings.map((w) => w.message).join("\n")).toContain('network "existing-160"');
    expect(a!.warnings.map((w) => w.message).join("\n")).toMatch(/of network "new-162": .* \(in this import\)/);
    expect(b!.warnings.map((w) => w.message).join("\n")).toMatch(/of network "new-161": .* \(in this import\)/);
    expect(c!.errors[0]!.message).toContain("malformed JSON");
    expect(d).toMatchObject({ action: "unchanged" });
    expect(await counts()).toEqual(before);
  });

  it("finds overlaps through the subnet index, which follows every save", async () => {
    const saved = await operator.caller.networks.create({ text: BRIDGE_CONFLIST("moving-170", "10.170.0.0/24", "10.170.0.1"), comment: "" });
    const probe = BRIDGE_CONFLIST("probe-171", "10.171.0.0/24", "10.171.0.1");
    expect((await operator.caller.networks.validate({ text: probe })).warnings).toEqual([]);
    await operator.caller.networks.update({ id: saved.id, text: BRIDGE_CONFLIST("moving-170", "10.171.0.0/16", "10.171.0.1"), comment: "", expectedRevision: 1 });
    expect((await operator.caller.networks.validate({ text: probe })).warnings.map((w) => w.message).join()).toContain('"moving-170"');
    await operator.caller.networks.rollback({ id: saved.id, toRevision: 1, expectedRevision: 2 });
    expect((await operator.caller.networks.validate({ text: probe })).warnings).toEqual([]);
    expect(await t.db.networkSubnet.findMany({ where: { networkId: saved.id }, select: { cidr: true } })).toEqual([{ cidr: "10.170.0.0/24" }]);
  });
});
