/**
 * Issue 15 §6, the long fault run: attach/check/detach cycles with the real bridge and host-local
 * plugins against one real agent process that is SIGKILLed at N random points (at some of them the
 * console process and PostgreSQL too, at some the agent's clock goes an hour ahead and back), with a
 * settle and a count of leaks, disagreements and double applies every --check-every kills and at the
 * end. The engine is apps/agent/test/support/fault-run.ts (the CI test runs it with 50 kills). See
 * bench/README.md.
 *
 *   npx tsx bench/fault-run.ts [--kills 1000] [--console-kills 40] [--postgres-kills 20] [--clock-jumps 20]
 *                              [--lanes 4] [--check-every 100] [--uptime-ms 0-2500] [--early-kill-every 6] [--reconcile-interval-ms 10000] [--seed N]
 *
 * Root only; needs apps/agent/dist (cd apps/agent && npm run build), PostgreSQL 15 (a private cluster
 * is made and dropped), libfaketime. Exit 1 on any failure.
 */
import { parseArgs } from "node:util";
import { runFaultRun } from "../apps/agent/test/support/fault-run";
import { formatSummary } from "../apps/agent/test/support/fault-run-summary";
import { clamp } from "./stats";

const { values: flags } = parseArgs({
  options: {
    kills: { type: "string", default: "1000" },
    "console-kills": { type: "string" },
    "postgres-kills": { type: "string" },
    "clock-jumps": { type: "string" },
    lanes: { type: "string", default: "4" },
    "check-every": { type: "string", default: "100" },
    "uptime-ms": { type: "string", default: "0-2500" },
    "early-kill-every": { type: "string", default: "6" },
    "settle-timeout-s": { type: "string", default: "180" },
    "reconcile-interval-ms": { type: "string", default: "10000" },
    "deadline-min": { type: "string", default: "180" },
    seed: { type: "string" },
  },
});
if (process.getuid?.() !== 0) throw new Error("the fault run needs root (network namespaces, the plugins, a private PostgreSQL)");
const kills = clamp(Number(flags.kills), 1, 100_000);
const uptime = /^(\d+)-(\d+)$/.exec(flags["uptime-ms"]);
if (!uptime || Number(uptime[1]) > Number(uptime[2])) throw new Error(`--uptime-ms "${flags["uptime-ms"]}": must be MIN-MAX in ms after the agent started, e.g. 0-2500`);
const share = (flag: string | undefined, per1000: number) => clamp(flag === undefined ? Math.max(1, Math.round((kills * per1000) / 1000)) : Number(flag), 0, kills);

// Ctrl-C: the run stops, fails and cleans up (namespaces, bridge, rules, processes, the private cluster).
const stop = new AbortController();
const onSignal = () => stop.abort();
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
const summary = await runFaultRun({
  kills,
  consoleKills: share(flags["console-kills"], 40),
  postgresKills: share(flags["postgres-kills"], 20),
  clockJumps: share(flags["clock-jumps"], 20),
  lanes: clamp(Number(flags.lanes), 1, 16),
  checkEvery: clamp(Number(flags["check-every"]), 1, kills),
  faultsBeforeChecks: true,
  uptimeMs: { min: Number(uptime[1]), max: Number(uptime[2]) },
  earlyKillEvery: clamp(Number(flags["early-kill-every"]), 1, 1_000_000),
  reconcileIntervalMs: clamp(Number(flags["reconcile-interval-ms"]), 1000, 3_600_000),
  settleTimeoutMs: clamp(Number(flags["settle-timeout-s"]), 10, 3600) * 1000,
  deadlineMs: clamp(Number(flags["deadline-min"]), 1, 24 * 60) * 60_000,
  seed: flags.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : clamp(Number(flags.seed), 0, 2 ** 31),
  log: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
  signal: stop.signal,
});
process.off("SIGINT", onSignal);
process.off("SIGTERM", onSignal);
console.log(`\n${formatSummary(summary).join("\n")}`);
process.exitCode = summary.failures.length === 0 ? 0 : 1;
