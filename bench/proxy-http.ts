/**
 * Issue 14's HTTP figures: the userspace proxy (switchyard-proxy) against Debian's nginx set up as
 * the same reverse proxy (keep-alive upstream), and against requests sent to a member directly, in
 * one run, interleaved rounds. See bench/README.md.
 *
 *   sudo npx tsx bench/proxy-http.ts                                  # 3 rounds × 8 s per target, 32 connections
 *   sudo npx tsx bench/proxy-http.ts --rounds 5 --duration-s 10 --connections 64
 *   sudo npx tsx bench/proxy-http.ts --proxy-cpus 1 --load-cpus 0 --workers 1   # the default layout
 *   sudo npx tsx bench/proxy-http.ts --targets direct,nginx                       # without the proxy's bundle
 *   sudo npx tsx bench/proxy-http.ts --targets direct,nginx,switchyard,node-floor  # and the floor of a Node.js proxy
 *   sudo npx tsx bench/proxy-http.ts --targets switchyard --profile-dir /tmp/prof  # its workers under --cpu-prof
 *
 * Everything lives in namespaces it creates (`sytest-*`): a "host" with a bridge and the VIPs (on a
 * link whose peer is down, the service CIDR blackholed, as the agent puts them), backend namespaces
 * on the bridge each running nginx (`return 200`, one worker), a client namespace running wrk. The
 * proxy under test (nginx, switchyard-proxy or the floor, every process of it) runs pinned to --proxy-cpus;
 * wrk and the backends to --load-cpus. Every load is bounded (`wrk -d` and a kill timer), the whole
 * run too; processes and namespaces are removed on exit, on error and on Ctrl-C, and checked gone.
 * Needs nginx and wrk (apt-get install nginx-light wrk) and, for the switchyard target, the proxy's
 * bundle (cd apps/agent && npm run build).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type TestNetns, createNetnsPool, listNetns, run } from "@switchyard/cni/test-host";
import { enableForwarding, linkNamespaces } from "../apps/agent/test/support/host-netns";
import { CLK_TCK, type Started, busyShare, cpuList, cpuTicks, cpuTimes, load, processTree, sleep, startIn, started, stopAll, userPlusSystem } from "./processes";
import { clamp, median } from "./stats";

const TARGET_NAMES = ["direct", "nginx", "switchyard", "node-floor", "raw-floor"] as const;
const DEFAULT_TARGETS = ["direct", "nginx", "switchyard"];
type TargetName = (typeof TARGET_NAMES)[number];

const { values: flags } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    "duration-s": { type: "string", default: "8" },
    "warmup-s": { type: "string", default: "2" },
    connections: { type: "string", default: "32" },
    "wrk-threads": { type: "string", default: "1" },
    backends: { type: "string", default: "3" },
    workers: { type: "string", default: "1" },
    "proxy-cpus": { type: "string", default: "1" },
    "load-cpus": { type: "string", default: "0" },
    targets: { type: "string", default: DEFAULT_TARGETS.join(",") },
    /** A directory: switchyard-proxy (primary and workers) runs with `--cpu-prof` and writes its profiles there. */
    "profile-dir": { type: "string" },
    /** Another build of the agent's file to run as the proxy (to compare two builds; default: apps/agent/dist). */
    bundle: { type: "string" },
  },
});
const ROUNDS = clamp(Number(flags.rounds), 1, 10);
const DURATION_S = clamp(Number(flags["duration-s"]), 1, 30);
const WARMUP_S = clamp(Number(flags["warmup-s"]), 0, 10);
const CONNECTIONS = clamp(Number(flags.connections), 1, 1000);
const WRK_THREADS = clamp(Number(flags["wrk-threads"]), 1, 16);
const BACKENDS = clamp(Number(flags.backends), 1, 5);
const WORKERS = clamp(Number(flags.workers), 1, 16);
const PROXY_CPUS = cpuList(flags["proxy-cpus"], "--proxy-cpus");
const LOAD_CPUS = cpuList(flags["load-cpus"], "--load-cpus");
const TARGETS = flags.targets.split(",").map((t) => {
  if (!(TARGET_NAMES as readonly string[]).includes(t)) throw new Error(`--targets: "${t}" is not a target: use a comma-separated list of ${TARGET_NAMES.join(", ")}`);
  return t as TargetName;
});
const PROFILE_DIR = flags["profile-dir"];
/** The whole run: every wrk run with its warm-up and slack, plus two minutes to build and tear down. */
const DEADLINE_MS = ROUNDS * TARGETS.length * (DURATION_S + WARMUP_S + 15) * 1000 + 120_000;
const TARGET_RATIO = 0.5;

