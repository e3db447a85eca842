import { existsSync, mkdirSync } from "node:fs";
import { type CniRuntime, type CniRuntimeOptions, createCniRuntime, createHelperSpawner, createKeyedMutex, loadNetworkList } from "@switchyard/cni";
import { TRPCClientError } from "@trpc/client";
import { createBatcher } from "./batcher";
import { type AgentClient, createAgentClient } from "./client";
import { AGENT_VERSION, type AgentConfig } from "./config";
import { type StoredCredential, loadCredential, saveCredential } from "./credential";
import { type JobLine, OperationPayload, executeOperation } from "./executor";
import { createIntentJournal } from "./intents";
import { createJobLog } from "./joblog";
import { collectInventory, pluginVersions } from "./inventory";
import type { Logger } from "./log";
import { type Report, createReportQueue } from "./reports";
import { sleep } from "./sleep";

/** Operations per claim call (the console's limit). */
const MAX_CLAIM = 64;
/** The most operation ids the console takes in a `holding` list. */
const MAX_HOLDING = 1000;

/** The console refused our credential: revoked, expired or unknown. The process should exit. */
export class CredentialRefused extends Error {}


function trpcCode(error: unknown): string | undefined {
  return error instanceof TRPCClientError ? (error.data as { code?: string } | undefined)?.code : undefined;
}

/** Many operations at once, or one reconcile alone (GC never runs beside ADD/DEL, and reads a fresh desired list). */
function createGate() {
  let shared = 0;
  let exclusive: Promise<void> | undefined;
  const idle: (() => void)[] = [];
  return {
    async shared<T>(fn: () => Promise<T>): Promise<T> {
      while (exclusive) await exclusive;
      shared++;
      try {
        return await fn();
      } finally {
        shared--;
        if (shared === 0) idle.splice(0).forEach((r) => r());
      }
    },
    async exclusive<T>(fn: () => Promise<T>): Promise<T> {
      while (exclusive) await exclusive;
      let done!: () => void;
      exclusive = new Promise<void>((r) => (done = r));
      try {
        while (shared > 0) await new Promise<void>((r) => idle.push(r));
        return await fn();
      } finally {
        exclusive = undefined;
        done();
      }
    },
  };
}

export interface Agent {
  /** Resolves when the agent stopped (stop() was called, or the credential was refused). */
  run(): Promise<void>;
  stop(): Promise<void>;
}

