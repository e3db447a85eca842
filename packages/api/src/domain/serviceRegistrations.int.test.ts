import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_CONFLIST, serveApi, setupApiTest, trpcError, trpcOverHttp, type ApiTest } from "../testing";
import { desiredServicesFor, resolveServices } from "./serviceDesired";
import { sweepLapsedRegistrations } from "./serviceRegistrations";

// Issue 12 §6: an external process registers and deregisters pool members through the API with a
// credential limited to that (a registrar token), over plain HTTP as a script would.
let t: ApiTest;
let api: Awaited<ReturnType<typeof serveApi>>;
let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;
let webId: string;
let hostId: string;
let token: string;

/** One tRPC call over HTTP with the registrar token (unless told otherwise) and no Origin, as curl or a script sends it. */
const call = (path: string, input: unknown, opts: { bearer?: string | null; kind?: "mutation" | "query"; headers?: Record<string, string> } = {}) =>
  trpcOverHttp(api.url, path, input, { ...opts, bearer: opts.bearer === undefined ? token : opts.bearer });

const registrations = () => t.db.serviceRegistration.findMany({ orderBy: { endpoint: "asc" }, select: { address: true, port: true, weight: true, state: true, hostId: true, actorName: true } });
const changes = () => t.db.serviceChange.count();
const membersOf = async (name: string) => (await resolveServices(t.db, 4, null)).find((s) => s.name === name)!.members;

beforeAll(async () => {
  t = await setupApiTest();
  api = await serveApi(t.deps);
  admin = await t.callerAs("admin", "reg-admin");
  operator = await t.callerAs("operator", "reg-op");
  viewer = await t.callerAs("viewer", "reg-viewer");
  await operator.caller.networks.create({ text: BRIDGE_CONFLIST("reg-lab", "10.88.0.0/24", "10.88.0.1"), comment: "" });
  await admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
  webId = (await operator.caller.services.create({ name: "web", spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }] } })).id;
  await operator.caller.services.create({ name: "db", spec: { ports: [{ protocol: "tcp", port: 5432, targetPort: 5432 }] } });
  await operator.caller.services.create({ name: "multi", spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }, { protocol: "tcp", port: 443, targetPort: 8443 }] } });
  hostId = (await t.enrollHost("reg-host")).hostId;
  token = (await operator.caller.tokens.create({ name: "ci registrar", scope: "registrar", services: ["web", "multi"] })).token;
});
afterAll(async () => {
  await api?.close();
  await t?.close();
});