/** The proxy is the agent's own file run as `switchyard-agent proxy`, as hosts run it. */
const PROXY_BUNDLE = flags.bundle ?? fileURLToPath(new URL("../apps/agent/dist/switchyard-agent.mjs", import.meta.url));
const NGINX = "/usr/sbin/nginx";
const WRK = "/usr/bin/wrk";
const BRIDGE = "sybr0";
const SINK = "sypx0";
const GATEWAY = "10.70.0.1";
const CLIENT_ADDRESS = "10.70.0.2";
const BACKEND_PORT = 8080;
const VIP_CIDR = "10.96.70.0/24";
/** nginx listens on the first VIP, switchyard-proxy on the second: same port, same path through the host. */
const NGINX_VIP = "10.96.70.10";
const SWITCHYARD_VIP = "10.96.70.11";
/** --targets …,node-floor: the least a Node.js reverse proxy of the same parts does (see floorScript). */
const FLOOR_VIP = "10.96.70.12";
/** --targets …,raw-floor: a Node.js proxy over plain sockets and Node's llhttp, no node:http or undici (bench/raw-floor.cjs). */
const RAW_FLOOR_VIP = "10.96.70.13";
/** Set by a signal or the run's bound: what is in flight stops (wrk got the same Ctrl-C) and nothing more is measured. */
let stopping = false;

// ---------------------------------------------------------------------------------------------
// The bench: namespaces, nginx backends, the two proxies.

const backendConf = (dir: string, name: string, address: string) => `
worker_processes 1;
pid ${dir}/${name}.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path ${dir}/${name}-body;
  proxy_temp_path ${dir}/${name}-proxy;
  server {
    listen ${address}:${BACKEND_PORT};
    location / { return 200 "${name}\\n"; }
  }
}
`;

const nginxProxyConf = (dir: string, members: string[]) => `
worker_processes ${WORKERS};
pid ${dir}/nginx-proxy.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path ${dir}/proxy-body;
  proxy_temp_path ${dir}/proxy-proxy;
  upstream members {
${members.map((m) => `    server ${m};`).join("\n")}
    keepalive 64;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
  }
  server {
    listen ${NGINX_VIP}:80;
    location / {
      proxy_pass http://members;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }
}
`;

interface Bench {
  host: TestNetns;
  client: TestNetns;
  backends: { name: string; netns: TestNetns; address: string; nginx: Started }[];
  proxies: Partial<Record<Exclude<TargetName, "direct">, Started>>;
}

async function waitForFile(path: string, what: Started, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (what.child.exitCode !== null || what.child.signalCode !== null) throw new Error(`${what.name} exited (${what.child.exitCode ?? what.child.signalCode}) before it listened: ${what.stderr.trim().slice(0, 800)}`);
    if (Date.now() > until) throw new Error(`${what.name} did not write ${path} within ${timeoutMs} ms: ${what.stderr.trim().slice(0, 800)}`);
    await sleep(20);
  }
}

async function startNginx(name: string, netns: string, cpuSpec: string, dir: string, conf: string): Promise<Started> {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf);
  const s = startIn(name, netns, cpuSpec, NGINX, ["-p", dir, "-c", file, "-g", "daemon off;"]);
  // nginx writes its pid file after it has bound its listening sockets.
  await waitForFile(conf.match(/^pid (\S+);$/m)![1]!, s, 15_000);
  return s;
}

