/**
 * Issue 15 §4, the fleet: 500 host agents — the agent's own code (createAgent), several agents per
 * process (bench/fleet-worker.ts, bundled as the agent is) — against two console replicas (separate
 * processes, bench/fleet-replica.ts) behind nginx with the proxy settings we ship, on one real
 * PostgreSQL. Their operations run through the real CNI runtime, against the project's scriptable
 * test plugin (no bridge per host). See bench/README.md.
 *
 *   npx tsx bench/fleet.ts                                # 500 agents, 5 processes × 100
 *   npx tsx bench/fleet.ts --agents 50 --per-process 25 --burst 50 --burst-hosts 10 --steady 20
 *   npx tsx bench/fleet.ts --skip kill,restart --reconnect-spread 5000
 *   npx tsx bench/fleet.ts --plugin sh --agents-nice 19   # the agents below the console, as on a fleet
 *
 * Measured, each against its target: enrolment of all from cold (time until all enrolled and every
 * push stream open; the 429s; agents lost), a steady state (each replica's CPU and RSS, PostgreSQL's
 * CPU, requests per second), a burst of operations (push delay p99, attachment ready p99), one
 * replica SIGKILLed and both restarted (time until every agent's stream is open again), every
 * 500 answer, and the agent processes' memory per agent.
 *
 * Root only (named network namespaces `sytest-fleet-*`). Needs nginx and PostgreSQL
 * (SWITCHYARD_TEST_PG_URL, default postgresql://switchyard:switchyard@127.0.0.1:5432/postgres, a
 * role with CREATEDB). Loopback only. Every wait is bounded and the run has a time limit; the
 * processes, namespaces, temporary directories and the database it created are removed on exit,
 * on error, on Ctrl-C and at the time limit, then checked gone.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, loadavg, setPriority, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { SESSION_COOKIE } from "@switchyard/api";
import { type ApiTest, type ParsedMetrics, parseMetricsText, setupApiTest } from "@switchyard/api/testing";
import { createPluginDir } from "@switchyard/cni/test-fixtures";
import { createDb } from "@switchyard/db";
import { createSession } from "../packages/api/src/auth/session";
import type { FleetAgentSpec, FleetEvent, FleetWorkerStats } from "./fleet-worker";
import { CLK_TCK, busyShare, cpuTimes, processTree } from "./processes";
import { clamp, quantile } from "./stats";

const { values: flags } = parseArgs({
  options: {
    agents: { type: "string", default: "500" },
    /** Agents per worker process. */
    "per-process": { type: "string", default: "100" },
    /** Attachments created at once in the burst, spread over --burst-hosts hosts (one namespace each per host). */
    burst: { type: "string", default: "500" },
    "burst-hosts": { type: "string", default: "100" },
    /** Seconds of the measured steady state, after --settle seconds of letting the fleet's start-up work finish. */
    steady: { type: "string", default: "60" },
    settle: { type: "string", default: "20" },
    /** The agents' --reconnect-spread (ms; the agent's default is 30,000). */
    "reconnect-spread": { type: "string", default: "30000" },
    /** Phases to leave out: burst, kill, restart (comma-separated). */
    skip: { type: "string", default: "" },
    /**
     * test: the project's scriptable test plugin (packages/cni/test/fixtures/test-plugin.mjs, a node
     * script: each call is a node start). sh: the same answers from a POSIX sh script, to tell the
     * plugin's cost from the product's.
     */
    plugin: { type: "string", default: "test" },
    /** Run the workers from source through tsx instead of a bundle (tsx's loader costs memory: the per-agent figure is then not the agent's). */
    "from-source": { type: "boolean", default: false },
    /**
     * The agent processes' nice value (0–19), their plugins' with them. On a real fleet each agent
     * has its host's CPUs; here 500 share the console's. 19 leaves the console, PostgreSQL and nginx
     * the CPU they would have, the agents what is left (see bench/README.md).
     */
    "agents-nice": { type: "string", default: "0" },
    /** A directory: CPU profiles of each replica and agent process over the burst are written there (.cpuprofile). */
    profile: { type: "string" },
    /** Seconds: past it the run stops, cleans up and fails. */
    "time-limit": { type: "string", default: "1800" },
  },
});
const PROFILE_DIR = flags.profile ? resolve(flags.profile) : undefined;
// The replicas inherit it: SIGUSR2 toggles their profile (fleet-replica.ts).
if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true }), (process.env.BENCH_PROFILE_DIR = PROFILE_DIR);
const AGENTS = clamp(Number(flags.agents), 1, 2000);
const PER_PROCESS = clamp(Number(flags["per-process"]), 1, 500);
const WORKERS = Math.ceil(AGENTS / PER_PROCESS);
const BURST_HOSTS = clamp(Number(flags["burst-hosts"]), 1, AGENTS);
const BURST = clamp(Number(flags.burst), 1, 5000);
const OPS_PER_HOST = Math.ceil(BURST / BURST_HOSTS);
const STEADY_S = clamp(Number(flags.steady), 5, 1800);
const SETTLE_S = clamp(Number(flags.settle), 0, 600);
const SPREAD_MS = clamp(Number(flags["reconnect-spread"]), 0, 600_000);
const SKIP = new Set(flags.skip.split(",").map((phase) => phase.trim()).filter(Boolean));
for (const phase of SKIP) if (!["burst", "kill", "restart"].includes(phase)) throw new Error(`--skip ${phase}: must be burst, kill or restart`);
const TIME_LIMIT_S = clamp(Number(flags["time-limit"]), 60, 7200);
const AGENTS_NICE = clamp(Number(flags["agents-nice"]), 0, 19);
if (flags.plugin !== "test" && flags.plugin !== "sh") throw new Error(`--plugin ${flags.plugin}: must be test or sh`);
/** apps/agent/src/push.ts POLL_WAIT_MS: a stream that cannot open is bridged by one poll of this long, then tried again. */
const POLL_WAIT_MS = 20_000;

// ---- targets (issue 15 §4) ----
const TARGET_CORES_PER_REPLICA = 1;
const TARGET_PUSH_P99_S = 1;
const TARGET_READY_P99_S = 5;

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const PG_URL = process.env.SWITCHYARD_TEST_PG_URL ?? "postgresql://switchyard:switchyard@127.0.0.1:5432/postgres";
const HEX = randomBytes(3).toString("hex");
const TAG = `sytest-fleet-${HEX}`;
const METRICS_TOKEN = randomBytes(24).toString("hex");
const NETNS_DIR = "/run/netns";
const PLUGIN_TYPE = "syfleet";

/** --plugin sh: test-plugin.mjs's default script (ADD: a result, VERSION: the versions, the rest: nothing) without a node start per call. */
const SH_PLUGIN = `#!/bin/sh
# bench/fleet.ts --plugin sh: the scriptable test plugin's default answers, from sh.
cat >/dev/null
case "$CNI_COMMAND" in
  ADD) printf '{"cniVersion":"1.0.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"address":"10.1.0.2/24","gateway":"10.1.0.1","interface":0}],"routes":[{"dst":"0.0.0.0/0"}]}' "$CNI_IFNAME" "$CNI_NETNS" ;;
  VERSION) printf '{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}' ;;
esac
exit 0
`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const wallNow = () => performance.timeOrigin + performance.now();
const s = (ms: number) => (ms / 1000).toFixed(1);
const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
const mb = (kib: number) => (kib / 1024).toFixed(0);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** Polls `fn` every `everyMs` until it returns something truthy, or throws after `ms`. */
async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, ms: number, everyMs = 250): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${s(ms)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

function exitedPromise(proc: ChildProcess): Promise<void> {
  return proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise((r) => proc.once("exit", () => r()));
}
const isRunning = (proc: ChildProcess | undefined) => !!proc && proc.exitCode === null && proc.signalCode === null;

/** SIGTERM, then SIGKILL of what is left of its tree after `graceMs`. */
async function stopProcess(proc: ChildProcess | undefined, graceMs: number, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!proc?.pid || !isRunning(proc)) return;
  const tree = processTree(proc.pid);
  proc.kill(signal);
  await Promise.race([exitedPromise(proc), sleep(graceMs)]);
  for (const pid of tree) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  await Promise.race([exitedPromise(proc), sleep(2000)]);
}

