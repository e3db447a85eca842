/**
 * The host agent end to end: sandbox attachments created through the console's API (a real migrated
 * database, a real HTTP server) and carried out by switchyard-agent as a child process with the real
 * bridge plugin, versus the same namespace + plugin work done directly, in the same run. See
 * bench/README.md.
 *
 *   npx tsx bench/agent-attach.ts [--attach 30] [--concurrent 50] [--rounds 3]
 *
 * Root only: it creates network namespaces `sytest-ba-*` (through the agent) and `sytest-bd-*`,
 * bridges `sya…`/`syd…`, and removes them.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { availableParallelism, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type ApiTest, serveApi, setupApiTest } from "@switchyard/api/testing";
import { createTestDirs, deleteBridge, listBridgePorts, randomSuffix, readLeases } from "@switchyard/cni/test-host";
import { clamp, fmt, median, quantile, row as statsRow } from "./stats";

const { values: flags } = parseArgs({
  options: {
    attach: { type: "string", default: "30" },
    concurrent: { type: "string", default: "50" },
    rounds: { type: "string", default: "3" },
    target: { type: "string", default: "sandbox" },
    /** A directory: the console process's CPU profile of each agent batch is written there (.cpuprofile). */
    "profile-console": { type: "string" },
    /** The console (this process) on CPU 0, the host's side (agent, spawn helper, plugins, direct runner) on CPU 1. */
    "split-cpus": { type: "boolean", default: false },
  },
});
if (flags.target !== "sandbox" && flags.target !== "netns") throw new Error(`--target sandbox|netns, not ${flags.target}`);
/**
 * sandbox: the agent creates the namespace (\`ip netns add\`, lo up) as part of the attach, and so does
 * the direct side. netns: the namespace exists before the clock starts (a container's, made untimed by
 * the runner) on both sides, so the attach is the console, the agent and the plugin alone.
 */
const TARGET: "sandbox" | "netns" = flags.target;
/**
 * --split-cpus: a deployment's console runs on another machine, and the host pays only for the agent.
 * Here the console and its database (this process) get CPU 0 and everything on the host's side — the
 * agent, its spawn helper and the plugins it starts, and the direct runner with its plugins — CPU 1, so
 * that both sides' host work shares one core and the console's CPU is not charged to the agent's side.
 */
const SPLIT_CPUS = flags["split-cpus"];
if (SPLIT_CPUS) {
  if (availableParallelism() < 2) throw new Error("--split-cpus needs two CPUs");
  execFileSync("taskset", ["-a", "-p", "-c", "0", String(process.pid)], { stdio: "ignore" });
}
/** [file, args] of a host-side process: under `taskset -c 1` with --split-cpus (taskset execs it: same pid). */
const onHostSide = (file: string, args: string[]): [string, string[]] => (SPLIT_CPUS ? ["taskset", ["-c", "1", file, ...args]] : [file, args]);
const ATTACHES = clamp(Number(flags.attach), 1, 500);
const CONCURRENT = clamp(Number(flags.concurrent), 1, 64); // the agent runs at most 64 operations at once
const ROUNDS = clamp(Number(flags.rounds), 1, 10);
const DEADLINE = Date.now() + 10 * 60_000; // the whole run is bounded
const WAIT_MS = 60_000; // any one wait (an operation, the agent starting, a child exiting)
const PLUGIN_TIMEOUT_MS = 20_000;
const PLUGIN_DIRS = ["/opt/cni/bin", "/usr/lib/cni"];
const CNI_PATH = PLUGIN_DIRS.join(":");
const BRIDGE = PLUGIN_DIRS.map((d) => join(d, "bridge")).find((p) => existsSync(p));
// The built agent, as hosts run it (`npx turbo run build --filter=@switchyard/agent`).
// BENCH_AGENT_BIN: another build of the agent (an A/B of two builds, run back to back).
const AGENT_BIN = resolve(process.env.BENCH_AGENT_BIN ?? fileURLToPath(new URL("../apps/agent/dist/switchyard-agent.mjs", import.meta.url)));
const NETNS_DIR = "/run/netns";
const PLUGIN_EXIT = /^(\S+) ADD exited 0 in (\d+) ms$/;
/** setupApiTest's database: in-process PGlite unless SWITCHYARD_TEST_DB=postgres. */
const DB_KIND = process.env.SWITCHYARD_TEST_DB ?? "pglite";


/** --profile-console: this process's CPU profile (the console, PGlite, the bench's own client calls) over one span. */
async function startProfile(): Promise<{ stop(name: string): Promise<void> } | undefined> {
  const dir = flags["profile-console"];
  if (!dir) return undefined;
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return {
    async stop(name) {
      const { profile } = await session.post("Profiler.stop");
      session.disconnect();
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    },
  };
}

/** Epoch milliseconds with a fraction: comparable with the database's and the agent's timestamps. */
const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Resolves false after `ms` without keeping the process alive: the losing side of a race with an exit. */
const giveUpAfter = (ms: number) => new Promise<false>((r) => setTimeout(() => r(false), ms).unref());

/** A wait's budget: its own bound, never past the run's deadline. */
function budget(ms: number): number {
  const left = DEADLINE - Date.now();
  if (left <= 0) throw new Error("benchmark deadline exceeded");
  return Math.min(ms, left);
}
const checkDeadline = () => void budget(1);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = WAIT_MS): Promise<T> {
  const until = Date.now() + budget(timeoutMs);
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function run(cmd: string, args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.on("error", () => (clearTimeout(timer), resolve(-1)));
    child.on("close", (code) => (clearTimeout(timer), resolve(code)));
  });
}