async function startSwitchyard(netns: string, dir: string, members: string[]): Promise<Started> {
  const file = join(dir, "switchyard.json");
  const config = {
    version: 1,
    accessLog: { enabled: false },
    listeners: [
      {
        serviceId: "bench",
        serviceName: "bench",
        address: SWITCHYARD_VIP,
        port: 80,
        kind: "http",
        balance: { algorithm: "round-robin" },
        pools: { default: members.map((m) => ({ address: m.split(":")[0]!, port: Number(m.split(":")[1]), weight: 100, state: "active", health: "none" })) },
      },
    ],
  };
  writeFileSync(file, JSON.stringify(config));
  // The cluster forks its workers with the primary's execArgv: each writes its own profile when it stops.
  const nodeFlags = PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`] : [];
  const s = startIn("switchyard-proxy", netns, PROXY_CPUS.spec, process.execPath, [...nodeFlags, PROXY_BUNDLE, "proxy", "--config", file, "--workers", String(WORKERS), "--grace-ms", "1000"]);
  const until = Date.now() + 20_000;
  for (;;) {
    const line = s.stdout.find((l) => /"type":"(applied|refused)"/.test(l));
    if (line) {
      const e = JSON.parse(line) as { type: string; errors?: unknown[]; error?: string };
      if (e.type === "refused") throw new Error(`switchyard-proxy refused the bench's config: ${e.error}`);
      if ((e.errors ?? []).length > 0) throw new Error(`switchyard-proxy could not listen: ${JSON.stringify(e.errors)}`);
      return s;
    }
    if (s.child.exitCode !== null || s.child.signalCode !== null) throw new Error(`switchyard-proxy exited (${s.child.exitCode ?? s.child.signalCode}): ${s.stderr.trim().slice(0, 800)}`);
    if (Date.now() > until) throw new Error(`switchyard-proxy did not apply its config within 20 s; stdout: ${s.stdout.slice(-5).join(" | ")}; stderr: ${s.stderr.slice(0, 800)}`);
    await sleep(20);
  }
}

/**
 * The floor of a Node.js proxy built from switchyard-proxy's parts: one process, node:http for the
 * client, an undici Pool per member (pipelining 1) driven through the same legacy dispatch handler,
 * round-robin, Connection headers dropped and X-Forwarded-For added; no routes, timeouts, metrics,
 * retries or cluster. What switchyard-proxy costs beyond it is its own code.
 */
const floorScript = (undici: string, members: string[]) => `
const http = require("node:http");
const { Pool } = require(${JSON.stringify(undici)});
const pools = ${JSON.stringify(members)}.map((m) => new Pool("http://" + m, { connections: 128, pipelining: 1 }));
let next = 0;
const skip = (name) => { const l = name.toLowerCase(); return l === "connection" || l === "keep-alive"; };
const server = http.createServer((req, res) => {
  const pool = pools[next++ % pools.length];
  const headers = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (!skip(req.rawHeaders[i])) headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  headers.push("x-forwarded-for", req.socket.remoteAddress);
  pool.dispatch({ method: req.method, path: req.url, headers, body: null }, {
    onConnect() {},
    onError() { if (!res.headersSent) res.writeHead(502); res.end(); },
    onHeaders(status, raw, resume) {
      const out = [];
      for (let i = 0; i < raw.length; i += 2) { const name = raw[i].toString("latin1"); if (!skip(name)) out.push(name, raw[i + 1].toString("latin1")); }
      res.writeHead(status, out);
      res.on("drain", resume);
      return true;
    },
    onData(chunk) { return res.write(chunk); },
    onComplete() { res.end(); },
  });
});
server.keepAliveTimeout = 300000;
server.listen(80, ${JSON.stringify(FLOOR_VIP)}, () => console.log("ready"));
`;

async function startFloor(netns: string, dir: string, members: string[]): Promise<Started> {
  const file = join(dir, "node-floor.cjs");
  writeFileSync(file, floorScript(createRequire(fileURLToPath(new URL("../package.json", import.meta.url))).resolve("undici"), members));
  const s = startIn("node-floor", netns, PROXY_CPUS.spec, process.execPath, [file]);
  const until = Date.now() + 15_000;
  while (!s.stdout.includes("ready")) {
    if (s.child.exitCode !== null || s.child.signalCode !== null || Date.now() > until) throw new Error(`the node floor proxy did not start: ${s.stderr.slice(0, 800)}`);
    await sleep(20);
  }
  return s;
}

