import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "./auth/password";
import { createTrpcHttpHandler } from "./http";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "./testing";

// A draft config can outgrow a URL, so the editor POSTs networks.validate (method override): it
// must pass the same screen as mutations and still write nothing; a mutation stays POST-only.
let t: ApiTest;
let server: Server;
let base: string;
let cookie: string;

beforeAll(async () => {
  t = await setupApiTest();
  await t.db.user.create({ data: { username: "post-op", role: "operator", passwordHash: await hashPassword("post operator password") } });
  const handler = createTrpcHttpHandler(async () => t.deps, { maxBatchSize: 10, maxBodyBytes: 1024 * 1024 });
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
    const body = req.method === "GET" ? undefined : Buffer.concat(chunks);
    const response = await handler(new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers, body }));
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const res = await fetch(`${base}/api/trpc/auth.signIn`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: base },
    body: JSON.stringify({ json: { username: "post-op", password: "post operator password" } }),
  });
  cookie = res.headers.get("set-cookie")!.split(";")[0]!;
});
afterAll(async () => {
  server?.close();
  await t?.close();
});

describe("queries sent as POST", () => {
  // A draft far larger than any URL a server takes (Node refuses headers over 16 KiB).
  const big = JSON.stringify({ cniVersion: "1.0.0", name: "post-draft", plugins: [{ type: "bridge", ipam: { type: "host-local", subnet: "10.190.0.0/24" } }, ...Array.from({ length: 300 }, () => ({ type: "tuning", sysctl: { "net.core.somaxconn": "500" } }))] }, null, 2);

  it("answers networks.validate for a large draft from our own origin, and writes nothing", async () => {
    const before = await t.db.auditEvent.count();
    expect(big.length).toBeGreaterThan(20_000);
    const res = await fetch(`${base}/api/trpc/networks.validate`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base, cookie },
      body: JSON.stringify({ json: { text: big } }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: { data: { json: { ok: boolean } } } }).result.data.json.ok).toBe(true);
    expect(await t.db.network.count()).toBe(0);
    expect(await t.db.auditEvent.count()).toBe(before);
  });

  it("refuses a POSTed query from a foreign origin, like a mutation", async () => {
    const res = await fetch(`${base}/api/trpc/networks.validate`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "https://evil.example", cookie },
      body: JSON.stringify({ json: { text: BRIDGE_CONFLIST("x", "10.191.0.0/24", "10.191.0.1") } }),
    });
    expect(res.status).toBe(403);
  });

  it("still refuses a mutation sent as GET", async () => {
    const input = encodeURIComponent(JSON.stringify({ json: { text: BRIDGE_CONFLIST("get-made", "10.192.0.0/24", "10.192.0.1"), comment: "" } }));
    const res = await fetch(`${base}/api/trpc/networks.create?input=${input}`, { headers: { cookie } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(await t.db.network.count({ where: { name: "get-made" } })).toBe(0);
  });
});