// ---- The direct baseline: what the agent must do anyway for a sandbox, from a lean process. -------
// fork() copies the parent's page tables: on this VM a spawn from the benchmark's own process (the
// console and its in-process PGlite, ~500 MB) costs ~25–55 ms, from a bare node process ~5 ms. So the
// direct side runs in a bare node child (plain JavaScript, no tsx), driven over IPC: the floor.
//
// The runner also owns the host's cleanup, in its own process group: when its IPC channel closes
// (the benchmark stopping it, or the benchmark killed: tsx SIGKILLs a child that does not answer a
// relayed Ctrl-C within 30 ms) it lets its plugins finish, stops the agent if still running, and
// deletes the run's namespaces, both bridges and the temporary directory.
const DIRECT_RUNNER = String.raw`
const { spawn } = require("node:child_process");
const { readdirSync, rmSync } = require("node:fs");
const { bridge, plugin, cniPath, netnsDir, timeoutMs, cleanup } = JSON.parse(process.argv[1]);
const results = new Map();
function exec(cmd, args, env, stdin) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    const out = [];
    child.stdout.on("data", (b) => out.push(b));
    child.stderr.resume();
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => (clearTimeout(timer), reject(e)));
    child.on("close", (code) => {
      clearTimeout(timer);
      const text = Buffer.concat(out).toString();
      code === 0 ? resolve(text) : reject(new Error(cmd + " " + args.join(" ") + " exited " + code + ": " + text));
    });
    if (stdin !== undefined) child.stdin.end(stdin);
  });
}
const env = (name, command) => ({ CNI_COMMAND: command, CNI_CONTAINERID: name, CNI_NETNS: netnsDir + "/" + name, CNI_IFNAME: "eth0", CNI_PATH: cniPath, PATH: process.env.PATH });
const conf = (extra) => JSON.stringify({ ...plugin.conf, name: plugin.name, cniVersion: "1.0.0", ...extra });
// As the agent does it: the namespace, then its loopback beside the plugin's ADD.
async function attach(name, start, makeNetns) {
  const t0 = performance.now();
  if (makeNetns) await exec("ip", ["netns", "add", name], process.env);
  const t1 = performance.now();
  const [result] = await Promise.all([exec(bridge, [], env(name, "ADD"), conf({})), makeNetns ? exec("ip", ["-n", name, "link", "set", "lo", "up"], process.env) : undefined]);
  results.set(name, JSON.parse(result));
  const t2 = performance.now();
  return { name, netnsMs: t1 - t0, addMs: t2 - t1, totalMs: t2 - t0, endMs: t2 - start };
}
// A container's namespace, made before the clock starts (--target netns).
async function prepare(name) {
  await exec("ip", ["netns", "add", name], process.env);
  await exec("ip", ["-n", name, "link", "set", "lo", "up"], process.env);
}
async function detach(name) {
  if (results.has(name)) await exec(bridge, [], env(name, "DEL"), conf({ prevResult: results.get(name) }));
  results.delete(name);
  await exec("ip", ["netns", "del", name], process.env);
}
async function probe(n) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await exec("/bin/true", [], process.env);
    xs.push(performance.now() - t0);
  }
  return { ms: xs.sort((a, b) => a - b)[Math.floor(n / 2)], rssMb: process.memoryUsage().rss / 1e6 };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const signal = (pid, sig) => {
  try {
    process.kill(pid, sig);
  } catch {}
};
let agentPid;
let inFlight = 0;
async function cleanHost() {
  for (let i = 0; inFlight > 0 && i < (timeoutMs + 5000) / 100; i++) await sleep(100);
  if (agentPid && alive(agentPid)) {
    signal(agentPid, "SIGTERM");
    for (let i = 0; alive(agentPid) && i < 100; i++) await sleep(100);
    signal(agentPid, "SIGKILL");
  }
  let names = [];
  try {
    names = readdirSync(netnsDir);
  } catch {}
  for (const name of names) if (cleanup.netnsPrefixes.some((p) => name.startsWith(p))) await exec("ip", ["netns", "del", name], process.env).catch(() => {});
  for (const link of cleanup.bridges) await exec("ip", ["link", "del", link], process.env).catch(() => {});
  try {
    rmSync(cleanup.root, { recursive: true, force: true });
  } catch {}
}
const reply = (m) => process.connected && process.send(m);
process.on("message", async ({ id, cmd, names, n, pid, makeNetns }) => {
  if (cmd === "guard") return void (agentPid = pid);
  const start = performance.now();
  inFlight++;
  try {
    if (cmd === "attach") reply({ id, runs: await Promise.all(names.map((name) => attach(name, start, makeNetns))) });
    else if (cmd === "prepare") reply({ id, done: await Promise.all(names.map(prepare)) });
    else if (cmd === "drop") reply({ id, done: await Promise.all(names.map((name) => exec("ip", ["netns", "del", name], process.env))) });
    else if (cmd === "detach") reply({ id, done: await Promise.all(names.map(detach)) });
    else reply({ id, probe: await probe(n) });
  } catch (error) {
    reply({ id, error: String(error && error.message) });
  } finally {
    inFlight--;
  }
});
process.on("disconnect", () => void cleanHost().finally(() => process.exit(0)));
// A Ctrl-C meant for the benchmark must not stop the cleanup half way.
process.on("SIGINT", () => {});
`;

interface DirectRun {
  name: string;
  netnsMs: number;
  addMs: number;
  totalMs: number;
  /** When its ADD returned, from the runner's receipt of the batch. */
  endMs: number;
}

interface Network {
  name: string;
  bridge: string;
  plugin: Record<string, unknown>;
  text: string;
}

