/**
 * The long fault run (issue 15 §6): attachments attach, get checked and detach all the time through
 * the console's API, carried out by ONE real agent process with the real bridge and host-local
 * plugins in namespaces the run creates, while the agent is SIGKILLed at random points — and at some
 * of them the console process and PostgreSQL too, and the agent's clock is moved an hour ahead and
 * back. Each is restarted. Every `checkEvery` kills and at the end the run lets the system settle
 * and counts, on the host and in the database: leaked leases, veths, CNI cache files, intent files,
 * masquerade rules and namespaces; attachments whose state disagrees with the host; plugin ADDs
 * applied twice. bench/fault-run.ts (1,000 kills) and test/fault-run.int.test.ts (50) run it.
 *
 * Every fault is real: SIGKILL of the agent (bin/switchyard-agent, the built bundle), of the console
 * replica process (packages/api/src/testReplicaMain.ts, restarted on the same port) and of the
 * postmaster of a private cluster (private-postgres.ts; never the machine's shared one); the clock
 * through libfaketime on the agent process (the wall clock only: timers run on the monotonic clock,
 * as an NTP step leaves them). The plugins are Debian's, each behind a small bash wrapper that
 * records the call (start, command, container id, exit status) and runs the real binary: that record
 * is how "applied twice" is found (plugin-recorder.ts). The host is looked at and cleaned in
 * fault-host.ts; the console process is console-process.ts.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Session, createCaller, createContextInner, createDbEventBus } from "@switchyard/api";
import { type ApiTest, setupApiTest } from "@switchyard/api/testing";
import { attachmentHashNames, bridgeConflist, listCacheFiles, readLeases } from "@switchyard/cni/test-host";
import { AGENT_BIN } from "../agent-args";
import { type AgentLogLine, type AgentProcess, startAgentProcess } from "./agent-process";
import { type ConsoleProcess, createConsoleProcess } from "./console-process";
import { type RawLink, captureProcessTree, cleanHost, filesIn, ipJson, namespacesWithPrefix, readNatRules, ruleContainerId } from "./fault-host";
import { PLUGIN_DIRS, findDoubleApplies, installRecordingPlugins, readPluginCalls } from "./plugin-recorder";
import { type PrivatePostgres, createPrivatePostgres, freePort } from "./private-postgres";


const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const IFNAME = "eth0";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** The losing side of a race: does not keep the process alive once the race is over. */
const sleepUnref = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export interface FaultRunOptions {
  /** SIGKILLs of the agent (the fault points). */
  kills: number;
  /** At how many of those points the console process is SIGKILLed too. */
  consoleKills: number;
  /** At how many PostgreSQL's postmaster is SIGKILLed too. */
  postgresKills: number;
  /** How many times the agent's clock goes an hour ahead (and, one to three points later, back). */
  clockJumps: number;
  /** Attachments cycling at once (attach, sometimes check, detach). */
  lanes: number;
  /** Settle and count after this many kills (and at the end). */
  checkEvery: number;
  /**
   * Whether a console or PostgreSQL kill may be the kill right before a check. The agent started
   * then finds them down, long-polls for a minute and misses the check's reconcile request (it
   * reaches an agent only over its push stream), so that check waits up to ~65 s: the bench keeps
   * it (it is how the system behaves), CI leaves it out to stay within its time.
   */
  faultsBeforeChecks: boolean;
  /**
   * The agent lives this long (ms, uniform) after it said "agent started" (its recovery, first
   * reconcile and claims done) before the next kill; one kill in `earlyKillEvery` instead comes
   * 0-800 ms after its spawn, in the middle of its start and recovery.
   */
  uptimeMs: { min: number; max: number };
  earlyKillEvery: number;
  /** The longest a settle may take before the run calls the system stuck. */
  settleTimeoutMs: number;
  /** The whole run, setup and cleanup aside: past it the run stops and fails. */
  deadlineMs: number;
  /** The agent's periodic reconcile (--reconcile-interval): a checkpoint waits for one that started after the settle. */
  reconcileIntervalMs: number;
  /** The schedule's seed (the faults' places and kinds; the timing is the machine's). */
  seed: number;
  /** Progress lines. */
  log(line: string): void;
  /** Aborted (Ctrl-C): the run stops where it is, fails, and cleans up. */
  signal?: AbortSignal;
}

export interface Counts {
  leases: string[];
  veths: string[];
  cacheFiles: string[];
  intents: string[];
  rules: string[];
  namespaces: string[];
  disagreements: string[];
  doubleApplies: string[];
}

export interface Checkpoint {
  afterKills: number;
  settleMs: number;
  ready: number;
  counts: Counts;
}

