import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "./auth/password";
import { createTrpcHttpHandler } from "./http";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "./testing";

// The tRPC endpoint behind a real HTTP server on loopback: HARDENING 10, 11 and 13.
let t: ApiTest;
let server: Server;
let base: string;
let cookie: string;

beforeAll(async () => {
  t = await setupApiTest();
  await t.db.user.create({ data: { username: "http-op", role: "operator", passwordHash: await hashPassword("http operator password") } });
  const handler = createTrpcHttpHandler(async () => t.deps, { maxBatchSize: 10, maxBodyBytes: 64 * 1024 });
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks),
    });
    const response = await handler(request);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const res = await fetch(`${base}/api/trpc/auth.signIn`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: base },
    body: JSON.stringify({ json: { username: "http-op", password: "http operator password" } }),
  });
  expect(res.status).toBe(200);
  cookie = res.headers.get("set-cookie")!.split(";")[0]!;
});
afterAll(async () => {
  server?.close();
  await t?.close();
});

const createBody = (name: string) => JSON.stringify({ json: { text: BRIDGE_CONFLIST(name, "10.77.0.0/24", "10.77.0.1"), comment: "" } });
const count = (name: string) => t.db.network.count({ where: { name } });

describe("mutations over HTTP (CSRF, HARDENING 10)", () => {
  it("accepts a JSON POST from the console's own origin", async () => {
    const res = await fetch(`${base}/api/trpc/networks.create`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base, cookie },
      body: createBody("http-ok"),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(await count("http-ok")).toBe(1);
  });

  const refusals: [string, RequestInit, number][] = [
    ["GET", { method: "GET" }, 405],
    ["text/plain", { method: "POST", headers: { "content-type": "text/plain" } }, 415],
    ["form-encoded", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" } }, 415],
    ["Origin: null", { method: "POST", headers: { "content-type": "application/json", origin: "null" } }, 403],
    ["a foreign Origin", { method: "POST", headers: { "content-type": "application/json", origin: "http://evil.example" } }, 403],
    ["no Origin", { method: "POST", headers: { "content-type": "application/json" } }, 403],
  ];
  for (const [label, init, status] of refusals) {
    it(`refuses a mutation sent with ${label} and changes nothing`, async () => {
      const name = `csrf-${label.replace(/\W+/g, "-")}`;
      const headers = { origin: base, ...(init.headers as Record<string, string>), cookie };
      if (label === "no Origin") delete (headers as Record<string, string | undefined>).origin;
      const url = init.method === "GET" ? `${base}/api/trpc/networks.create?input=${encodeURIComponent(createBody(name))}` : `${base}/api/trpc/networks.create`;
      const res = await fetch(url, { ...init, headers, body: init.method === "GET" ? undefined : createBody(name) });
      expect(res.status).toBe(status);
      expect(await count(name)).toBe(0);
    });
  }

  it("refuses the x-middleware-subrequest header trick: the procedure still authorizes (HARDENING 11)", async () => {
    const res = await fetch(`${base}/api/trpc/networks.create`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base, "x-middleware-subrequest": "middleware:middleware:middleware:middleware:middleware" },
      body: createBody("bypass"),
    });
    expect(res.status).toBe(401);
    expect(await count("bypass")).toBe(0);
    const list = await fetch(`${base}/api/trpc/networks.list?input=${encodeURIComponent(JSON.stringify({ json: null }))}`, {
      headers: { "x-middleware-subrequest": "middleware", rsc: "1", "next-router-prefetch": "1" },
    });
    expect(list.status).toBe(401);
  });
});