async function startRawFloor(netns: string, members: string[]): Promise<Started> {
  const file = fileURLToPath(new URL("./raw-floor.cjs", import.meta.url));
  const s = startIn("raw-floor", netns, PROXY_CPUS.spec, process.execPath, [file, RAW_FLOOR_VIP, JSON.stringify(members)]);
  const until = Date.now() + 15_000;
  while (!s.stdout.includes("ready")) {
    if (s.child.exitCode !== null || s.child.signalCode !== null || Date.now() > until) throw new Error(`the raw floor proxy did not start: ${s.stderr.slice(0, 800)}`);
    await sleep(20);
  }
  return s;
}

async function createBench(pool: { create(): Promise<TestNetns> }, dir: string): Promise<Bench> {
  const host = await pool.create();
  const ipHost = (...args: string[]) => run("ip", ["-n", host.name, ...args]);
  await ipHost("link", "add", BRIDGE, "type", "bridge");
  await ipHost("addr", "add", `${GATEWAY}/24`, "dev", BRIDGE);
  await ipHost("link", "set", BRIDGE, "up");
  await enableForwarding(host.name);
  // The VIPs as the agent puts them: addresses on a link whose peer stays down, the service CIDR blackholed.
  await ipHost("link", "add", SINK, "type", "veth", "peer", "name", `${SINK}p`);
  await ipHost("link", "set", SINK, "up");
  for (const vip of [NGINX_VIP, SWITCHYARD_VIP, FLOOR_VIP, RAW_FLOOR_VIP]) await ipHost("addr", "add", `${vip}/32`, "dev", SINK);
  await ipHost("route", "add", "blackhole", VIP_CIDR);

  const attach = async (ns: TestNetns, index: number, address: string) => {
    await linkNamespaces({ netns: host.name, ifname: `syb${index}` }, { netns: ns.name, ifname: "eth0", cidr: `${address}/24` });
    await ipHost("link", "set", `syb${index}`, "master", BRIDGE);
    await run("ip", ["-n", ns.name, "route", "add", "default", "via", GATEWAY]);
  };
  const backends: Bench["backends"] = [];
  for (let i = 0; i < BACKENDS; i++) {
    const netns = await pool.create();
    const address = `10.70.0.${10 + i}`;
    await attach(netns, i, address);
    const name = `backend-${i}`;
    backends.push({ name, netns, address, nginx: await startNginx(name, netns.name, LOAD_CPUS.spec, dir, backendConf(dir, name, address)) });
  }
  const client = await pool.create();
  await attach(client, BACKENDS, CLIENT_ADDRESS);

  const members = backends.map((b) => `${b.address}:${BACKEND_PORT}`);
  const proxies: Bench["proxies"] = {};
  if (TARGETS.includes("nginx")) proxies.nginx = await startNginx("nginx-proxy", host.name, PROXY_CPUS.spec, dir, nginxProxyConf(dir, members));
  if (TARGETS.includes("switchyard")) proxies.switchyard = await startSwitchyard(host.name, dir, members);
  if (TARGETS.includes("node-floor")) proxies["node-floor"] = await startFloor(host.name, dir, members);
  if (TARGETS.includes("raw-floor")) proxies["raw-floor"] = await startRawFloor(host.name, members);
  return { host, client, backends, proxies };
}

// ---------------------------------------------------------------------------------------------
// Load: wrk from the client namespace, parsed.

interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors (connect, read, write, timeout) and non-2xx/3xx answers. */
  errors: number;
  non2xx: number;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === "us" ? n / 1000 : unit === "ms" ? n : unit === "s" ? n * 1000 : unit === "m" ? n * 60_000 : Number.NaN;
}