export interface FaultRunSummary {
  seed: number;
  killsByKind: { agent: number; console: number; postgres: number; clockJumps: number };
  /** Agent kills that came before it had started (during its recovery). */
  killsDuringStart: number;
  cycles: number;
  operations: { byKindStatus: Record<string, number>; attempts: number; retried: number; failedBy: Record<string, number> };
  checkpoints: Checkpoint[];
  /** Distinct leaked or wrong things seen at any checkpoint, per kind. */
  totals: Record<keyof Counts, number>;
  settleMs: number[];
  agentStartMs: number[];
  wallMs: number;
  /** Plugin ADD/DEL/CHECK runs the recorder saw (the double-apply check looked at these). */
  pluginCalls: Record<string, number>;
  /** Runs of the same plugin on one attachment at once (a killed agent's plugin still running beside its successor's). */
  overlappingCalls: string[];
  /** Warnings and errors the agents logged, by message. */
  agentWarnings: Map<string, number>;
  /** CHECKs of ready attachments that failed, by error (MAC addresses and names blanked). */
  checkFailures: Map<string, number>;
  /** Why the run failed (empty: it passed). */
  failures: string[];
  /** Kept when the run failed: the agent's data dir, every agent's log (agent.log), the plugin calls, the console's and PostgreSQL's logs. */
  evidenceDir?: string;
}

// ---- a seeded random source: the schedule can be replayed ------------------------------------

function createRandom(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, between: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)) };
}

interface FaultPoint {
  console: boolean;
  postgres: boolean;
  /** The clock goes an hour ahead during this point's uptime. */
  clockAhead: boolean;
  /** The clock comes back (to the true time) during this point's uptime. */
  clockBack: boolean;
}

/** Which extra faults go with which kill: distinct random points per kind, clock jumps not overlapping. */
export function planFaults(o: Pick<FaultRunOptions, "kills" | "consoleKills" | "postgresKills" | "clockJumps" | "seed" | "checkEvery" | "faultsBeforeChecks">): FaultPoint[] {
  const random = createRandom(o.seed);
  const points: FaultPoint[] = Array.from({ length: o.kills }, () => ({ console: false, postgres: false, clockAhead: false, clockBack: false }));
  const beforeCheck = (i: number) => (i + 1) % o.checkEvery === 0 || i === o.kills - 1;
  const pick = (n: number, mark: (p: FaultPoint) => boolean, set: (p: FaultPoint) => void) => {
    for (let placed = 0, tries = 0; placed < n && tries < 100_000; tries++) {
      const i = random.between(0, o.kills - 1);
      const p = points[i]!;
      if (mark(p) || (!o.faultsBeforeChecks && beforeCheck(i) && o.kills > 1)) continue;
      set(p);
      placed++;
    }
  };
  pick(Math.min(o.consoleKills, o.kills), (p) => p.console, (p) => (p.console = true));
  pick(Math.min(o.postgresKills, o.kills), (p) => p.postgres, (p) => (p.postgres = true));
  // Ahead at point i, back at i+1..i+3 (the agents started meanwhile boot an hour ahead).
  let jumps = 0;
  for (let tries = 0; jumps < o.clockJumps && tries < 100_000; tries++) {
    const i = random.between(0, Math.max(0, o.kills - 2));
    const back = Math.min(o.kills - 1, i + random.between(1, 3));
    if (back === i || points.slice(Math.max(0, i - 1), back + 2).some((p) => p.clockAhead || p.clockBack)) continue;
    points[i]!.clockAhead = true;
    points[back]!.clockBack = true;
    jumps++;
  }
  return points;
}

// ---- the run ---------------------------------------------------------------------------------

interface AttachmentRow {
  id: string;
  containerId: string;
  target: string;
  state: string;
  present: boolean;
  result: unknown;
  lastError: string;
}

const addressOf = (result: unknown): string | undefined => (result as { ips?: { address?: string }[] } | null)?.ips?.[0]?.address;

/** Errors of the console's own making (a conflict, a refusal) are answers; the rest (a database or console down) are worth a retry. */
function isAnswer(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" && ["CONFLICT", "NOT_FOUND", "BAD_REQUEST", "FORBIDDEN", "UNAUTHORIZED"].includes(code) ? code : undefined;
}

