import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import type { Listener } from "./config";
import type { RequestOutcome } from "./http";
import { type ProxyRuntime, createProxyRuntime } from "./runtime";
import { Limits, PassiveHealth, Timeouts } from "./settings";

/**
 * The HTTP engine's member connections, on loopback (the namespaced tests in apps/agent run the
 * built proxy; these look inside one worker): how many connections a member sees, what happens to
 * them when a member or a client goes away, and the per-phase timeouts of the sweep.
 */

interface Backend {
  server: http.Server;
  port: number;
  /** Connections the member accepted, and those still open. */
  accepted: number;
  open: Set<net.Socket>;
}

async function backend(handler: http.RequestListener = (_req, res) => res.end("ok\n")): Promise<Backend> {
  const server = http.createServer(handler);
  const b: Backend = { server, port: 0, accepted: 0, open: new Set() };
  server.on("connection", (s: net.Socket) => {
    b.accepted += 1;
    b.open.add(s);
    s.on("close", () => b.open.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  b.port = (server.address() as AddressInfo).port;
  return b;
}

/** A member that answers with `bytes` (Content-Length), written as fast as the connection takes them. */
function streaming(bytes: number): http.RequestListener {
  return (_req, res) => {
    res.writeHead(200, { "content-length": String(bytes) });
    const chunk = Buffer.alloc(64 * 1024, 120);
    const pump = () => {
      while (res.write(chunk)) if (res.writableLength > 1 << 20) break;
    };
    res.on("drain", pump);
    pump();
  };
}

function listener(port: number, members: Backend[], overrides: { timeouts?: Partial<Timeouts>; limits?: Partial<Limits> } = {}): Listener {
  // Built by hand: the config's schema refuses loopback members, as it should for real services.
  return {
    serviceId: "svc-1",
    serviceName: "web",
    address: "127.0.0.1",
    port,
    kind: "http",
    balance: { algorithm: "round-robin" },
    pools: { default: members.map((m) => ({ address: "127.0.0.1", port: m.port, weight: 100, state: "active" as const, health: "none" as const })) },
    routes: [],
    passiveHealth: PassiveHealth.parse({ consecutiveFailures: 0 }),
    timeouts: Timeouts.parse(overrides.timeouts ?? {}),
    limits: Limits.parse(overrides.limits ?? {}),
  };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

function request(port: number, options: http.RequestOptions & { body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const q = http.request({ host: "127.0.0.1", port, path: "/", ...options }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    q.on("error", reject);
    q.end(options.body);
  });
}

const until = async (what: () => boolean, ms = 3000) => {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("the proxy's HTTP engine on loopback", () => {
  let runtime: ProxyRuntime;
  const outcomes: RequestOutcome[] = [];
  /** Passive health's inputs: each try's verdict on its member. */
  const verdicts: boolean[] = [];
  const backends: Backend[] = [];
  const agents: http.Agent[] = [];
  let version = 0;

  beforeAll(() => {
    runtime = createProxyRuntime({ removeGraceMs: 1000, hooks: { memberResult: (_l, _m, ok) => void verdicts.push(ok), requestDone: (o) => void outcomes.push(o), connectionDone: () => undefined } });
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) a.destroy();
    await runtime.apply({ version: ++version, listeners: [], accessLog: { enabled: false, fullRatePerSecond: 0, sampleOneIn: 1 } });
    for (const b of backends.splice(0)) {
      b.server.closeAllConnections();
      b.server.close();
    }
    outcomes.length = 0;
    verdicts.length = 0;
  });
  afterAll(() => runtime.close());

  async function serve(members: Backend[], overrides?: Parameters<typeof listener>[2]): Promise<number> {
    backends.push(...members);
    const port = await freePort();
    const errors = await runtime.apply({ version: ++version, listeners: [listener(port, members, overrides)], accessLog: { enabled: false, fullRatePerSecond: 0, sampleOneIn: 1 } });
    expect(errors).toEqual([]);
    return port;
  }

  test("400 requests on 4 keep-alive client connections reach the member over at most 4 connections, kept open for the next", async () => {
    const member = await backend();
    const port = await serve([member]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    agents.push(agent);
    for (let round = 0; round < 10; round++) {
      const answers = await Promise.all(Array.from({ length: 40 }, () => request(port, { agent })));
      expect(answers.every((a) => a.status === 200 && a.body === "ok\n")).toBe(true);
    }
    expect(outcomes).toHaveLength(400);
    expect(member.accepted).toBeLessThanOrEqual(4);
    expect(member.open.size).toBe(member.accepted);
    expect(runtime.listeners()[0]!.inflight.size).toBe(0);
  });

  test("idle connections kept per member stop at connectionsPerMember; the rest close when their response ends", async () => {
    const member = await backend((_req, res) => setTimeout(() => res.end("slow\n"), 50));
    const port = await serve([member], { limits: { connectionsPerMember: 2 } });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    agents.push(agent);
    const answers = await Promise.all(Array.from({ length: 8 }, () => request(port, { agent })));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    expect(member.accepted).toBe(8);
    await until(() => member.open.size === 2);
  });

  test("a member that closes its idle keep-alive connections is not sent requests on them", async () => {
    // It answers keep-alive, then closes the idle connection 50 ms later.
    const member = await backend((req, res) => {
      res.end("ok\n");
      setTimeout(() => req.socket.end(), 50);
    });
    const port = await serve([member]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    for (let i = 0; i < 5; i++) {
      expect((await request(port, { agent })).status).toBe(200);
      // Longer than the member keeps an idle connection: each request finds its last one closed.
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(member.accepted).toBe(5);
    expect(outcomes.map((o) => [o.status, o.retried])).toEqual(Array(5).fill([200, false]));
  });

  test("the keep-alive race (the member closes a kept-alive connection as a request goes out): a GET is sent again on a fresh connection, a POST answered 502; neither counts against the member", async () => {
    // Answers the first request on each connection, and closes the connection at any later one without answering.
    const served = new WeakMap<net.Socket, number>();
    const member = await backend((req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (n > 1) return void req.socket.destroy();
      req.resume();
      req.on("end", () => res.end("ok\n"));
    });
    const port = await serve([member]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    for (let i = 0; i < 3; i++) expect(await request(port, { agent })).toEqual({ status: 200, body: "ok\n" });
    // Each GET after the first found its kept-alive connection closed, and went out again on a new one.
    expect(member.accepted).toBe(3);
    const post = await request(port, { agent, method: "POST", headers: { "content-length": "2" }, body: "hi" });
    expect(post.status).toBe(502);
    expect(post.body).toMatch(/closed a kept-alive connection as the request went out \(not retried: this POST may have been acted on\)/);
    expect(verdicts).toEqual([true, true, true]);
    expect(outcomes.map((o) => o.retried)).toEqual([false, false, false, false]);
  });

  test("a member's Keep-Alive: timeout=2 is honoured: the proxy closes its idle connection a second before the member would", async () => {
    const member = await backend((_req, res) => {
      res.setHeader("keep-alive", "timeout=2");
      res.end("ok\n");
    });
    member.server.keepAliveTimeout = 30_000;
    const port = await serve([member]);
    expect((await request(port)).status).toBe(200);
    expect(member.open.size).toBe(1);
    const started = performance.now();
    await until(() => member.open.size === 0, 3000);
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThan(800);
    expect(ms).toBeLessThan(1800);
  });

  test("a POST whose member refuses the connection goes to another member with its whole body (nothing had left this host)", async () => {
    const member = await backend((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (d: string) => (body += d));
      req.on("end", () => res.end(`${body.length}:${body.slice(0, 5)}\n`));
    });
    // A port nobody listens on: its connects are refused at once.
    const refused: Backend = { server: http.createServer(), port: await freePort(), accepted: 0, open: new Set() };
    const port = await serve([member, refused]);
    const body = "x".repeat(50_000);
    for (let i = 0; i < 4; i++) {
      expect(await request(port, { method: "POST", headers: { "content-length": String(body.length) }, body })).toEqual({ status: 200, body: "50000:xxxxx\n" });
    }
    // Round robin sends a request to the refusing member first whenever its turn comes (each retry takes the other's turn).
    expect(outcomes.filter((o) => o.retried).length).toBeGreaterThanOrEqual(2);
    expect(outcomes.every((o) => o.status === 200 && o.member?.port === member.port)).toBe(true);
  });

  test("a member that never answers: a POST gets 504 after the response timeout (not retried), its connection closed", async () => {
    const member = await backend(() => undefined);
    const port = await serve([member], { timeouts: { responseMs: 300 } });
    const started = performance.now();
    const answer = await request(port, { method: "POST", headers: { "content-length": "2" }, body: "hi" });
    const ms = performance.now() - started;
    expect(answer.status).toBe(504);
    expect(answer.body).toMatch(/no response within 300 ms/);
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(1500);
    await until(() => member.open.size === 0);
    expect(outcomes[0]).toMatchObject({ status: 504, retried: false, method: "POST" });
  });

  test("a client that leaves mid-response: the member's connection is closed, not handed to the next request, and nothing stays in flight", async () => {
    const member = await backend(streaming(64 * 1024 * 1024));
    const port = await serve([member]);
    await new Promise<void>((resolve, reject) => {
      const q = http.get({ host: "127.0.0.1", port, path: "/" }, (res) => {
        res.once("data", () => {
          q.destroy();
          resolve();
        });
      });
      q.on("error", (e) => (e.message.includes("socket hang up") || e.message.includes("aborted") ? resolve() : reject(e)));
    });
    await until(() => outcomes.length === 1 && member.open.size === 0);
    expect(outcomes[0]).toMatchObject({ status: 499, error: "the client closed the connection" });
    expect(runtime.listeners()[0]!.inflight.size).toBe(0);
  });

  test("a client that pipelines three requests and shuts its side gets three answers, then the close", async () => {
    const member = await backend((req, res) => res.end(`${req.url}\n`));
    const port = await serve([member]);
    const data = await new Promise<string>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => s.end("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n"));
      let d = "";
      s.on("data", (x) => (d += x));
      s.on("close", () => resolve(d));
    });
    expect(data.match(/^HTTP\/1\.1 200 /gm)).toHaveLength(3);
    expect(data.match(/^\/\d$/gm)).toEqual(["/1", "/2", "/3"]);
  });

  test("a client slow with its body is not the member's failure: the response timeout starts when the member has the whole request", async () => {
    const member = await backend((req, res) => {
      let n = 0;
      req.on("data", (d: Buffer) => (n += d.length));
      req.on("end", () => res.end(`${n}\n`));
    });
    const port = await serve([member], { timeouts: { responseMs: 300, idleMs: 5000 } });
    const data = await new Promise<string>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => s.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\n01234"));
      setTimeout(() => s.write("56789"), 900);
      let d = "";
      s.on("data", (x) => (d += x));
      s.on("close", () => resolve(d));
    });
    expect(data).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\n10\n$/);
    expect(verdicts).toEqual([true]);
  });

  test("a client that stops reading is cut at the idle timeout as its own failure (499), not the member's", async () => {
    const member = await backend(streaming(256 * 1024 * 1024));
    const port = await serve([member], { timeouts: { idleMs: 500 } });
    const started = performance.now();
    const s = net.connect(port, "127.0.0.1", () => s.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    // Reads the first bytes, then nothing: the socket buffers fill and the member is held back.
    s.once("data", () => s.pause());
    s.on("error", () => undefined);
    try {
      await until(() => outcomes.length === 1 && member.open.size === 0, 5000);
    } finally {
      s.destroy();
    }
    expect(performance.now() - started).toBeGreaterThanOrEqual(500);
    expect(outcomes[0]).toMatchObject({ status: 499 });
    expect(verdicts).toEqual([true]);
  });

  test("a slow head is cut with 408 at the header timeout; a slow body on an open connection at the idle timeout", async () => {
    const member = await backend((req, res) => {
      req.resume();
      req.on("end", () => res.end("ok\n"));
    });
    const port = await serve([member], { timeouts: { headerMs: 300, idleMs: 400 } });
    const read = (payload: string) =>
      new Promise<{ data: string; ms: number }>((resolve) => {
        const started = performance.now();
        const s = net.connect(port, "127.0.0.1", () => s.write(payload));
        let data = "";
        s.on("data", (d) => (data += d));
        s.on("error", () => undefined);
        s.on("close", () => resolve({ data, ms: performance.now() - started }));
      });
    const head = await read("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ");
    expect(head.data).toMatch(/^HTTP\/1\.1 408 /);
    expect(head.ms).toBeLessThan(1500);
    const body = await read("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234");
    expect(body.data).toBe("");
    expect(body.ms).toBeGreaterThanOrEqual(390);
    expect(body.ms).toBeLessThan(1500);
  });
});
