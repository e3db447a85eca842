import { mkdirSync } from "node:fs";
import { type CniRuntimeOptions, type Spawner, createCniRuntime, createHelperSpawner } from "@switchyard/cni";
import { createAgentClient } from "./client";
import { type Clock, steadyWallClock, systemClock } from "./clock";
import { AGENT_VERSION, type AgentConfig } from "./config";
import { CredentialRefused, createConsolePort } from "./console";
import { createEnrolment } from "./enrolment";
import { removeWriteLeftovers } from "./files";
import { createGate } from "./gate";
import { createHeartbeat } from "./heartbeat";
import { createIntentJournal } from "./intents";
import { createHostIpamReporter } from "./ipam/host";
import { findKnownNetwork } from "./ipam/networks";
import { carryOutRelease } from "./ipam/release";
import { createIpamReleaser } from "./ipam/releaser";
import { collectInventory, pluginVersions } from "./inventory";
import { type AgentJob, periodicJob } from "./jobs";
import { createJobLog } from "./joblog";
import { createLifecycle } from "./lifecycle";
import type { Logger } from "./log";
import { createAgentMetrics, createMetricsPusher } from "./metrics";
import { createOperationRunner } from "./operation";
import { createOutbox } from "./outbox";
import { createOwnedAttachments } from "./owned";
import { createPushStream } from "./push";
import { createReconciler } from "./reconcile";
import { createReportQueue } from "./reports";
import { claimSafetyNet } from "./safety-net";
import { createScheduler } from "./scheduler";
import { createHealthLoop } from "./services/health-loop";
import { createProbeRunner } from "./services/probe";
import { createProxySupervisor } from "./services/proxy";
import { createServicesSync } from "./services/sync";
import { createTouches } from "./touches";
import { createConfDirDeployer } from "./confdir/deploy";
import { createConfDirSync } from "./confdir/sync";
import { createObserver } from "./observed/observer";
import { createContainerdSource } from "./observed/containerd";
import { createPodmanSource, findOnPath } from "./observed/podman";
import type { ContainerSource } from "./observed/source";

export { CredentialRefused } from "./console";

/** How often the agent asks for IPAM releases it may not have heard of. */
const RELEASE_SAFETY_NET_MS = 60_000;

export interface Agent {
  /** Resolves when the agent stopped (stop() was called); rejects when the credential was refused. */
  run(): Promise<void>;
  /** Idempotent, ordered and bounded: see lifecycle.ts. */
  stop(): Promise<void>;
}

/** What a process running several agents gives them to share (bench/fleet.ts); a host's one agent passes none. */
export interface AgentOptions {
  /**
   * Starts the plugins and `ip`. Default: a spawn helper process of this agent's own (a whole
   * node, ~40 MB), closed when it stops. Given, it is the caller's: a hundred agents in one
   * process share one helper, and an agent's stop leaves it running for the others.
   */
  spawner?: Spawner;
}

/**
 * The agent, composed: each part has one job and explicit inputs (see README.md). Jobs start in
 * the order listed after local recovery and the first reconcile; a new one (service rules) is
 * one more entry in `jobs`.
 */
