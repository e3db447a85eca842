import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSession } from "./auth/session";
import { createAgentHttpHandler } from "./http";
import { AGENT_MAX_BODY_BYTES_MIN } from "./schemas";
import type { LogEntry } from "./throttledLog";
import { serveApi, setupApiTest, type ApiTest } from "./testing";

/**
 * Issue 16 §2: heartbeats with 10 MB inventories, and any other oversized body on the agent,
 * browser and REST endpoints: 413 with a message naming the call and the limit, before the body
 * is read past the limit, logged once per address every 10 s, and nothing stored. What the zod
 * schema refuses within the limit is a 400 naming the field. What a real host sends at every list's
 * limit (1.2 MB) is taken.
 */
let t: ApiTest;
let server: Awaited<ReturnType<typeof serveApi>>;
const logs: LogEntry[] = [];
let host: Awaited<ReturnType<ApiTest["enrollHost"]>>;
let cookie: string;
let apiToken: string;

const MB = 1024 * 1024;
const hex = (i: number, n: number) => i.toString(16).padStart(n, "0").slice(-n);

/** An inventory of `namespaces` namespaces and as many cache entries, with real-sized names. */
function inventory(namespaces: number, extra: Record<string, unknown> = {}) {
  return {
    hostname: host.name,
    kernel: "6.1.0",
    addresses: [],
    plugins: [],
    cniPath: ["/usr/lib/cni"],
    netnsDir: "/var/run/netns",
    namespaces: Array.from({ length: namespaces }, (_, i) => `cni-${hex(i, 8)}-1234-4567-89ab-${hex(i, 12)}`),
    confDir: "/etc/cni/net.d",
    confFiles: [],
    cacheDir: "/var/lib/cni",
    cachedAttachments: Array.from({ length: namespaces }, (_, i) => ({ networkName: "lab", containerId: hex(i, 64), ifName: "eth0", netns: `/var/run/netns/cni-${hex(i, 8)}-1234-4567-89ab-${hex(i, 12)}` })),
    ipForward: { v4: true, v6: null },
    tools: { nft: true, iptables: true, ip: true },
    ...extra,
  };
}

/**
 * Sent again once when no answer came at all: on a loaded machine a kept-alive connection the
 * server closes (its 5 s keep-alive) may be reused at that very moment and reset. Any answer counts.
 */
