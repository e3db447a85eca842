/**
 * Issue 12's end-to-end figures with a real agent (bench/README.md): a pool edit in the console →
 * applied in the host's kernel (the agent's report), and HTTP throughput through the VIP against
 * the same backend addressed directly, in the same run.
 *
 *   sudo npx tsx bench/services-propagation.ts                     # 50 edits, 5 rounds of 1,000 requests
 *   sudo npx tsx bench/services-propagation.ts --edits 100 --requests 2000 --rounds 3
 *
 * Everything runs in namespaces it creates (the backend bench of apps/agent/test/support): the
 * agent programs a namespace standing in for its host (`--services netns:<name>`), which holds
 * the blackhole route for the service CIDR before any request goes to a VIP. All of it is removed
 * at the end or on Ctrl-C. Needs the agent's bundle (npx turbo run build --filter=@switchyard/agent).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { serveApi, setupApiTest } from "@switchyard/api/testing";
import { createTestDirs, randomSuffix } from "@switchyard/cni/test-host";
import { agentArgs } from "../apps/agent/test/agent-args";
import { type BackendBench, countAnswers, createBackendBench } from "../apps/agent/test/support/backends";
import { clamp, median, quantile, row } from "./stats";

const { values: flags } = parseArgs({
  options: {
    edits: { type: "string", default: "50" },
    requests: { type: "string", default: "1000" },
    rounds: { type: "string", default: "5" },
  },
});
const EDITS = clamp(Number(flags.edits), 5, 500);
const REQUESTS = clamp(Number(flags.requests), 100, 10_000);
const ROUNDS = clamp(Number(flags.rounds), 1, 20);
const DEADLINE = Date.now() + 10 * 60_000;
const TARGETS = { editToAppliedP99Ms: 250, throughputRatio: 0.95 };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const until = Math.min(Date.now() + timeoutMs, DEADLINE);
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function main() {
  const t = await setupApiTest({ kind: (process.env.SWITCHYARD_TEST_DB as "pglite" | "pglite-dir" | "postgres" | undefined) ?? "pglite-dir" });
  const server = await serveApi(t.deps);
  let agent: ChildProcess | undefined;
  let bench: BackendBench | undefined;
  const dirs = await createTestDirs();
  const cleanup = async () => {
    if (agent?.exitCode === null) agent.kill("SIGKILL");
    await bench?.cleanup().catch(() => {});
    await dirs.remove().catch(() => {});
    await server.close().catch(() => {});
    await t.close().catch(() => {});
  };
  process.on("SIGINT", () => void cleanup().finally(() => process.exit(130)));
  try {
    console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}; ${EDITS} edits, ${ROUNDS} rounds of ${REQUESTS} requests`);
    bench = await createBackendBench({ count: 3, lifetimeMs: 10 * 60_000 });
    const admin = await t.callerAs("admin", "bench-admin");
    const operator = await t.callerAs("operator", "bench-op");
    mkdirSync(join(dirs.root, "net.d"), { recursive: true });
    const hostname = `sytest-${randomSuffix()}`;
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    agent = spawn(process.execPath, agentArgs({ consoleUrl: server.url, root: dirs.root, cacheDir: dirs.cacheDir, hostname, joinToken: token, extra: ["--services", `netns:${bench.host.name}`] }), { stdio: "ignore" });
    const hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);
    await admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
    const [b0, b1, b2] = bench.backends;
    const ports = [{ protocol: "tcp" as const, port: 80, targetPort: b0!.port }];
    const members = (w: number) => [b0!, b1!, b2!].map((b, i) => ({ address: b.address, hostId, weight: i === 0 ? w : 100 }));
    const pool = await operator.caller.services.create({ name: "pool", vip: "10.96.0.10", spec: { ports, manualMembers: members(100) } });
    await operator.caller.services.create({ name: "one", vip: "10.96.0.11", spec: { ports, manualMembers: [{ address: b0!.address, hostId }] } });
    const appliedGeneration = async () => (await t.db.hostServiceState.findUnique({ where: { hostId_family: { hostId, family: 4 } } }))?.appliedGeneration ?? 0n;
    const latest = async () => (await t.db.serviceChange.findFirstOrThrow({ orderBy: { generation: "desc" }, select: { generation: true } })).generation;
    await waitFor("the host to apply both services", async () => (await appliedGeneration()) >= (await latest()));

    // 1. Edit → applied: the operator's update call, until the host's report of that version.
    // The report rings the host's doorbell on the console's bus: waited on, not polled.
    const applied = (generation: bigint) =>
      new Promise<void>((resolve, reject) => {
        const stop = new AbortController();
        const timer = setTimeout(() => (stop.abort(), reject(new Error(`version ${generation} not applied in 10 s`))), 10_000);
        void (async () => {
          for await (const e of t.deps.events.subscribe("host", stop.signal)) {
            if (e.kind !== "resync" && e.hostId !== hostId) continue;
            if ((await appliedGeneration()) >= generation) break;
          }
        })()
          .then(() => (clearTimeout(timer), stop.abort(), resolve()))
          .catch(() => {});
        // A report that landed before the subscription.
        void appliedGeneration().then((g) => g >= generation && (clearTimeout(timer), stop.abort(), resolve()));
      });
    const editMs: number[] = [];
    const commitMs: number[] = [];
    let revision = 1;
    for (let i = 0; i < EDITS; i++) {
      if (Date.now() > DEADLINE) throw new Error("bench: 10 minute bound reached");
      const t0 = performance.now();
      await operator.caller.services.update({ id: pool.id, expectedRevision: revision++, spec: { ports, manualMembers: members(100 + (i % 2) + 1) } });
      const t1 = performance.now();
      await applied(await latest());
      const t2 = performance.now();
      commitMs.push(t1 - t0);
      editMs.push(t2 - t0);
      await sleep(50);
    }
    console.log("\n1. Pool edit in the console → applied on the host (the agent's report), ms:");
    console.log(`  ${row("floor: the edit's own call (committed)", commitMs, 40)}`);
    const p99 = quantile(editMs, 0.99);
    console.log(`  ${row("edit → applied", editMs, 40)}  p99 ${p99.toFixed(1)} ms (target p99 ≤ ${TARGETS.editToAppliedP99Ms}): ${p99 <= TARGETS.editToAppliedP99Ms ? "met" : "MISSED"}`);

    // 2. Throughput: the one-member service's VIP against its member addressed directly, interleaved.
    const client = bench.client.netns.name;
    const direct: number[] = [];
    const viaVip: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? (["direct", "vip"] as const) : (["vip", "direct"] as const);
      for (const side of order) {
        const t0 = performance.now();
        const counts = await countAnswers({ clientNetns: client, address: side === "vip" ? "10.96.0.11" : b0!.address, port: side === "vip" ? 80 : b0!.port, requests: REQUESTS, concurrency: 8 });
        const seconds = (performance.now() - t0) / 1000;
        if (counts.failures > 0) throw new Error(`${side}: ${counts.failures} failures (${counts.errors.join(", ")})`);
        (side === "vip" ? viaVip : direct).push(REQUESTS / seconds);
      }
    }
    const ratio = median(viaVip) / median(direct);
    console.log(`\n2. HTTP throughput, ${REQUESTS} requests on new connections, 8 at once (requests/s, the client process's start included):`);
    console.log(`  direct to ${b0!.address}:${b0!.port}     median ${median(direct).toFixed(0)}/s  (${direct.map((x) => x.toFixed(0)).join(", ")})`);
    console.log(`  through the VIP 10.96.0.11:80   median ${median(viaVip).toFixed(0)}/s  (${viaVip.map((x) => x.toFixed(0)).join(", ")})`);
    console.log(`  VIP ÷ direct ${ratio.toFixed(3)} (target ≥ ${TARGETS.throughputRatio}): ${ratio >= TARGETS.throughputRatio ? "met" : "MISSED"}`);

    console.log(`\nload average at the end ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