function parseWrk(out: string): WrkResult {
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(out);
    return m ? toMs(m[1]!, m[2]!) : Number.NaN;
  };
  if (!done || !rps) throw new Error(`could not read wrk's output:\n${out}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    requests: Number(done[1]),
    seconds: toMs(done[2]!, done[3]!) / 1000,
    rps: Number(rps[1]),
    p50Ms: pct("50"),
    p99Ms: pct("99"),
    errors: socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx,
  };
}

async function runWrk(bench: Bench, url: string, seconds: number): Promise<WrkResult> {
  const args = [`-t${WRK_THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, "--latency", "--timeout", "5s", url];
  const s = startIn("wrk", bench.client.name, LOAD_CPUS.spec, WRK, args);
  // wrk stops itself after -d; the timer is the bound if it does not.
  const kill = setTimeout(() => s.child.kill("SIGKILL"), (seconds + 10) * 1000);
  await s.exited;
  clearTimeout(kill);
  if (stopping) throw new Error("stopped");
  if (s.child.exitCode !== 0) throw new Error(`wrk ${args.join(" ")} exited ${s.child.exitCode ?? s.child.signalCode}: ${s.stderr.trim()} ${s.stdout.join("\n")}`);
  return parseWrk(s.stdout.join("\n"));
}

/** Before any load: each target answers 200 with a backend's name, and a proxy spreads 6 × members requests over every member. */
async function probe(bench: Bench, target: TargetName, url: string): Promise<string> {
  const script = `
const http = require("node:http");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const counts = {};
const one = () => new Promise((resolve, reject) => {
  const req = http.get(process.argv[1], { agent, timeout: 3000 }, (res) => {
    let body = ""; res.setEncoding("utf8");
    res.on("data", (c) => (body += c));
    res.on("end", () => { const k = res.statusCode + " " + body.trim(); counts[k] = (counts[k] || 0) + 1; resolve(); });
  });
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.on("error", reject);
});
(async () => { for (let i = 0; i < Number(process.argv[2]); i++) await one(); console.log(JSON.stringify(counts)); agent.destroy(); })().catch((e) => { console.log(JSON.stringify({ error: e.code || e.message })); });
`;
  const n = target === "direct" ? 3 : 6 * bench.backends.length;
  const { stdout } = await run("ip", ["netns", "exec", bench.client.name, process.execPath, "-e", script, url, String(n)], { timeoutMs: 30_000 });
  const counts = JSON.parse(stdout.trim()) as Record<string, number>;
  const want = target === "direct" ? [bench.backends[0]!.name] : bench.backends.map((b) => b.name);
  const ok = want.every((name) => (counts[`200 ${name}`] ?? 0) > 0) && Object.keys(counts).every((k) => k.startsWith("200 "));
  if (!ok) throw new Error(`${target} (${url}) did not answer as expected: ${stdout.trim()} (want 200 from ${want.join(", ")})`);
  return Object.entries(counts)
    .map(([k, v]) => `${k.slice(4)}×${v}`)
    .join(" ");
}

// ---------------------------------------------------------------------------------------------

interface Sample {
  round: number;
  wrk: WrkResult;
  /** The proxy's CPU time (all its processes) per request, in µs; NaN for direct. */
  proxyCpuUs: number;
  /** Of it, in the kernel (system time: the socket calls, the veth and TCP work they do). */
  proxySysUs: number;
  /** The backends' CPU time per request, in µs. */
  backendCpuUs: number;
  /** Share of the proxy CPUs' time the proxy itself used (its CPU time ÷ wall time × CPUs). */
  proxyShare: number;
  /** Share of the CPU sets' time anyone used (this machine may be shared). */
  proxyBusy: number;
  loadBusy: number;
}

const URLS: Record<TargetName, (b: Bench) => string> = {
  direct: (b) => `http://${b.backends[0]!.address}:${BACKEND_PORT}/`,
  nginx: () => `http://${NGINX_VIP}/`,
  switchyard: () => `http://${SWITCHYARD_VIP}/`,
  "node-floor": () => `http://${FLOOR_VIP}/`,
  "raw-floor": () => `http://${RAW_FLOOR_VIP}/`,
};

