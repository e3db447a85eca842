import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ListenerInput, ProxyConfigInput } from "@switchyard/dataplane/proxy";
import { run } from "@switchyard/cni/test-host";
import { BACKEND_PORT, type BackendBench, createBackendBench } from "./backends";
import { type NetnsProcess, spawnNodeInNetns } from "./netns-process";

/**
 * The userspace proxy's test bench (issue 14's Tests): the services bench's namespaces (a host
 * with a bridge, backend sandboxes, a client sandbox), backends whose behaviour a test switches
 * over stdin (answer their name, answer 500, answer garbage, close mid-response), the VIP as an
 * address on a sink link in the host namespace (as the agent puts it), and the built agent
 * running there as `switchyard-agent proxy --config FILE`, reloaded by SIGHUP.
 */

/** The proxy is the agent's own file run as `switchyard-agent proxy` (the built bundle, as hosts run it). */
export const AGENT_BUNDLE = fileURLToPath(new URL("../../dist/switchyard-agent.mjs", import.meta.url));
export const VIP = "10.96.70.10";
export const VIP_CIDR = "10.96.70.0/24";
const SINK = "sypx0";

/**
 * A backend: its name on every path; stdin lines `mode ok|500|garbage|close-mid|slow` change how it answers.
 * A few bench paths answer otherwise, whatever the mode (HTTP semantics tests, proxy-http.int.test.ts):
 * - `/echo…` (any suffix) and `*`: the request as JSON (method, url, version, headers, raw headers, body length and sha256); `?delay=MS` answers late;
 * - `/chunked?n=N`: N bytes with no Content-Length (Node frames them chunked), their sha256 in `x-body-sha256`;
 * - `/big?n=N&id=ID[&sha=0]`: N bytes streamed with backpressure (the sha256 unless sha=0); `/progress?id=ID` tells how far it got;
 * - `/head-many?n=N`: N extra headers `x-r-<i>: v-<i>`;
 * - `/hop[?close=1]`: `Connection: keep-alive|close, x-drop-me`, `X-Drop-Me`, `Keep-Alive`, `X-Keep-Me`;
 * - `/close`: its name with `Connection: close` (the member ends its connection after each answer).
 */