/** VmRSS and VmHWM (KiB) of a pid; NaN when it is gone. */
function memOf(pid: number | undefined): { rssKiB: number; hwmKiB: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
    return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM") };
  } catch {
    return { rssKiB: Number.NaN, hwmKiB: Number.NaN };
  }
}

/** CPU ticks (user + system) and start time (ticks since boot) of one pid; null once gone. */
function statOf(pid: number): { ticks: number; start: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { ticks: Number(f[11]) + Number(f[12]), start: Number(f[19]) };
  } catch {
    return null;
  }
}
/**
 * CPU ticks of a process tree with what its finished children used: user + system + the waited-for
 * children's (cutime + cstime) of every live process in it. A plugin reaped by the spawn helper counts
 * in the helper, a helper reaped by the agent process in it: each tick once.
 */
function treeTicks(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    try {
      const text = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks;
}
const uptimeTicks = () => Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * CLK_TCK;

/**
 * CPU of processes that come and go (PostgreSQL's backends, with the pools): each pid is followed from
 * the window's start or its own, sampled by the caller (one that exits between two samples loses its
 * last interval).
 */
function followCpu(windowStart = uptimeTicks()) {
  const seen = new Map<number, { first: number; last: number }>();
  return {
    seen,
    sample(pids: number[]) {
      for (const pid of pids) {
        const st = statOf(pid);
        if (!st) continue;
        const was = seen.get(pid);
        if (was) was.last = st.ticks;
        else seen.set(pid, { first: st.start >= windowStart ? 0 : st.ticks, last: st.ticks });
      }
    },
    ticks: () => [...seen.values()].reduce((a, x) => a + x.last - x.first, 0),
  };
}

/** Every process named postgres (the whole cluster: other sessions' databases too). */
function postgresPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "postgres") pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

// ---- console replicas -------------------------------------------------------------------------

interface Replica {
  name: string;
  port: number;
  url: string;
  proc: ChildProcess;
  /** Its start, from 0: a replica started again is a new lifetime (its counters start again). */
  lifetime: number;
  /** The last scrape of its /metrics (what it counted until then). */
  last: ParsedMetrics | null;
  stderr: () => string;
}

const REPLICA_MAIN = fileURLToPath(new URL("./fleet-replica.ts", import.meta.url));
/** Every replica process started (all lifetimes), for the totals and the cleanup. */
const replicaLives: Replica[] = [];

async function startReplica(name: string, port: number, dbUrl: string): Promise<Replica> {
  // e.g. BENCH_REPLICA_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/replica-prof" (written when the replica stops: not after the SIGKILL).
  const nodeArgs = (process.env.BENCH_REPLICA_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, "--import", "tsx", REPLICA_MAIN, JSON.stringify({ url: dbUrl, name, port, metricsToken: METRICS_TOKEN })], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: a Ctrl-C reaches the bench, whose cleanup stops it in order.
    detached: true,
  });
  let out = "";
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => {
    if (err.length < 256 * 1024) err += d.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica ${name} did not start within 60 s:\n${err.slice(-2000)}`)), 60_000);
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const found = /\{"url":"([^"]+)"\}/.exec(out)?.[1];
      if (found) clearTimeout(timer), resolve(found);
    });
    proc.once("exit", (code, signal) => (clearTimeout(timer), reject(new Error(`replica ${name} exited (${signal ?? code}):\n${err.slice(-2000)}`))));
  });
  const replica: Replica = { name, port, url, proc, lifetime: replicaLives.filter((r) => r.name === name).length, last: null, stderr: () => err };
  replicaLives.push(replica);
  return replica;
}

/** This replica's own series (scope=replica: no fleet queries per scrape); kept as its last; null when it does not answer. */
async function scrape(r: Replica): Promise<ParsedMetrics | null> {
  if (!isRunning(r.proc)) return null;
  try {
    const res = await fetch(`${r.url}/metrics?scope=replica`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` }, signal: AbortSignal.timeout(20_000) });
    if (!res.ok) return null;
    const parsed = parseMetricsText(await res.text());
    r.last = parsed;
    return parsed;
  } catch {
    return null;
  }
}

/** The replica's open push streams; NaN when its scrape failed (a replica too busy to answer in 20 s). */
const streamsOpen = (m: ParsedMetrics | null) => (m ? (m.value("switchyard_push_streams_open") ?? 0) : Number.NaN);
/** switchyard_trpc_requests_total summed, optionally only the samples `pick` keeps. */
function requestsTotal(m: ParsedMetrics | null, pick: (labels: Record<string, string>) => boolean = () => true): number {
  return (m?.find("switchyard_trpc_requests_total") ?? []).filter((x) => pick(x.labels)).reduce((a, x) => a + x.value, 0);
}
function requestsBy(m: ParsedMetrics | null, label: "status" | "procedure"): Map<string, number> {
  const out = new Map<string, number>();
  for (const x of m?.find("switchyard_trpc_requests_total") ?? []) out.set(x.labels[label]!, (out.get(x.labels[label]!) ?? 0) + x.value);
  return out;
}
/** A histogram's cumulative buckets (le → count), summed over the series whose labels include `where`. */
function histogramBuckets(m: ParsedMetrics | null, name: string, where: Record<string, string> = {}): Map<number, number> {
  const out = new Map<number, number>();
  for (const x of m?.find(`${name}_bucket`) ?? []) {
    if (Object.entries(where).some(([k, v]) => x.labels[k] !== v)) continue;
    const le = x.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(x.labels.le);
    out.set(le, (out.get(le) ?? 0) + x.value);
  }
  return out;
}
/** Summed over every replica's scrape. */
function fleetBuckets(scrapes: (ParsedMetrics | null)[], name: string, where: Record<string, string> = {}): Map<number, number> {
  return scrapes.reduce((acc, m) => (histogramBuckets(m, name, where).forEach((v, k) => acc.set(k, (acc.get(k) ?? 0) + v)), acc), new Map<number, number>());
}
/** The upper bound of the bucket holding quantile q of the difference of two cumulative histograms. */
function bucketQuantile(after: Map<number, number>, before: Map<number, number>, q: number): { le: number; count: number } {
  const les = [...after.keys()].sort((a, b) => a - b);
  const diff = les.map((le) => [le, (after.get(le) ?? 0) - (before.get(le) ?? 0)] as const);
  const count = diff.at(-1)?.[1] ?? 0;
  const found = diff.find(([, c]) => c >= q * count);
  return { le: count === 0 ? Number.NaN : (found?.[0] ?? Number.POSITIVE_INFINITY), count };
}

// ---- nginx ------------------------------------------------------------------------------------

