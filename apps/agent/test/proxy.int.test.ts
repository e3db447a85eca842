import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isRoot } from "./harness";
import { spawnNodeInNetns } from "./support/netns-process";
import { type ClientCounts, KEEPALIVE_CLIENT, type ProxyBench, VIP, createProxyBench } from "./support/proxy-bench";

/**
 * The userspace proxy (issue 14), the built bundle in a namespace standing in for a host: three
 * backend sandboxes, a client sandbox, the VIP on a sink link. Every request leaves the client's
 * namespace for the VIP and comes back; nothing else is reached.
 */

// Raw HTTP from the client namespace: what a careful proxy refuses. Prints {status, closed}.
const RAW_CLIENT = `
const net = require("node:net");
const [address, port, payloadB64, waitMs] = process.argv.slice(1);
const s = net.connect(Number(port), address);
let data = ""; let closed = false;
s.on("data", (d) => { data += d; });
s.on("close", () => { closed = true; });
s.on("error", () => {});
s.on("connect", () => s.write(Buffer.from(payloadB64, "base64")));
setTimeout(() => { console.log(JSON.stringify({ status: Number((/^HTTP\\/1\\.1 (\\d{3})/.exec(data) || [])[1] || 0), closed, head: data.slice(0, 200) })); s.destroy(); }, Number(waitMs));
`;

// One keep-alive connection, a request every 50 ms for `count` requests; prints backends in order and whether one socket carried them all.
const ONE_CONNECTION_CLIENT = `
const http = require("node:http");
const [address, port, count] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const seen = []; const sockets = new Set(); let failures = 0;
const one = () => new Promise((resolve) => {
  const req = http.get({ host: address, port: Number(port), path: "/", agent }, (res) => {
    sockets.add(req.socket); res.resume(); res.on("end", () => { seen.push(res.headers["x-backend"] || String(res.statusCode)); resolve(); });
  });
  req.on("error", () => { failures++; resolve(); });
});
(async () => { for (let i = 0; i < Number(count); i++) { await one(); await new Promise((r) => setTimeout(r, 50)); } console.log(JSON.stringify({ seen, sockets: sockets.size, failures })); agent.destroy(); })();
`;

