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