/** bridge + host-local on a /16 (room for any number of attachments here), no isGateway/ipMasq. */
function makeNetwork(tag: "a" | "d", octet: number, dataDir: string): Network {
  const hex = randomSuffix();
  const name = `sybench-${tag}-${hex}`;
  const bridge = `sy${tag}${hex}`;
  // No isGateway/ipMasq: the benchmark must not change the host's forwarding or firewall.
  const plugin = { type: "bridge", bridge, isGateway: false, ipMasq: false, ipam: { type: "host-local", dataDir, ranges: [[{ subnet: `10.${octet}.0.0/16` }]] } };
  return { name, bridge, plugin, text: JSON.stringify({ cniVersion: "1.0.0", name, plugins: [plugin] }) };
}

interface HostCleanup {
  netnsPrefixes: string[];
  bridges: string[];
  root: string;
}

function startDirectRunner(net: Network, cleanup: HostCleanup) {
  const config = { bridge: BRIDGE, plugin: { name: net.name, conf: net.plugin }, cniPath: CNI_PATH, netnsDir: NETNS_DIR, timeoutMs: PLUGIN_TIMEOUT_MS, cleanup };
  // Its own process group: a Ctrl-C reaches the benchmark, whose cleanup stops the runner in order.
  const proc = spawn(...onHostSide(process.execPath, ["-e", DIRECT_RUNNER, JSON.stringify(config)]), {
    env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    detached: true,
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const pending = new Map<number, (m: Record<string, unknown>) => void>();
  proc.on("message", (m: Record<string, unknown>) => pending.get(m.id as number)?.(m));
  void exited.then(() => {
    for (const answer of pending.values()) answer({ error: "the runner exited" });
  });
  let nextId = 0;
  const call = async (msg: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const id = nextId++;
    const ms = budget(WAIT_MS);
    let timer: NodeJS.Timeout | undefined;
    const reply = await new Promise<Record<string, unknown> | undefined>((resolve) => {
      pending.set(id, resolve);
      timer = setTimeout(() => resolve(undefined), ms);
      proc.send({ id, ...msg });
    }).finally(() => (clearTimeout(timer), pending.delete(id)));
    if (!reply) throw new Error(`the direct runner did not answer ${String(msg.cmd)} within ${ms} ms`);
    if (typeof reply.error === "string") throw new Error(`direct: ${reply.error}`);
    return reply;
  };
  return {
    /** Timed: (sandbox) the namespace, then lo up beside ADD; (netns) ADD into a namespace made by prepare(). */
    attach: async (names: string[]) => (await call({ cmd: "attach", names, makeNetns: TARGET === "sandbox" })).runs as DirectRun[],
    /** Namespaces made untimed, for the agent's netns-target attaches. */
    prepare: async (names: string[]) => void (await call({ cmd: "prepare", names })),
    drop: async (names: string[]) => void (await call({ cmd: "drop", names })),
    detach: async (names: string[]) => void (await call({ cmd: "detach", names })),
    probe: async (n: number) => (await call({ cmd: "probe", n })).probe as { ms: number; rssMb: number },
    pid: proc.pid,
    /** Should the benchmark die, the runner stops the agent before cleaning the host. */
    guard: (pid: number) => void proc.send({ cmd: "guard", pid }),
    /** The runner cleans the host (plugins in flight first, each bounded by its timeout) and exits; then what is left of its group is killed. */
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      if (proc.connected) proc.disconnect();
      if (!(await Promise.race([exited.then(() => true), giveUpAfter(PLUGIN_TIMEOUT_MS + 60_000)]))) {
        try {
          process.kill(-proc.pid!, "SIGKILL");
        } catch {
          // already gone
        }
        await Promise.race([exited, giveUpAfter(5000)]);
      }
    },
  };
}

/** The median time to spawn /bin/true from this process. */
async function spawnProbe(n: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await run("/bin/true", []);
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

function rssOf(pid: number | undefined): { rssMb: number; peakMb: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
    return { rssMb: kb("VmRSS") / 1000, peakMb: kb("VmHWM") / 1000 };
  } catch {
    return { rssMb: Number.NaN, peakMb: Number.NaN };
  }
}

/** Busy CPU time of the whole host so far, in ms (all cores: /proc/stat minus idle and iowait). */
function hostCpuMs(): number {
  const [, ...f] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = f.map(Number) as number[];
  return ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / 100; // USER_HZ is 100 on Linux
}

/** CPU time (user + system, ms) of a process and its finished, waited-for children so far; 0 once it is gone. */
function processCpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** CPU time (ms) of every PostgreSQL server process so far (the database of the PostgreSQL runs). */
function postgresCpuMs(): number {
  let total = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres") total += processCpuMs(Number(pid));
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
}

/** The agent's spawn helper: its node child. */
function childPids(pid: number | undefined): number[] {
  if (!pid) return [];
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

// ---- The agent as a child process, as apps/agent/test/agent.int.test.ts starts it. --------------
interface AgentLine {
  at: number;
  msg: string;
}

interface RunningAgent {
  proc: ChildProcess;
  /** Reads what the agent logged since the last call (also every 20 ms on its own). */
  pump(): void;
  /** Job lines (and anything else carrying an operationId) by operation. */
  byOperation: Map<string, AgentLine[]>;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

/**
 * The agent's stderr goes to `logFile`, read from here: through a pipe, its synchronous log writes
 * would wait whenever this process (the console, busy with a batch of creates) is slow to read,
 * and the benchmark would measure its own reading. journald reads its stream at once.
 */
function startAgent(args: string[], logFile: string): RunningAgent {
  // e.g. BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/agent-prof" for the agent's CPU profile.
  const nodeArgs = (process.env.BENCH_AGENT_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const out = openSync(logFile, "w", 0o600);
  const proc = spawn(...onHostSide(process.execPath, [...nodeArgs, AGENT_BIN, ...args]), {
    env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
    stdio: ["ignore", "ignore", out],
  });
  closeSync(out);
  const byOperation = new Map<string, AgentLine[]>();
  const lines: Record<string, unknown>[] = [];
  const input = openSync(logFile, "r");
  const chunk = Buffer.alloc(1 << 20);
  let buf = "";
  const pump = () => {
    for (let n = readSync(input, chunk); n > 0; n = readSync(input, chunk)) take(chunk.subarray(0, n));
  };
  const poll = setInterval(pump, 20);
  poll.unref();
  const take = (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split("\n");
    buf = parts.pop()!;
    for (const part of parts) {
      let l: Record<string, unknown>;
      try {
        l = JSON.parse(part) as Record<string, unknown>;
      } catch {
        l = { msg: part };
      }
      if (lines.length < 100_000) lines.push(l);
      if (typeof l.operationId === "string" && typeof l.time === "string") {
        const list = byOperation.get(l.operationId) ?? [];
        list.push({ at: Date.parse(l.time), msg: String(l.msg) });
        byOperation.set(l.operationId, list);
      }
    }
  };
  const exited = new Promise<number | null>((r) =>
    proc.once("exit", (code) => {
      clearInterval(poll);
      pump();
      closeSync(input);
      r(code);
    }),
  );
  return { proc, pump, byOperation, lines, exited };
}

async function stopAgent(agent: RunningAgent): Promise<void> {
  if (agent.proc.exitCode !== null || agent.proc.signalCode !== null) return;
  agent.proc.kill("SIGTERM");
  const stopped = await Promise.race([agent.exited.then(() => true), giveUpAfter(8000)]);
  if (!stopped) {
    agent.proc.kill("SIGKILL");
    await Promise.race([agent.exited, giveUpAfter(5000)]);
  }
}

// ---- Operation status events, as the console publishes them. ----------------------------------
type Events = ApiTest["deps"]["events"];
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/** When each operation finished (its status event), and how many job-line events it had. */
function watchOperations(events: Events, signal: AbortSignal) {
  const terminal = new Map<string, { status: string; at: number }>();
  const logCalls = new Map<string, number>();
  const waiters = new Map<string, (v: { status: string; at: number }) => void>();
  void (async () => {
    for await (const e of events.subscribe("operation", signal)) {
      if (e.kind === "log") logCalls.set(e.operationId, (logCalls.get(e.operationId) ?? 0) + 1);
      if (e.kind !== "status" || !e.status || !TERMINAL.has(e.status)) continue;
      const hit = { status: e.status, at: wallNow() };
      terminal.set(e.operationId, hit);
      waiters.get(e.operationId)?.(hit);
    }
  })();
  return {
    /** How many agent.log calls the operation's job lines took. */
    logCalls: (operationId: string) => logCalls.get(operationId) ?? 0,
    /** When the operation's "succeeded" event arrived (epoch ms); throws on any other outcome. */
    async succeeded(operationId: string, timeoutMs = WAIT_MS): Promise<number> {
      const ms = budget(timeoutMs);
      let timer: NodeJS.Timeout | undefined;
      const hit =
        terminal.get(operationId) ??
        (await new Promise<{ status: string; at: number } | undefined>((resolve) => {
          waiters.set(operationId, resolve);
          timer = setTimeout(() => resolve(undefined), ms);
        }).finally(() => (clearTimeout(timer), waiters.delete(operationId))));
      if (!hit) throw new Error(`operation ${operationId} did not finish within ${ms} ms`);
      if (hit.status !== "succeeded") throw new Error(`operation ${operationId} ${hit.status}`);
      return hit.at;
    },
  };
}

/**
 * When the console said "work for this host" (the host event `attachments.create` publishes once its
 * statement committed): the start of the push delay. Subscribed before the agent's push stream, so
 * this listener hears an event before the stream's claim starts.
 */
function watchHostWork(events: Events, signal: AbortSignal) {
  const times: { hostId: string; at: number }[] = [];
  void (async () => {
    for await (const e of events.subscribe("host", signal)) if (e.kind === "work" && times.length < 100_000) times.push({ hostId: e.hostId, at: wallNow() });
  })();
  /** The first "work" event for the host at or after `since` (epoch ms), or NaN. */
  return (hostId: string, since: number) => times.find((w) => w.hostId === hostId && w.at >= since)?.at ?? Number.NaN;
}

const row = (label: string, xs: number[]) => statsRow(label, xs, 44);
const verdict = (ok: boolean) => (ok ? "met" : "MISSED");

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root: the benchmark creates network namespaces");
  if (!existsSync(AGENT_BIN)) throw new Error(`${AGENT_BIN} is not built: run \`npx turbo run build --filter=@switchyard/agent\` first`);
  if (!BRIDGE) throw new Error(`no bridge plugin in ${CNI_PATH}`);
  const dirs = await createTestDirs();
  const agentNet = makeNetwork("a", 246, join(dirs.dataDir, "agent"));
  const directNet = makeNetwork("d", 247, join(dirs.dataDir, "direct"));
  const namespaces = new Set<string>(); // every name either side may have created
  const prefix = (side: "a" | "d") => `sytest-b${side}-${process.pid}-`;
  const watch = new AbortController();
  let t: ApiTest | undefined;
  let server: Awaited<ReturnType<typeof serveApi>> | undefined;
  let agent: RunningAgent | undefined;
  let cleaning: Promise<void> | undefined;
  // First, so that it can clean up after anything that follows (see DIRECT_RUNNER).
  const directRunner = startDirectRunner(directNet, { netnsPrefixes: [prefix("a"), prefix("d")], bridges: [agentNet.bridge, directNet.bridge], root: dirs.root });
  // Idempotent: the agent first (so it stops making namespaces), then the host (the runner), then the console.
  const cleanup = () =>
    (cleaning ??= (async () => {
      watch.abort();
      if (agent) await stopAgent(agent).catch(() => {});
      await directRunner.stop().catch(() => {});
      // The runner did this; again in case it could not.
      for (const ns of namespaces) if (existsSync(join(NETNS_DIR, ns))) await run("ip", ["netns", "del", ns]);
      for (const br of [agentNet.bridge, directNet.bridge]) await deleteBridge(br).catch(() => {});
      await server?.close().catch(() => {});
      await t?.close().catch(() => {});
      await dirs.remove();
    })());
  // process.on, not once: a second signal (tsx relays Ctrl-C to its child too) must not kill the cleanup.
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    // ---- The console: a migrated database and its HTTP endpoints on 127.0.0.1. ----
    t = await setupApiTest();
    server = await serveApi(t.deps);
    const db = t.db;
    const admin = await t.callerAs("admin", "bench-admin");
    const operator = await t.callerAs("operator", "bench-op");
    const ops = watchOperations(t.deps.events, watch.signal);
    const workAt = watchHostWork(t.deps.events, watch.signal);
    const load0 = loadavg();
    const network = await operator.caller.networks.create({ text: agentNet.text, comment: "bench/agent-attach.ts" });
    const hostname = `sytest-bench-${randomSuffix()}`;
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    const confDir = join(dirs.root, "net.d");
    mkdirSync(confDir, { recursive: true });
    // ---- The agent. ----
    agent = startAgent([
      "--console-url", server.url,
      "--join-token", token,
      "--data-dir", join(dirs.root, "agent"),
      "--cache-dir", dirs.cacheDir,
      "--conf-dir", confDir,
      "--netns-dir", NETNS_DIR,
      "--hostname", hostname,
      "--cni-path", CNI_PATH,
      "--reconcile-interval", "600000",
      "--concurrency", "64",
      "--plugin-timeout", String(PLUGIN_TIMEOUT_MS),
      "--shutdown-grace", "5000",
    ], join(dirs.root, "agent.log")); // prettier-ignore
    const running = agent;
    directRunner.guard(running.proc.pid!);
    const hostId = await waitFor("the host to enrol", async () => (await db.host.findUnique({ where: { name: hostname } }))?.id);
    await waitFor("the agent to start", async () => running.lines.some((l) => l.msg === "agent started") || running.proc.exitCode !== null);
    if (running.proc.exitCode !== null) throw new Error(`the agent exited ${running.proc.exitCode}: ${JSON.stringify(running.lines.slice(-5))}`);
    // Its start-up work (plugin VERSIONs, the first inventory) is done before anything is measured.
    await waitFor("the first heartbeat with inventory", async () => (await db.host.findUniqueOrThrow({ where: { id: hostId } })).inventoryAt);

    let seq = 0;
    const nextName = (side: "a" | "d") => {
      const name = `${prefix(side)}${seq++}`;
      namespaces.add(name);
      return name;
    };

    /** --target netns: the namespaces exist before the clock starts (made by the runner, untimed). */
    const prepare = async (names: string[]) => {
      if (TARGET === "netns") await directRunner.prepare(names);
    };
    const agentAttach = async (name: string) => {
      const t0 = wallNow();
      const { attachment, operation } = await operator.caller.attachments.create({ hostId, networkId: network.id, target: { kind: TARGET, name }, ifName: "eth0", portMappings: [] });
      const created = wallNow();
      return { name, attachmentId: attachment.id, operationId: operation.id, t0, created };
    };
    type AgentStart = Awaited<ReturnType<typeof agentAttach>>;
    /** Untimed. The agent deletes a sandbox's namespace itself; a netns target's is the runner's to drop. */
    const detach = async (a: { attachmentId: string; name: string }) => {
      const { operation } = await operator.caller.attachments.detach({ id: a.attachmentId });
      if (operation) await ops.succeeded(operation.id);
      if (TARGET === "netns") await directRunner.drop([a.name]);
    };

    /** What the database and the job log say about one attach, read after the fact (untimed). */
    const inspect = async (a: AgentStart, t1: number) => {
      const op = await db.operation.findUniqueOrThrow({ where: { id: a.operationId }, select: { attempt: true, createdAt: true, startedAt: true, finishedAt: true } });
      const job = await operator.caller.attachments.operation({ id: a.operationId });
      const pluginMs = job.logs.filter((l) => l.attempt === op.attempt).reduce((sum, l) => sum + Number(PLUGIN_EXIT.exec(l.line)?.[2] ?? 0), 0);
      // The agent wrote these lines before its complete call; give the pipe a moment if they are not read yet.
      await waitFor("the agent's job lines", async () => (running.pump(), running.byOperation.get(a.operationId)?.some((l) => l.msg.startsWith("address "))), 2000).catch(() => {});
      const lines = running.byOperation.get(a.operationId) ?? [];
      const at = (pred: (m: string) => boolean) => lines.find((l) => pred(l.msg))?.at ?? Number.NaN;
      return {
        ...a,
        t1,
        attempt: op.attempt,
        totalMs: t1 - a.t0,
        pluginMs,
        overheadMs: t1 - a.t0 - pluginMs,
        // Row written → the agent has the operation and begins it (its log clock: whole ms). The
        // console claims for the agent's push stream, so startedAt alone would stop at the console.
        pushMs: at((m) => m.startsWith("attach (attempt")) - workAt(hostId, a.t0),
        /** The same from Operation.createdAt, taken before the create's statement ran (the figure before 2026-12-06). */
        pushFromRowMs: at((m) => m.startsWith("attach (attempt")) - op.createdAt.getTime(),
        committed: workAt(hostId, a.t0),
        createdAt: op.createdAt.getTime(),
        startedAt: op.startedAt!.getTime(),
        finishedAt: op.finishedAt!.getTime(),
        agentBegins: at((m) => m.startsWith("attach (attempt")),
        sandboxMade: at((m) => m.startsWith(`sandbox namespace ${a.name}`)),
        addSaid: at((m) => m.startsWith(`ADD ${agentNet.name} `)),
        pluginStarts: at((m) => m === "bridge ADD"),
        pluginExits: at((m) => PLUGIN_EXIT.test(m)),
        addressSaid: at((m) => m.startsWith("address ")),
        logCalls: ops.logCalls(a.operationId),
      };
    };
    type AgentRun = Awaited<ReturnType<typeof inspect>>;

    // Warm-up, unmeasured: first exec of each path, the bridges' creation, the console's first queries.
    {
      const warm = nextName("a");
      await prepare([warm]);
      const w = await agentAttach(warm);
      await ops.succeeded(w.operationId);
      await detach(w);
      const warmDirect = nextName("d");
      await prepare([warmDirect]);
      const [d] = await directRunner.attach([warmDirect]);
      await directRunner.detach([d!.name]);
    }

    // ---- 1 + 2: sequential attaches, interleaved with the direct sequence (alternating which goes first). ----
    const seqAgent: AgentRun[] = [];
    const seqDirect: DirectRun[] = [];
    for (let i = 0; i < ATTACHES; i++) {
      checkDeadline();
      const viaAgent = async () => {
        const name = nextName("a");
        await prepare([name]);
        const a = await agentAttach(name);
        seqAgent.push(await inspect(a, await ops.succeeded(a.operationId)));
      };
      const viaRunner = async () => {
        const name = nextName("d");
        await prepare([name]);
        seqDirect.push(...(await directRunner.attach([name])));
      };
      if (i % 2 === 0) {
        await viaAgent();
        await viaRunner();
      } else {
        await viaRunner();
        await viaAgent();
      }
      // Undone before the next pair, untimed: both sides always start from an empty bridge.
      await detach(seqAgent.at(-1)!);
      await directRunner.detach([seqDirect.at(-1)!.name]);
    }

    // ---- 3: CONCURRENT attaches at once, per side; rounds alternate which side goes first. ----
    const conc = { agentWall: [] as number[], directWall: [] as number[], agent: [] as number[], direct: [] as number[], agentPlugin: [] as number[], directAdd: [] as number[], createsDone: [] as number[], claims: [] as string[], lastClaim: [] as number[], queued: [] as number[], logCalls: [] as number[], steps: [] as AgentRun[], agentCpu: [] as number[], directCpu: [] as number[], runnerCpu: [] as number[], split: [] as { console: number; agent: number; helper: number; postgres: number }[] };
    const agentBatch = async () => {
      const names = Array.from({ length: CONCURRENT }, () => nextName("a"));
      await prepare(names);
      const start = wallNow();
      const cpu0 = hostCpuMs();
      const helperPid = childPids(running.proc.pid).find((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("spawner-child"));
      const split0 = { console: process.cpuUsage(), agent: processCpuMs(running.proc.pid), helper: processCpuMs(helperPid), postgres: DB_KIND === "postgres" ? postgresCpuMs() : 0 };
      const profiler = await startProfile();
      const made = await Promise.all(names.map((n) => agentAttach(n)));
      conc.createsDone.push(wallNow() - start);
      const finished = await Promise.all(made.map((a) => ops.succeeded(a.operationId)));
      await profiler?.stop(`agent-batch-${conc.agentWall.length + 1}`);
      conc.agentCpu.push(hostCpuMs() - cpu0);
      const used = process.cpuUsage(split0.console);
      conc.split.push({
        console: (used.user + used.system) / 1000,
        agent: processCpuMs(running.proc.pid) - split0.agent,
        helper: processCpuMs(helperPid) - split0.helper,
        postgres: DB_KIND === "postgres" ? postgresCpuMs() - split0.postgres : 0,
      });
      // Read back only once all are ready: the reads must not load the console during the batch.
      const done: AgentRun[] = [];
      for (const [i, a] of made.entries()) done.push(await inspect(a, finished[i]!));
      conc.agentWall.push(Math.max(...done.map((d) => d.t1)) - start);
      conc.agent.push(...done.map((d) => d.t1 - start));
      conc.agentPlugin.push(...done.map((d) => d.pluginMs));
      // Operations claimed by one claim call share its startedAt: "+ms ×count" per claim.
      const claims = new Map<number, number>();
      for (const d of done) claims.set(d.startedAt, (claims.get(d.startedAt) ?? 0) + 1);
      conc.claims.push([...claims].sort((x, y) => x[0] - y[0]).map(([at, n]) => `+${Math.round(at - start)} ms ×${n}`).join(", "));
      conc.lastClaim.push(Math.max(...done.map((d) => d.startedAt)) - start);
      conc.queued.push(...done.map((d) => d.pluginStarts - d.agentBegins));
      conc.steps.push(...done);
      conc.logCalls.push(...done.map((d) => d.logCalls));
      // Untimed, bounded: every detach at once, then wait for each.
      await Promise.all(done.map((d) => detach(d)));
    };
    const directBatch = async () => {
      const names = Array.from({ length: CONCURRENT }, () => nextName("d"));
      await prepare(names);
      // Timed inside the runner, from its receipt of the batch.
      const cpu0 = hostCpuMs();
      const runner0 = processCpuMs(directRunner.pid);
      const done = await directRunner.attach(names);
      conc.directCpu.push(hostCpuMs() - cpu0);
      conc.runnerCpu.push(processCpuMs(directRunner.pid) - runner0);
      conc.directWall.push(Math.max(...done.map((d) => d.endMs)));
      conc.direct.push(...done.map((d) => d.endMs));
      conc.directAdd.push(...done.map((d) => d.addMs));
      await directRunner.detach(names);
    };
    for (let round = 0; round < ROUNDS; round++) {
      checkDeadline();
      if (round % 2 === 0) {
        await agentBatch();
        await directBatch();
      } else {
        await directBatch();
        await agentBatch();
      }
    }

    // ---- Nothing left: every attachment detached, no lease, no veth, no namespace. ----
    const attachments = await db.attachment.findMany({ where: { hostId }, select: { state: true, present: true } });
    const notDetached = attachments.filter((a) => a.state !== "detached" || a.present).length;
    const leases = (await readLeases(join(dirs.dataDir, "agent"), agentNet.name)).length + (await readLeases(join(dirs.dataDir, "direct"), directNet.name)).length;
    const ports = (await listBridgePorts(agentNet.bridge)).length + (await listBridgePorts(directNet.bridge)).length;
    const leftNs = [...namespaces].filter((n) => existsSync(join(NETNS_DIR, n))).length;

    // What a spawn costs from each process (fork() copies the parent's page tables).
    const spawnHere = await spawnProbe(15);
    const spawnRunner = await directRunner.probe(15);
    const agentMem = rssOf(running.proc.pid);

    // ---- Report. ----
    const seqTotal = seqAgent.map((a) => a.totalMs);
    const dirTotal = seqDirect.map((d) => d.totalMs);
    const overhead = seqAgent.map((a) => a.overheadMs);
    const push = seqAgent.map((a) => a.pushMs);
    const retried = seqAgent.filter((a) => a.attempt > 1).length;
    const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(3);
    console.log(`agent-attach: switchyard-agent → console API (${server.url}, ${DB_KIND}), bridge + host-local (${BRIDGE}), node ${process.version}${SPLIT_CPUS ? ", console on CPU 0, host side on CPU 1" : ""}, ${new Date().toISOString()}`);

    console.log(`\n${ATTACHES} sequential ${TARGET === "sandbox" ? "sandbox attaches (the namespace made as part of it)" : "attaches to existing namespaces"} (interleaved with the direct sequence)`);
    console.log(row("  agent: create → \"succeeded\" event", seqTotal));
    console.log(row("  agent: plugin time (job log)", seqAgent.map((a) => a.pluginMs)));
    console.log(row("  agent: overhead (total − plugin)", overhead));
    console.log(row(TARGET === "sandbox" ? "  direct: netns add, then lo up ‖ bridge ADD" : "  direct: bridge ADD", dirTotal));
    console.log(row("  direct: bridge ADD alone", seqDirect.map((d) => d.addMs)));
    console.log(`  ratio agent/direct total (median)  ${ratio(seqTotal, dirTotal)}   (p90 ${(quantile(seqTotal, 0.9) / quantile(dirTotal, 0.9)).toFixed(3)})`);
    // Each pair ran back to back, so its difference cancels the drift of a shared machine's load.
    const paired = median(seqAgent.map((a, i) => a.totalMs - seqDirect[i]!.totalMs));
    console.log(`  paired: median(agent − direct) ${paired.toFixed(2)} ms${retried > 0 ? `   (${retried} attaches needed a second attempt)` : ""}`);
    console.log(`  target: median overhead ≤ 10 ms (issue 10) — ${verdict(median(overhead) <= 10)} (${median(overhead).toFixed(1)} ms)`);

    console.log(`\npush delay: the console commits the work (its "work" event for the host) → the agent begins it (its log time: same host clock, ±1 ms)`);
    console.log(row("  push delay", push));
    console.log(row("  from Operation.createdAt (before the create ran)", seqAgent.map((a) => a.pushFromRowMs)));
    console.log(`  target: median ≤ 5 ms (issue 10) — ${verdict(median(push) <= 5)} (${median(push).toFixed(1)} ms)`);

    // Agent log times are whole milliseconds (another process, the same clock): each step ±1 ms.
    const step = (f: (a: AgentRun) => number) => median(seqAgent.map(f));
    // Each hop from the clock it is seen on: this process (t0, the commit's event, the "succeeded"
    // event), the database rows (startedAt: the claim's statement about to run; finishedAt: the
    // close's), and the agent's log lines (whole ms). Not a partition: the clocks differ by ±1 ms.
    const steps: [string, number][] = [
      ["console: create → committed (\"work\" event)", step((a) => a.committed - a.t0)],
      ["console: committed → push stream claims", step((a) => a.startedAt - a.committed)],
      ["claim statement, SSE push → agent begins", step((a) => a.agentBegins - a.startedAt)],
      ...(TARGET === "sandbox"
        ? ([
            ["agent: intent ‖ sandbox (ip netns add)", step((a) => a.sandboxMade - a.agentBegins)],
            ["agent: sandbox made → ADD begins (cache read)", step((a) => a.addSaid - a.sandboxMade)],
          ] as [string, number][])
        : ([["agent: intent, cache read → ADD begins", step((a) => a.addSaid - a.agentBegins)]] as [string, number][])),
      ["runtime: checks, locks, fork → plugin spawned", step((a) => a.pluginStarts - a.addSaid)],
      ["plugin: bridge ADD (job log; lo up beside it)", step((a) => a.pluginMs)],
      ["runtime: plugin exit → result cached", step((a) => a.addressSaid - a.pluginExits)],
      ["agent → console: outcome's close begins", step((a) => a.finishedAt - a.addressSaid)],
      ["console: close → \"succeeded\" event", step((a) => a.t1 - a.finishedAt)],
    ];
    console.log(`\nwhere a sequential attach's time goes (median of each step; they need not add up exactly)`);
    for (const [label, ms] of steps) console.log(`  ${label.padEnd(46)} ${fmt(ms)} ms`);
    if (TARGET === "sandbox") console.log(`  ${"direct: ip netns add".padEnd(46)} ${fmt(median(seqDirect.map((d) => d.netnsMs)))} ms`);
    console.log(`  job-line events per attach: ${median(seqAgent.map((a) => a.logCalls))} (median; log calls, and the lines that came with the outcome)`);

    console.log(`\n${CONCURRENT} concurrent ${TARGET === "sandbox" ? "sandbox attaches" : "attaches to existing namespaces"} × ${ROUNDS} rounds (all created at once; wall until all ready)`);
    console.log(row("  agent, batch wall", conc.agentWall));
    console.log(row("  direct, batch wall", conc.directWall));
    console.log(row("  agent, per attachment (from batch start)", conc.agent));
    console.log(row("  direct, per attachment (from batch start)", conc.direct));
    console.log(row("  agent: plugin time (job log)", conc.agentPlugin));
    console.log(row("  direct: bridge ADD alone", conc.directAdd));
    console.log(row("  agent: all creates returned", conc.createsDone));
    console.log(row("  agent: last claim starts", conc.lastClaim));
    console.log(row("  agent: op begins → plugin spawned", conc.queued));
    console.log(row("    claimed → op begins", conc.steps.map((a) => a.agentBegins - a.startedAt)));
    if (TARGET === "sandbox") {
      console.log(row("    op begins → sandbox made", conc.steps.map((a) => a.sandboxMade - a.agentBegins)));
      console.log(row("    sandbox made → plugin spawned", conc.steps.map((a) => a.pluginStarts - a.sandboxMade)));
    }
    console.log(row("  agent: plugin exit → outcome stored", conc.steps.map((a) => a.finishedAt - a.pluginExits)));
    for (const [i, c] of conc.claims.entries()) console.log(`  claims, round ${i + 1}: ${c}`);
    console.log(`  job-line events per attach: median ${median(conc.logCalls)}, max ${Math.max(...conc.logCalls)}`);
    console.log(row("  host CPU busy during the agent's batch (ms)", conc.agentCpu));
    console.log(row("    of it this process (the console)", conc.split.map((x) => x.console)));
    console.log(row("    of it the agent", conc.split.map((x) => x.agent)));
    console.log(row("    of it the agent's spawn helper", conc.split.map((x) => x.helper)));
    if (DB_KIND === "postgres") console.log(row("    of it the PostgreSQL server", conc.split.map((x) => x.postgres)));
    console.log(row("  host CPU busy during the direct batch (ms)", conc.directCpu));
    console.log(row("    of it the direct runner", conc.runnerCpu));
    const throughput = median(conc.directWall) / median(conc.agentWall);
    console.log(`  throughput vs direct (direct wall / agent wall, medians)  ${throughput.toFixed(3)}`);
    console.log(`  target: ≥ 0.8 — ${verdict(throughput >= 0.8)}`);

    console.log(`\nspawn cost (median spawn → exit of /bin/true, 15 runs; fork() copies the parent's page tables)`);
    console.log(`  ${`direct runner (bare node, ${spawnRunner.rssMb.toFixed(0)} MB resident)`.padEnd(52)} ${fmt(spawnRunner.ms)} ms`);
    console.log(`  ${`this process (the console, ${DB_KIND}, ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB)`.padEnd(52)} ${fmt(spawnHere)} ms`);
    console.log(`  agent process: ${agentMem.rssMb.toFixed(0)} MB resident (peak ${agentMem.peakMb.toFixed(0)} MB); an attach spawns ${TARGET === "sandbox" ? "ip twice and the plugin" : "the plugin"} through its spawn helper`);

    // Issue 10 item 19's targets, each beside its figure, and how loaded the host was.
    const load1 = loadavg();
    console.log(`\ntargets (issue 10 item 19), ${TARGET}, ${DB_KIND}; load average ${load0.map((x) => x.toFixed(2)).join(" ")} at the start, ${load1.map((x) => x.toFixed(2)).join(" ")} at the end`);
    console.log(`  median overhead per attach    ${fmt(median(overhead))} ms   target ≤ 10 ms   ${verdict(median(overhead) <= 10)}   (paired agent − direct: ${fmt(paired)} ms)`);
    console.log(`  median push delay             ${fmt(median(push))} ms   target ≤ 5 ms    ${verdict(median(push) <= 5)}`);
    console.log(`  throughput, ${CONCURRENT} at once        ${throughput.toFixed(3)}      target ≥ 0.8     ${verdict(throughput >= 0.8)}`);

    console.log(`\ncleanup check: ${attachments.length - notDetached}/${attachments.length} attachments detached, ${leases} leases, ${ports} bridge ports, ${leftNs} namespaces left`);
    if (notDetached + leases + ports + leftNs > 0) process.exitCode = 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