async function startNginx(dir: string, port: number, upstreams: number[]): Promise<ChildProcess> {
  mkdirSync(dir, { recursive: true });
  // Enough connections for every agent's stream twice (client and upstream side) and a burst on top.
  writeFileSync(
    join(dir, "nginx.conf"),
    `user root;
worker_processes 1;
worker_rlimit_nofile 16384;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  log_format fleet '$status "$upstream_status" $request_method $uri $request_time "$upstream_connect_time" "$upstream_header_time"';
  access_log ${dir}/access.log fleet buffer=64k flush=1s;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream switchyard_console {
${upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join("\n")}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    include ${join(ROOT, "deploy/nginx/switchyard-proxy.conf")};
  }
}
`,
  );
  const proc = spawn("nginx", ["-p", dir, "-c", join(dir, "nginx.conf"), "-g", "daemon off;"], { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  await waitFor(
    "nginx to answer",
    async () => {
      if (!isRunning(proc)) throw new Error(`nginx exited: ${err}`);
      // A replica's 401 through nginx: both ends are up.
      return (await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.status, () => 0)) === 401;
    },
    15_000,
  );
  return proc;
}

/** nginx's own times (s) for the POSTs of one procedure: in nginx in all, connecting to the replica, and until the replica's answer began. */
function nginxTimes(file: string, procedure: string): { total: number[]; connect: number[]; header: number[] } {
  const out = { total: [] as number[], connect: [] as number[], header: [] as number[] };
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return out;
  }
  const last = (v: string) => Number(v.split(/[ ,:]+/).filter(Boolean).at(-1));
  for (const line of text.split("\n")) {
    const m = /^\d{3} "[^"]*" POST (\S+) ([\d.]+) "([^"]*)" "([^"]*)"$/.exec(line);
    if (!m || !m[1]!.endsWith(`/${procedure}`)) continue;
    out.total.push(Number(m[2]));
    if (Number.isFinite(last(m[3]!))) out.connect.push(last(m[3]!));
    if (Number.isFinite(last(m[4]!))) out.header.push(last(m[4]!));
  }
  return out;
}

/** nginx's access log: answers by status, and by the replica's own status where it answered (a retried request lists each). */
function readAccessLog(file: string): { byStatus: Map<string, number>; upstream500: number; lines: number } {
  const byStatus = new Map<string, number>();
  let upstream500 = 0;
  let lines = 0;
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return { byStatus, upstream500, lines };
  }
  for (const line of text.split("\n")) {
    if (!line) continue;
    lines++;
    const m = /^(\d{3}) "([^"]*)"/.exec(line);
    if (!m) continue;
    byStatus.set(m[1]!, (byStatus.get(m[1]!) ?? 0) + 1);
    if (/\b500\b/.test(m[2]!)) upstream500++;
  }
  return { byStatus, upstream500, lines };
}

// ---- the agent workers ------------------------------------------------------------------------

interface Worker {
  index: number;
  proc: ChildProcess;
  agents: FleetAgentSpec[];
  baselineKiB: number;
  stats(): Promise<FleetWorkerStats | null>;
  send(m: unknown): void;
  stop(): Promise<void>;
}

interface AgentState {
  enrolledAt?: number;
  firstOpenAt?: number;
  open: boolean;
  /** The last time its stream was lost, and when it opened again after that. */
  lostAt?: number;
  reopenedAt?: number;
  losses: number;
  ended?: string;
}

