/**
 * The host agent's resident memory on an idle host (issue 15 §5: ≤ 60 MB, its spawn helper
 * included): a real console in this process, a real agent process enrolled against it that has
 * carried out one attach and one detach with the real bridge plugin, then left alone; its RSS and
 * its descendants' sampled from /proc beside a bare node's, in the same run. See bench/README.md.
 *
 *   npx tsx bench/agent-memory.ts [--idle 30] [--samples 10] [--every 2000]
 *   npx tsx bench/agent-memory.ts --agent /tmp/before/switchyard-agent.mjs --agent="--no-opt apps/agent/dist/switchyard-agent.mjs"
 *
 * Root only: the agents create network namespaces `sytest-bm-<pid>-*` on a bridge `sy…`; both are removed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type ApiTest, serveApi, setupApiTest } from "@switchyard/api/testing";
import { bridgeConflist, createTestDirs, deleteBridge, deleteNetns, getGlobalAddrs, listLinks, listNetns, randomSuffix } from "@switchyard/cni/test-host";
import { clamp, median } from "./stats";

const { values: flags } = parseArgs({
  options: {
    /** Seconds left idle after the detach before the first sample. */
    idle: { type: "string", default: "30" },
    samples: { type: "string", default: "10" },
    /** Milliseconds between samples. */
    every: { type: "string", default: "2000" },
    /** An agent to measure, `[node flags…] <bundle.mjs>`; repeatable (an A/B in one run). Default: the built bundle with the unit's node flags. */
    agent: { type: "string", multiple: true },
  },
});
const IDLE_MS = clamp(Number(flags.idle), 0, 600) * 1000;
const SAMPLES = clamp(Number(flags.samples), 1, 100);
const EVERY_MS = clamp(Number(flags.every), 100, 60_000);
const DEADLINE = Date.now() + IDLE_MS + SAMPLES * EVERY_MS + 5 * 60_000; // the whole run is bounded
const WAIT_MS = 60_000; // any one wait (enrolment, an operation, an exit)
/** Issue 15 §5: what an idle agent may hold resident, its spawn helper included (MB = 10⁶ bytes). */
const TARGET_MB = 60;
const PLUGIN_DIRS = ["/opt/cni/bin", "/usr/lib/cni"];
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUNDLE = resolve(ROOT, "apps/agent/dist/switchyard-agent.mjs");
const UNIT = resolve(ROOT, "deploy/switchyard-agent.service");
/** In the spawn helper's command line (packages/cni/src/exec/spawner.ts). */
const HELPER_MARK = "spawner-child";
/** The baseline: node doing nothing, kept alive by a timer. */
const BARE_NODE = ["-e", "setInterval(() => {}, 1e3)"];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const giveUpAfter = (ms: number) => new Promise<false>((r) => setTimeout(() => r(false), ms).unref());

/** A wait's budget: its own bound, never past the run's deadline. */
function budget(ms: number): number {
  const left = DEADLINE - Date.now();
  if (left <= 0) throw new Error("benchmark deadline exceeded");
  return Math.min(ms, left);
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = WAIT_MS): Promise<T> {
  const until = Date.now() + budget(timeoutMs);
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The node flags in the unit's ExecStart (`/usr/bin/env node <flags> /opt/…/switchyard-agent.mjs …`): how hosts run the agent. */
function unitNodeFlags(): string[] {
  const words = /^ExecStart=(.*)$/m.exec(readFileSync(UNIT, "utf8"))?.[1]?.trim().split(/\s+/) ?? [];
  const node = words.indexOf("node");
  const bundle = words.findIndex((w) => w.endsWith(".mjs"));
  if (node < 0 || bundle < node) throw new Error(`${UNIT}: no "node … <bundle>.mjs" in its ExecStart`);
  return words.slice(node + 1, bundle);
}

interface AgentSpec {
  label: string;
  nodeArgs: string[];
  bundle: string;
}

/** `[node flags…] <bundle.mjs>`: the last word is the bundle. */
function parseAgentSpec(spec: string): AgentSpec {
  const words = spec.trim().split(/\s+/);
  const bundle = resolve(words.pop() ?? "");
  return { label: spec.trim(), nodeArgs: words, bundle };
}

// ---- /proc ---------------------------------------------------------------------------------------
interface Memory {
  /** VmRSS: what the target counts. */
  rss: number;
  anon: number;
  /** Resident pages of mapped files: most of it node's own binary. */
  file: number;
  /** Pss (smaps_rollup): each page shared with other processes (node's code, with the helper) divided among them. */
  pss: number;
}
const mbOf = (kB: number) => (kB * 1024) / 1e6;

function memoryOf(pid: number): Memory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kB = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN);
    return { rss: mbOf(kB(status, "VmRSS")), anon: mbOf(kB(status, "RssAnon")), file: mbOf(kB(status, "RssFile")), pss: mbOf(kB(rollup, "Pss")) };
  } catch {
    return undefined; // gone meanwhile
  }
}