async function measure(bench: Bench, target: TargetName, round: number): Promise<Sample> {
  const url = URLS[target](bench);
  if (WARMUP_S > 0) await runWrk(bench, url, WARMUP_S);
  const proxy = target === "direct" ? null : bench.proxies[target]!;
  const proxyPids = proxy ? processTree(proxy.child.pid!) : [];
  const backendPids = bench.backends.flatMap((b) => processTree(b.nginx.child.pid!));
  const p0 = cpuTicks(proxyPids);
  const b0 = cpuTicks(backendPids);
  const c0 = cpuTimes();
  const t0 = performance.now();
  const wrk = await runWrk(bench, url, DURATION_S);
  const wallS = (performance.now() - t0) / 1000;
  const c1 = cpuTimes();
  const p1 = cpuTicks(proxyPids);
  const proxyTicks = userPlusSystem(p1) - userPlusSystem(p0);
  const perRequestUs = (ticks: number) => ((ticks / CLK_TCK) * 1e6) / wrk.requests;
  return {
    round,
    wrk,
    proxyCpuUs: proxy ? perRequestUs(proxyTicks) : Number.NaN,
    proxySysUs: proxy ? perRequestUs(p1.system - p0.system) : Number.NaN,
    proxyShare: proxy ? proxyTicks / CLK_TCK / wallS / PROXY_CPUS.ids.length : Number.NaN,
    backendCpuUs: perRequestUs(userPlusSystem(cpuTicks(backendPids)) - userPlusSystem(b0)),
    proxyBusy: busyShare(c0, c1, PROXY_CPUS.ids),
    loadBusy: busyShare(c0, c1, LOAD_CPUS.ids),
  };
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "–");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "–");
const f3 = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : "–");
const pct = (n: number) => (Number.isFinite(n) ? `${Math.round(n * 100)} %` : "–");