export async function runFaultRun(o: FaultRunOptions): Promise<FaultRunSummary> {
  const started = performance.now();
  let deadline = Date.now() + o.deadlineMs;
  /** Why the run stopped before its end (a lane that could not go on, the deadline, a signal). */
  let stoppedBy: string | undefined;
  o.signal?.addEventListener("abort", () => {
    stoppedBy = "a signal";
    fail("stopped by a signal");
    deadline = 0;
  });
  const failures: string[] = [];
  const fail = (why: string) => {
    if (failures.length < 200) failures.push(why);
    o.log(`FAILURE: ${why}`);
  };
  const summary: FaultRunSummary = {
    seed: o.seed,
    killsByKind: { agent: 0, console: 0, postgres: 0, clockJumps: 0 },
    killsDuringStart: 0,
    cycles: 0,
    operations: { byKindStatus: {}, attempts: 0, retried: 0, failedBy: {} },
    checkpoints: [],
    totals: { leases: 0, veths: 0, cacheFiles: 0, intents: 0, rules: 0, namespaces: 0, disagreements: 0, doubleApplies: 0 },
    settleMs: [],
    agentStartMs: [],
    wallMs: 0,
    overlappingCalls: [],
    pluginCalls: {},
    agentWarnings: new Map(),
    checkFailures: new Map(),
    failures,
  };
  if (o.clockJumps > 0 && !existsSync(LIBFAKETIME)) throw new Error(`clock jumps need libfaketime (${LIBFAKETIME}): install Debian's libfaketime (scripts/lib.sh: ensure_debs libfaketime)`);
  if (!existsSync(join(REPO_ROOT, "apps/agent/dist/switchyard-agent.mjs"))) throw new Error("the agent is not built: cd apps/agent && npm run build");

  const runId = Math.floor(Math.random() * 0xffff).toString(16).padStart(4, "0");
  const prefix = `sytest-${runId}-`;
  const root = mkdtempSync(join(tmpdir(), "sytest-fault-"));
  const dataDir = join(root, "ipam");
  const cacheDir = join(root, "cache");
  const agentDir = join(root, "agent");
  const pluginDir = join(root, "plugins");
  const callLog = join(root, "plugin-calls.log");
  const clockFile = join(root, "faketime");
  mkdirSync(join(root, "net.d"), { recursive: true });
  writeFileSync(callLog, "");
  writeFileSync(clockFile, "+0\n");
  installRecordingPlugins(pluginDir, callLog);
  const { conflist, names } = bridgeConflist({ dataDir, ipv4: true, ipMasq: true });
  const network = names.network;
  const usedContainerIds = new Set<string>();

  let pg: PrivatePostgres | undefined;
  let t: ApiTest | undefined;
  let consoleProc: ConsoleProcess | undefined;
  let agent: AgentProcess | undefined;
  let agentStartedAt = 0;
  let agentExpectedExit = false;
  let stopLanes = false;
  /** Set when the run's cleanup begins: nothing is started again after it. */
  let finished = false;
  let events: ReturnType<typeof createDbEventBus> | undefined;
  const lanes: Promise<void>[] = [];

  try {
    o.log(`fault run ${runId}: seed ${o.seed}, ${o.kills} kills (${o.consoleKills} with the console, ${o.postgresKills} with PostgreSQL, ${o.clockJumps} clock jumps), ${o.lanes} lanes, a check every ${o.checkEvery} kills; network ${network} on bridge ${names.bridge}; host files under ${root}`);
    pg = await createPrivatePostgres();
    t = await setupApiTest({ kind: "postgres", pgUrl: pg.url });
    const db = t.db;
    // The driver's mutations reach the console process (and through it the agent's push stream) over LISTEN/NOTIFY.
    events = createDbEventBus(t.url, { applicationName: "switchyard-events-faultrun-driver" });
    await events.ready;
    const deps = { ...t.deps, events };
    const as = (session: Session) => createCaller(createContextInner({ ...deps, session }));
    const admin = as(t.sessionOf(await t.createUserRow(`fault-admin-${runId}`, "admin")));
    const operator = as(t.sessionOf(await t.createUserRow(`fault-op-${runId}`, "operator")));
    consoleProc = createConsoleProcess(t.url, await freePort(), join(root, "console.log"));
    await consoleProc.start();

    /** A call through the driver that retries while the database is down (bounded); the console's answers are returned to the caller. */
    async function persist<T>(what: string, fn: () => Promise<T>, boundMs = 120_000): Promise<T> {
      const until = Date.now() + boundMs;
      for (let attempt = 0; ; attempt++) {
        try {
          return await fn();
        } catch (error) {
          if (isAnswer(error)) throw error;
          if (Date.now() > until || Date.now() > deadline) throw new Error(`${what}: still failing after ${Math.round(boundMs / 1000)} s: ${(error as Error).message}`, { cause: error });
          await sleep(Math.min(1000, 100 * 2 ** Math.min(attempt, 4)));
        }
      }
    }

    const net = await persist("create the network", () => operator.networks.create({ text: JSON.stringify(conflist), comment: "fault run" }));
    const hostname = `sytest-fault-${runId}`;
    const { token } = await admin.hosts.createJoinToken({ note: hostname, ttlMinutes: 30 });

    const agentArgs = [
      AGENT_BIN, "--console-url", consoleProc.url, "--hostname", hostname, "--data-dir", agentDir, "--cache-dir", cacheDir, "--conf-dir", join(root, "net.d"),
      "--netns-dir", "/run/netns", "--cni-path", [pluginDir, ...PLUGIN_DIRS].join(":"), "--services", "off", "--plugin-timeout", "20000",
      "--console-timeout", "10000", "--reconnect-spread", "1000", "--reconcile-interval", String(o.reconcileIntervalMs),
    ];
    const agentEnv: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      ...(o.clockJumps > 0 ? { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: clockFile, FAKETIME_DONT_FAKE_MONOTONIC: "1", FAKETIME_CACHE_DURATION: "1" } : {}),
    };
    const agentLog = join(root, "agent.log");
    const noteLine = (line: AgentLogLine) => {
      appendFileSync(agentLog, `${JSON.stringify(line)}\n`);
      if (line.level === "warn" || line.level === "error") summary.agentWarnings.set(String(line.msg), (summary.agentWarnings.get(String(line.msg)) ?? 0) + 1);
    };
    function startAgent(extra: string[] = []): AgentProcess {
      const spawnedAt = performance.now();
      const onLine = (line: AgentLogLine) => {
        noteLine(line);
        if (line.msg === "agent started") summary.agentStartMs.push(performance.now() - spawnedAt);
      };
      const a = startAgentProcess([...agentArgs, ...extra], { env: agentEnv, onLine, maxLines: 5000 });
      agent = a;
      agentStartedAt = Date.now();
      agentExpectedExit = false;
      void a.exited.then((code) => {
        if (agent === a && !agentExpectedExit && !finished) {
          fail(`the agent exited by itself (${code}); last lines: ${JSON.stringify(a.logs.slice(-5))}`);
          // Started again, as its service unit would (Restart=on-failure), a moment later.
          setTimeout(() => void (agent === a && !finished && startAgent()), 1000);
        }
      });
      return a;
    }
    async function killAgent(): Promise<void> {
      if (!agent) return;
      agentExpectedExit = true;
      await agent.kill();
      appendFileSync(agentLog, `${JSON.stringify({ faultRun: "SIGKILL", pid: agent.proc.pid, at: new Date().toISOString() })}\n`);
    }

    startAgent(["--join-token", token]);
    const hostId = await waitUntil("the host to enrol", async () => (await db.host.findUnique({ where: { name: hostname } }))?.id, 60_000);
    await agent!.waitForLog((l) => l.msg === "agent started", 60_000);

    // ---- lanes: attachments cycling through the API -------------------------------------------
    let parkRequested = false;
    let parked = 0;
    /** Lanes still running (a checkpoint waits for each of them to park). */
    let activeLanes = 0;
    const random = createRandom(o.seed ^ 0x5eed);
    let nameSeq = 0;
    const newName = (lane: number) => `${prefix}${lane}-${(nameSeq++).toString(36)}`;

    const rowOf = (id: string) =>
      persist("read the attachment", () => db.attachment.findUniqueOrThrow({ where: { id }, select: { id: true, containerId: true, target: true, state: true, present: true, result: true, lastError: true } })) as Promise<AttachmentRow>;
    const busyOps = (attachmentId: string) => persist("read operations", () => db.operation.count({ where: { attachmentId, status: { in: ["queued", "running"] } } }));

    class LaneStopped extends Error {}
    /**
     * Waits until the attachment is in one of `states` with no operation of it queued or running.
     * A lane's wait ends when the lanes are told to stop; the final detach's does not.
     */
    async function settledIn(id: string, states: string[], what: string, options: { lane: boolean } = { lane: true }): Promise<AttachmentRow> {
      const since = Date.now();
      const until = Math.min(deadline, since + o.settleTimeoutMs);
      for (;;) {
        const row = await rowOf(id);
        if (states.includes(row.state) && (await busyOps(id)) === 0) return row;
        if (options.lane && stopLanes) throw new LaneStopped(what);
        if (Date.now() > until) throw new Error(`${what}: attachment ${row.containerId} (${id}) still ${row.state} after ${Math.round((Date.now() - since) / 1000)} s (operations queued or running: ${await busyOps(id)}; last error: ${row.lastError || "none"})`);
        await sleep(150);
      }
    }

    async function park(): Promise<void> {
      if (!parkRequested) return;
      parked++;
      while (parkRequested && !stopLanes) await sleep(50);
      parked--;
    }

    async function createAttachment(name: string): Promise<string> {
      try {
        const { attachment } = await persist("create an attachment", () => operator.attachments.create({ hostId, networkId: net.id, target: { kind: "sandbox", name }, ifName: IFNAME, portMappings: [] }));
        return attachment.id;
      } catch (error) {
        // Committed, but the answer was lost with the database: it is there.
        if (isAnswer(error) !== "CONFLICT") throw error;
        const row = await persist("find the attachment", () => db.attachment.findFirst({ where: { hostId, networkName: network, containerId: name, ifName: IFNAME }, select: { id: true, state: true } }));
        if (!row || row.state === "detached") throw error;
        return row.id;
      }
    }

    /** Brings a failed attachment to detached: detach (a failed attach), or retry the detach; bounded. */
    async function detachUntilDone(id: string, what: string, options: { lane: boolean } = { lane: true }): Promise<void> {
      for (let tries = 0; tries < 8; tries++) {
        const row = await rowOf(id);
        if (row.state === "detached") return;
        if (row.present) {
          await persist("detach", () => operator.attachments.detach({ id })).catch((e: unknown) => {
            if (isAnswer(e) !== "CONFLICT") throw e;
          });
        } else if (row.state === "failed") {
          await persist("retry the detach", () => operator.attachments.retry({ id })).catch((e: unknown) => {
            if (isAnswer(e) !== "CONFLICT") throw e;
          });
        }
        const after = await settledIn(id, ["detached", "failed"], what, options);
        if (after.state === "detached") return;
      }
      throw new Error(`${what}: attachment ${id} still failed after 8 detach attempts: ${(await rowOf(id)).lastError}`);
    }

    async function lane(n: number): Promise<void> {
      let name = newName(n);
      while (!stopLanes) {
        await park();
        if (stopLanes) return;
        usedContainerIds.add(name);
        const id = await createAttachment(name);
        let row = await settledIn(id, ["ready", "failed"], `lane ${n} attach`);
        if (row.state === "ready") {
          await park();
          if (stopLanes) return;
          if (random.next() < 0.3) {
            const check = await persist("check", () => operator.attachments.check({ id })).catch((e: unknown) => {
              if (isAnswer(e) !== "CONFLICT") throw e;
              return null;
            });
            if (check) row = await settledIn(id, ["ready", "failed"], `lane ${n} check`);
            if (row.state === "failed") {
              const kind = row.lastError.replace(/([0-9a-f]{2}:){5}[0-9a-f]{2}/gi, "<mac>").replace(/\bsy[0-9a-f]{8}\b/g, "<bridge>");
              summary.checkFailures.set(kind, (summary.checkFailures.get(kind) ?? 0) + 1);
            }
          }
        }
        await detachUntilDone(id, `lane ${n} detach`);
        summary.cycles++;
        // Sometimes the same container again: the attachment's next generation on the same row.
        if (random.next() >= 0.3) name = newName(n);
      }
    }
    for (let n = 0; n < o.lanes; n++) {
      activeLanes++;
      lanes.push(
        lane(n)
          .catch((error: unknown) => {
            if (stopLanes) return;
            stoppedBy ??= `lane ${n}`;
            fail(`lane ${n} stopped: ${(error as Error).message}`);
          })
          .finally(() => activeLanes--),
      );
    }

    // ---- settle and count ---------------------------------------------------------------------

    let clockAhead = false;
    /** An hour ahead, or back to the true time (one clock jump counted when it comes back). */
    function setClock(ahead: boolean): void {
      if (ahead === clockAhead) return;
      writeFileSync(clockFile, ahead ? "+1h\n" : "+0\n");
      clockAhead = ahead;
      if (!ahead) summary.killsByKind.clockJumps++;
    }

    async function settle(): Promise<void> {
      const until = Math.min(deadline, Date.now() + o.settleTimeoutMs);
      const pending = async () => {
        const busy = await db.operation.groupBy({ by: ["status"], where: { hostId, status: { in: ["queued", "running"] } }, _count: true });
        const moving = await db.attachment.groupBy({ by: ["state"], where: { hostId, state: { in: ["pending", "applying", "detaching"] } }, _count: true });
        // An intent record the agent can read is an operation it has not finished (or will DEL at its
        // next start); one it cannot read it only reports: a leak for the count, not work to wait for.
        const intentOps = filesIn(join(agentDir, "intents")).flatMap((f) => {
          try {
            const i = JSON.parse(readFileSync(join(agentDir, "intents", f), "utf8")) as { operationId: string; attempt: number; kind: string; containerId: string; startedAt: string };
            return [`${f}: ${i.kind} ${i.containerId} operation ${i.operationId} attempt ${i.attempt} started ${i.startedAt}`];
          } catch {
            return [];
          }
        });
        const reports = filesIn(join(agentDir, "reports"));
        const parts = [
          ...busy.map((b) => `${b._count} operations ${b.status}`),
          ...moving.map((m) => `${m._count} attachments ${m.state}`),
          ...(intentOps.length ? [`${intentOps.length} intent records (${intentOps.join("; ")})`] : []),
          ...(reports.length ? [`${reports.length} queued reports`] : []),
          ...(parked < activeLanes ? [`${activeLanes - parked} lanes not parked`] : []),
          ...(agent && !agent.logs.some((l) => l.msg === "agent started") ? ["the agent not started"] : []),
          ...(consoleProc && !consoleProc.isRunning() ? ["the console down"] : []),
        ];
        return parts;
      };
      let last: string[] = [];
      for (;;) {
        last = await pending().catch((e: unknown) => [`database unreadable: ${(e as Error).message}`]);
        if (last.length === 0) return;
        if (Date.now() > until) throw new Error(`did not settle within ${Math.round(o.settleTimeoutMs / 1000)} s: ${last.join(", ")}`);
        await sleep(200);
      }
    }

    /**
     * Waits for a reconcile that started once the system was quiet (`since`), reported in the
     * inventory: the agent's periodic one, or one asked for here every 5 s (a request reaches the
     * agent only over its push stream: while it long-polls, after losing the stream, it is lost).
     * A report dated in the future is one the agent wrote with its clock an hour ahead.
     */
    async function reconcileSince(since: number): Promise<void> {
      const lastAt = async () => {
        const inventory = (await db.host.findUniqueOrThrow({ where: { id: hostId }, select: { inventory: true } })).inventory as { lastReconcile?: { at?: string } } | null;
        return Date.parse(inventory?.lastReconcile?.at ?? "");
      };
      const until = Math.min(deadline, Date.now() + o.settleTimeoutMs);
      for (;;) {
        await persist("ask for a reconcile", () => operator.hosts.reconcile({ id: hostId }));
        for (let i = 0; i < 25; i++) {
          await sleep(200);
          const at = await lastAt().catch(() => Number.NaN);
          if (at >= since && at <= Date.now() + 5000) return;
        }
        if (Date.now() > until) throw new Error("no reconcile report arrived");
      }
    }

    const seen: Record<keyof Counts, Set<string>> = { leases: new Set(), veths: new Set(), cacheFiles: new Set(), intents: new Set(), rules: new Set(), namespaces: new Set(), disagreements: new Set(), doubleApplies: new Set() };

    async function countHost(): Promise<{ counts: Counts; ready: number }> {
      const rows = (await db.attachment.findMany({ where: { hostId }, select: { id: true, containerId: true, target: true, state: true, present: true, result: true, lastError: true } })) as AttachmentRow[];
      const ready = new Map(rows.filter((r) => r.present && r.state === "ready").map((r) => [r.containerId, r]));
      const counts: Counts = { leases: [], veths: [], cacheFiles: [], intents: [], rules: [], namespaces: [], disagreements: [], doubleApplies: [] };

      // An attached container holds exactly its result's address: any other lease is leaked (a second address too).
      const readyIp = (cid: string) => addressOf(ready.get(cid)?.result)?.split("/")[0];
      const leases = await readLeases(dataDir, network);
      for (const l of leases) if (!ready.has(l.containerId) || readyIp(l.containerId) !== l.ip) counts.leases.push(`${l.ip} held by ${l.containerId}/${l.ifName ?? "?"}`);
      for (const f of await listCacheFiles(cacheDir)) {
        const cid = f.startsWith(`${network}-`) && f.endsWith(`-${IFNAME}`) ? f.slice(network.length + 1, -(IFNAME.length + 1)) : undefined;
        if (!cid || !ready.has(cid)) counts.cacheFiles.push(f);
      }
      // After a settle no operation runs: every intent file left would DEL its attachment at the next start.
      for (const f of filesIn(join(agentDir, "intents"))) counts.intents.push(f);
      const namespaces = await namespacesWithPrefix(prefix);
      for (const ns of namespaces) if (!ready.has(ns)) counts.namespaces.push(ns);

      // Veths: ours are on our bridge or have their peer in one of our namespaces.
      const hostLinks = await ipJson(["-j", "-d", "link", "show"]);
      const hostVeths = new Map(hostLinks.filter((l) => l.linkinfo?.info_kind === "veth").map((l) => [l.ifindex, l]));
      const inside = new Map<string, RawLink[]>();
      for (const ns of namespaces) inside.set(ns, await ipJson(["-n", ns, "-j", "-d", "addr", "show"]));
      const ours = new Set([...hostVeths.values()].filter((l) => l.master === names.bridge).map((l) => l.ifindex));
      const belongs = new Set<number>();
      for (const [ns, links] of inside) {
        for (const l of links) {
          if (l.linkinfo?.info_kind !== "veth") continue;
          if (l.link_index !== undefined) ours.add(l.link_index);
          if (ready.has(ns) && l.ifname === IFNAME && l.link_index !== undefined) belongs.add(l.link_index);
          else counts.veths.push(`${l.ifname} inside ${ns}`);
        }
      }
      for (const ifindex of ours) if (!belongs.has(ifindex)) counts.veths.push(`${hostVeths.get(ifindex)?.ifname ?? `ifindex ${ifindex}`} on the host (${hostVeths.get(ifindex)?.master ?? "no master"})`);

      // Masquerade rules and chains bridge made (ipMasq) for containers that are not attached.
      const nat = await readNatRules();
      const chainOf = new Map([...usedContainerIds].map((cid) => [attachmentHashNames(network, cid).chains[0]!, cid]));
      for (const chain of nat.chains) {
        const cid = chainOf.get(chain);
        if (cid !== undefined && !ready.has(cid)) counts.rules.push(`chain ${chain} of ${cid}`);
      }
      for (const rule of nat.rules) {
        const byComment = ruleContainerId(rule, network);
        const byChain = chainOf.get(rule.split(" ")[1] ?? "") ?? chainOf.get(/\s-j (CNI-[\w-]+)/.exec(rule)?.[1] ?? "");
        const cid = byComment ?? byChain;
        if (cid === undefined) continue;
        // The rule into an attached container's chain is for its address only (a second one would be a second ADD's).
        const source = /\s-s (\S+)\/32\s/.exec(rule)?.[1];
        if (!ready.has(cid) || (source !== undefined && source !== readyIp(cid))) counts.rules.push(rule);
      }

      // The database against the host, attachment by attachment.
      const leaseByCid = new Map(leases.map((l) => [l.containerId, l]));
      const cached = new Set(await listCacheFiles(cacheDir));
      for (const r of rows) {
        const why: string[] = [];
        if (r.present && r.state === "ready") {
          const want = addressOf(r.result);
          const links = inside.get(r.target);
          const eth0 = links?.find((l) => l.ifname === IFNAME);
          const have = (eth0?.addr_info ?? []).filter((a) => a.scope === "global").map((a) => `${a.local}/${a.prefixlen}`);
          if (!links) why.push("its namespace is missing");
          else if (!eth0) why.push(`no ${IFNAME} in its namespace`);
          else if (have.join() !== want) why.push(`${IFNAME} has ${JSON.stringify(have)}, the console says ${want}`);
          if (!want || leaseByCid.get(r.containerId)?.ip !== want.split("/")[0]) why.push(`lease ${leaseByCid.get(r.containerId)?.ip ?? "missing"}, the console says ${want}`);
          if (!cached.has(`${network}-${r.containerId}-${IFNAME}`)) why.push("no result cache entry");
          if (!nat.chains.has(attachmentHashNames(network, r.containerId).chains[0]!)) why.push("no masquerade chain");
          if (eth0?.link_index !== undefined && hostVeths.get(eth0.link_index)?.master !== names.bridge) why.push("its host veth is not on the bridge");
        } else if (!r.present && r.state === "detached") {
          if (inside.has(r.target)) why.push("its namespace is still there");
          if (leaseByCid.has(r.containerId)) why.push(`lease ${leaseByCid.get(r.containerId)!.ip} still held`);
          if (cached.has(`${network}-${r.containerId}-${IFNAME}`)) why.push("result cache entry still there");
        } else {
          why.push(`${r.state} (present ${r.present}) after settling${r.lastError ? `: ${r.lastError}` : ""}`);
        }
        if (why.length > 0) counts.disagreements.push(`${r.containerId} (${r.id}), ${r.present ? "attached" : "detached"} in the database: ${why.join("; ")}`);
      }

      const calls = readPluginCalls(readFileSync(callLog, "utf8"));
      summary.pluginCalls = {};
      for (const c of calls) summary.pluginCalls[`${c.plugin} ${c.command}`] = (summary.pluginCalls[`${c.plugin} ${c.command}`] ?? 0) + 1;
      const { doubleApplies, overlapping } = findDoubleApplies(calls);
      counts.doubleApplies = doubleApplies;
      summary.overlappingCalls = overlapping;
      return { counts, ready: ready.size };
    }

    async function checkpoint(afterKills: number): Promise<void> {
      const t0 = performance.now();
      parkRequested = true;
      // The clock is true again before anything is judged: a report the agent dated an hour ahead is no sign of a reconcile now.
      if (clockAhead) {
        setClock(false);
        // libfaketime reads the file again once a second.
        await sleep(1500);
      }
      try {
        await settle();
        await reconcileSince(Date.now());
        await settle();
      } catch (error) {
        fail(`after ${afterKills} kills: ${(error as Error).message}`);
        throw error;
      }
      const settleMs = performance.now() - t0;
      summary.settleMs.push(settleMs);
      const { counts, ready } = await countHost();
      summary.checkpoints.push({ afterKills, settleMs, ready, counts });
      for (const k of Object.keys(counts) as (keyof Counts)[]) {
        for (const item of counts[k]) {
          if (seen[k].has(item)) continue;
          seen[k].add(item);
          fail(`after ${afterKills} kills, ${k}: ${item}`);
        }
      }
      o.log(`check after ${afterKills} kills: settled in ${(settleMs / 1000).toFixed(1)} s; ${ready} attached; leaked ${counts.leases.length} leases, ${counts.veths.length} veths, ${counts.cacheFiles.length} cache files, ${counts.intents.length} intents, ${counts.rules.length} rules, ${counts.namespaces.length} namespaces; ${counts.disagreements.length} disagreements; ${counts.doubleApplies.length} applied twice; ${summary.cycles} cycles so far`);
      parkRequested = false;
    }

    // ---- the faults ---------------------------------------------------------------------------

    const plan = planFaults(o);
    const faultRandom = createRandom(o.seed ^ 0xfa17);
    for (let k = 1; k <= o.kills; k++) {
      if (Date.now() > deadline && !stoppedBy) {
        stoppedBy = "the deadline";
        fail(`the run's deadline (${Math.round(o.deadlineMs / 1000)} s) passed after ${k - 1} kills`);
      }
      if (stoppedBy) break;
      const point = plan[k - 1]!;
      const early = faultRandom.next() < 1 / o.earlyKillEvery;
      let uptime: number;
      let killAt: number;
      if (early) {
        uptime = faultRandom.between(0, 800);
        killAt = agentStartedAt + uptime;
      } else {
        // Bounded: an agent that cannot start (the console down long) is killed anyway.
        const started = await agent!.waitForLog((l) => l.msg === "agent started", 30_000).then(() => Date.now(), () => Date.now());
        uptime = faultRandom.between(o.uptimeMs.min, o.uptimeMs.max);
        killAt = started + uptime;
      }
      // The clock moves while the agent runs (an NTP step under a live process), somewhere before its kill.
      if (point.clockAhead || point.clockBack) {
        await sleep(Math.max(0, (killAt - Date.now()) * faultRandom.next()));
        setClock(point.clockAhead);
      }
      await sleep(Math.max(0, killAt - Date.now()));
      const duringStart = !agent!.logs.some((l) => l.msg === "agent started");
      await killAgent();
      summary.killsByKind.agent++;
      if (duringStart) summary.killsDuringStart++;
      appendFileSync(join(root, "faults.log"), `${JSON.stringify({ k, at: new Date().toISOString(), uptimeMs: uptime, early, duringStart, ...point })}\n`);
      if (point.console) {
        await consoleProc.kill();
        summary.killsByKind.console++;
      }
      if (point.postgres) {
        await pg.kill();
        summary.killsByKind.postgres++;
      }
      // Restarted as systemd would: the agent at once, whatever else is down.
      startAgent();
      if (point.postgres) await pg.start();
      if (point.console || !consoleProc.isRunning()) await consoleProc.start();
      for (const crash of consoleProc.crashes.splice(0)) fail(crash);
      if (k % 10 === 0) o.log(`${k} kills, ${summary.cycles} cycles, ${Math.round((performance.now() - started) / 1000)} s`);
      if (k % o.checkEvery === 0 && k < o.kills) await checkpoint(k);
    }

    // ---- the end: a last check, then everything detached must leave nothing ------------------
    if (!stoppedBy) {
      await checkpoint(summary.killsByKind.agent);
      stopLanes = true;
      parkRequested = false;
      await Promise.race([Promise.all(lanes), sleepUnref(30_000)]);
      const left = await db.attachment.findMany({ where: { hostId, present: true }, select: { id: true } });
      for (const a of left) await detachUntilDone(a.id, "the final detach", { lane: false });
      await checkpoint(summary.killsByKind.agent);
      const last = summary.checkpoints.at(-1)!;
      if (last.ready !== 0) fail(`after the final detach ${last.ready} attachments are still attached`);
    }

    for (const k of Object.keys(seen) as (keyof Counts)[]) summary.totals[k] = seen[k].size;
  } catch (error) {
    if (!failures.some((f) => f.includes((error as Error).message))) fail(`the run stopped: ${(error as Error).stack ?? (error as Error).message}`);
  } finally {
    finished = true;
    await countOperations(t, summary).catch((e: unknown) => o.log(`operations not counted: ${(e as Error).message}`));
    stopLanes = true;
    await Promise.race([Promise.all(lanes), sleepUnref(10_000)]);
    // The host as the failure left it, before the cleanup; the agent's threads as they stood (a hang).
    if (failures.length > 0) {
      if (t) await dumpUnsettled(t, join(root, "db-at-failure.json")).catch((e: unknown) => o.log(`database not dumped: ${(e as Error).message}`));
      if (agent?.proc.pid && agent.proc.exitCode === null) await captureProcessTree(agent.proc.pid, join(root, "agent-threads.txt")).catch(() => {});
      const ns = await namespacesWithPrefix(prefix).catch(() => []);
      const leases = await readLeases(dataDir, network).catch(() => []);
      writeFileSync(join(root, "host-at-failure.json"), JSON.stringify({ namespaces: ns, leases, cache: await listCacheFiles(cacheDir).catch(() => []), intents: filesIn(join(agentDir, "intents")), reports: filesIn(join(agentDir, "reports")) }, null, 2));
    }
    if (agent) {
      agentExpectedExit = true;
      await agent.kill().catch(() => {});
    }
    await consoleProc?.stop().catch(() => {});
    await cleanHost({ root, prefix, network, bridge: names.bridge, pluginDir, containerIds: usedContainerIds }).catch((e: unknown) => o.log(`cleanup of the host: ${(e as Error).message}`));
    await events?.close().catch(() => {});
    await t?.close().catch(() => {});
    if (failures.length > 0 && pg) writeFileSync(join(root, "postgres.log"), pg.logTail(1_000_000));
    await pg?.drop().catch((e: unknown) => o.log(`dropping the private PostgreSQL: ${(e as Error).message}`));
    if (failures.length > 0) summary.evidenceDir = root;
    else rmSync(root, { recursive: true, force: true });
    summary.wallMs = performance.now() - started;
  }
  return summary;
}