/** Every live descendant of `pid` (the spawn helper; a plugin or `ip` should one run right then), from each thread's children. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      continue; // gone meanwhile
    }
    for (const task of tasks) {
      let text = "";
      try {
        text = readFileSync(`/proc/${parent}/task/${task}/children`, "utf8");
      } catch {
        continue;
      }
      for (const child of text.trim().split(/\s+/).filter(Boolean).map(Number)) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
}

/** Running, or exiting but not yet reaped past a zombie. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

// ---- The agent as a child process, as apps/agent/test/agent.int.test.ts starts it ---------------
interface RunningAgent {
  spec: AgentSpec;
  hostname: string;
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
  /** Every descendant seen while sampling: all must be gone after the stop. */
  seen: Set<number>;
}

function startAgent(spec: AgentSpec, args: string[], hostname: string): RunningAgent {
  const proc = spawn(process.execPath, [...spec.nodeArgs, spec.bundle, ...args], {
    // As a host's /etc/switchyard/agent.env would say it: no services data plane here.
    env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", SWITCHYARD_SERVICES: "off" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  let buf = "";
  proc.stderr!.on("data", (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split("\n");
    buf = parts.pop()!;
    for (const part of parts) {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(part) as Record<string, unknown>;
      } catch {
        line = { msg: part };
      }
      if (lines.length < 10_000) lines.push(line);
    }
  });
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  return { spec, hostname, proc, lines, exited, seen: new Set() };
}

async function stopAgent(agent: RunningAgent): Promise<void> {
  if (agent.proc.exitCode !== null || agent.proc.signalCode !== null) return;
  agent.proc.kill("SIGTERM");
  if (!(await Promise.race([agent.exited.then(() => true), giveUpAfter(10_000)]))) {
    agent.proc.kill("SIGKILL");
    await Promise.race([agent.exited, giveUpAfter(5000)]);
  }
}

interface Sample {
  agent: Memory;
  helper?: Memory;
  /** Descendants other than the helper (a plugin or `ip` caught running): counted in the total. */
  others: Memory[];
  total: number;
}

function sampleAgent(agent: RunningAgent): Sample | undefined {
  const own = memoryOf(agent.proc.pid!);
  if (!own) return undefined;
  let helper: Memory | undefined;
  const others: Memory[] = [];
  for (const pid of descendants(agent.proc.pid!)) {
    agent.seen.add(pid);
    const m = memoryOf(pid);
    if (!m) continue;
    if (commandOf(pid).includes(HELPER_MARK)) helper = m;
    else others.push(m);
  }
  const total = own.rss + (helper?.rss ?? 0) + others.reduce((s, m) => s + m.rss, 0);
  return { agent: own, helper, others, total };
}

const mb = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "–").padStart(6);
const med = (xs: number[]) => (xs.length > 0 ? median(xs) : Number.NaN);
const describe = (ms: Memory[]) => `${mb(med(ms.map((m) => m.rss)))} MB  max ${mb(Math.max(...ms.map((m) => m.rss)))}   (anon ${mb(med(ms.map((m) => m.anon)))}, file ${mb(med(ms.map((m) => m.file)))}, pss ${mb(med(ms.map((m) => m.pss)))})`;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root: the agent creates network namespaces");
  const specs = (flags.agent ?? []).length > 0 ? flags.agent!.map(parseAgentSpec) : [{ label: `unit's command line: node ${[...unitNodeFlags(), "apps/agent/dist/switchyard-agent.mjs"].join(" ")}`, nodeArgs: unitNodeFlags(), bundle: BUNDLE }];
  for (const s of specs) if (!existsSync(s.bundle)) throw new Error(`${s.bundle} is not built: run \`npx turbo run build --filter=@switchyard/agent\` first`);
  if (!PLUGIN_DIRS.some((d) => existsSync(join(d, "bridge")))) throw new Error(`no bridge plugin in ${PLUGIN_DIRS.join(":")}`);

  const dirs = await createTestDirs();
  const net = bridgeConflist({ dataDir: dirs.dataDir });
  const prefix = `sytest-bm-${process.pid}-`;
  let t: ApiTest | undefined;
  let server: Awaited<ReturnType<typeof serveApi>> | undefined;
  const agents: RunningAgent[] = [];
  const bare = spawn(process.execPath, BARE_NODE, { stdio: "ignore" });
  const bareExited = new Promise<void>((r) => bare.once("exit", () => r()));
  let cleaning: Promise<void> | undefined;
  // Idempotent: the agents (so they stop making namespaces), the baseline, the host, then the console.
  const cleanup = () =>
    (cleaning ??= (async () => {
      await Promise.all(agents.map((a) => stopAgent(a).catch(() => {})));
      bare.kill("SIGKILL");
      await Promise.race([bareExited, giveUpAfter(5000)]);
      for (const ns of await listNetns()) if (ns.startsWith(prefix)) await deleteNetns(ns).catch(() => {});
      await deleteBridge(net.names.bridge).catch(() => {});
      await server?.close().catch(() => {});
      await t?.close().catch(() => {});
      await dirs.remove();
    })());
  // process.on, not once: a second signal (tsx relays Ctrl-C to its child too) must not kill the cleanup.
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    t = await setupApiTest();
    server = await serveApi(t.deps);
    const db = t.db;
    const admin = await t.callerAs("admin", "bench-admin");
    const operator = await t.callerAs("operator", "bench-op");
    const network = await operator.caller.networks.create({ text: net.text, comment: "bench/agent-memory.ts" });
    const load0 = loadavg();

    for (const [i, spec] of specs.entries()) {
      const hostname = `sytest-bm-${randomSuffix()}`;
      const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
      const root = join(dirs.root, `agent-${i}`);
      mkdirSync(join(root, "net.d"), { recursive: true });
      // The agent's defaults otherwise (reconcile every 60 s, heartbeat every 10 s, metrics every 30 s): an idle host's timers.
      const args = ["--console-url", server.url, "--join-token", token, "--hostname", hostname, "--data-dir", join(root, "data"), "--cache-dir", join(root, "cache"), "--conf-dir", join(root, "net.d"), "--netns-dir", "/run/netns", "--cni-path", PLUGIN_DIRS.join(":"), "--plugin-timeout", "20000", "--shutdown-grace", "5000"];
      agents.push(startAgent(spec, args, hostname));
    }

    let seq = 0;
    /** One sandbox attach and its detach through the console; the address checked inside the namespace. */
    const attachAndDetach = async (hostId: string): Promise<{ attachMs: number; detachMs: number }> => {
      const name = `${prefix}${seq++}`;
      const t0 = performance.now();
      const { attachment } = await operator.caller.attachments.create({ hostId, networkId: network.id, target: { kind: "sandbox", name }, ifName: "eth0", portMappings: [] });
      const state = async () => (await db.attachment.findUniqueOrThrow({ where: { id: attachment.id }, select: { state: true } })).state;
      await waitFor(`attachment ${name} to be ready`, async () => (await state()) === "ready" || (await state()) === "failed");
      const attachMs = performance.now() - t0;
      if ((await state()) !== "ready") throw new Error(`the attach of ${name} failed`);
      if ((await getGlobalAddrs(name, "eth0")).length !== 1) throw new Error(`no address on eth0 in ${name}`);
      const t1 = performance.now();
      await operator.caller.attachments.detach({ id: attachment.id });
      await waitFor(`attachment ${name} to be detached`, async () => (await state()) === "detached");
      const detachMs = performance.now() - t1;
      if ((await listNetns()).includes(name)) throw new Error(`namespace ${name} is still there after the detach`);
      return { attachMs, detachMs };
    };

    // Enrolled, started, first inventory sent (its plugin VERSIONs run), then one attach and detach each,
    // and the spawn helper as it is right after its work (before it stops: HELPER_IDLE_MS, 10 s).
    const hostIds: string[] = [];
    const first: { attachMs: number; detachMs: number }[] = [];
    const busyHelper: (Memory | undefined)[] = [];
    for (const agent of agents) {
      const hostId = await waitFor(`${agent.hostname} to enrol`, async () => {
        if (agent.proc.exitCode !== null) throw new Error(`the agent exited ${agent.proc.exitCode}: ${JSON.stringify(agent.lines.slice(-5))}`);
        return (await db.host.findUnique({ where: { name: agent.hostname } }))?.id;
      });
      await waitFor("the first heartbeat with inventory", async () => (await db.host.findUniqueOrThrow({ where: { id: hostId } })).inventoryAt);
      hostIds.push(hostId);
      first.push(await attachAndDetach(hostId));
      busyHelper.push(sampleAgent(agent)?.helper);
    }

    // Idle: nothing asked of the agents; their own timers run.
    await sleep(budget(IDLE_MS));
    const samples: (Sample | undefined)[][] = agents.map(() => []);
    const baseline: Memory[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      if (i > 0) await sleep(budget(EVERY_MS));
      const b = memoryOf(bare.pid!);
      if (b) baseline.push(b);
      for (const [j, agent] of agents.entries()) samples[j]!.push(sampleAgent(agent));
    }

    // After the idle spell: the next attach and detach still work (a helper that stopped is started again).
    const again: { attachMs: number; detachMs: number }[] = [];
    for (const hostId of hostIds) again.push(await attachAndDetach(hostId));

    const load1 = loadavg();
    console.log(`agent-memory: an idle switchyard-agent (services off) after one attach + detach, ${IDLE_MS / 1000} s idle, ${SAMPLES} samples every ${EVERY_MS} ms; node ${process.version}, ${new Date().toISOString()}`);
    console.log(`load average ${load0.map((x) => x.toFixed(2)).join(" ")} at the start, ${load1.map((x) => x.toFixed(2)).join(" ")} at the end; MB = 10⁶ bytes, medians of the samples\n`);
    const base = med(baseline.map((m) => m.rss));
    console.log(`  baseline: node ${BARE_NODE.join(" ")}   ${describe(baseline)}`);
    let failed = false;
    for (const [j, agent] of agents.entries()) {
      const taken = samples[j]!.filter((s): s is Sample => s !== undefined);
      if (taken.length === 0) throw new Error(`agent ${agent.spec.label} was gone when sampled: ${JSON.stringify(agent.lines.slice(-5))}`);
      const helpers = taken.flatMap((s) => (s.helper ? [s.helper] : []));
      const others = taken.flatMap((s) => s.others);
      const totals = taken.map((s) => s.total);
      const pass = Math.max(...totals) <= TARGET_MB;
      failed ||= !pass;
      console.log(`\n  ${agent.spec.label}`);
      console.log(`    agent process        ${describe(taken.map((s) => s.agent))}   ${(med(taken.map((s) => s.agent.rss)) / base).toFixed(2)}× baseline`);
      console.log(`    spawn helper         ${helpers.length > 0 ? describe(helpers) : "    –"}   running in ${helpers.length} of ${taken.length} samples`);
      const busy = busyHelper[j];
      console.log(`    (the helper right after the detach: ${busy ? `${mb(busy.rss).trim()} MB, anon ${mb(busy.anon).trim()}, file ${mb(busy.file).trim()}` : "not running"})`);
      if (others.length > 0) console.log(`    other children       ${describe(others)}   (${others.length} seen over the samples)`);
      console.log(`    total                ${mb(med(totals))} MB  max ${mb(Math.max(...totals))}   ${(med(totals) / base).toFixed(2)}× baseline`);
      console.log(`    target: ≤ ${TARGET_MB} MB resident when idle, helper included, in every sample — ${pass ? "PASS" : "FAIL"} (max ${Math.max(...totals).toFixed(1)} MB)`);
      console.log(`    attach create → ready ${first[j]!.attachMs.toFixed(0)} ms, detach ${first[j]!.detachMs.toFixed(0)} ms; after the idle spell ${again[j]!.attachMs.toFixed(0)} ms, ${again[j]!.detachMs.toFixed(0)} ms`);
    }
    if (failed) process.exitCode = 1;

    await cleanup();
    // A helper exits once its agent is gone: give it a moment.
    const pids = [bare.pid!, ...agents.flatMap((a) => [a.proc.pid!, ...a.seen])];
    await waitFor("the agents' processes to exit", async () => pids.every((pid) => !isAlive(pid)), 5000).catch(() => {});
    const leftProcesses = pids.filter(isAlive).length;
    const leftNetns = (await listNetns()).filter((n) => n.startsWith(prefix)).length;
    const leftBridge = (await listLinks()).some((l) => l.ifname === net.names.bridge) ? 1 : 0;
    console.log(`\ncleanup checked: ${leftProcesses} processes, ${leftNetns} namespaces, ${leftBridge} bridges left`);
    if (leftProcesses + leftNetns + leftBridge > 0) process.exitCode = 1;
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