function report(samples: Map<TargetName, Sample[]>): void {
  const med = (t: TargetName, f: (s: Sample) => number) => median((samples.get(t) ?? []).map(f));
  console.log(`\n== ${ROUNDS} rounds × ${DURATION_S} s per target, wrk -t${WRK_THREADS} -c${CONNECTIONS}; medians of the rounds`);
  const header = ["target", "req/s", "p50 ms", "p99 ms", "proxy CPU µs/req", "of it system", "backends CPU µs/req", `proxy's use of CPUs ${PROXY_CPUS.spec}`, `CPUs ${PROXY_CPUS.spec} busy`, `CPUs ${LOAD_CPUS.spec} busy`, "errors"];
  const rows = TARGETS.map((t) => [
    t,
    med(t, (s) => s.wrk.rps).toFixed(0),
    f2(med(t, (s) => s.wrk.p50Ms)),
    f2(med(t, (s) => s.wrk.p99Ms)),
    f1(med(t, (s) => s.proxyCpuUs)),
    f1(med(t, (s) => s.proxySysUs)),
    f1(med(t, (s) => s.backendCpuUs)),
    pct(med(t, (s) => s.proxyShare)),
    pct(med(t, (s) => s.proxyBusy)),
    pct(med(t, (s) => s.loadBusy)),
    String((samples.get(t) ?? []).reduce((a, s) => a + s.wrk.errors + s.wrk.non2xx, 0)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows]) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
  console.log("rounds (req/s):");
  for (const t of TARGETS) console.log(`  ${t.padEnd(10)} ${(samples.get(t) ?? []).map((s) => s.wrk.rps.toFixed(0)).join(", ")}`);

  const ratio = (a: TargetName, b: TargetName, f: (s: Sample) => number) => med(a, f) / med(b, f);
  // Paired: the two targets' figures in the same round, so a round's machine noise falls on both.
  const paired = (a: TargetName, b: TargetName, f: (s: Sample) => number) => {
    const bs = samples.get(b) ?? [];
    return median((samples.get(a) ?? []).flatMap((s) => (bs.find((x) => x.round === s.round) ? [f(s) / f(bs.find((x) => x.round === s.round)!)] : [])));
  };
  const rps = (s: Sample) => s.wrk.rps;
  const p99 = (s: Sample) => s.wrk.p99Ms;
  const cpu = (s: Sample) => s.proxyCpuUs;
  const has = (t: TargetName) => TARGETS.includes(t);
  console.log("\nratios (of the medians; paired = median of the per-round ratios):");
  if (has("switchyard") && has("nginx")) {
    console.log(`  switchyard / nginx   req/s ${f3(ratio("switchyard", "nginx", rps))} (paired ${f3(paired("switchyard", "nginx", rps))})   p99 ${f2(ratio("switchyard", "nginx", p99))}×   CPU per request ${f2(ratio("switchyard", "nginx", cpu))}× (paired ${f2(paired("switchyard", "nginx", cpu))}×)`);
  }
  for (const t of ["nginx", "switchyard", "node-floor", "raw-floor"] as const) {
    if (has(t) && has("direct")) console.log(`  ${t.padEnd(10)} / direct  req/s ${f3(ratio(t, "direct", rps))} (paired ${f3(paired(t, "direct", rps))})   p99 ${f2(ratio(t, "direct", p99))}×`);
  }
  if (has("switchyard") && has("node-floor")) {
    console.log(`  switchyard / node-floor  req/s ${f3(ratio("switchyard", "node-floor", rps))} (paired ${f3(paired("switchyard", "node-floor", rps))})   CPU per request ${f2(ratio("switchyard", "node-floor", cpu))}× (paired ${f2(paired("switchyard", "node-floor", cpu))}×)`);
  }
  if (has("raw-floor") && has("nginx")) {
    console.log(`  raw-floor / nginx   req/s ${f3(ratio("raw-floor", "nginx", rps))} (paired ${f3(paired("raw-floor", "nginx", rps))})   CPU per request ${f2(ratio("raw-floor", "nginx", cpu))}×`);
  }
  if (has("node-floor") && has("nginx")) {
    console.log(`  node-floor / nginx   req/s ${f3(ratio("node-floor", "nginx", rps))}   CPU per request ${f2(ratio("node-floor", "nginx", cpu))}×`);
  }
  if (has("switchyard") && has("nginx")) {
    const r = ratio("switchyard", "nginx", rps);
    const byCpu = 1 / ratio("switchyard", "nginx", cpu);
    console.log(`\nverdict: proxy ≥ ${TARGET_RATIO} × nginx on HTTP/1.1 keep-alive, small responses, same cores (${PROXY_CPUS.spec}): ${r >= TARGET_RATIO ? "MET" : "MISSED"} — req/s ratio ${f3(r)}; by CPU per request ${f3(byCpu)} (${r >= TARGET_RATIO === byCpu >= TARGET_RATIO ? "agrees" : "disagrees: see which side was the bottleneck in the busy columns"})`);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root: the bench creates network namespaces (sudo npx tsx bench/proxy-http.ts)");
  for (const [path, pkg] of [
    [NGINX, "nginx-light"],
    [WRK, "wrk"],
  ] as const) {
    if (!existsSync(path)) throw new Error(`${path} is missing: install it with apt-get install ${pkg} (the bench installs nothing itself)`);
  }
  if (TARGETS.includes("switchyard") && !existsSync(PROXY_BUNDLE)) throw new Error(`${PROXY_BUNDLE} is missing: build it (cd apps/agent && npm run build), or leave the target out (--targets direct,nginx)`);
  if (PROXY_CPUS.ids.some((c) => LOAD_CPUS.ids.includes(c))) console.log(`warning: --proxy-cpus ${PROXY_CPUS.spec} and --load-cpus ${LOAD_CPUS.spec} overlap: the proxy and the load share a core`);

  const pool = createNetnsPool();
  const madeNetns = new Set<string>();
  const dir = mkdtempSync(join(tmpdir(), "sy-proxy-http-"));
  chmodSync(dir, 0o755); // nginx's workers run as nobody
  let cleaning: Promise<void> | null = null;
  // Idempotent: a signal during the final cleanup waits for the same one.
  const cleanup = () =>
    (cleaning ??= (async () => {
      stopping = true;
      await stopAll(started, ["wrk"]);
      // Anything still running in our namespaces is ours: end it by pid before the namespaces go.
      for (const ns of (await listNetns()).filter((n) => madeNetns.has(n))) {
        const { stdout } = await run("ip", ["netns", "pids", ns], { check: false });
        for (const pid of stdout.split(/\s+/).filter(Boolean)) {
          console.log(`cleanup: pid ${pid} was still running in ${ns}: killed`);
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {
            // gone meanwhile
          }
        }
      }
      await pool.cleanup();
      rmSync(dir, { recursive: true, force: true });
      const left = (await listNetns()).filter((n) => madeNetns.has(n));
      if (left.length > 0 || started.size > 0) console.log(`cleanup: NOT clean: namespaces left ${left.join(", ") || "none"}, processes left ${[...started].map((s) => `${s.name}(${s.child.pid})`).join(", ") || "none"}`);
      else console.log(`cleanup checked: ${madeNetns.size} namespaces removed, no process of the bench left`);
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    if (cleaning === null) console.log(`\n${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const deadline = setTimeout(() => {
    console.log(`\nthe run's bound (${Math.round(DEADLINE_MS / 1000)} s) passed: cleaning up`);
    void cleanup().finally(() => process.exit(1));
  }, DEADLINE_MS);

  // This process waits during the load; still, keep it off the proxy's cores.
  execFileSync("taskset", ["-a", "-p", "-c", LOAD_CPUS.spec, String(process.pid)], { stdio: "ignore" });
  console.log(`load average before: ${load()}; ${cpus().length} CPUs: proxy under test on ${PROXY_CPUS.spec} (${WORKERS} worker${WORKERS > 1 ? "s" : ""}), wrk + ${BACKENDS} nginx backends on ${LOAD_CPUS.spec}`);
  if (TARGETS.includes("switchyard")) console.log(`switchyard-agent bundle (run as "proxy"): ${PROXY_BUNDLE} (built ${statSync(PROXY_BUNDLE).mtime.toISOString()})`);
  const version = (cmd: string, arg: string) => {
    const r = spawnSync(cmd, [arg], { encoding: "utf8" });
    return `${r.stdout}${r.stderr}`.split("\n")[0]!.trim();
  };
  console.log(`${version(NGINX, "-v")}; ${version(WRK, "-v")}; node ${process.version}`);
  try {
    const tracked = {
      async create() {
        const ns = await pool.create();
        madeNetns.add(ns.name);
        return ns;
      },
    };
    const bench = await createBench(tracked, dir);
    for (const t of TARGETS) console.log(`probe ${t.padEnd(10)} ${URLS[t](bench).padEnd(26)} ${await probe(bench, t, URLS[t](bench))}`);

    const samples = new Map<TargetName, Sample[]>(TARGETS.map((t) => [t, []]));
    for (let r = 0; r < ROUNDS; r++) {
      // Each round starts with another target, so none is always first after a pause.
      const order = TARGETS.map((_, i) => TARGETS[(i + r) % TARGETS.length]!);
      for (const t of order) {
        const s = await measure(bench, t, r);
        samples.get(t)!.push(s);
        console.log(
          `round ${r + 1} ${t.padEnd(10)} ${s.wrk.rps.toFixed(0).padStart(7)} req/s  p50 ${f2(s.wrk.p50Ms)} ms  p99 ${f2(s.wrk.p99Ms)} ms  proxy ${f1(s.proxyCpuUs)} µs/req (system ${f1(s.proxySysUs)})  backends ${f1(s.backendCpuUs)} µs/req  proxy used ${pct(s.proxyShare)} of CPUs ${PROXY_CPUS.spec}; busy (anyone): ${pct(s.proxyBusy)} / ${pct(s.loadBusy)} of CPUs ${PROXY_CPUS.spec} / ${LOAD_CPUS.spec}${s.wrk.errors + s.wrk.non2xx > 0 ? `  ERRORS ${s.wrk.errors} socket, ${s.wrk.non2xx} non-2xx` : ""}`,
        );
      }
    }
    const exits = bench.proxies.switchyard?.stdout.filter((l) => l.includes('"worker-exit"')) ?? [];
    if (exits.length > 0) console.log(`switchyard-proxy workers exited during the run: ${exits.join(" ")}`);
    report(samples);
  } finally {
    clearTimeout(deadline);
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    console.log(`load average after: ${load()}`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
