import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_CONFLIST, serveApi, setupApiTest, trpcError, trpcOverHttp, type ApiTest } from "./testing";

// Issue 13 §1: general API tokens for automation, over plain HTTP as a CI job sends them: a role
// no higher than their user's, read-only when asked, audited as the token and its user, dead at
// once when the user is demoted below the token, disabled or deleted.
let t: ApiTest;
let api: Awaited<ReturnType<typeof serveApi>>;
let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;

const call = (bearer: string, path: string, input: unknown, kind: "mutation" | "query" = "mutation") => trpcOverHttp(api.url, path, input, { bearer, kind });
const networkText = (name: string, third: number) => BRIDGE_CONFLIST(name, `10.81.${third}.0/24`, `10.81.${third}.1`);

beforeAll(async () => {
  t = await setupApiTest();
  api = await serveApi(t.deps);
  admin = await t.callerAs("admin", "tok-admin");
  operator = await t.callerAs("operator", "tok-op");
  viewer = await t.callerAs("viewer", "tok-viewer");
});
afterAll(async () => {
  await api?.close();
  await t?.close();
});

describe("general API tokens", () => {
  it("take a role no higher than their creator's, and the input rules say why", async () => {
    expect((await trpcError(viewer.caller.tokens.create({ name: "up", scope: "general", role: "operator" }))).message).toContain("cannot be above yours: you are viewer");
    expect((await trpcError(operator.caller.tokens.create({ name: "admin-ish", scope: "general", role: "admin" }))).message).toContain("you are operator");
    expect((await trpcError(operator.caller.tokens.create({ name: "no-role", scope: "general" }))).message).toContain("a general token needs a role");
    expect((await trpcError(operator.caller.tokens.create({ name: "reg-role", scope: "registrar", role: "viewer" }))).message).toContain("a registrar token has no role");
    const made = await viewer.caller.tokens.create({ name: "viewer reads", scope: "general", role: "viewer" });
    expect(made.token).toMatch(/^syt_/);
    const row = await t.db.apiToken.findFirstOrThrow({ where: { name: "viewer reads" } });
    expect(row).toMatchObject({ scope: "general", role: "viewer", readOnly: false });
  });

  it("an operator token changes networks as its user, audited as the token and its user", async () => {
    const { token } = await operator.caller.tokens.create({ name: "ci deploy", scope: "general", role: "operator" });
    const created = await call(token, "networks.create", { text: networkText("tok-net", 1), comment: "from CI" });
    expect(created.status).toBe(200);
    expect(await t.db.network.count({ where: { name: "tok-net" } })).toBe(1);
    const event = await t.db.auditEvent.findFirstOrThrow({ where: { action: "networks.create", targetName: "tok-net" } });
    expect(event.actorName).toBe("tok-op (token ci deploy)");
    expect((await call(token, "networks.list", {}, "query")).status).toBe(200);
    // but not what only admins do, nor what only people do
    expect((await call(token, "users.list", undefined, "query")).status).toBe(403);
    const minted = await call(token, "tokens.create", { name: "child", scope: "general", role: "operator" });
    expect(minted.status).toBe(403);
    expect(minted.message).toContain("tokens.create is for people signed in, not for API tokens");
    expect((await call(token, "auth.changePassword", { currentPassword: "x", newPassword: "y".repeat(12) })).status).toBe(403);
  });

  it("a viewer token reads and is refused every change; a read-only operator token too", async () => {
    const { token: reader } = await viewer.caller.tokens.create({ name: "dashboards", scope: "general", role: "viewer" });
    expect((await call(reader, "networks.list", {}, "query")).status).toBe(200);
    const refused = await call(reader, "networks.create", { text: networkText("tok-viewer-net", 2), comment: "" });
    expect(refused.status).toBe(403);
    expect(refused.message).toContain("This needs the operator role; you are viewer");
    const { token: readOnly } = await operator.caller.tokens.create({ name: "audit export", scope: "general", role: "operator", readOnly: true });
    expect((await call(readOnly, "networks.list", {}, "query")).status).toBe(200);
    const blocked = await call(readOnly, "networks.create", { text: networkText("tok-ro-net", 3), comment: "" });
    expect(blocked.status).toBe(403);
    expect(blocked.message).toContain("This API token (audit export) is read-only: networks.create changes something");
    expect(await t.db.network.count({ where: { name: { in: ["tok-viewer-net", "tok-ro-net"] } } })).toBe(0);
    // a read-only token cannot register service members either
    const reg = await call(readOnly, "services.register", { service: "web", address: "10.81.9.9", port: 80 });
    expect(reg.status).toBe(403);
  });

  it("stops at once when its user is demoted below it, disabled or deleted", async () => {
    const user = await t.callerAs("operator", "tok-later");
    const { token } = await user.caller.tokens.create({ name: "soon gone", scope: "general", role: "operator" });
    const { token: lower } = await user.caller.tokens.create({ name: "reader", scope: "general", role: "viewer" });
    expect((await call(token, "networks.list", {}, "query")).status).toBe(200);
    const userId = (await t.db.user.findUniqueOrThrow({ where: { username: "tok-later" } })).id;
    await admin.caller.users.setRole({ id: userId, role: "viewer" });
    expect((await call(token, "networks.list", {}, "query")).status).toBe(401); // demoted below the token
    expect((await call(lower, "networks.list", {}, "query")).status).toBe(200); // still at or above this one
    await admin.caller.users.setDisabled({ id: userId, disabled: true });
    expect((await call(lower, "networks.list", {}, "query")).status).toBe(401);
    await t.db.user.delete({ where: { id: userId } });
    expect(await t.db.apiToken.count({ where: { name: { in: ["soon gone", "reader"] } } })).toBe(0);
  });
});