// A TCP connection held open through the proxy: a request, then (on a stdin line) a second one on it, then 12 on fresh connections.
const HELD_TCP_CLIENT = `
const net = require("node:net"); const http = require("node:http");
const [address, port] = process.argv.slice(1);
const s = net.connect(Number(port), address); let data = "";
s.on("data", (d) => { data += d; });
const ask = () => new Promise((resolve) => {
  data = "";
  s.write("GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n");
  const t = setInterval(() => { const m = /\\r\\n\\r\\n(backend-\\d)$/.exec(data); if (m) { clearInterval(t); resolve(m[1]); } }, 10);
});
s.on("connect", async () => {
  const first = await ask();
  console.log("first " + first);
  await new Promise((r) => process.stdin.once("data", r));
  const second = await ask();
  const fresh = [];
  for (let i = 0; i < 12; i++) fresh.push(await new Promise((r) => http.get({ host: address, port: Number(port), path: "/", agent: false }, (res) => { res.resume(); r(res.headers["x-backend"]); })));
  console.log(JSON.stringify({ second, fresh })); s.destroy();
});
`;

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe.runIf(isRoot)("the userspace proxy (issue 14)", { timeout: 120_000 }, () => {
  let px: ProxyBench;
  let version = 0;
  const apply = (listeners: Parameters<ProxyBench["listener"]>[0][]) => px.apply({ version: ++version, listeners: listeners.map((l) => px.listener(l)) });
  const load = (requests: number, concurrency = 4, path = "/") => px.client<ClientCounts>(KEEPALIVE_CLIENT, [VIP, 80, requests, concurrency, 5000, path]);

  beforeAll(async () => {
    px = await createProxyBench({ backends: 3 });
  }, 120_000);
  afterAll(async () => {
    await px?.cleanup();
  });

  test("weighted round robin splits 600 keep-alive requests 1:2:3 exactly; X-Forwarded-* added, hop-by-hop headers not passed", async () => {
    await apply([{ pools: { default: px.members([100, 200, 300]) } }]);
    const counts = await load(600, 4);
    expect(counts.failures).toBe(0);
    expect(counts.byName).toEqual({ "backend-0": 100, "backend-1": 200, "backend-2": 300 });
    const headers = await px.client<{ headers: Record<string, string> }>(
      `require("node:http").get({ host: process.argv[1], port: 80, path: "/", headers: { "x-forwarded-for": "192.0.2.7", connection: "keep-alive, x-secret", "x-secret": "drop me" } }, (res) => { res.resume(); console.log(JSON.stringify({ headers: res.headers })); });`,
      [VIP],
    );
    expect(headers.headers["x-seen-forwarded-for"]).toBe(`192.0.2.7, ${px.bench.client.address}`);
    expect(headers.headers["x-seen-forwarded-host"]).toBe(VIP);
    expect(headers.headers["x-seen-forwarded-proto"]).toBe("http");
    // Connection (and the x-secret it names) stay on the client's hop: the member sees undici's own keep-alive.
    expect(headers.headers["x-seen-connection"]).not.toContain("x-secret");
  });

  test("least connections follows the weights with sequential traffic; consistent hashing keeps a header's requests on one member", async () => {
    await apply([{ balance: { algorithm: "least-connections" }, pools: { default: px.members([100, 100, 200]) } }]);
    const lc = await load(400, 1);
    expect(lc.failures).toBe(0);
    expect(lc.byName["backend-2"]).toBeGreaterThanOrEqual(180);
    expect(lc.byName["backend-2"]).toBeLessThanOrEqual(220);

    await apply([{ balance: { algorithm: "consistent-hash", hashOn: { kind: "header", name: "x-user" } } }]);
    const sticky = await px.client<{ byUser: Record<string, string[]> }>(
      `const http = require("node:http"); const byUser = {}; let left = 60;
       for (let i = 0; i < 60; i++) { const user = "user-" + (i % 12);
         http.get({ host: process.argv[1], port: 80, path: "/", headers: { "x-user": user } }, (res) => { res.resume(); (byUser[user] ??= []).push(res.headers["x-backend"]); if (--left === 0) console.log(JSON.stringify({ byUser })); }); }`,
      [VIP],
    );
    const users = Object.values(sticky.byUser);
    expect(users).toHaveLength(12);
    for (const backends of users) expect(new Set(backends).size).toBe(1);
    // Twelve users over three members: more than one member is used.
    expect(new Set(users.map((b) => b[0])).size).toBeGreaterThan(1);
  });

  test("routes by host and path prefix pick pools: whole path segments, wildcard hosts, the default pool otherwise", async () => {
    const [b0, b1, b2] = px.members();
    await apply([
      {
        pools: { default: [b0!, b1!], canary: [b2!], admin: [b0!] },
        routes: [
          { pathPrefix: "/beta", pool: "canary" },
          { host: "*.admin.example.com", pool: "admin" },
        ],
      },
    ]);
    const ask = (path: string, host: string) =>
      px.client<{ backend: string }>(
        `require("node:http").get({ host: process.argv[1], port: 80, path: process.argv[2], headers: { host: process.argv[3] } }, (res) => { res.resume(); console.log(JSON.stringify({ backend: res.headers["x-backend"] })); });`,
        [VIP, path, host],
      );
    expect((await ask("/beta", "a")).backend).toBe("backend-2");
    expect((await ask("/beta/x?y=1", "a")).backend).toBe("backend-2");
    // A prefix matches whole segments: /betamax is not under /beta.
    expect(["backend-0", "backend-1"]).toContain((await ask("/betamax", "a")).backend);
    expect((await ask("/", "eu.admin.example.com:8080")).backend).toBe("backend-0");
    expect((await ask("/", "EU.Admin.Example.com")).backend).toBe("backend-0");
    expect(["backend-0", "backend-1"]).toContain((await ask("/", "admin.example.com")).backend);
  });

  test("smuggling shapes, obsolete folding and a slow head are refused with 400/408 and the connection closed; a member that is the VIP is refused", async () => {
    await apply([{ timeouts: { headerMs: 1000 } }]);
    const cases = {
      "content-length and transfer-encoding": "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "two content-lengths": "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
      "obsolete line folding": "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n",
      "a bare LF inside a header value": "GET / HTTP/1.1\r\nHost: a\r\nX-Inject: a\nX-Evil: b\r\n\r\n",
      "no host": "GET / HTTP/1.1\r\n\r\n",
    };
    for (const [name, payload] of Object.entries(cases)) {
      const r = await px.client<{ status: number; closed: boolean; head: string }>(RAW_CLIENT, [VIP, 80, b64(payload), 500]);
      expect({ name, status: r.status, closed: r.closed }).toEqual({ name, status: 400, closed: true });
    }
    // Slowloris: half a head, then nothing: cut at the header timeout (1 s, checked every second).
    const slow = await px.client<{ status: number; closed: boolean }>(RAW_CLIENT, [VIP, 80, b64("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: "), 3500]);
    expect(slow).toMatchObject({ status: 408, closed: true });

    await expect(px.apply({ version: ++version, listeners: [px.listener({ pools: { default: [{ address: VIP, port: 80, weight: 100, state: "active", health: "none" }] } })] })).rejects.toThrow(/this listener itself: it would loop/);
  });

  test("limits and timeouts: a head over the limit is 431, a body over it 413 (declared or chunked), a member that never answers a connect is given up and the request goes to another", async () => {
    // 10.70.0.99 is on the bridge's subnet but nobody has it: a connect to it never completes.
    const dead = { address: "10.70.0.99", port: 8080, weight: 100, state: "active" as const, health: "none" as const };
    await apply([{ port: 8082, limits: { maxHeaderBytes: 2048, maxBodyBytes: 1000 }, timeouts: { connectMs: 300 }, passiveHealth: { consecutiveFailures: 0 }, pools: { default: [...px.members(), dead] } }]);
    const big = await px.client<{ status: number; closed: boolean }>(RAW_CLIENT, [VIP, 8082, b64(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(3000)}\r\n\r\n`), 500]);
    expect(big).toMatchObject({ status: 431, closed: true });
    const declared = await px.client<{ status: number }>(RAW_CLIENT, [VIP, 8082, b64(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n${"b".repeat(2000)}`), 500]);
    expect(declared.status).toBe(413);
    const chunk = `${(1500).toString(16)}\r\n${"c".repeat(1500)}\r\n0\r\n\r\n`;
    const chunked = await px.client<{ status: number }>(RAW_CLIENT, [VIP, 8082, b64(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`), 1000]);
    expect(chunked.status).toBe(413);
    // Within the limit it passes, its body streamed to the member.
    const small = await px.client<{ status: number; head: string }>(RAW_CLIENT, [VIP, 8082, b64(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789`), 1000]);
    expect(small.status).toBe(200);
    expect(small.head.toLowerCase()).toContain("x-seen-body: 10");

    // Round robin sends every fourth request to the dead member: each of those is retried after 300 ms.
    const gets = await px.client<ClientCounts>(KEEPALIVE_CLIENT, [VIP, 8082, 16, 1, 5000, "/"]);
    expect(gets.statuses).toEqual({ "200": 16 });
  });

  test("a member answering 500 is ejected by passive health after 3 failures in a row; garbage and a cut response fail over or fail cleanly", async () => {
    await apply([{ passiveHealth: { consecutiveFailures: 3, baseEjectionSeconds: 60 } }]);
    await px.setMode(0, "500");
    try {
      const from = px.proxy().lines.length;
      const counts = await load(90, 1);
      // Round robin gives backend-0 every third request: its third failure ejects it.
      expect(counts.statuses["500"]).toBe(3);
      expect(counts.statuses["200"]).toBe(87);
      const event = await px.proxy().waitForLine((l) => l.includes('"type":"ejections"'), 5000, from);
      expect(event).toContain("3 consecutive");
      expect(event).toContain(px.bench.backends[0]!.address);
    } finally {
      await px.setMode(0, "ok");
    }

    // A fresh config without passive health (ejections forgotten with the old listener settings are not, so a new listener key).
    await apply([{ port: 8081, passiveHealth: { consecutiveFailures: 0 } }]);
    await px.setMode(1, "garbage");
    try {
      // A GET that got garbage back goes to another member once: every one is answered.
      const gets = await px.client<ClientCounts>(KEEPALIVE_CLIENT, [VIP, 8081, 30, 1, 5000, "/"]);
      expect(gets.statuses).toEqual({ "200": 30 });
      expect(gets.byName["backend-1"]).toBeUndefined();
      // A POST is not retried: the one that lands on the garbage member is a 502.
      const posts = await px.client<{ statuses: number[] }>(
        `const http = require("node:http"); const statuses = [];
         (async () => { for (let i = 0; i < 6; i++) await new Promise((r) => { const q = http.request({ host: process.argv[1], port: 8081, method: "POST", path: "/", headers: { "content-length": 5 } }, (res) => { statuses.push(res.statusCode); res.resume(); res.on("end", r); }); q.on("error", () => { statuses.push(0); r(); }); q.end("hello"); });
           console.log(JSON.stringify({ statuses })); })();`,
        [VIP],
      );
      expect(posts.statuses.filter((s) => s === 502)).toHaveLength(2);
      expect(posts.statuses.filter((s) => s === 200)).toHaveLength(4);
      await px.setMode(1, "close-mid");
      const cut = await px.client<ClientCounts>(KEEPALIVE_CLIENT, [VIP, 8081, 3, 1, 5000, "/"]);
      // The member's headers went out before it broke: the client's connection is cut (not a clean short body).
      expect(cut.failures).toBe(1);
    } finally {
      await px.setMode(1, "ok");
    }
  });

  test("50 pool changes during keep-alive load: no request fails", async () => {
    await apply([{}]);
    const running = load(4000, 8);
    const weights = [
      [100, 100, 100],
      [0, 100, 100],
      [300, 100, 1],
      [100, 0, 0],
    ];
    for (let i = 0; i < 50; i++) {
      const w = weights[i % weights.length]!;
      const members = px.members(w);
      // Every fifth change also drains a member and removes another from the pool (one member always takes traffic).
      const pool = i % 5 === 4 ? [{ ...members[0]!, state: "draining" as const }, { ...members[1]!, weight: 100 }] : members;
      await apply([{ pools: { default: pool } }]);
    }
    const counts = await running;
    expect(counts.failures).toBe(0);
    expect(counts.statuses).toEqual({ "200": 4000 });
  });

  test("drain: an open keep-alive connection keeps working while its new requests go to the other members", async () => {
    await apply([{}]);
    const running = px.client<{ seen: string[]; sockets: number; failures: number }>(ONE_CONNECTION_CLIENT, [VIP, 80, 40]);
    await new Promise((r) => setTimeout(r, 700));
    const members = px.members();
    await apply([{ pools: { default: [{ ...members[0]!, state: "draining" }, members[1]!, members[2]!] } }]);
    const r = await running;
    expect(r.failures).toBe(0);
    expect(r.sockets).toBe(1);
    const after = r.seen.slice(-15);
    expect(after).not.toContain("backend-0");
    expect(r.seen.slice(0, 9)).toContain("backend-0");
  });

  test("TCP: bytes spliced both ways with a half-close passed on; a drained member keeps its open connection, new ones go elsewhere", async () => {
    await apply([{}, { port: 81, kind: "tcp" }]);
    // The client ends its write half right after the request: the member still answers, and the answer arrives whole.
    const half = await px.client<{ body: string; ended: boolean }>(
      `const s = require("node:net").connect(81, process.argv[1]); let data = "";
       s.on("connect", () => s.end("GET / HTTP/1.1\\r\\nHost: a\\r\\nConnection: close\\r\\n\\r\\n"));
       s.on("data", (d) => { data += d; }); s.on("end", () => console.log(JSON.stringify({ body: data.split("\\r\\n\\r\\n")[1], ended: true })));`,
      [VIP],
    );
    expect(half.ended).toBe(true);
    expect(half.body).toMatch(/^backend-\d$/);

    // One connection held open: a request, a drain of its member, another request on the same connection.
    const held = spawnNodeInNetns(px.bench.client.netns.name, HELD_TCP_CLIENT, [VIP, "81"], { hasStdin: true, lifetimeMs: 30_000 });
    try {
      const first = (await held.waitForLine(/^first /, 10_000)).slice("first ".length);
      const index = px.bench.backends.findIndex((b) => b.name === first);
      const members = px.members();
      members[index] = { ...members[index]!, state: "draining" };
      await apply([{}, { port: 81, kind: "tcp", pools: { default: members } }]);
      held.writeLine("go");
      const r = JSON.parse(await held.waitForLine(/^\{/, 15_000)) as { second: string; fresh: string[] };
      expect(r.second).toBe(first);
      expect(r.fresh).toHaveLength(12);
      expect(r.fresh).not.toContain(first);
    } finally {
      await held.stop();
    }
  });
});
