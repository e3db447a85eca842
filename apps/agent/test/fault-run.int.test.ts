/**
 * Issue 15 §6, the long fault run, shortened for CI: 50 SIGKILLs of a real agent process while
 * attachments cycle (attach, sometimes check, detach) with the real bridge and host-local plugins;
 * at some of them the console process and PostgreSQL are SIGKILLed too and the agent's clock goes
 * an hour ahead and back (libfaketime). Twice and at the end the system settles and the host and
 * the database are counted: nothing leaked, no disagreement, nothing applied twice. The engine is
 * shared with bench/fault-run.ts (1,000 kills): support/fault-run.ts. It makes its own PostgreSQL
 * cluster whatever SWITCHYARD_TEST_DB says; SWITCHYARD_FAULT_SEED replays a run's schedule.
 */
import { describe, expect, it } from "vitest";
import { isRoot } from "./harness";
import { runFaultRun } from "./support/fault-run";
import { formatSummary } from "./support/fault-run-summary";
import { findDoubleApplies, readPluginCalls } from "./support/plugin-recorder";

const KILLS = 50;
const BUDGET_MS = 180_000;

describe("the fault run's double-apply check, on a recorded log", () => {
  it("finds an ADD with no DEL since the previous one, and runs of one plugin on one attachment that overlap; a DEL between two ADDs is fine", () => {
    const log = [
      "S 100.000 11 bridge ADD c1 eth0",
      "S 100.010 12 host-local ADD c1 eth0",
      "E 100.050 12 0",
      "E 100.090 11 0",
      "S 101.000 13 bridge VERSION  ",
      "E 101.010 13 0",
      // A killed agent's retry: DEL first, then ADD.
      "S 102.000 14 bridge DEL c1 eth0",
      "E 102.040 14 0",
      "S 102.100 15 bridge ADD c1 eth0",
      "E 102.200 15 0",
      // Applied twice: c2 ADDed again with no DEL between, the first still running.
      "S 103.000 16 bridge ADD c2 eth0",
      "S 103.020 17 bridge ADD c2 eth0",
      "E 103.100 17 1",
      "",
    ].join("\n");
    const calls = readPluginCalls(log);
    expect(calls.map((c) => `${c.plugin} ${c.command} ${c.containerId}`)).toEqual(["bridge ADD c1", "host-local ADD c1", "bridge DEL c1", "bridge ADD c1", "bridge ADD c2", "bridge ADD c2"]);
    const { doubleApplies, overlapping } = findDoubleApplies(calls);
    expect(doubleApplies).toEqual([expect.stringMatching(/^bridge c2\/eth0: ADD again with no DEL since the previous one: bridge ADD pid 16 .*no exit recorded.*, then bridge ADD pid 17 .*exit 1/)]);
    expect(overlapping).toEqual([expect.stringMatching(/^bridge c2\/eth0: bridge ADD pid 16 .* still running when bridge ADD pid 17/)]);
  });
});

describe.runIf(isRoot)("the fault run (issue 15 §6), short", () => {
  it(`${KILLS} SIGKILLs of the agent, with the console, PostgreSQL and the clock: 0 leaks, 0 disagreements, 0 applied twice`, { timeout: BUDGET_MS + 60_000 }, async () => {
    const seed = Number(process.env.SWITCHYARD_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const started = performance.now();
    const summary = await runFaultRun({
      kills: KILLS,
      consoleKills: 2,
      postgresKills: 1,
      clockJumps: 1,
      lanes: 3,
      checkEvery: 25,
      // A console or PostgreSQL kill right before a check makes it wait ~65 s (bench/README.md): not within CI's time.
      faultsBeforeChecks: false,
      uptimeMs: { min: 0, max: 1500 },
      earlyKillEvery: 6,
      reconcileIntervalMs: 5000,
      settleTimeoutMs: 60_000,
      // The engine stops and cleans up within the test's own time.
      deadlineMs: BUDGET_MS - 25_000,
      seed,
      log: (line) => console.log(`fault run: ${line}`),
    });
    const wallMs = performance.now() - started;
    console.log(`${formatSummary(summary).join("\n")}\ntest wall time ${(wallMs / 1000).toFixed(1)} s (SWITCHYARD_FAULT_SEED=${seed} replays the schedule)`);

    expect(summary.failures).toEqual([]);
    expect(summary.killsByKind).toEqual({ agent: KILLS, console: 2, postgres: 1, clockJumps: 1 });
    expect(summary.totals).toEqual({ leases: 0, veths: 0, cacheFiles: 0, intents: 0, rules: 0, namespaces: 0, disagreements: 0, doubleApplies: 0 });
    // Work went on between the kills, and it was counted twice on the way and once after the final detach.
    expect(summary.cycles).toBeGreaterThan(10);
    expect(summary.checkpoints.length).toBeGreaterThanOrEqual(3);
    expect(summary.checkpoints.at(-1)?.ready).toBe(0);
    expect(wallMs).toBeLessThan(BUDGET_MS);
  });
});