describe("API tokens limited to some networks and services", () => {
  let a: { id: string };
  let b: { id: string };
  let hostId: string;
  const ids = (page: { items?: unknown } | undefined) => ((page?.items ?? []) as { id: string }[]).map((i) => i.id);

  beforeAll(async () => {
    a = await operator.caller.networks.create({ text: networkText("lim-a", 20), comment: "" });
    b = await operator.caller.networks.create({ text: networkText("lim-b", 21), comment: "" });
    hostId = (await t.enrollHost("lim-host")).hostId;
    for (const [network, name] of [[a, "in-a"], [b, "in-b"]] as const) {
      await operator.caller.attachments.create({ hostId, networkId: network.id, target: { kind: "netns", name } });
    }
    await admin.caller.services.setCidrs({ cidrs: ["10.97.0.0/16"] });
    for (const name of ["lim-web", "lim-db"]) await operator.caller.services.create({ name, spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }] } });
  });

  it("are named at creation, every name must exist, and a registrar token takes no network", async () => {
    const unknown = await trpcError(operator.caller.tokens.create({ name: "typo", scope: "general", role: "operator", networks: ["lim-a", "lim-zz"] }));
    expect(unknown.message).toBe('No network named "lim-zz"');
    expect((await trpcError(operator.caller.tokens.create({ name: "reg-net", scope: "registrar", networks: ["lim-a"] }))).message).toContain("a registrar token touches no network");
    expect(await t.db.apiToken.count({ where: { name: { in: ["typo", "reg-net"] } } })).toBe(0);
    await operator.caller.tokens.create({ name: "shown", scope: "general", role: "viewer", networks: ["lim-a"], services: ["lim-web"] });
    const listed = (await operator.caller.tokens.list()).find((x) => x.name === "shown");
    expect(listed).toMatchObject({ networks: ["lim-a"], services: ["lim-web"] });
  });

  it("a token limited to one network reads and changes that network, and is refused on another with nothing changed", async () => {
    const { token } = await operator.caller.tokens.create({ name: "lab-a only", scope: "general", role: "operator", networks: ["lim-a"] });
    // lists narrow to the network
    expect(ids((await call(token, "networks.list", {}, "query")).data)).toEqual([a.id]);
    const attachments = (await call(token, "attachments.list", {}, "query")).data?.items as { networkName: string }[];
    expect(attachments.map((x) => x.networkName)).toEqual(["lim-a"]);
    expect(((await call(token, "networks.export", {}, "query")).data as unknown as { fileName: string }[]).map((f) => f.fileName)).toEqual(["10-lim-a.conflist"]);
    // its own network, and what hangs off it
    expect((await call(token, "networks.get", { id: a.id }, "query")).status).toBe(200);
    expect((await call(token, "ipam.summary", { networkId: a.id }, "query")).status).toBe(200);
    const inA = await t.db.attachment.findFirstOrThrow({ where: { networkId: a.id } });
    const inB = await t.db.attachment.findFirstOrThrow({ where: { networkId: b.id } });
    expect((await call(token, "attachments.get", { id: inA.id }, "query")).status).toBe(200);
    const renamed = await call(token, "networks.update", { id: a.id, text: networkText("lim-a", 22), comment: "moved", expectedRevision: 1 });
    expect(renamed.status).toBe(200);
    // another network, by every way in: refused, named, unchanged
    for (const [path, input, kind] of [
      ["networks.get", { id: b.id }, "query"],
      ["networks.update", { id: b.id, text: networkText("lim-b", 23), comment: "", expectedRevision: 1 }, "mutation"],
      ["networks.delete", { id: b.id, confirmName: "lim-b" }, "mutation"],
      ["networks.export", { id: b.id }, "query"],
      ["ipam.summary", { networkId: b.id }, "query"],
      ["attachments.get", { id: inB.id }, "query"],
      ["attachments.detach", { id: inB.id }, "mutation"],
      ["attachments.create", { hostId, networkId: b.id, target: { kind: "netns", name: "sneak" } }, "mutation"],
      ["services.setAttachmentLabels", { attachmentId: inB.id, labels: { app: "x" } }, "mutation"],
    ] as const) {
      const res = await call(token, path, input, kind);
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
      expect(res.message).toBe("This API token (lab-a only) is limited to networks lim-a: this network is outside its limits");
    }
    // what is about no one network (or every one) is refused too: limits fail closed
    for (const path of ["hosts.list", "audit.list", "services.list", "ipam.search", "networks.create", "files.export"]) {
      const input = path === "ipam.search" ? { address: "10.81.21.5" } : path === "networks.create" ? { text: networkText("lim-new", 24), comment: "" } : path === "services.list" ? undefined : {};
      const res = await call(token, path, input, path === "networks.create" ? "mutation" : "query");
      if (path === "services.list") {
        expect(res.status).toBe(200); // a list: narrowed to the token's services, here none
        expect(res.data).toEqual([]);
        continue;
      }
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
      expect(res.message).toBe(`This API token (lab-a only) is limited to networks lim-a: ${path} is not about one of them`);
    }
    const after = await t.db.network.findUniqueOrThrow({ where: { id: b.id } });
    expect(after.latestRevision).toBe(1);
    expect(await t.db.attachment.count({ where: { networkId: b.id } })).toBe(1);
    expect((await t.db.attachment.findUniqueOrThrow({ where: { id: inB.id } })).state).toBe(inB.state);
    expect(await t.db.network.count({ where: { name: "lim-new" } })).toBe(0);
    // refused changes are audited as denied, as the token
    const denied = await t.db.auditEvent.findFirstOrThrow({ where: { action: "networks.delete", outcome: "denied", targetId: b.id } });
    expect(denied.actorName).toBe("tok-op (token lab-a only)");
  });

  it("a token limited to services sees those services and no network, and registers only into them", async () => {
    const { token } = await operator.caller.tokens.create({ name: "web ops", scope: "general", role: "operator", services: ["lim-web"] });
    const web = await t.db.service.findUniqueOrThrow({ where: { name: "lim-web" } });
    const db = await t.db.service.findUniqueOrThrow({ where: { name: "lim-db" } });
    expect(((await call(token, "services.list", undefined, "query")).data as unknown as { name: string }[]).map((s) => s.name)).toEqual(["lim-web"]);
    expect(ids((await call(token, "networks.list", {}, "query")).data)).toEqual([]);
    expect((await call(token, "services.get", { id: web.id }, "query")).status).toBe(200);
    const other = await call(token, "services.get", { id: db.id }, "query");
    expect(other.status).toBe(403);
    expect(other.message).toBe("This API token (web ops) is limited to services lim-web: this service is outside its limits");
    expect((await call(token, "services.register", { service: "lim-web", address: "10.81.20.9", port: 8080 })).status).toBe(200);
    const refused = await call(token, "services.register", { service: "lim-db", address: "10.81.20.9", port: 8080 });
    expect(refused.status).toBe(404);
    expect(await t.db.serviceRegistration.count({ where: { serviceId: db.id } })).toBe(0);
  });

  it("a token limited to networks registers into no service", async () => {
    const { token } = await operator.caller.tokens.create({ name: "net only", scope: "general", role: "operator", networks: ["lim-a"] });
    const res = await call(token, "services.register", { service: "lim-web", address: "10.81.20.10", port: 8080 });
    expect(res.status).toBe(404);
    expect(res.message).toBe('No service named "lim-web" that this token may register into');
  });
});

