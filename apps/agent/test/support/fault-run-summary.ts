import { quantile } from "../../../../bench/stats";
import type { FaultRunSummary } from "./fault-run";

/** The fault run's summary, as both the bench (bench/fault-run.ts) and the CI test print it. */
export function formatSummary(s: FaultRunSummary): string[] {
  const sec = (ms: number) => (Number.isNaN(ms) ? "n/a" : `${(ms / 1000).toFixed(1)} s`);
  const k = s.killsByKind;
  const lines = [
    `seed ${s.seed}; wall ${sec(s.wallMs)}, ${k.agent > 0 ? `${(s.wallMs / k.agent / 1000).toFixed(2)} s` : "n/a"} per kill`,
    `kills: agent ${k.agent} (${s.killsDuringStart} of them before it had started), console ${k.console}, postgres ${k.postgres}; clock jumps (an hour ahead and back) ${k.clockJumps}`,
    `cycles (attach [check] detach) ${s.cycles}; operations ${Object.entries(s.operations.byKindStatus).map(([kind, n]) => `${kind} ${n}`).join(", ")}; attempts ${s.operations.attempts}, operations retried ${s.operations.retried}`,
    `checks ${s.checkpoints.length}: settle p50 ${sec(quantile(s.settleMs, 0.5))}, p99 ${sec(quantile(s.settleMs, 0.99))}, max ${sec(s.settleMs.length ? Math.max(...s.settleMs) : Number.NaN)}`,
    `agent start → "agent started": p50 ${sec(quantile(s.agentStartMs, 0.5))}, p99 ${sec(quantile(s.agentStartMs, 0.99))} (${s.agentStartMs.length} starts)`,
    `leaked: leases ${s.totals.leases}, veths ${s.totals.veths}, cache files ${s.totals.cacheFiles}, intents ${s.totals.intents}, rules ${s.totals.rules}, namespaces ${s.totals.namespaces}`,
    `state disagreements ${s.totals.disagreements}; applied twice ${s.totals.doubleApplies} (plugin runs recorded: ${Object.entries(s.pluginCalls).map(([k, n]) => `${k} ${n}`).join(", ")})`,
    `plugin runs overlapping on one attachment (a killed agent's plugin still running): ${s.overlappingCalls.length}`,
  ];
  const failedBy = Object.entries(s.operations.failedBy).sort((a, b) => b[1] - a[1]);
  if (failedBy.length > 0) lines.push("operations failed for good, by error:", ...failedBy.map(([e, n]) => `  ${String(n).padStart(5)}  ${e}`));
  const warnings = [...s.agentWarnings].sort((a, b) => b[1] - a[1]).slice(0, 12);
  if (warnings.length > 0) lines.push("agents' warnings and errors (most frequent):", ...warnings.map(([msg, n]) => `  ${String(n).padStart(5)}  ${msg.slice(0, 140)}`));
  for (const o of s.overlappingCalls.slice(0, 5)) lines.push(`  overlap: ${o}`);
  if (s.checkFailures.size > 0) lines.push("CHECKs of ready attachments that failed (the attachment goes to failed; the lane detaches it):", ...[...s.checkFailures].map(([e, n]) => `  ${String(n).padStart(5)}  ${e.slice(0, 160)}`));
  if (s.evidenceDir) lines.push(`evidence kept in ${s.evidenceDir} (agent.log, faults.log, plugin-calls.log, console.log, postgres.log, agent/, host-at-failure.json, agent-threads.txt)`);
  lines.push(s.failures.length === 0 ? "PASSED" : `FAILED (${s.failures.length}):`, ...s.failures.slice(0, 40).map((f) => `  ${f}`));
  return lines;
}