export function createAgent(config: AgentConfig, log: Logger, clock: Clock = systemClock, options: AgentOptions = {}): Agent {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // Before this process writes anything there: what a killed predecessor's writes left.
  const leftovers = removeWriteLeftovers(config.dataDir);
  if (leftovers.length > 0) log.info("removed temp files of writes a stopped agent left", { count: leftovers.length });
  const enrolment = createEnrolment({ consoleUrl: config.consoleUrl, dataDir: config.dataDir, hostname: config.hostname, joinToken: config.joinToken, log, clock });
  const client = createAgentClient({ consoleUrl: config.consoleUrl, credential: enrolment.credential, userAgent: `switchyard-agent/${AGENT_VERSION}`, timeoutMs: config.consoleTimeoutMs });
  const consoleApi = createConsolePort(client, (error) => refuse(error));
  const intents = createIntentJournal(config.dataDir);
  const jobLog = createJobLog(async (entries) => {
    const { refused } = await consoleApi.log(entries);
    for (const r of refused) log.debug("job lines refused by the console", r);
  });
  // Plugins and `ip` are started by a small helper process: fork() of this one (~150 MB) would
  // block the event loop for 10-25 ms per process, and an attach starts three.
  const spawner = options.spawner ?? createHelperSpawner();
  const metrics = createAgentMetrics();
  const runtimeOptions: CniRuntimeOptions = {
    spawner,
    pluginDirs: config.cniPath,
    cacheDir: config.cacheDir,
    timeoutMs: config.pluginTimeoutMs,
    netnsDirs: [config.netnsDir],
    passEnv: config.pluginEnv,
    onWarning: (w) => log.warn("cni warning", { error: w.message, reason: w.reason }),
    // Every plugin execution, whoever runs it (operations, reconcile, IPAM, inventory): counted and timed.
    onExec: (e) => metrics.onExec(e),
  };
  const runtime = createCniRuntime(runtimeOptions);
  const gate = createGate();
  const owned = createOwnedAttachments(config.dataDir, log);
  const stopping = new AbortController();
  const refuse = (error: CredentialRefused): void => {
    log.error("stopping: the console refused this host's credential", { error: error.message });
    lifecycle.fail(error);
  };

  const outbox = createOutbox({ console: consoleApi, queue: createReportQueue(config.dataDir), log, onMoreWork: () => scheduler.noteWorkWaiting() });
  const touches = createTouches();
  const runOperation = createOperationRunner({ runtime: runtimeOptions, spawner, netnsDir: config.netnsDir, intents, owned, touches, outbox, jobLog, console: consoleApi, log });
  const ipam = createHostIpamReporter({
    confDir: config.confDir,
    netnsDir: config.netnsDir,
    runtime,
    owned,
    console: consoleApi,
    log,
    clock,
    onReport: ({ ok, seconds, snapshot }) => metrics.leaseReport({ ok, seconds, leasesByNetwork: snapshot && new Map(snapshot.networks.map((n) => [n.networkName, n.leases.length])) }),
  });
  const releaser = createIpamReleaser({
    console: consoleApi,
    carryOut: (release) =>
      carryOutRelease(
        {
          runtime,
          knownNetwork: (name) => findKnownNetwork(name, (names) => consoleApi.currentConfigs(names), config.confDir),
          ownedHolders: () => owned.list(),
        },
        release,
      ),
    onCarriedOut: () => ipam.requestReport(),
    log,
  });
  // Each operation's end asks for a lease report (one report covers a batch: the reporter waits a moment).
  const runAndReport: typeof runOperation = (op) => runOperation(op).finally(() => ipam.requestReport());
  const scheduler = createScheduler({ console: consoleApi, concurrency: config.concurrency, run: runAndReport, queuedIds: () => outbox.queued().map((r) => r.operationId), gate, log, clock, signal: stopping.signal });
  const reconciler = createReconciler({ runtime, intents, owned, touches, queuedOutcomes: () => outbox.queued(), console: consoleApi, gate, log, clock });
  const reconcile = () =>
    metrics
      .timeReconcile(() => reconciler.reconcile())
      .catch((e: unknown) => log.error("reconcile failed", { error: (e as Error).message }))
      .finally(() => ipam.requestReport());
  // Health checks of the pool members living here (from this agent's own network namespace).
  const health =
    config.services.mode === "off"
      ? null
      : createHealthLoop({ fetchTargets: () => consoleApi.servicesHealthTargets(), report: (input) => consoleApi.reportServicesHealth(input), log });
  const refreshHealth = () => void health?.refresh().catch((e: unknown) => log.warn("services: health targets not fetched", { error: (e as Error).message }));
  // The userspace proxy (issue 14): its own process, started when a service on the proxy plane lands here.
  const servicesNetns = config.services.mode === "netns" ? config.services.netns : undefined;
  const proxy =
    config.services.mode === "off"
      ? null
      : createProxySupervisor({
          log,
          netns: servicesNetns,
          workers: config.proxyWorkers || undefined,
          onEjections: (ejections) =>
            void consoleApi.reportProxyHealth({ ejections }).catch((e: unknown) => log.warn("proxy: passive health not reported", { error: (e as Error).message })),
        });
  // The services data plane: off, this host, or a named namespace standing in for it.
  const services =
    config.services.mode === "off"
      ? null
      : createServicesSync({
          fetchDesired: (family) => consoleApi.servicesDesired(family),
          report: (r) => (metrics.ruleSync(r), consoleApi.reportServicesApplied(r)),
          netns: config.services.mode === "netns" ? config.services.netns : undefined,
          layout: config.servicesLayout,
          apply: config.servicesApply,
          proxy: proxy ?? undefined,
          log,
          clock,
        });
  // Service probes: connections to a VIP this agent programs, from the host or an attachment's namespace.
  // With services off it programs nothing, so it refuses every probe (saying why) rather than leave it to expire.
  const probes = createProbeRunner({
    claim: () => consoleApi.claimProbes(),
    report: (input) => consoleApi.reportProbe(input),
    programs: (vip, protocol, port) => services?.programs(vip, protocol, port) ?? false,
    proxied: (vip, port) => services?.proxied(vip, port) ?? null,
    proxy: proxy ?? undefined,
    servicesNetns: config.services.mode === "netns" ? config.services.netns : undefined,
    netnsDir: config.netnsDir,
    log,
  });
  // Networks the console deploys to this host, written to its CNI conf dir (issue 16).
  const confDirSync = createConfDirSync({
    fetch: () => consoleApi.deployments(),
    report: (body) => consoleApi.reportConfDir(body),
    deployer: createConfDirDeployer({ confDir: config.confDir, dataDir: config.dataDir, log }),
    log,
  });
  // Containers other runtimes attach here (issue 16 §3): seen in libcni's cache, described by their runtimes.
  const sources: ContainerSource[] = [];
  if (config.observe === "auto") {
    const podman = findOnPath("podman");
    if (podman) sources.push(createPodmanSource({ bin: podman, spawner }));
    const ctr = findOnPath("ctr");
    if (ctr) sources.push(createContainerdSource({ bin: ctr, address: config.containerdAddress, spawner }));
  }
  const observer =
    config.observe === "off"
      ? null
      : createObserver({
          runtime,
          cacheDir: config.cacheDir,
          owned,
          sources,
          // Their leases changed with them (host-local's data dir): the map is told now, not at the next interval.
          report: async (report) => {
            await consoleApi.reportObserved(report);
            ipam.requestReport();
          },
          log,
          clock,
        });
  const push = createPushStream({
    console: consoleApi,
    scheduler,
    concurrency: config.concurrency,
    onReconcile: () => void reconcile().then(() => heartbeat.requestInventory()),
    onRelease: () => releaser.wake(),
    onServices: () => {
      void services?.wake();
      refreshHealth();
    },
    // After any sync in flight: a probe of a service just created must find it programmed.
    onProbe: () => void (services?.idle() ?? Promise.resolve()).then(() => probes.wake()),
    onDeploy: () => void confDirSync.refresh(),
    onRefused: refuse,
    onStreamChange: () => heartbeat.requestInventory(),
    reconnectSpreadMs: config.reconnectSpreadMs,
    log,
    clock,
  });
  const heartbeat = createHeartbeat(
    {
      console: consoleApi,
      collectInventory: (desired, versions) => collectInventory(config, runtime, desired, versions),
      pluginVersions: () => pluginVersions(config, runtime),
      status: () => ({ lastSubscriptionEventAt: push.lastPushAt, pushStream: push.state, lastReconcile: reconciler.last }),
      rotateCredential: () => enrolment.rotate(consoleApi),
      flushReports: () => (lifecycle.failed ? Promise.resolve() : outbox.flush()),
      log,
      clock,
    },
    new Map() as Awaited<ReturnType<typeof pluginVersions>>,
  );
  const jobs: AgentJob[] = [
    heartbeat,
    push,
    periodicJob("reconcile", config.reconcileIntervalMs, reconcile, { clock, log }),
    ...(observer ? [observer, periodicJob("observed containers check", config.reconcileIntervalMs, async () => void observer.wake(), { clock, log })] : []),
    // Deployed network files edited or deleted by hand: restored or reported within one interval (no console call unless it changed).
    periodicJob("conf dir check", config.reconcileIntervalMs, () => confDirSync.check(), { clock, log }),
    claimSafetyNet({ claim: () => scheduler.claimAndRun(), stream: () => push.state, clock, log }),
    // Releases are rare and pushed; this only covers a push lost with its stream (one call a minute, not every 15 s).
    periodicJob("release safety net", RELEASE_SAFETY_NET_MS, async () => releaser.wake(), { clock, log }),
    ipam,
    // The table checked against what was applied, and the desired version fetched again (a lost push, an edited table).
    // takenAt on a clock that never steps back: the console drops a snapshot older than the one it has.
    createMetricsPusher({ metrics, send: (snapshot) => consoleApi.reportMetrics(snapshot), more: () => proxy?.metrics() ?? Promise.resolve([]), everyMs: config.metricsPushMs, clock: steadyWallClock(clock), log }),
    ...(services ? [periodicJob("services check", config.servicesCheckMs, async () => (refreshHealth(), void probes.wake(), services.check()), { clock, log })] : []),
  ];

  async function start(): Promise<void> {
    await enrolment.enroll(consoleApi, stopping.signal);
    log.info("agent started", { host: enrolment.hostName, console: config.consoleUrl, cniPath: config.cniPath.join(":"), netnsDir: config.netnsDir });
    // Local recovery first: it needs no console.
    await reconciler.recoverIntents();
    await outbox.flush().catch(() => {});
    await consoleApi.resume().catch((e: unknown) => log.warn("could not hand back old claims", { error: (e as Error).message }));
    await reconcile();
    releaser.wake();
    void confDirSync.refresh();
    // The first sync rewrites the table whole (nothing is believed yet); it does not hold the start.
    // Probes asked while the agent was away, once the table is in place.
    void (services?.check() ?? Promise.resolve()).then(() => probes.wake());
    refreshHealth();
  }

  const lifecycle = createLifecycle({
    start,
    jobs,
    drain: async (graceMs) => {
      await Promise.all([scheduler.drain(graceMs), releaser.idle(), services?.idle()]);
      await proxy?.stop();
    },
    flush: async () => {
      await jobLog.flush();
      await outbox.flush();
      await owned.flush();
    },
    close: () => {
      services?.stop();
      void health?.stop();
      jobLog.stop();
      if (!options.spawner) spawner.close();
    },
    graceMs: config.shutdownGraceMs,
    stopping,
    clock,
    log,
  });
  return { run: lifecycle.run, stop: lifecycle.stop };
}
