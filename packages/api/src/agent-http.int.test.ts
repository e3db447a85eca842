import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveApi, setupApiTest, type ApiTest } from "./testing";

// The two endpoints keep their callers apart: cookies mean nothing to /api/agent and host
// credentials mean nothing to /api/trpc (trust boundaries, ARCHITECTURE.md).
let t: ApiTest;
let server: Awaited<ReturnType<typeof serveApi>>;
let credential: string;
let hostId: string;
let cookie: string;

const post = (path: string, body: unknown, headers: Record<string, string>) =>
  fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ json: body }) });

beforeAll(async () => {
  t = await setupApiTest();
  server = await serveApi(t.deps);
  const admin = await t.callerAs("admin", "http-admin");
  const { token } = await admin.caller.hosts.createJoinToken({ note: "", ttlMinutes: 5 });
  const res = await post("/api/agent/agent.enroll", { joinToken: token, hostname: "http-host", agentVersion: "" }, {});
  expect(res.status).toBe(200);
  ({ credential, hostId } = ((await res.json()) as { result: { data: { json: { credential: string; hostId: string } } } }).result.data.json);
  await t.db.user.update({ where: { id: admin.user.id }, data: { passwordHash: await (await import("./auth/password")).hashPassword("http admin password") } });
  const signIn = await post("/api/trpc/auth.signIn", { username: "http-admin", password: "http admin password" }, { origin: server.url });
  cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
});
afterAll(async () => {
  await server?.close();
  await t?.close();
});

describe("agent endpoint over HTTP", () => {
  it("takes the bearer credential, without an Origin (no ambient credentials, no CSRF)", async () => {
    const res = await post("/api/agent/agent.heartbeat", { agentVersion: "http" }, { authorization: `Bearer ${credential}` });
    expect(res.status).toBe(200);
    expect((await t.db.host.findUniqueOrThrow({ where: { id: hostId } })).agentVersion).toBe("http");
  });

  it("ignores a browser session cookie, and refuses a missing, malformed or unknown credential with 401", async () => {
    for (const headers of [{ cookie }, {}, { authorization: "Bearer nope" }, { authorization: `Bearer syh_${"A".repeat(43)}` }, { authorization: `Basic ${credential}` }] as Record<string, string>[]) {
      const res = await post("/api/agent/agent.heartbeat", { agentVersion: "x" }, headers);
      expect(res.status, JSON.stringify(headers)).toBe(401);
    }
    expect((await t.db.host.findUniqueOrThrow({ where: { id: hostId } })).agentVersion).toBe("http");
  });

  it("has no browser procedures, and the browser endpoint has no agent procedures nor takes credentials", async () => {
    expect((await post("/api/agent/hosts.revoke", { id: hostId }, { authorization: `Bearer ${credential}` })).status).toBe(404);
    expect((await post("/api/trpc/agent.heartbeat", { agentVersion: "y" }, { origin: server.url, cookie })).status).toBe(404);
    const asHost = await fetch(`${server.url}/api/trpc/hosts.list?input=${encodeURIComponent(JSON.stringify({ json: null }))}`, { headers: { authorization: `Bearer ${credential}` } });
    expect(asHost.status).toBe(401);
  });

  it("bounds bodies and refuses __proto__ keys and non-JSON like the browser endpoint", async () => {
    const big = await post("/api/agent/agent.heartbeat", { agentVersion: "x".repeat(3 * 1024 * 1024) }, { authorization: `Bearer ${credential}` });
    expect(big.status).toBe(413);
    const proto = await fetch(`${server.url}/api/agent/agent.heartbeat`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${credential}` }, body: '{"json":{"agentVersion":"x","__proto__":{"admin":true}}}' });
    expect(proto.status).toBe(400);
    const text = await fetch(`${server.url}/api/agent/agent.heartbeat`, { method: "POST", headers: { "content-type": "text/plain", authorization: `Bearer ${credential}` }, body: "{}" });
    expect(text.status).toBe(415);
  });
});