const fetchAnswered = (url: string, init: RequestInit) => fetch(url, init).catch(() => fetch(url, init));
const heartbeat = (body: string) =>
  fetchAnswered(`${server.url}/api/agent/agent.heartbeat`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${host.credential}` }, body });
const tooLarge = (endpoint: string) => logs.filter((l) => l.msg === "request body too large: 413" && l.endpoint === endpoint);
const stored = () => t.db.host.findUniqueOrThrow({ where: { id: host.hostId }, select: { inventory: true, inventoryAt: true, lastSeenAt: true } });

beforeAll(async () => {
  t = await setupApiTest();
  server = await serveApi(t.deps, 0, { log: (e) => logs.push(e) });
  host = await t.enrollHost("body-host");
  const operator = await t.createUserRow("body-operator", "operator");
  cookie = `sy_session=${(await createSession(t.db, { userId: operator.id, policy: { ttlMs: 3600_000 }, sourceIp: "", userAgent: "" })).token}`;
  apiToken = (await t.caller(t.sessionOf(operator)).tokens.create({ name: "body token", scope: "general", role: "operator" })).token;
  // A first report, small: what a refused one must leave as it is.
  expect((await heartbeat(JSON.stringify({ json: { agentVersion: "test", inventory: inventory(2) } }))).status).toBe(200);
});
afterAll(async () => {
  await server?.close();
  await t?.close();
});

describe("oversized bodies", () => {
  it("refuses a heartbeat with a 10 MB inventory: 413 naming the call and the limit, logged once for three tries, nothing stored", async () => {
    const before = await stored();
    const body = JSON.stringify({ json: { agentVersion: "test", inventory: inventory(2, { namespaces: Array.from({ length: 110_000 }, (_, i) => `ns-${i}-${"x".repeat(90)}`) }) } });
    expect(body.length).toBeGreaterThan(10 * MB);
    for (let i = 0; i < 3; i++) {
      const res = await heartbeat(body);
      expect(res.status).toBe(413);
      const { error } = (await res.json()) as { error: { message: string } };
      expect(error.message).toBe(`Request body for agent.heartbeat is ${body.length} bytes; this console takes at most ${AGENT_MAX_BODY_BYTES_MIN} bytes (SWITCHYARD_MAX_BODY_BYTES): nothing of it was read further or stored`);
    }
    expect(tooLarge("/api/agent")).toHaveLength(1);
    expect(tooLarge("/api/agent")[0]).toMatchObject({ level: "warn", calls: "agent.heartbeat", declaredBytes: body.length, limit: AGENT_MAX_BODY_BYTES_MIN, count: 1 });
    expect(await stored()).toEqual(before);
  });

  it("stops reading a body sent without its length at the limit (chunked, 10 MB offered)", async () => {
    let pulled = 0;
    const chunk = new TextEncoder().encode(`["${"x".repeat(64 * 1024 - 4)}",`);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= 10 * MB) return controller.close();
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const own: LogEntry[] = [];
    const handle = createAgentHttpHandler(async () => t.deps, { log: (e) => own.push(e) });
    const res = await handle(
      new Request("http://127.0.0.1/api/agent/agent.heartbeat", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${host.credential}`, "x-forwarded-for": "127.0.0.9" }, body, duplex: "half" } as RequestInit),
    );
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^Request body for agent\.heartbeat is over 3145728 bytes; this console takes at most 3145728 bytes/);
    // Read up to the limit and a chunk or two of read-ahead, never the 10 MB.
    expect(pulled).toBeGreaterThan(AGENT_MAX_BODY_BYTES_MIN);
    expect(pulled).toBeLessThan(AGENT_MAX_BODY_BYTES_MIN + 4 * chunk.byteLength);
    expect(own).toMatchObject([{ msg: "request body too large: 413", sourceIp: "127.0.0.9", declaredBytes: null }]);
  });

  it("refuses an inventory within the size limit but beyond the schema's (5,000 namespaces): 400 naming the field, nothing stored", async () => {
    const before = await stored();
    const res = await heartbeat(JSON.stringify({ json: { agentVersion: "test", inventory: inventory(5000) } }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { json: { message: string } } };
    expect(body.error.json.message).toMatch(/inventory\.namespaces: Too big: expected array to have <=4096 items/);
    expect(await stored()).toEqual(before);
  });

  it("takes what a real host sends at every list's limit (4,096 namespaces and cache entries, ~1 MB)", async () => {
    const body = JSON.stringify({ json: { agentVersion: "test", inventory: inventory(4096) } });
    expect(body.length).toBeGreaterThan(0.85 * MB);
    expect((await heartbeat(body)).status).toBe(200);
    const row = await stored();
    expect((row.inventory as { namespaces: string[] }).namespaces).toHaveLength(4096);
  });

  it("refuses 10 MB on the browser endpoint and the REST API too: 413, logged, nothing stored", async () => {
    const text = JSON.stringify({ cniVersion: "1.0.0", name: "huge", plugins: [{ type: "bridge", pad: "x".repeat(10 * MB) }] });
    const browser = await fetchAnswered(`${server.url}/api/trpc/networks.create`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: server.url, cookie },
      body: JSON.stringify({ json: { text, comment: "" } }),
    });
    expect(browser.status).toBe(413);
    expect(((await browser.json()) as { error: { message: string } }).error.message).toMatch(/^Request body for networks\.create is \d+ bytes; this console takes at most 2097152 bytes/);
    const rest = await fetchAnswered(`${server.url}/api/v1/networks.create`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${apiToken}` },
      body: JSON.stringify({ text, comment: "" }),
    });
    expect(rest.status).toBe(413);
    expect(((await rest.json()) as { error: { message: string } }).error.message).toMatch(/^Request body for networks\.create is \d+ bytes; this console takes at most 2097152 bytes/);
    expect(tooLarge("/api/trpc")).toHaveLength(1);
    expect(tooLarge("/api/v1")).toHaveLength(1);
    expect(await t.db.network.count()).toBe(0);
  });
});