describe("bounded requests (HARDENING 13)", () => {
  it("refuses a batch over the limit, as GET and as POST, before running any call", async () => {
    const paths = Array.from({ length: 11 }, () => "networks.list").join(",");
    const input = JSON.stringify(Object.fromEntries(Array.from({ length: 11 }, (_, i) => [i, { json: null }])));
    const get = await fetch(`${base}/api/trpc/${paths}?batch=1&input=${encodeURIComponent(input)}`, { headers: { cookie } });
    expect(get.status).toBe(400);
    expect(await get.text()).toContain("at most 10 calls");
    const creates = Array.from({ length: 11 }, () => "networks.create").join(",");
    const body = JSON.stringify(Object.fromEntries(Array.from({ length: 11 }, (_, i) => [i, JSON.parse(createBody(`batch-${i}`))])));
    const post = await fetch(`${base}/api/trpc/${creates}?batch=1`, { method: "POST", headers: { "content-type": "application/json", origin: base, cookie }, body });
    expect(post.status).toBe(400);
    expect(await t.db.network.count({ where: { name: { startsWith: "batch-" } } })).toBe(0);
  });

  it("refuses a batch of thousands of calls cheaply", async () => {
    const paths = Array.from({ length: 5000 }, () => "networks.list").join(",");
    const res = await fetch(`${base}/api/trpc/${paths}?batch=1&input=%7B%7D`, { headers: { cookie } });
    // Node's own header limit (431) or our batch limit (400): either way before any call runs.
    expect([400, 431]).toContain(res.status);
  });

  it("refuses batched sign-ins (each costs a slow password hash)", async () => {
    const creds = { json: { username: "http-op", password: "wrong password" } };
    const res = await fetch(`${base}/api/trpc/auth.signIn,auth.signIn?batch=1`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base },
      body: JSON.stringify({ 0: creds, 1: creds }),
    });
    expect(res.status).toBe(400);
    expect(await t.db.auditEvent.count({ where: { action: "auth.signIn", outcome: "denied" } })).toBe(0);
  });

  it("refuses an oversized body with 413 and stores nothing", async () => {
    const res = await fetch(`${base}/api/trpc/networks.create`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base, cookie },
      body: JSON.stringify({ json: { text: "x".repeat(200 * 1024), comment: "" } }),
    });
    expect(res.status).toBe(413);
  });

  it("refuses __proto__ keys, also when JSON-escaped", async () => {
    for (const key of ["__proto__", "\\u005f_proto__", "constructor"]) {
      const res = await fetch(`${base}/api/trpc/networks.create`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: base, cookie },
        body: `{"json":{"text":"{}","comment":"","${key}":{"polluted":true}}}`,
      });
      expect(res.status, key).toBe(400);
      expect(await res.text()).toContain("not allowed");
    }
  });

  it("still serves after the abuse", async () => {
    const res = await fetch(`${base}/api/trpc/networks.list?input=${encodeURIComponent(JSON.stringify({ json: null }))}`, { headers: { cookie } });
    expect(res.status).toBe(200);
  });
});

describe("source address", () => {
  it("records the last X-Forwarded-For entry (the one server.mjs appends), not what the client claims first", async () => {
    await fetch(`${base}/api/trpc/networks.create`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base, cookie, "x-forwarded-for": "1.2.3.4, 127.0.0.9" },
      body: createBody("xff"),
    });
    const event = await t.db.auditEvent.findFirst({ where: { action: "networks.create", after: { path: ["name"], equals: "xff" } } });
    expect(event?.sourceIp).toBe("127.0.0.9");
  });
});

describe("errors over HTTP", () => {
  it("returns field issues for invalid configs and keeps unknown errors opaque", async () => {
    const res = await fetch(`${base}/api/trpc/networks.create`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base, cookie },
      body: JSON.stringify({ json: { text: BRIDGE_CONFLIST("bad-http", "10.78.0.0/24", "10.1.1.1"), comment: "" } }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { json: { data: { issues: { path: unknown[] }[]; stack?: string } } } };
    expect(body.error.json.data.issues[0]?.path).toEqual(["plugins", 0, "ipam", "ranges", 0, 0, "gateway"]);
    expect(body.error.json.data).not.toHaveProperty("stack");
  });
});