export const controllableBackend = (name: string, addresses: readonly string[]) => `
const http = require("node:http");
const net = require("node:net");
const crypto = require("node:crypto");
const NAME = ${JSON.stringify(name)};
let mode = "ok";
require("node:readline").createInterface({ input: process.stdin }).on("line", (l) => {
  const m = /^mode (\\S+)$/.exec(l.trim()); if (m) { mode = m[1]; console.log("mode " + mode); }
});
// Bench bodies: a random block of a prime length repeated, so bytes out of place change the sha256.
const BLOCK = crypto.randomBytes(65521);
const bytesAt = (offset, length) => {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; ) { const from = (offset + i) % BLOCK.length; const n = Math.min(length - i, BLOCK.length - from); BLOCK.copy(b, i, from, from + n); i += n; }
  return b;
};
const shaOf = (n) => { const h = crypto.createHash("sha256"); for (let o = 0; o < n; o += 65536) h.update(bytesAt(o, Math.min(65536, n - o))); return h.digest("hex"); };
const progress = new Map();
const json = (res, value, extra) => { const body = JSON.stringify(value); res.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), "x-backend": NAME, ...extra }); res.end(body); };
// The bench paths; false for every other request (answered as the mode says).
const bench = (req, res) => {
  const url = req.url || "";
  if (url === "*" || url.startsWith("/echo")) {
    const h = crypto.createHash("sha256"); let length = 0;
    req.on("data", (c) => { h.update(c); length += c.length; });
    req.on("end", () => {
      const delay = Math.min(Number((/[?&]delay=(\\d+)/.exec(url) || [])[1] || 0), 2000);
      const value = { backend: NAME, method: req.method, url, httpVersion: req.httpVersion, headers: req.headers, rawHeaders: req.rawHeaders, bodyLength: length, bodySha256: h.digest("hex") };
      setTimeout(() => json(res, value), delay);
    });
    return true;
  }
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
  const n = Math.min(Number(params.get("n") || 0), 256 * 1024 * 1024);
  if (path === "/chunked") {
    req.resume();
    res.writeHead(200, { "content-type": "application/octet-stream", "x-backend": NAME, "x-body-sha256": shaOf(n) });
    for (let o = 0; o < n; o += 8192) res.write(bytesAt(o, Math.min(8192, n - o)));
    res.end();
    return true;
  }
  if (path === "/big") {
    req.resume();
    const p = { n, written: 0, waiting: false, finished: false, closed: false };
    progress.set(params.get("id") || "", p);
    res.on("close", () => { p.closed = true; p.finished = res.writableFinished; });
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(n), "x-backend": NAME, ...(params.get("sha") === "0" ? {} : { "x-body-sha256": shaOf(n) }) });
    const pump = () => {
      while (p.written < n && !res.destroyed) {
        const length = Math.min(65536, n - p.written);
        const ok = res.write(bytesAt(p.written, length));
        p.written += length;
        if (!ok) { p.waiting = true; res.once("drain", () => { p.waiting = false; pump(); }); return; }
      }
      if (!res.destroyed) res.end();
    };
    pump();
    return true;
  }
  if (path === "/progress") { req.resume(); json(res, progress.get(params.get("id") || "") || null); return true; }
  if (path === "/head-many") {
    req.resume();
    const headers = { "x-backend": NAME, "content-length": "2" };
    for (let i = 0; i < n; i++) headers["x-r-" + i] = "v-" + i;
    res.writeHead(200, headers);
    res.end("ok");
    return true;
  }
  if (path === "/hop") {
    req.resume();
    res.setHeader("connection", (params.get("close") === "1" ? "close" : "keep-alive") + ", x-drop-me");
    res.setHeader("x-drop-me", "1");
    res.setHeader("keep-alive", "timeout=99, max=7");
    res.setHeader("x-keep-me", "1");
    res.setHeader("content-length", "2");
    res.setHeader("x-backend", NAME);
    res.writeHead(200);
    res.end("ok");
    return true;
  }
  if (path === "/close") {
    req.resume();
    req.on("end", () => { res.writeHead(200, { connection: "close", "content-length": String(Buffer.byteLength(NAME)), "x-backend": NAME }); res.end(NAME); });
    return true;
  }
  return false;
};
const answer = (req, res) => {
  if (bench(req, res)) return;
  const body = [];
  req.on("data", (c) => body.push(c));
  req.on("end", () => {
    if (mode === "500") { res.writeHead(500, { "x-backend": ${JSON.stringify(name)} }); return res.end("failing"); }
    if (mode === "close-mid") { res.writeHead(200, { "content-length": "1000", "x-backend": ${JSON.stringify(name)} }); res.write("partial"); return setTimeout(() => req.socket.destroy(), 20); }
    if (mode === "garbage") { req.socket.end("HTTP/1.1 2x0 WHAT\\r\\nbroken\\r\\n\\r\\n"); return; }
    const headers = { "content-type": "text/plain", "x-backend": ${JSON.stringify(name)}, "x-seen-forwarded-for": req.headers["x-forwarded-for"] || "", "x-seen-forwarded-host": req.headers["x-forwarded-host"] || "", "x-seen-forwarded-proto": req.headers["x-forwarded-proto"] || "", "x-seen-connection": req.headers["connection"] || "", "x-seen-body": String(Buffer.concat(body).length), "content-length": String(Buffer.byteLength(${JSON.stringify(name)})) };
    const reply = () => { res.writeHead(200, headers); res.end(${JSON.stringify(name)}); };
    if (mode === "slow") setTimeout(reply, 200); else reply();
  });
};
const addresses = ${JSON.stringify(addresses)};
let pending = addresses.length;
for (const address of addresses) {
  const server = http.createServer(answer);
  server.keepAliveTimeout = 120000;
  server.listen(${BACKEND_PORT}, address, () => { if (--pending === 0) console.log("ready"); });
}
process.on("SIGTERM", () => process.exit(0));
`;

export interface ProxyBench {
  bench: BackendBench;
  /** Member entries for a listener's pool, one per backend (weights given, else 100). */
  members(weights?: number[]): ListenerInput["pools"][string];
  /** Writes the config and starts the proxy (or reloads it with SIGHUP); resolves when it runs that version. */
  apply(config: ProxyConfigInput): Promise<void>;
  /** A listener on the VIP with the backends as its default pool. */
  listener(over?: Partial<ListenerInput>): ListenerInput;
  proxy(): NetnsProcess;
  setMode(backend: number, mode: "ok" | "500" | "garbage" | "close-mid" | "slow"): Promise<void>;
  /** Runs a Node script in the client namespace and returns its JSON line. */
  client<T>(script: string, args: (string | number)[], timeoutMs?: number): Promise<T>;
  cleanup(): Promise<void>;
}