async function startWorker(index: number, entry: string[], onEvents: (events: FleetEvent[]) => void): Promise<Worker> {
  const proc = spawn(process.execPath, entry, {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    detached: true,
    env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", HOME: process.env.HOME ?? "/root" },
  });
  // Before it starts anything: its spawn helper and plugins inherit the value. Detached, it leads a
  // session of its own, and with the kernel's autogroup (sched_autogroup_enabled) each session is
  // a scheduling group that gets its fair share whatever its threads' nice: the group's own nice
  // is what weighs against the replicas' groups.
  if (AGENTS_NICE > 0 && proc.pid) {
    setPriority(proc.pid, AGENTS_NICE);
    try {
      writeFileSync(`/proc/${proc.pid}/autogroup`, String(AGENTS_NICE));
    } catch {
      // No autogroup in this kernel: the threads' nice is what counts.
    }
  }
  const waiters: ((m: FleetWorkerStats) => void)[] = [];
  let stopped: (() => void) | undefined;
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${index} did not start within 60 s`)), 60_000);
    proc.on("message", (m: { t: string; rssKiB?: number; events?: FleetEvent[] }) => {
      if (m.t === "ready") clearTimeout(timer), resolve(m.rssKiB!);
      else if (m.t === "events") onEvents(m.events!);
      else if (m.t === "stats") waiters.shift()?.(m as unknown as FleetWorkerStats);
      else if (m.t === "stopped") stopped?.();
    });
    proc.once("exit", (code, signal) => (clearTimeout(timer), reject(new Error(`worker ${index} exited (${signal ?? code})`))));
  });
  const baselineKiB = await ready;
  const send = (m: unknown) => {
    if (proc.connected) proc.send(m as never);
  };
  return {
    index,
    proc,
    agents: [],
    baselineKiB,
    send,
    stats: () =>
      isRunning(proc)
        ? Promise.race([new Promise<FleetWorkerStats>((r) => (waiters.push(r), send({ t: "stats" }))), sleep(10_000).then(() => null)])
        : Promise.resolve(null),
    async stop() {
      if (!isRunning(proc)) return;
      const done = new Promise<void>((r) => (stopped = r));
      send({ t: "stop" });
      await Promise.race([done, exitedPromise(proc), sleep(30_000)]);
      await stopProcess(proc, 5000);
    },
  };
}

/** The worker's bundle, as the agent is built (tooling/bundle.mjs): what a host runs, not tsx's loader. */
async function bundleWorker(dir: string): Promise<string> {
  const bundler = (await import(pathToFileURL(join(ROOT, "tooling/bundle.mjs")).href)) as {
    bundleProgram(o: { packageDir: string; entry: string; outfile: string; run: string }): Promise<{ outPath: string; bytes: number }>;
  };
  const { outPath } = await bundler.bundleProgram({ packageDir: join(ROOT, "bench"), entry: "fleet-worker.ts", outfile: join(dir, "fleet-worker.mjs"), run: "await main(process.argv.slice(2));" });
  return outPath;
}

// ---- the run -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root: the fleet's attachments go into named network namespaces the bench creates");
  try {
    execFileSync("nginx", ["-v"], { stdio: "ignore" });
  } catch {
    throw new Error("nginx is not installed (apt-get install nginx-light); the bench installs nothing");
  }
  const load0 = loadavg();
  const started = wallNow();
  const work = mkdtempSync(join(tmpdir(), `${TAG}-`));
  const namespaces = Array.from({ length: OPS_PER_HOST }, (_, k) => `${TAG}-${k}`);
  const plugins = createPluginDir();
  const workers: Worker[] = [];
  let nginx: ChildProcess | undefined;
  const live: Replica[] = [];
  let t: ApiTest | undefined;
  let monitor: ReturnType<typeof createDb> | undefined;
  let dbName = "";
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      // The agents first (they stop calling), then nginx and the consoles, then what is on the host, then the database.
      await Promise.all(workers.map((w) => w.stop().catch(() => {})));
      await stopProcess(nginx, 3000, "SIGQUIT").catch(() => {});
      await Promise.all(replicaLives.map((r) => stopProcess(r.proc, 6000).catch(() => {})));
      for (const ns of namespaces) if (existsSync(join(NETNS_DIR, ns))) execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      plugins.cleanup();
      rmSync(work, { recursive: true, force: true });
      await monitor?.$disconnect().catch(() => {});
      await t?.close().catch((e: unknown) => console.error(`cleanup: dropping the database failed: ${(e as Error).message}`));
      // Checked gone.
      const procs = [...workers.map((w) => w.proc), ...replicaLives.map((r) => r.proc), ...(nginx ? [nginx] : [])].filter(isRunning).length;
      const nsLeft = namespaces.filter((ns) => existsSync(join(NETNS_DIR, ns))).length;
      let dbLeft = "not checked";
      if (dbName) {
        const admin = createDb(PG_URL, { max: 1, waitMs: 5000 });
        dbLeft = String((await admin.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM pg_database WHERE datname = ${dbName}`.catch(() => [{ n: -1n }]))[0]!.n);
        await admin.$disconnect().catch(() => {});
      }
      console.log(`cleanup checked: ${procs} processes left (of ${workers.length} workers, ${replicaLives.length} replica starts, nginx), ${nsLeft} namespaces left, temp dirs ${existsSync(work) || existsSync(plugins.dir) ? "LEFT" : "removed"}, database ${dbName || "(none)"} ${dbLeft === "0" ? "dropped" : `LEFT (${dbLeft})`}`);
      if (procs + nsLeft > 0 || existsSync(work) || (dbName && dbLeft !== "0")) process.exitCode = 1;
    })());
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const limit = setTimeout(() => {
    console.error(`time limit of ${TIME_LIMIT_S} s reached: stopping`);
    void cleanup().finally(() => process.exit(2));
  }, TIME_LIMIT_S * 1000);
  limit.unref();

  const failures: string[] = [];
  const lines: string[] = [];
  const say = (line: string) => (console.log(line), lines.push(line));

  try {
    // ---- the database, users, the network, the join tokens ----
    t = await setupApiTest({ kind: "postgres", pgUrl: PG_URL });
    dbName = new URL(t.url).pathname.slice(1);
    const db = t.db;
    // Our own connection for the bench's reads during measurements (its backend is left out of PostgreSQL's CPU).
    monitor = createDb(t.url, { max: 1, waitMs: 10_000 });
    const monitorPid = Number((await monitor.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid);
    const admin = await t.callerAs("admin", "fleet-admin");
    const operator = await t.createUserRow("fleet-operator", "operator");
    const conflist = { cniVersion: "1.0.0", name: TAG, plugins: [{ type: PLUGIN_TYPE }] };
    const network = await t.caller(t.sessionOf(operator)).networks.create({ text: JSON.stringify(conflist, null, 2), comment: "bench/fleet.ts" });
    const { token: sessionToken } = await createSession(db, { userId: operator.id, policy: { ttlMs: 4 * 3600_000 }, sourceIp: "127.0.0.1", userAgent: "bench/fleet.ts" });
    const hostnames = Array.from({ length: AGENTS }, (_, i) => `${TAG}-${i}`);
    const tokens: string[] = [];
    for (const name of hostnames) tokens.push((await admin.caller.hosts.createJoinToken({ note: name, ttlMinutes: 180 })).token);

    // ---- the host side: the plugin, the namespaces, each agent's dirs with the conflist ----
    const pluginPath = plugins.install(PLUGIN_TYPE, {});
    if (flags.plugin === "sh") writeFileSync(pluginPath, SH_PLUGIN, { mode: 0o755 });
    for (const ns of namespaces) execFileSync("ip", ["netns", "add", ns], { stdio: "ignore" });
    const specs: FleetAgentSpec[] = hostnames.map((hostname, index) => {
      const root = join(work, "agents", String(index));
      mkdirSync(join(root, "net.d"), { recursive: true });
      writeFileSync(join(root, "net.d", `${TAG}.conflist`), JSON.stringify(conflist));
      return { index, hostname, joinToken: tokens[index]!, root };
    });

    // ---- the consoles and nginx ----
    const ports = [await freePort(), await freePort()];
    live.push(...(await Promise.all([startReplica("a", ports[0]!, t.url), startReplica("b", ports[1]!, t.url)])));
    const lbPort = await freePort();
    nginx = await startNginx(join(work, "nginx"), lbPort, ports);
    const lbUrl = `http://127.0.0.1:${lbPort}`;
    const scrapeAll = async () => Promise.all(live.map((r) => scrape(r)));

    // ---- the workers ----
    // e.g. BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/worker-prof" (written when the worker is told to stop).
    const workerNodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
    const entry = [...workerNodeArgs, ...(flags["from-source"] ? ["--import", "tsx", fileURLToPath(new URL("./fleet-worker.ts", import.meta.url)), "--run"] : [await bundleWorker(join(work, "bundle"))])];
    const state: AgentState[] = hostnames.map(() => ({ open: false, losses: 0 }));
    const onEvents = (events: FleetEvent[]) => {
      for (const e of events) {
        const a = state[e.index]!;
        if (e.kind === "enrolled") a.enrolledAt ??= e.at;
        else if (e.kind === "open") {
          a.firstOpenAt ??= e.at;
          a.open = true;
          if (a.lostAt !== undefined && (a.reopenedAt === undefined || a.reopenedAt < a.lostAt)) a.reopenedAt = e.at;
        } else if (e.kind === "lost") {
          a.open = false;
          a.lostAt = e.at;
          a.losses++;
        } else {
          a.open = false;
          a.ended = `${e.kind}${e.detail ? `: ${e.detail}` : ""}`;
        }
      }
    };
    for (let w = 0; w < WORKERS; w++) workers.push(await startWorker(w, entry, onEvents));
    const agentArgs = [
      "--console-url", lbUrl,
      "--cni-path", plugins.dir,
      "--netns-dir", NETNS_DIR,
      // Five hundred agents on one host: none may program the host's services table.
      "--services", "off",
      // Nor ask this machine's podman about its containers, 500 times over: on a fleet each asks its own.
      "--observe", "off",
      "--reconnect-spread", String(SPREAD_MS),
      "--shutdown-grace", "5000",
    ]; // prettier-ignore
    const openCount = () => state.filter((a) => a.open).length;
    const ended = () => state.filter((a) => a.ended);
    /** Agents still running: a lost one (its run() ended: a refused credential) is counted as lost, not waited for. */
    const living = () => AGENTS - ended().length;

    say(`fleet: ${AGENTS} agents in ${WORKERS} processes, plugin ${flags.plugin === "sh" ? "the sh stand-in (--plugin sh)" : "the scriptable test plugin (node)"} (${PER_PROCESS} each, ${flags["from-source"] ? "from source through tsx" : "bundled as the agent is"}${AGENTS_NICE > 0 ? `, at nice ${AGENTS_NICE}` : ""}), 2 console replicas behind nginx (${lbUrl}), PostgreSQL ${dbName}; node ${process.version}, ${availableParallelism()} CPUs, load ${load0.map((l) => l.toFixed(1)).join(" ")}, ${new Date().toISOString()}`);

    // ==== 1. enrolment from cold ====
    const before = await scrapeAll();
    const t0 = Date.now();
    for (const [w, worker] of workers.entries()) {
      worker.agents = specs.slice(w * PER_PROCESS, (w + 1) * PER_PROCESS);
      worker.send({ t: "start", agents: worker.agents, common: { args: agentArgs } });
    }
    const enrolBound = 120_000 + AGENTS * 600;
    await waitFor(
      "every agent enrolled with its push stream open",
      () => state.every((a) => a.firstOpenAt !== undefined || a.ended),
      enrolBound,
    ).catch((e: unknown) => failures.push(`enrolment: ${(e as Error).message} (${state.filter((a) => a.enrolledAt).length} enrolled, ${state.filter((a) => a.firstOpenAt).length} streams opened)`));
    const gaugesAtOpen = (await scrapeAll()).map(streamsOpen);
    const enrolledAll = Math.max(...state.map((a) => a.enrolledAt ?? Number.NaN)) - t0;
    const openAll = Math.max(...state.map((a) => a.firstOpenAt ?? Number.NaN)) - t0;
    const after = live.map((r) => r.last);
    const enrol429 = live.reduce((sum, _, i) => sum + requestsTotal(after[i]!, (l) => l.status === "429" && l.procedure === "agent.enroll") - requestsTotal(before[i]!, (l) => l.status === "429" && l.procedure === "agent.enroll"), 0);
    const all429 = live.reduce((sum, _, i) => sum + requestsTotal(after[i]!, (l) => l.status === "429") - requestsTotal(before[i]!, (l) => l.status === "429"), 0);
    const stats1 = await Promise.all(workers.map((w) => w.stats()));
    const retries: Record<string, number> = {};
    for (const st of stats1) for (const [k, v] of Object.entries(st?.enrolRetries ?? {})) retries[k] = (retries[k] ?? 0) + v;
    const enrolledCount = state.filter((a) => a.enrolledAt !== undefined).length;
    const lostAtEnrol = AGENTS - state.filter((a) => a.firstOpenAt !== undefined && !a.ended).length;
    const why = (list: AgentState[]) => [...new Set(list.map((a) => a.ended))].slice(0, 2).join("; ");
    const enrolPct = (q: number) => s(quantile(state.map((a) => (a.enrolledAt ?? Number.NaN) - t0).filter(Number.isFinite), q));
    say(`\n1. enrolment from cold (${AGENTS} agents started at once; the console takes 10/s, bursts of 20, per replica)`);
    say(`  all enrolled after ${s(enrolledAll)} s (p50 ${enrolPct(0.5)} s, p90 ${enrolPct(0.9)} s); every push stream open after ${s(openAll)} s; streams per replica ${gaugesAtOpen.join(" + ")}`);
    say(`  429 answers: ${enrol429} to agent.enroll (${all429} in all)${gaugesAtOpen.some(Number.isNaN) ? " (a replica did not answer its scrape: counted to its last answer)" : ""}; the agents' enrolment retries by status: ${JSON.stringify(retries)}`);
    say(`  floor: ${AGENTS} enrolments at 2 × 10/s after 2 × 20 at once take ≥ ${s(Math.max(0, ((AGENTS - 40) / 20) * 1000))} s`);
    say(`  agents lost: ${lostAtEnrol} (${enrolledCount} enrolled${ended().length ? `; ${ended().length} stopped: ${why(ended())}` : ""})   target 0   ${verdict(lostAtEnrol === 0)}`);

    // ==== 2. steady state ====
    await sleep(SETTLE_S * 1000);
    for (const w of workers) w.send({ t: "reset-loop" });
    const pgOurs = async () => (await monitor!.$queryRaw<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> ${monitorPid}`).map((r) => Number(r.pid));
    const m0 = await scrapeAll();
    const c0 = {
      replicas: live.map((r) => treeTicks(r.proc.pid!)),
      workers: workers.map((w) => treeTicks(w.proc.pid!)),
      nginx: treeTicks(nginx.pid!),
      cpus: cpuTimes(),
      at: performance.now(),
    };
    const pgSeen = followCpu();
    const pgCluster = followCpu();
    const samplePg = async () => {
      pgSeen.sample(await pgOurs());
      pgCluster.sample(postgresPids());
    };
    await samplePg();
    const memSamples: number[][] = live.map(() => []);
    /** The largest RSS of each worker's children (its spawn helper, and any plugin then running) seen in the window. */
    const helperMax = workers.map(() => 0);
    for (let i = 0; i < STEADY_S; i++) {
      await sleep(1000);
      await samplePg();
      live.forEach((r, k) => memSamples[k]!.push(memOf(r.proc.pid).rssKiB));
      workers.forEach((w, k) => {
        const children = processTree(w.proc.pid!).filter((pid) => pid !== w.proc.pid).map((pid) => memOf(pid).rssKiB).filter(Number.isFinite);
        helperMax[k] = Math.max(helperMax[k]!, children.reduce((a, b) => a + b, 0));
      });
    }
    const seconds = (performance.now() - c0.at) / 1000;
    const m1 = await scrapeAll();
    const cores = (ticks: number) => ticks / CLK_TCK / seconds;
    const replicaCores = live.map((r, k) => cores(treeTicks(r.proc.pid!) - c0.replicas[k]!));
    const workerCores = workers.map((w, k) => cores(treeTicks(w.proc.pid!) - c0.workers[k]!));
    const pgCores = cores(pgSeen.ticks());
    const pgAllCores = cores(pgCluster.ticks());
    const nginxCores = cores(treeTicks(nginx.pid!) - c0.nginx);
    const machine = busyShare(c0.cpus, cpuTimes(), [...c0.cpus.keys()]) * c0.cpus.size;
    const rps = live.map((_, k) => (m0[k] && m1[k] ? (requestsTotal(m1[k]!) - requestsTotal(m0[k]!)) / seconds : Number.NaN));
    const byProcedure = new Map<string, number>();
    live.forEach((_, k) => {
      const b = requestsBy(m0[k]!, "procedure");
      for (const [p, n] of requestsBy(m1[k]!, "procedure")) byProcedure.set(p, (byProcedure.get(p) ?? 0) + n - (b.get(p) ?? 0));
    });
    const stats2 = await Promise.all(workers.map((w) => w.stats()));
    say(`\n2. steady state: ${seconds.toFixed(0)} s, ${SETTLE_S} s after the last stream opened (load ${loadavg().map((l) => l.toFixed(1)).join(" ")})`);
    for (const [k, r] of live.entries()) {
      const rss = memSamples[k]!;
      say(`  replica ${r.name}: CPU ${replicaCores[k]!.toFixed(3)} cores, RSS ${mb(quantile(rss, 0.5))} MB (max ${mb(Math.max(...rss))}), ${rps[k]!.toFixed(1)} requests/s, ${streamsOpen(m1[k]!)} streams   target ≤ ${TARGET_CORES_PER_REPLICA} core   ${verdict(replicaCores[k]! <= TARGET_CORES_PER_REPLICA)}`);
    }
    say(`  PostgreSQL: ${pgCores.toFixed(3)} cores in this database's ${pgSeen.seen.size} backends (${pgAllCores.toFixed(3)} for every postgres process of the cluster, other sessions' included)`);
    say(`  requests/s by procedure: ${[...byProcedure].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).map(([p, n]) => `${p} ${(n / seconds).toFixed(1)}`).join(", ")}`);
    say(`  nginx ${nginxCores.toFixed(3)} cores; the agent processes ${workerCores.reduce((a, b) => a + b, 0).toFixed(3)} cores (${((workerCores.reduce((a, b) => a + b, 0) / AGENTS) * 1000).toFixed(2)} millicores per agent); the machine ${machine.toFixed(2)} of ${c0.cpus.size} cores busy`);
    say(`  event-loop delay in the agent processes: p99 ${stats2.map((x) => (x ? x.loopDelayMs.p99.toFixed(0) : "?")).join(", ")} ms, max ${stats2.map((x) => (x ? x.loopDelayMs.max.toFixed(0) : "?")).join(", ")} ms`);

    // ==== memory ====
    say(`\n   the agents' memory (issue 15 §5's standalone idle agent: bench/agent-memory.ts)`);
    for (const [k, w] of workers.entries()) {
      const now = memOf(w.proc.pid);
      const n = w.agents.length;
      say(`  process ${k}: ${n} agents, RSS ${mb(now.rssKiB)} MB (${mb(w.baselineKiB)} MB before the first agent) → ${(now.rssKiB / 1024 / n).toFixed(2)} MB per agent, ${((now.rssKiB - w.baselineKiB) / 1024 / n).toFixed(2)} MB added per agent; heap ${stats2[k]?.heapUsedMiB.toFixed(0) ?? "?"} MiB; its spawn helper at most ${mb(helperMax[k]!)} MB in the window (it retires when idle) → ${((now.rssKiB + helperMax[k]!) / 1024 / n).toFixed(2)} MB per agent with it`);
    }

    // ==== 3. a burst of operations ====
    if (!SKIP.has("burst")) {
      const hosts = await db.host.findMany({ where: { name: { in: hostnames.slice(0, BURST_HOSTS) } }, select: { id: true, name: true } });
      const hostIds = hostnames.slice(0, BURST_HOSTS).map((n) => hosts.find((h) => h.name === n)!.id);
      const b0 = await scrapeAll();
      const headers = { "content-type": "application/json", origin: lbUrl, cookie: `${SESSION_COOKIE}=${sessionToken}` };
      // While it runs: who used the CPUs, and what this database's sessions were waiting on (every 100 ms).
      const burstCpu0 = { cpus: cpuTimes(), replicas: live.map((r) => treeTicks(r.proc.pid!)), workers: workers.map((w) => treeTicks(w.proc.pid!)), at: performance.now() };
      const burstPg = followCpu();
      burstPg.sample(postgresPids());
      const waits = new Map<string, number>();
      const idleIn = new Map<string, number>();
      let sampling = true;
      const sampler = (async () => {
        for (let i = 0; sampling && i < 3000; i++) {
          const rows = await monitor!.$queryRaw<{ state: string | null; wait: string | null; query: string }[]>`SELECT state, wait_event_type || ':' || wait_event AS wait, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS query FROM pg_stat_activity WHERE datname = current_database() AND pid <> ${monitorPid} AND backend_type = 'client backend'`;
          for (const r of rows) {
            if (r.state === "idle") continue;
            const key = `${r.state}${r.wait ? ` ${r.wait}` : ""}`;
            waits.set(key, (waits.get(key) ?? 0) + 1);
            // A transaction left open while its replica does something else: which statement it ran last.
            if (r.state === "idle in transaction") idleIn.set(r.query, (idleIn.get(r.query) ?? 0) + 1);
          }
          burstPg.sample(postgresPids());
          await sleep(100);
        }
      })();
      const profile = (write: boolean) => {
        if (!PROFILE_DIR) return;
        for (const r of live) process.kill(r.proc.pid!, "SIGUSR2");
        workers.forEach((w, k) => w.proc.send({ t: "profile", ...(write ? { path: join(PROFILE_DIR, `worker-${k}.cpuprofile`) } : {}) }));
      };
      profile(false);
      const t1 = wallNow();
      const made = await Promise.all(
        Array.from({ length: BURST }, async (_, j) => {
          const sent = wallNow();
          const input = { hostId: hostIds[j % BURST_HOSTS]!, networkId: network.id, target: { kind: "netns", name: namespaces[Math.floor(j / BURST_HOSTS)]! }, ifName: "eth0", portMappings: [] };
          try {
            const res = await fetch(`${lbUrl}/api/trpc/attachments.create`, { method: "POST", headers, body: JSON.stringify({ json: input }), signal: AbortSignal.timeout(60_000) });
            const body = (await res.json().catch(() => ({}))) as { result?: { data: { json: { attachment: { id: string }; operation: { id: string } } } }; error?: { json?: { message?: string } } };
            const data = body.result?.data.json;
            return { sent, answered: wallNow(), status: res.status, attachmentId: data?.attachment.id, operationId: data?.operation.id, error: body.error?.json?.message };
          } catch (error) {
            return { sent, answered: wallNow(), status: 0, attachmentId: undefined, operationId: undefined, error: (error as Error).message };
          }
        }),
      );
      const createsDone = wallNow() - t1;
      const statuses = new Map<number, number>();
      for (const m of made) statuses.set(m.status, (statuses.get(m.status) ?? 0) + 1);
      const ok = made.filter((m) => m.attachmentId && m.operationId);
      const readyAt = new Map<string, number>();
      const failedIds = new Set<string>();
      await waitFor(
        "the burst's attachments to be ready",
        async () => {
          const pending = ok.filter((m) => !readyAt.has(m.attachmentId!) && !failedIds.has(m.attachmentId!)).map((m) => m.attachmentId!);
          if (pending.length === 0) return true;
          const rows = await monitor!.attachment.findMany({ where: { id: { in: pending }, state: { in: ["ready", "failed"] } }, select: { id: true, state: true } });
          const now = wallNow();
          for (const r of rows) (r.state === "ready" ? readyAt.set(r.id, now) : failedIds.add(r.id));
          return false;
        },
        180_000,
        100,
      ).catch((e: unknown) => failures.push(`burst: ${(e as Error).message}`));
      sampling = false;
      if (PROFILE_DIR) profile(true), await sleep(3000), say(`  CPU profiles over the burst: ${PROFILE_DIR}`);
      await sampler;
      const burstS = (performance.now() - burstCpu0.at) / 1000;
      const burstCores = {
        replicas: live.map((r, k) => (treeTicks(r.proc.pid!) - burstCpu0.replicas[k]!) / CLK_TCK / burstS),
        workers: workers.reduce((a, w, k) => a + (treeTicks(w.proc.pid!) - burstCpu0.workers[k]!), 0) / CLK_TCK / burstS,
        pg: burstPg.ticks() / CLK_TCK / burstS,
        machine: busyShare(burstCpu0.cpus, cpuTimes(), [...burstCpu0.cpus.keys()]) * burstCpu0.cpus.size,
      };
      const b1 = await scrapeAll();
      const ops = await monitor.operation.findMany({ where: { id: { in: ok.map((m) => m.operationId!) } }, select: { id: true, createdAt: true, startedAt: true, finishedAt: true, status: true, attempt: true } });
      const pushDb = ops.filter((o) => o.startedAt).map((o) => (o.startedAt!.getTime() - o.createdAt.getTime()) / 1000);
      const readyDb = ops.filter((o) => o.finishedAt && o.status === "succeeded").map((o) => (o.finishedAt!.getTime() - o.createdAt.getTime()) / 1000);
      const readyClient = ok.filter((m) => readyAt.has(m.attachmentId!)).map((m) => (readyAt.get(m.attachmentId!)! - m.sent) / 1000);
      const createMs = made.map((m) => m.answered - m.sent);
      const hist = bucketQuantile(
        fleetBuckets(b1, "switchyard_operation_push_delay_seconds"),
        fleetBuckets(b0, "switchyard_operation_push_delay_seconds"),
        0.99,
      );
      // The plugin's own time, from the job log (a node script: most of it is node's start).
      const logs = await monitor.operationLog.findMany({ where: { operationId: { in: ok.map((m) => m.operationId!) } }, select: { operationId: true, line: true, at: true } });
      const pluginMs = logs.map((l) => Number(/^\S+ ADD exited 0 in (\d+) ms$/.exec(l.line)?.[1] ?? Number.NaN)).filter(Number.isFinite);
      // Where an attach's time goes: the job lines carry the agent's times (same clock), the row the console's.
      const steps = { claimToBegin: [] as number[], beginToExit: [] as number[], exitToClosed: [] as number[], sentToCreated: [] as number[] };
      for (const o of ops) {
        const mine = logs.filter((l) => l.operationId === o.id);
        const begin = Math.min(...mine.map((l) => l.at.getTime()));
        const exit = mine.find((l) => / ADD exited 0 in /.test(l.line))?.at.getTime() ?? Number.NaN;
        if (o.startedAt) steps.claimToBegin.push(begin - o.startedAt.getTime());
        steps.beginToExit.push(exit - begin);
        if (o.finishedAt) steps.exitToClosed.push(o.finishedAt.getTime() - exit);
        const m = made.find((x) => x.operationId === o.id);
        if (m) steps.sentToCreated.push(o.createdAt.getTime() - m.sent);
      }
      const med = (xs: number[]) => `${quantile(xs, 0.5).toFixed(0)}/${quantile(xs, 0.99).toFixed(0)}`;
      const pushP99 = quantile(pushDb, 0.99);
      const readyP99 = quantile(readyClient, 0.99);
      const retried = ops.filter((o) => o.attempt > 1).length;
      say(`\n3. a burst of ${BURST} attachments across ${BURST_HOSTS} hosts (${OPS_PER_HOST} each), created at once through nginx (session cookie)`);
      say(`  creates: statuses ${JSON.stringify(Object.fromEntries(statuses))}, all answered after ${s(createsDone)} s (per create p50 ${s(quantile(createMs, 0.5))} s, p99 ${s(quantile(createMs, 0.99))} s)${made.some((m) => m.error) ? `; first error: ${made.find((m) => m.error)!.error}` : ""}`);
      say(`  ready ${readyAt.size}, failed ${failedIds.size}, of ${ok.length}; ${retried} needed another attempt`);
      say(`  push delay (Operation.createdAt → startedAt, the claim that handed it to its agent): p50 ${(quantile(pushDb, 0.5) * 1000).toFixed(0)} ms, p99 ${(pushP99 * 1000).toFixed(0)} ms, max ${(Math.max(...pushDb) * 1000).toFixed(0)} ms   target p99 ≤ ${TARGET_PUSH_P99_S} s   ${verdict(pushDb.length === ok.length && pushP99 <= TARGET_PUSH_P99_S)}`);
      say(`    the replicas' switchyard_operation_push_delay_seconds over the burst: ${hist.count} observed, p99 in the bucket ≤ ${hist.le} s`);
      await sleep(1500); // nginx flushes its access log every second
      const viaNginx = nginxTimes(join(work, "nginx", "access.log"), "attachments.create");
      say(`    attachments.create as nginx timed it (${viaNginx.total.length}): in nginx p50 ${quantile(viaNginx.total, 0.5).toFixed(2)} s, p99 ${quantile(viaNginx.total, 0.99).toFixed(2)} s; connecting to a replica p99 ${quantile(viaNginx.connect, 0.99).toFixed(3)} s; until its answer began p50 ${quantile(viaNginx.header, 0.5).toFixed(2)} s, p99 ${quantile(viaNginx.header, 0.99).toFixed(2)} s`);
      // The replicas' own time per call (from the handler's start to its answer): what is not in it waited before it (nginx, the replica's event loop).
      for (const [endpoint, procedure] of [["browser", "attachments.create"], ["agent", "agent.completeMany"], ["agent", "agent.heartbeat"]] as const) {
        const where = { endpoint, procedure };
        const d = (q: number) => bucketQuantile(fleetBuckets(b1, "switchyard_trpc_request_duration_seconds", where), fleetBuckets(b0, "switchyard_trpc_request_duration_seconds", where), q);
        say(`    ${procedure} as the replicas timed it over the burst: ${d(0.5).count} calls, p50 ≤ ${d(0.5).le} s, p99 ≤ ${d(0.99).le} s (bucket bounds)`);
      }
      say(`  attachment ready (request sent → state ready in the database, polled every 100 ms): p50 ${s(quantile(readyClient, 0.5) * 1000)} s, p99 ${s(readyP99 * 1000)} s, max ${s(Math.max(...readyClient) * 1000)} s   target p99 ≤ ${TARGET_READY_P99_S} s   ${verdict(readyClient.length === BURST && readyP99 <= TARGET_READY_P99_S)}`);
      say(`    from the database's own times (createdAt → finishedAt): p50 ${s(quantile(readyDb, 0.5) * 1000)} s, p99 ${s(quantile(readyDb, 0.99) * 1000)} s; the plugin's ADD (job log): p50 ${quantile(pluginMs, 0.5).toFixed(0)} ms, p99 ${quantile(pluginMs, 0.99).toFixed(0)} ms (${pluginMs.length} runs)`);
      say(`    CPU over the burst's ${burstS.toFixed(1)} s (cores): replicas ${burstCores.replicas.map((c) => c.toFixed(2)).join(" + ")}, PostgreSQL ${burstCores.pg.toFixed(2)}, the agent processes with their plugins ${burstCores.workers.toFixed(2)}; the machine ${burstCores.machine.toFixed(2)} of ${burstCpu0.cpus.size} busy`);
      const waitTotal = [...waits.values()].reduce((a, b) => a + b, 0);
      say(`    this database's busy sessions, by what they were doing (share of ${waitTotal} samples): ${[...waits].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, n]) => `${k} ${((100 * n) / Math.max(1, waitTotal)).toFixed(0)} %`).join(", ")}`);
      if (idleIn.size > 0) say(`    idle in transaction after: ${[...idleIn].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([q, n]) => `${n} × "${q}"`).join("; ")}`);
      const via = (m: ParsedMetrics | null, v: string) => m?.find("switchyard_operation_push_delay_seconds_count", { via: v }).reduce((a, x) => a + x.value, 0) ?? 0;
      say(`    handed over by: ${["push", "claim"].map((v) => `${v} ${live.reduce((a, _, k) => a + via(b1[k]!, v) - via(b0[k]!, v), 0)}`).join(", ")} (the stream's push, or the agent's claim / long poll)`);
      say(`    steps, p50/p99 ms: request sent → row written ${med(steps.sentToCreated)}; row → claimed (push delay) ${(quantile(pushDb, 0.5) * 1000).toFixed(0)}/${(pushP99 * 1000).toFixed(0)}; claimed → the agent begins ${med(steps.claimToBegin)}; begins → plugin exited ${med(steps.beginToExit)}; plugin exited → outcome closed ${med(steps.exitToClosed)}`);
    }

    // ==== 4. one replica SIGKILLed ====
    const recoveryBound = SPREAD_MS + POLL_WAIT_MS + 120_000;
    /** Waits until every agent's stream is open again after `since`, and the replicas' gauges add up to all. */
    const allBack = async (what: string, since: number, gauges: () => Promise<number[]>) => {
      const losers = () => state.filter((a) => a.lostAt !== undefined && a.lostAt >= since);
      let gaugeSum = 0;
      // Every host heard from (a heartbeat: Host.lastSeenAt) since: in touch, stream or not.
      let heardAt = Number.NaN;
      const doneAt = await waitFor(
        what,
        async () => {
          if (Number.isNaN(heardAt) && (await monitor!.host.count({ where: { name: { startsWith: `${TAG}-` }, lastSeenAt: { gte: new Date(since) } } })) >= living()) heardAt = Date.now();
          gaugeSum = (await gauges()).reduce((a, b) => a + b, 0);
          return openCount() === living() && gaugeSum === living() && Date.now();
        },
        recoveryBound,
        250,
      ).catch((e: unknown) => {
        failures.push(`${what}: ${(e as Error).message} (${openCount()} agents say open, the gauges ${gaugeSum})`);
        return Number.NaN;
      });
      // Its last loss → its stream open again (not back: not counted, said below).
      const back = losers().map((a) => (a.reopenedAt !== undefined && a.reopenedAt >= a.lostAt! ? a.reopenedAt - a.lostAt! : Number.NaN));
      const heard = Number.isNaN(heardAt) ? await monitor!.host.count({ where: { name: { startsWith: `${TAG}-` }, lastSeenAt: { gte: new Date(since) } } }) : living();
      return { ms: doneAt - since, heardMs: heardAt - since, heard, lost: losers().length, back };
    };
    const backLine = (back: number[]) => {
      const ok = back.filter(Number.isFinite);
      return `each agent's (last) loss → open again: p50 ${s(quantile(ok, 0.5))} s, p90 ${s(quantile(ok, 0.9))} s, max ${ok.length ? s(Math.max(...ok)) : "NaN"} s${ok.length < back.length ? ` (${back.length - ok.length} not back)` : ""}`;
    };
    const heardLine = (r: { heardMs: number; heard: number }, event: string) =>
      Number.isNaN(r.heardMs) ? `a heartbeat since the ${event} recorded for ${r.heard} of ${living()} hosts by then` : `every host's heartbeat heard since the ${event} after ${s(r.heardMs)} s`;
    if (!SKIP.has("kill")) {
      const [victim, survivor] = [live[0]!, live[1]!];
      const onVictim = streamsOpen(await scrape(victim));
      await scrape(survivor);
      const endedBefore = ended().length;
      const tKill = Date.now();
      victim.proc.kill("SIGKILL");
      await exitedPromise(victim.proc);
      const r = await allBack("every agent back on the survivor after the SIGKILL", tKill, async () => [streamsOpen(await scrape(survivor))]);
      say(`\n4. replica ${victim.name} SIGKILLed (${onVictim} streams on it): every stream open on replica ${survivor.name} after ${s(r.ms)} s (the agents' spread: ${s(SPREAD_MS)} s)`);
      say(`  ${r.lost} agents lost their stream; ${backLine(r.back)}; ${heardLine(r, "kill")}`);
      const lostHere = ended().length - endedBefore;
      const notBack = living() - openCount();
      say(`  agents lost: ${lostHere} stopped, ${notBack} not back within ${s(recoveryBound)} s   target 0   ${verdict(lostHere === 0 && notBack === 0 && Number.isFinite(r.ms))}`);
      // Back in service where nginx looks for it.
      live[0] = await startReplica(victim.name, victim.port, t.url);
    }

    // ==== 5. both replicas restarted ====
    if (!SKIP.has("restart")) {
      await scrapeAll();
      const endedBefore = ended().length;
      const tStop = Date.now();
      await Promise.all(live.map((r) => stopProcess(r.proc, 8000)));
      const stoppedMs = Date.now() - tStop;
      const again = await Promise.all(live.map((r) => startReplica(r.name, r.port, t!.url)));
      live.splice(0, live.length, ...again);
      const upMs = Date.now() - tStop;
      const r = await allBack("every agent back after both replicas restarted", tStop, async () => (await scrapeAll()).map(streamsOpen));
      say(`\n5. both replicas restarted (SIGTERM, stopped in ${s(stoppedMs)} s, serving again ${s(upMs)} s after the stop): every stream open after ${s(r.ms)} s from the stop (${s(r.ms - upMs)} s after both served)`);
      say(`  ${r.lost} agents lost their stream; ${backLine(r.back)}; ${heardLine(r, "stop")}; streams per replica now ${live.map((x) => streamsOpen(x.last)).join(" + ")}`);
      const lostHere = ended().length - endedBefore;
      const notBack = living() - openCount();
      say(`  agents lost: ${lostHere} stopped, ${notBack} not back within ${s(recoveryBound)} s   target 0   ${verdict(lostHere === 0 && notBack === 0 && Number.isFinite(r.ms))}`);
    }

    // ==== 6. answers, and who is left ====
    await scrapeAll();
    await sleep(1500); // nginx flushes its access log every second
    const access = readAccessLog(join(work, "nginx", "access.log"));
    const statusTotals = new Map<string, number>();
    for (const r of replicaLives) for (const [st, n] of requestsBy(r.last, "status")) statusTotals.set(st, (statusTotals.get(st) ?? 0) + n);
    const fiveHundreds = (statusTotals.get("500") ?? 0) + (access.byStatus.get("500") ?? 0) + access.upstream500;
    say(`\n6. answers over the run`);
    say(`  nginx (${access.lines} requests): ${[...access.byStatus].sort().map(([k, v]) => `${k} ×${v}`).join(", ")}; a replica's own 500 behind them: ${access.upstream500}`);
    // nginx's reasons for its own answers (its error log, by message without the request's details).
    const nginxErrors = new Map<string, number>();
    try {
      for (const line of readFileSync(join(work, "nginx", "error.log"), "utf8").split("\n")) {
        const m = /\[(\w+)\] \d+#\d+: \*?\d* ?(.*?)(, client:.*)?$/.exec(line);
        if (!m) continue;
        const key = `${m[1]}: ${m[2]!.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, "<addr>")}`;
        nginxErrors.set(key, (nginxErrors.get(key) ?? 0) + 1);
      }
    } catch {
      // no error log
    }
    if (nginxErrors.size > 0) say(`  nginx's error log: ${[...nginxErrors].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, n]) => `${n} × ${k}`).join("; ")}`);
    say(`  the replicas' counters (each lifetime's last scrape): ${[...statusTotals].sort().map(([k, v]) => `${k} ×${v}`).join(", ")}`);
    const refusals = new Map<string, number>();
    for (const r of replicaLives) for (const x of r.last?.find("switchyard_trpc_requests_total") ?? []) if (!/^2/.test(x.labels.status!) && x.value > 0) refusals.set(`${x.labels.status} ${x.labels.procedure}`, (refusals.get(`${x.labels.status} ${x.labels.procedure}`) ?? 0) + x.value);
    if (refusals.size > 0) say(`  the replicas' answers other than 2xx, by procedure: ${[...refusals].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, n]) => `${k} ×${n}`).join(", ")}`);
    say(`  500 answers: ${fiveHundreds}   target 0   ${verdict(fiveHundreds === 0)}   (nginx's own 502/504 while a replica was down: ${(access.byStatus.get("502") ?? 0) + (access.byStatus.get("504") ?? 0)})`);
    const hostsInDb = await db.host.count({ where: { name: { in: hostnames }, revokedAt: null } });
    const lostTotal = AGENTS - state.filter((a) => !a.ended && a.open).length;
    say(`  agents lost over the run: ${lostTotal} (${ended().length} stopped${ended().length ? `: ${why(ended())}` : ""}; ${living() - openCount()} running without their stream open at the end; hosts enrolled in the database: ${hostsInDb})   target 0   ${verdict(lostTotal === 0 && hostsInDb === AGENTS)}`);
    const opRows = await monitor.operation.groupBy({ by: ["kind", "status"], _count: { _all: true }, _max: { attempt: true } });
    const again = await monitor.operation.count({ where: { attempt: { gt: 1 } } });
    say(`  operations over the run: ${opRows.map((r) => `${r.kind} ${r.status} ×${r._count._all}`).join(", ")}; ${again} took more than one attempt (at most ${Math.max(0, ...opRows.map((r) => r._max.attempt ?? 0))})`);
    const stats3 = await Promise.all(workers.map((w) => w.stats()));
    const problems = new Map<string, { count: number; first: string }>();
    for (const st of stats3) for (const p of st?.problems ?? []) problems.set(p.key, { count: (problems.get(p.key)?.count ?? 0) + p.count, first: problems.get(p.key)?.first ?? p.first });
    say(`  the agents' warnings and errors, by message:`);
    for (const [key, p] of [...problems].sort((a, b) => b[1].count - a[1].count).slice(0, 15)) say(`    ${String(p.count).padStart(6)}  ${key}   e.g. ${p.first.slice(0, 200)}`);
    say(`  peak RSS of the agent processes: ${workers.map((w) => mb(memOf(w.proc.pid).hwmKiB)).join(", ")} MB; load ${loadavg().map((l) => l.toFixed(1)).join(" ")}; the run took ${s(wallNow() - started)} s`);
    for (const f of failures) say(`FAILED: ${f}`);
    if (failures.length > 0) {
      process.exitCode = 1;
      for (const r of replicaLives) if (r.stderr().trim()) console.log(`--- replica ${r.name} (lifetime ${r.lifetime}) stderr, last lines:\n${r.stderr().trim().split("\n").slice(-10).join("\n")}`);
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await cleanup();
    clearTimeout(limit);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