describe("registrar tokens", () => {
  it("are made by operators, shown once, stored only hashed, and never-expiring only for admins", async () => {
    expect(token).toMatch(/^syt_[A-Za-z0-9_-]{43}$/);
    const row = await t.db.apiToken.findFirstOrThrow({ where: { name: "ci registrar" } });
    expect(JSON.stringify(row)).not.toContain(token.slice(4));
    expect(row.hint).toBe(token.slice(0, 8));
    expect(row.expiresAt!.getTime() - Date.now()).toBeGreaterThan(89 * 86_400_000);
    expect((await trpcError(viewer.caller.tokens.create({ name: "v", scope: "registrar" }))).message).toContain("needs the operator role");
    expect((await trpcError(operator.caller.tokens.create({ name: "forever", scope: "registrar", expiresInDays: null }))).message).toContain("Only admins");
    expect((await trpcError(operator.caller.tokens.create({ name: "ghost", scope: "registrar", services: ["nope"] }))).message).toContain('No service named "nope"');
    expect((await trpcError(operator.caller.tokens.create({ name: "ci registrar", scope: "registrar" }))).code).toBe("CONFLICT");
    expect(await t.db.apiToken.count()).toBe(1);
    const listed = await operator.caller.tokens.list();
    expect(listed).toEqual([expect.objectContaining({ name: "ci registrar", services: ["web", "multi"], status: "active", owner: "reg-op" })]);
    expect(JSON.stringify(listed)).not.toContain(token.slice(4));
    expect(await viewer.caller.tokens.list()).toEqual([]);
    const never = await admin.caller.tokens.create({ name: "forever", scope: "registrar", expiresInDays: null });
    expect(never.expiresAt).toBeNull();
    await admin.caller.tokens.revoke({ id: never.id });
  });

  it("register a member over HTTP with no Origin; the host's desired state has it; the change is audited as the token and its user", async () => {
    const before = await changes();
    const r = await call("services.register", { service: "web", address: "10.88.0.50", host: "reg-host", weight: 300 });
    expect(r.status).toBe(200);
    expect(r.data).toMatchObject({ changed: true, expiresAt: null });
    expect(await registrations()).toEqual([{ address: "10.88.0.50", port: null, weight: 300, state: "active", hostId, actorName: "reg-op (token ci registrar)" }]);
    expect(await changes()).toBe(before + 1);
    expect(await membersOf("web")).toEqual([expect.objectContaining({ source: "registered", address: "10.88.0.50", weight: 300, hostId })]);
    const desired = await desiredServicesFor(t.db, hostId, 4);
    expect(desired.services.find((s) => s.name === "web")!.members).toEqual([expect.objectContaining({ address: "10.88.0.50", weight: 300, state: "active" })]);
    const audit = await t.db.auditEvent.findFirstOrThrow({ where: { action: "services.register" }, orderBy: { at: "desc" } });
    expect(audit).toMatchObject({ actorName: "reg-op (token ci registrar)", actorId: operator.user.id, targetId: webId, outcome: "success" });
    const used = await t.db.apiToken.findFirstOrThrow({ where: { name: "ci registrar" } });
    expect(used.lastUsedAt).not.toBeNull();
    expect(used.lastUsedIp).toBe("127.0.0.1");

    // Registering the same again renews it and rings no agent; a changed weight is a change.
    expect((await call("services.register", { service: "web", address: "10.88.0.50", host: "reg-host", weight: 300 })).data).toMatchObject({ changed: false });
    expect(await changes()).toBe(before + 1);
    expect((await call("services.register", { service: "web", address: "10.88.0.50", host: "reg-host", weight: 10, state: "draining" })).data).toMatchObject({ changed: true });
    expect(await changes()).toBe(before + 2);
    expect((await membersOf("web"))[0]).toMatchObject({ weight: 10, state: "draining" });

    const listed = await call("services.registrations", { service: "web" }, { kind: "query" });
    expect(listed.status).toBe(200);
    expect(listed.data).toEqual([expect.objectContaining({ address: "10.88.0.50", hostName: "reg-host", tokenName: "ci registrar" })]);
    expect(await viewer.caller.services.registrations({ service: "web" })).toHaveLength(1);

    expect((await call("services.deregister", { service: "web", address: "10.88.0.50" })).data).toEqual({ removed: true });
    expect(await registrations()).toEqual([]);
    expect(await membersOf("web")).toEqual([]);
    expect((await call("services.deregister", { service: "web", address: "10.88.0.50" })).data).toEqual({ removed: false });
    expect(await changes()).toBe(before + 3);
  });

  it("may do nothing else: other procedures, other services and the agent endpoint are refused and nothing changes", async () => {
    const before = { changes: await changes(), networks: await t.db.network.count(), audits: await t.db.auditEvent.count({ where: { outcome: "success" } }) };
    const list = await call("services.list", undefined, { kind: "query" });
    expect(list.status).toBe(403);
    expect(list.message).toContain("may only register and deregister");
    const create = await call("networks.create", { text: BRIDGE_CONFLIST("x", "10.89.0.0/24", "10.89.0.1"), comment: "" });
    expect(create.status).toBe(403);
    const mint = await call("tokens.create", { name: "child", scope: "registrar" });
    expect(mint.status).toBe(403);
    const other = await call("services.register", { service: "db", address: "10.88.0.51" });
    expect(other.status).toBe(404);
    expect(other.message).toContain("that this token may register into");
    const agentSide = await fetch(`${api.url}/api/agent/agent.servicesDesired?input=${encodeURIComponent(JSON.stringify({ family: 4 }))}`, { headers: { authorization: `Bearer ${token}` } });
    expect(agentSide.status).toBe(401);
    expect(await registrations()).toEqual([]);
    expect({ changes: await changes(), networks: await t.db.network.count(), audits: await t.db.auditEvent.count({ where: { outcome: "success" } }) }).toEqual(before);
  });

  it("refuses bad members with a clear error and writes nothing", async () => {
    const before = await changes();
    const cases: [Record<string, unknown>, number, string][] = [
      [{ service: "web", address: "10.96.0.9" }, 400, "in the service CIDR 10.96.0.0/16"],
      [{ service: "web", address: "127.0.0.1" }, 400, "cannot be a member"],
      [{ service: "web", address: "fd00::5" }, 400, "not IPv4"],
      [{ service: "web", address: "10.88.0.052" }, 400, "address"],
      [{ service: "web", address: "10.88.0.5", weight: 1001 }, 400, "weight"],
      [{ service: "web", address: "10.88.0.5", host: "nowhere" }, 400, 'No host named "nowhere"'],
      [{ service: "web", address: "10.88.0.5", ttlSeconds: 1 }, 400, "TTL under 5 s"],
      [{ service: "multi", address: "10.88.0.5", port: 9000 }, 400, "needs a one-port service"],
      [{ service: "Web; drop", address: "10.88.0.5" }, 400, "service"],
      [{ service: "web", address: "10.88.0.5", state: "gone" }, 400, "state"],
    ];
    for (const [input, status, message] of cases) {
      const r = await call("services.register", input);
      expect({ input, status: r.status }).toEqual({ input, status });
      expect(r.message).toContain(message);
    }
    expect(await registrations()).toEqual([]);
    expect(await changes()).toBe(before);
  });

  it("a TTL lapses without renewal: the member leaves every host's desired state and the sweep records one change", async () => {
    await call("services.register", { service: "web", address: "10.88.0.60", ttlSeconds: 5 });
    await call("services.register", { service: "web", address: "10.88.0.61" });
    expect((await membersOf("web")).map((m) => m.address)).toEqual(["10.88.0.60", "10.88.0.61"]);
    const before = await changes();
    expect(await sweepLapsedRegistrations(t.deps, new Date(Date.now() + 1000))).toEqual({ removed: 0 });
    expect(await changes()).toBe(before);
    await t.db.serviceRegistration.updateMany({ where: { address: "10.88.0.60" }, data: { expiresAt: new Date(Date.now() - 1) } });
    // Out of resolution at once, before the sweep deletes the row.
    expect((await membersOf("web")).map((m) => m.address)).toEqual(["10.88.0.61"]);
    expect(await sweepLapsedRegistrations(t.deps)).toEqual({ removed: 1 });
    expect(await changes()).toBe(before + 1);
    // Recorded against the service: only its page counts its hosts behind.
    expect(await t.db.serviceChange.findFirst({ orderBy: { generation: "desc" }, select: { serviceId: true, summary: true } })).toEqual({ serviceId: webId, summary: "web: 1 registration(s) lapsed: 10.88.0.60/*" });
    expect((await registrations()).map((r) => r.address)).toEqual(["10.88.0.61"]);
    await call("services.deregister", { service: "web", address: "10.88.0.61" });
  });

  it("stops working at once when its user is demoted, disabled, or it is revoked or expired; a bearer never falls back to a cookie", async () => {
    const ok = () => call("services.registrations", { service: "web" }, { kind: "query" });
    expect((await ok()).status).toBe(200);
    await t.db.user.update({ where: { id: operator.user.id }, data: { role: "viewer" } });
    expect((await ok()).status).toBe(401);
    await t.db.user.update({ where: { id: operator.user.id }, data: { role: "operator", disabled: true } });
    expect((await ok()).status).toBe(401);
    await t.db.user.update({ where: { id: operator.user.id }, data: { disabled: false } });
    expect((await ok()).status).toBe(200);
    const row = await t.db.apiToken.findFirstOrThrow({ where: { name: "ci registrar" } });
    await t.db.apiToken.update({ where: { id: row.id }, data: { expiresAt: new Date(Date.now() - 1) } });
    expect((await ok()).status).toBe(401);
    await t.db.apiToken.update({ where: { id: row.id }, data: { expiresAt: row.expiresAt } });
    expect((await ok()).status).toBe(200);
    expect(await operator.caller.tokens.revoke({ id: row.id })).toEqual({ revoked: true });
    const revoked = await ok();
    expect(revoked.status).toBe(401);
    expect(revoked.message).toContain("not valid");
    expect((await operator.caller.tokens.list())[0]!.status).toBe("revoked");
    // Garbage in the header is a 401, not an anonymous call; another scheme leaves the browser path (which needs an Origin).
    expect((await call("services.registrations", { service: "web" }, { kind: "query", bearer: "not-a-token" })).status).toBe(401);
    const basic = await call("services.register", { service: "web", address: "10.88.0.7" }, { bearer: null, headers: { authorization: "Basic dTpw" } });
    expect(basic.status).toBe(403);
    expect(await registrations()).toEqual([]);
  });

  it("operators register and deregister from the console; viewers are refused", async () => {
    expect((await trpcError(viewer.caller.services.register({ service: "web", address: "10.88.0.70" }))).code).toBe("FORBIDDEN");
    expect(await operator.caller.services.register({ service: "db", address: "10.88.0.70", port: 5433 })).toMatchObject({ changed: true });
    expect((await membersOf("db"))[0]).toMatchObject({ source: "registered", port: 5433 });
    expect(await operator.caller.services.deregister({ service: "db", address: "10.88.0.70", port: 5433 })).toEqual({ removed: true });
  });
});