export async function createProxyBench(o: { backends: number; workers?: number; lifetimeMs?: number }): Promise<ProxyBench> {
  const bench = await createBackendBench({ count: o.backends, serverScript: controllableBackend, lifetimeMs: o.lifetimeMs ?? 180_000 });
  const dir = await mkdtemp(path.join(tmpdir(), "sy-proxy-"));
  const configFile = path.join(dir, "proxy.json");
  let proxy: NetnsProcess | null = null;
  const host = bench.host.name;
  try {
    // The VIP as the agent puts it: an address on a link whose peer stays down, the service CIDR blackholed.
    await run("ip", ["-n", host, "link", "add", SINK, "type", "veth", "peer", "name", `${SINK}p`]);
    await run("ip", ["-n", host, "link", "set", SINK, "up"]);
    await run("ip", ["-n", host, "addr", "add", `${VIP}/32`, "dev", SINK]);
    await run("ip", ["-n", host, "route", "add", "blackhole", VIP_CIDR]);
  } catch (e) {
    await bench.cleanup();
    throw e;
  }
  const members = (weights?: number[]) => bench.backends.map((b, i) => ({ address: b.address, port: b.port, weight: weights?.[i] ?? 100, state: "active" as const, health: "none" as const }));
  return {
    bench,
    members,
    listener: (over = {}) => ({
      serviceId: "svc1",
      serviceName: "web",
      address: VIP,
      port: 80,
      kind: "http",
      balance: { algorithm: "round-robin" },
      pools: { default: members() },
      ...over,
    }),
    async apply(config) {
      writeFileSync(configFile, JSON.stringify(config));
      if (proxy === null) {
        proxy = spawnNodeInNetns(host, AGENT_BUNDLE, ["proxy", "--config", configFile, "--workers", String(o.workers ?? 1), "--grace-ms", "2000"], { isFile: true, lifetimeMs: o.lifetimeMs ?? 180_000 });
      } else {
        proxy.child.kill("SIGHUP");
      }
      const line = await proxy.waitForLine((l) => l.includes(`"version":${config.version}`) && /"type":"(applied|refused)"/.test(l), 15_000);
      const event = JSON.parse(line) as { type: string; errors?: unknown[]; error?: string };
      if (event.type === "refused") throw new Error(`proxy refused config ${config.version}: ${event.error}`);
      if ((event.errors ?? []).length > 0) throw new Error(`proxy could not listen: ${JSON.stringify(event.errors)}`);
    },
    proxy() {
      if (proxy === null) throw new Error("the proxy is not started");
      return proxy;
    },
    async setMode(backend, mode) {
      const b = bench.backends[backend]!;
      const from = b.process.lines.length;
      b.process.writeLine(`mode ${mode}`);
      await b.process.waitForLine(new RegExp(`^mode ${mode}$`), 5000, from);
    },
    async client(script, args, timeoutMs = 60_000) {
      const p = spawnNodeInNetns(bench.client.netns.name, script, args.map(String), { lifetimeMs: timeoutMs });
      try {
        return JSON.parse(await p.waitForLine(/^\{/, timeoutMs)) as never;
      } finally {
        await p.stop();
      }
    },
    async cleanup() {
      await proxy?.stop();
      await bench.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A keep-alive client (run with ProxyBench.client): `total` requests over `concurrency`
 * connections to address:port, answers counted by their x-backend header. Prints one JSON line.
 */
export const KEEPALIVE_CLIENT = `
const http = require("node:http");
const [address, port, total, concurrency, timeoutMs, path] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const byName = {}; const statuses = {}; let failures = 0; const errors = []; let next = 0;
const one = () => new Promise((resolve) => {
  const req = http.get({ host: address, port: Number(port), path: path || "/", agent, timeout: Number(timeoutMs) }, (res) => {
    statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
    res.resume();
    res.on("end", () => { const n = res.headers["x-backend"] || "status-" + res.statusCode; byName[n] = (byName[n] || 0) + 1; resolve(); });
    res.on("error", (e) => { failures++; if (errors.length < 5) errors.push(e.code || e.message); resolve(); });
  });
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.on("error", (e) => { failures++; if (errors.length < 5) errors.push(e.code || e.message); resolve(); });
});
const worker = async () => { while (next < Number(total)) { next++; await one(); } };
Promise.all(Array.from({ length: Number(concurrency) }, worker)).then(() => { console.log(JSON.stringify({ byName, statuses, failures, errors, sockets: agent.totalSocketCount })); agent.destroy(); });
`;

export interface ClientCounts {
  byName: Record<string, number>;
  statuses: Record<string, number>;
  failures: number;
  errors: string[];
}