/** Operations of the run's host by kind and status, and their attempts. */
async function countOperations(t: ApiTest | undefined, summary: FaultRunSummary): Promise<void> {
  if (!t) return;
  const ops = await t.db.operation.groupBy({ by: ["kind", "status"], _count: true, _sum: { attempt: true } });
  summary.operations = { byKindStatus: {}, attempts: 0, retried: 0, failedBy: {} };
  for (const g of ops) {
    summary.operations.byKindStatus[`${g.kind} ${g.status}`] = g._count;
    summary.operations.attempts += g._sum.attempt ?? 0;
  }
  summary.operations.retried = await t.db.operation.count({ where: { attempt: { gt: 1 } } });
  for (const f of await t.db.operation.findMany({ where: { status: "failed" }, select: { kind: true, error: true } })) {
    const why = `${f.kind}: ${f.error.replace(/([0-9a-f]{2}:){5}[0-9a-f]{2}/gi, "<mac>").replace(/\bsy[0-9a-f]{8}\b/g, "<bridge>").replace(/sytest-[0-9a-f]{4}-\d+-[0-9a-z]+/g, "<container>").slice(0, 200)}`;
    summary.operations.failedBy[why] = (summary.operations.failedBy[why] ?? 0) + 1;
  }
}

async function waitUntil<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The operations not finished and the attachments not settled, with their job lines: what a stuck settle waited for. */
async function dumpUnsettled(t: ApiTest, file: string): Promise<void> {
  const operations = await t.db.operation.findMany({ where: { status: { in: ["queued", "running"] } }, orderBy: { seq: "asc" } });
  const attachments = await t.db.attachment.findMany({ where: { OR: [{ state: { notIn: ["ready", "detached"] } }, { id: { in: operations.map((o) => o.attachmentId) } }] } });
  const history = await t.db.operation.findMany({ where: { attachmentId: { in: attachments.map((a) => a.id) } }, orderBy: { seq: "asc" }, include: { logs: { orderBy: { id: "asc" } } } });
  writeFileSync(file, JSON.stringify({ at: new Date(), operations, attachments, history }, null, 2));
}