export function createAgent(config: AgentConfig, log: Logger): Agent {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  let cred: StoredCredential | undefined = loadCredential(config.dataDir);
  const client: AgentClient = createAgentClient(config.consoleUrl, () => cred?.credential, `switchyard-agent/${AGENT_VERSION}`);
  const intents = createIntentJournal(config.dataDir);
  const reports = createReportQueue(config.dataDir);
  const jobLog = createJobLog(async (entries) => {
    const { refused } = await call(() => client.log.mutate({ entries }));
    for (const r of refused) log.debug("job lines refused by the console", r);
  });
  // Plugins and `ip` are started by a small helper process: fork() of this one (~150 MB) would
  // block the event loop for 10-25 ms per process, and an attach starts three.
  const spawner = createHelperSpawner();
  const baseRuntime: CniRuntimeOptions = {
    spawner,
    pluginDirs: config.cniPath,
    cacheDir: config.cacheDir,
    timeoutMs: config.pluginTimeoutMs,
    netnsDirs: [config.netnsDir],
    onWarning: (w) => log.warn("cni warning", { error: w.message, details: w.details }),
  };
  const runtime: CniRuntime = createCniRuntime(baseRuntime);
  const gate = createGate();
  const perAttachment = createKeyedMutex();
  const stopping = new AbortController();
  const inFlight = new Map<string, Promise<void>>();
  let fatal: Error | undefined;
  let lastPushAt: Date | null = null;
  /** Whether the push stream (SSE) is open, and since when; reported in the inventory (doctor). */
  let pushStream = { open: false, since: new Date() };
  const setPushStream = (open: boolean) => {
    if (pushStream.open === open) return;
    pushStream = { open, since: new Date() };
    inventoryDue = true;
  };
  let inventoryDue = true;
  let lastReconcile: { at: Date; staleDeleted: number; gcNetworks: number; errors: string[] } | null = null;
  let versions: Awaited<ReturnType<typeof pluginVersions>> = new Map();
  let versionsAt = 0;

  function failFatal(error: Error) {
    fatal ??= error;
    log.error("stopping: the console refused this host's credential", { error: error.message });
    stopping.abort();
  }

  /** Calls the console; an UNAUTHORIZED answer stops the agent (revoked or expired). */
  async function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (trpcCode(error) === "UNAUTHORIZED") failFatal(new CredentialRefused((error as Error).message));
      throw error;
    }
  }

  async function enroll(): Promise<void> {
    if (cred) {
      if (config.joinToken) log.info("already enrolled; the join token is not used", { host: cred.hostName });
      return;
    }
    if (!config.joinToken) throw new Error(`not enrolled: start once with --join-token (from the console's Hosts page); no credential in ${config.dataDir}`);
    const enrolled = await client.enroll.mutate({ joinToken: config.joinToken, hostname: config.hostname, agentVersion: AGENT_VERSION });
    cred = { consoleUrl: config.consoleUrl, hostId: enrolled.hostId, hostName: enrolled.hostName, credential: enrolled.credential, credentialExpiresAt: enrolled.credentialExpiresAt };
    await saveCredential(config.dataDir, cred);
    log.info("enrolled", { host: enrolled.hostName, hostId: enrolled.hostId });
  }

  // ---- reports (the outcome outbox) ------------------------------------------------------------
  // Outcomes that finish while one is on its way go together in the next call (one statement on the console).
  const complete = createBatcher(async (outcomes: Report[]) => (await call(() => client.completeMany.mutate({ outcomes }))).answers);

  /** Sends an outcome: true when the console took it or refused it for good, false when it should be sent again. */
  async function deliver(report: Report): Promise<boolean> {
    let answer: Awaited<ReturnType<typeof complete>>;
    try {
      answer = await complete(report);
    } catch {
      return false;
    }
    if ("refused" in answer) {
      // Fenced out: a newer attempt owns the operation now (or it is gone). Our result changes nothing.
      const why = answer.refused === "staleAttempt" ? "stale attempt" : "no such operation for this host";
      log.warn(`result refused by the console (${why})`, { operationId: report.operationId, attempt: report.attempt });
    } else if (answer.more) {
      workWaiting = true;
    }
    return true;
  }

  async function send(report: Report): Promise<boolean> {
    if (!(await deliver(report))) return false;
    await reports.done(report);
    return true;
  }

  /** Outcomes queued while the console was unreachable; all at once (the batcher sends them in pages). */
  async function flushReports(): Promise<void> {
    if (stopping.signal.aborted && fatal) return;
    await Promise.all(reports.list().map((report) => send(report)));
  }

  // ---- operations ------------------------------------------------------------------------------
  async function runOperation(raw: unknown): Promise<void> {
    const parsed = OperationPayload.safeParse(raw);
    const fence = raw as { operationId: string; attempt: number; attachment?: { id?: string } };
    if (!parsed.success) {
      log.warn("refusing an invalid operation", { operationId: fence.operationId, issue: parsed.error.issues[0]?.message });
      const report: Report = { operationId: fence.operationId, attempt: fence.attempt, attachmentId: String(fence.attachment?.id ?? ""), outcome: "failed", error: `refused by the agent: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, retryable: false };
      await reports.put(report);
      await send(report);
      return;
    }
    const op = parsed.data;
    const say = (l: JobLine) => {
      jobLog.add(op, { ...l, line: l.line.slice(0, 8000), at: new Date() });
      log.info(l.line, { operationId: op.operationId, attempt: op.attempt, stream: l.stream });
    };
    const extendTimer = setInterval(() => void call(() => client.extend.mutate({ operationId: op.operationId, attempt: op.attempt })).catch(() => {}), 20_000);
    try {
      const opRuntime = createCniRuntime({
        ...baseRuntime,
        onExec: (e) => {
          if (e.phase === "start") {
            say({ stream: "plugin", line: `${e.plugin} ${e.verb}` });
          } else if (e.phase === "stderr") {
            for (const line of (e.data ?? "").split("\n")) if (line.trim()) say({ stream: "stderr", line: `${e.plugin}: ${line}` });
          } else {
            say({ stream: "plugin", line: `${e.plugin} ${e.verb} exited ${e.code} in ${Math.round(e.durationMs ?? 0)} ms` });
          }
        },
      });
      say({ stream: "agent", line: `${op.kind} (attempt ${op.attempt}) of ${op.attachment.containerId}/${op.attachment.ifName} on ${op.attachment.networkName} r${op.attachment.networkRevision}` });
      const outcome = await executeOperation({ runtime: opRuntime, spawner, netnsDir: config.netnsDir, intents, log }, op, say);
      const report: Report = { operationId: op.operationId, attempt: op.attempt, attachmentId: op.attachment.id, ...outcome, lines: await jobLog.take(op) };
      // The outcome goes to the console while it is made durable here. The intent goes only once
      // the outcome is on disk: a crash before that DELs (outcome unknown), after it re-sends.
      const durable = reports.put(report);
      const delivered = deliver(report);
      await durable;
      await intents.remove(op.attachment.id, op);
      if (await delivered) await reports.done(report);
      else log.warn("console unreachable: the result is queued", { operationId: op.operationId });
    } finally {
      clearInterval(extendTimer);
    }
  }

  /** Settles when the claim calls in progress are done and their operations started. */
  let claiming: Promise<void> | undefined;
  let claimAgain = false;
  /** Work may be waiting that the last claim did not take: a full page, no free slot, or more behind a finished operation. */
  let workWaiting = false;
  async function claimAndRun(): Promise<void> {
    if (claiming) {
      claimAgain = true;
      return;
    }
    let claimed!: () => void;
    claiming = new Promise((resolve) => (claimed = resolve));
    try {
      do {
        claimAgain = false;
        if (stopping.signal.aborted) return;
        const free = config.concurrency - inFlight.size;
        if (free <= 0) {
          workWaiting = true;
          return;
        }
        const max = Math.min(free, MAX_CLAIM);
        const ops = await call(() => client.claim.mutate({ max }));
        for (const op of ops) start(op);
        // A full page: there may be more.
        workWaiting = ops.length === max;
        if (workWaiting) claimAgain = true;
      } while (claimAgain);
    } finally {
      claiming = undefined;
      claimed();
    }
  }

  /** The operations this agent holds: running, or finished and not yet reported; undefined past the console's limit. */
  function holding(): string[] | undefined {
    const ids = [...new Set([...inFlight.keys(), ...reports.list().map((r) => r.operationId)])];
    return ids.length <= MAX_HOLDING ? ids : undefined;
  }

  /**
   * Tells the console what this agent holds when its push stream opens, so that claims made for it
   * before then that never arrived (pushed into a stream that broke, a claim's answer lost with its
   * connection) are handed out again now rather than when their lease runs out. A claim of ours
   * still in flight lands first: its operations must be on the list.
   */
  async function handBackUnheld(openedAt: Date): Promise<void> {
    while (claiming) await claiming;
    const operationIds = holding();
    if (stopping.signal.aborted || !operationIds) return;
    const { released } = await call(() => client.holding.mutate({ openedAt, operationIds }));
    if (released > 0) log.info("claims that never reached this agent are handed out again", { released });
  }

  function start(op: { operationId: string; attachment?: { id?: unknown } }) {
    // One operation per attachment in this agent too (a re-issued attempt can arrive while the old one runs).
    const task = gate
      .shared(() => perAttachment.run(String(op.attachment?.id ?? op.operationId), () => runOperation(op)))
      .catch((error: unknown) => log.error("operation crashed", { operationId: op.operationId, error: (error as Error).message }))
      .finally(() => {
        // Full until now: the console's pushes held work back for want of a slot.
        const wasFull = inFlight.size >= config.concurrency;
        inFlight.delete(op.operationId);
        // Work is pushed as it comes; a claim here only when some may be waiting.
        if (workWaiting || wasFull) void claimAndRun().catch(() => {});
      });
    inFlight.set(op.operationId, task);
  }

  // ---- recovery and reconcile --------------------------------------------------------------------
  /** Operations that were in flight when the agent died: DEL first, before anything else runs. */
  async function recoverIntents(): Promise<void> {
    const { intents: left, bad } = intents.list();
    for (const name of bad) log.warn("unreadable intent record", { file: name });
    // An intent whose outcome was already recorded finished: nothing to undo (the report is re-sent).
    const finished = new Set(reports.list().map((r) => `${r.operationId}#${r.attempt}`));
    for (const intent of left) {
      if (finished.has(`${intent.operationId}#${intent.attempt}`)) {
        log.info("an operation finished before the agent stopped; its outcome is queued", { operationId: intent.operationId, attempt: intent.attempt });
        await intents.remove(intent.attachmentId);
        continue;
      }
      log.warn("an operation was interrupted: DEL first", { operationId: intent.operationId, attempt: intent.attempt, kind: intent.kind, containerId: intent.containerId });
      if (intent.kind !== "check") {
        try {
          const net = loadNetworkList(JSON.stringify(intent.conflist));
          await runtime.delNetworkList(net, { containerId: intent.containerId, ifName: intent.ifName, netns: intent.netns, capabilityArgs: intent.capabilityArgs });
        } catch (error) {
          log.error("DEL of an interrupted operation failed; reconcile retries", { operationId: intent.operationId, error: (error as Error).message });
          continue;
        }
      }
      await intents.remove(intent.attachmentId);
    }
  }

  async function reconcile(): Promise<void> {
    const summary = { at: new Date(), staleDeleted: 0, gcNetworks: 0, errors: [] as string[] };
    const note = (error: string) => summary.errors.length < 50 && summary.errors.push(error.slice(0, 1000));
    await gate.exclusive(async () => {
      let desired: Awaited<ReturnType<AgentClient["desired"]["query"]>>;
      try {
        desired = await call(() => client.desired.query());
      } catch (error) {
        log.warn("reconcile skipped: the console is unreachable; the data plane is kept as it is", { error: (error as Error).message });
        return;
      }
      await recoverIntents();
      const key = (n: string, c: string, i: string) => `${n}\0${c}\0${i}`;
      const wanted = new Map(desired.map((d) => [key(d.networkName, d.containerId, d.ifName), d]));
      const cached = await runtime.listCachedAttachments();
      const cachedKeys = new Set(cached.map((c) => key(c.networkName, c.containerId, c.ifName)));
      for (const c of cached) {
        const d = wanted.get(key(c.networkName, c.containerId, c.ifName));
        const netnsGone = c.netns !== "" && !existsSync(c.netns);
        if (d && !netnsGone) continue;
        log.info(d ? "namespace of an attachment is gone: DEL to release its address" : "stale cached attachment: DEL", { network: c.networkName, containerId: c.containerId, ifName: c.ifName, netns: c.netns });
        try {
          await runtime.delCachedAttachment(c);
          summary.staleDeleted++;
          if (d) await call(() => client.reportProblem.mutate({ attachmentId: d.id, problem: `namespace ${c.netns} disappeared (host reboot?); its address was released. Retry to attach again.` })).catch(() => {});
        } catch (error) {
          log.error("DEL of a stale attachment failed", { network: c.networkName, containerId: c.containerId, error: (error as Error).message });
          note(`DEL of stale ${c.networkName}/${c.containerId}/${c.ifName}: ${(error as Error).message}`);
        }
      }
      for (const d of desired) {
        if (d.state !== "ready" || cachedKeys.has(key(d.networkName, d.containerId, d.ifName))) continue;
        await call(() => client.reportProblem.mutate({ attachmentId: d.id, problem: "no CNI result cache entry on the host for this attachment (lost in a reboot or removed by hand). Retry to attach again." })).catch(() => {});
      }
      // Plugin GC with the explicit valid set, per network that has attachments here (never an empty set).
      const byNetwork = new Map<string, typeof desired>();
      for (const d of desired) byNetwork.set(d.networkName, [...(byNetwork.get(d.networkName) ?? []), d]);
      for (const [name, list] of byNetwork) {
        const latest = list.reduce((a, b) => (b.networkRevision > a.networkRevision ? b : a));
        try {
          const net = loadNetworkList(JSON.stringify(latest.conflist));
          await runtime.gcNetworkList(net, { validAttachments: list.map((d) => ({ containerId: d.containerId, ifName: d.ifName })) });
          summary.gcNetworks++;
        } catch (error) {
          log.warn("GC failed", { network: name, error: (error as Error).message });
          note(`GC of ${name}: ${(error as Error).message}`);
        }
      }
      lastReconcile = summary;
    });
  }

  // ---- loops ---------------------------------------------------------------------------------------
  async function heartbeatLoop(): Promise<void> {
    let lastInventory = 0;
    while (!stopping.signal.aborted) {
      try {
        let inventory: (Awaited<ReturnType<typeof collectInventory>> & { lastSubscriptionEventAt: Date | null; pushStream: typeof pushStream; lastReconcile: typeof lastReconcile }) | undefined;
        if (inventoryDue || Date.now() - lastInventory > 60_000) {
          inventoryDue = false;
          if (Date.now() - versionsAt > 10 * 60_000) {
            versions = await pluginVersions(config, runtime);
            versionsAt = Date.now();
          }
          const desired = await call(() => client.desired.query()).catch(() => []);
          inventory = { ...(await collectInventory(config, runtime, desired, versions)), lastSubscriptionEventAt: lastPushAt, pushStream, lastReconcile };
        }
        const beat = await call(() => client.heartbeat.mutate({ agentVersion: AGENT_VERSION, ...(inventory ? { inventory } : {}) }));
        if (inventory) lastInventory = Date.now();
        if (beat.rotateCredential && cred) {
          const next = await call(() => client.rotateCredential.mutate());
          cred = { ...cred, credential: next.credential, credentialExpiresAt: next.credentialExpiresAt };
          await saveCredential(config.dataDir, cred);
          log.info("host credential rotated", { expiresAt: next.credentialExpiresAt });
        }
        await flushReports();
      } catch (error) {
        if (!stopping.signal.aborted) log.warn("heartbeat failed; retrying", { error: (error as Error).message });
      }
      // A beat every 10 s, sooner when a fresh inventory is due (after a requested reconcile).
      for (let waited = 0; waited < 10_000 && !inventoryDue && !stopping.signal.aborted; waited += 500) await sleep(500, stopping.signal);
    }
  }

  /** Pushed work over SSE; when the stream fails, long-polling until it can be opened again. */
  async function workLoop(): Promise<void> {
    while (!stopping.signal.aborted) {
      let open = false;
      let onStop: (() => void) | undefined;
      const ended = await new Promise<Error | undefined>((resolve) => {
        // With slots the console claims for us and pushes the operations themselves.
        const sub = client.work.subscribe({ slots: Math.min(config.concurrency, MAX_CLAIM) }, {
          onData: (event) => {
            if (!open) log.info("push stream open");
            open = true;
            setPushStream(true);
            if (event.kind === "revoked") {
              failFatal(new CredentialRefused("the console revoked this host"));
              return;
            }
            if (event.kind === "reconcile") {
              log.info("reconcile requested by the console");
              void reconcile()
                .then(() => (inventoryDue = true))
                .catch((e: unknown) => log.error("reconcile failed", { error: (e as Error).message }));
              return;
            }
            if (event.kind === "open") {
              void handBackUnheld(event.at).catch((e: unknown) => log.warn("could not tell the console what this agent holds", { error: (e as Error).message }));
              return;
            }
            lastPushAt = new Date();
            if (event.kind === "operations") {
              for (const op of event.ops) start(op);
              // A full page: more may be waiting once slots free up.
              if (event.more) workWaiting = true;
              return;
            }
            void claimAndRun().catch((e: unknown) => log.warn("claim failed", { error: (e as Error).message }));
          },
          onError: (error) => {
            sub.unsubscribe();
            resolve(error);
          },
          onComplete: () => resolve(undefined),
        });
        onStop = () => (sub.unsubscribe(), resolve(undefined));
        stopping.signal.addEventListener("abort", onStop, { once: true });
      });
      // One listener per stream, removed when it ends: a flapping connection must not pile them up.
      if (onStop) stopping.signal.removeEventListener("abort", onStop);
      setPushStream(false);
      if (stopping.signal.aborted) return;
      if (trpcCode(ended) === "UNAUTHORIZED") return failFatal(new CredentialRefused(ended!.message));
      log.warn("push stream ended; long-polling", { error: ended?.message });
      const until = Date.now() + 60_000;
      // The first poll that gets through says what this agent holds (see handBackUnheld).
      let handBack = true;
      while (!stopping.signal.aborted && Date.now() < until) {
        try {
          const free = config.concurrency - inFlight.size;
          const held = handBack && !claiming ? holding() : undefined;
          const ops = free > 0 ? await call(() => client.poll.mutate({ max: Math.min(free, MAX_CLAIM), waitMs: 20_000, ...(held ? { holding: held } : {}) })) : [];
          if (free > 0 && held) handBack = false;
          for (const op of ops) start(op);
          if (free <= 0) await sleep(1000, stopping.signal);
        } catch (error) {
          if (!stopping.signal.aborted) log.warn("poll failed; retrying", { error: (error as Error).message });
          await sleep(2000, stopping.signal);
        }
      }
    }
  }

  /** A claim now and then even while pushes arrive: covers a missed event or a console restart during a back-off. */
  async function safetyNetLoop(): Promise<void> {
    while (!stopping.signal.aborted) {
      await sleep(15_000, stopping.signal);
      if (stopping.signal.aborted) return;
      await claimAndRun().catch(() => {});
    }
  }

  async function reconcileLoop(): Promise<void> {
    while (!stopping.signal.aborted) {
      await sleep(config.reconcileIntervalMs, stopping.signal);
      if (stopping.signal.aborted) return;
      await reconcile().catch((e: unknown) => log.error("reconcile failed", { error: (e as Error).message }));
    }
  }

  async function run(): Promise<void> {
    await enroll();
    log.info("agent started", { host: cred!.hostName, console: config.consoleUrl, cniPath: config.cniPath.join(":"), netnsDir: config.netnsDir });
    // Local recovery first: it needs no console.
    await recoverIntents();
    await flushReports().catch(() => {});
    await call(() => client.resume.mutate()).catch((e: unknown) => log.warn("could not hand back old claims", { error: (e as Error).message }));
    await reconcile().catch((e: unknown) => log.error("reconcile failed", { error: (e as Error).message }));
    await Promise.all([heartbeatLoop(), workLoop(), reconcileLoop(), safetyNetLoop()]);
    // The loops end as soon as stopping starts; the operations in flight get their grace.
    await (draining ??= drain());
    jobLog.stop();
    spawner.close();
    if (fatal) throw fatal;
  }

  let draining: Promise<void> | undefined;
  async function drain(): Promise<void> {
    const waiting = [...inFlight.values()];
    if (waiting.length === 0) return;
    log.info("waiting for operations in flight", { count: waiting.length, graceMs: config.shutdownGraceMs });
    const finished = await Promise.race([Promise.all(waiting).then(() => true), sleep(config.shutdownGraceMs).then(() => false)]);
    // Still running past the grace: their intent records stay; the next start DELs first.
    if (!finished) log.warn("shutting down with operations in flight; their intents are journalled", { count: inFlight.size });
  }

  async function stop(): Promise<void> {
    stopping.abort();
    await (draining ??= drain());
  }

  return { run, stop };
}
