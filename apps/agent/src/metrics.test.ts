import { AgentMetricsSnapshot } from "@switchyard/api/schemas/agentMetrics";
import { describe, expect, it } from "vitest";
import { createAgentMetrics } from "./metrics";

describe("the agent's metrics registry", () => {
  it("yields a snapshot the console's schema takes, with plugin calls by plugin, verb and outcome", async () => {
    const m = createAgentMetrics();
    m.onExec({ plugin: "bridge", verb: "ADD", phase: "start" });
    m.onExec({ plugin: "bridge", verb: "ADD", phase: "exit", code: 0, durationMs: 40 });
    m.onExec({ plugin: "portmap", verb: "ADD", phase: "exit", code: 1, durationMs: 5 });
    m.onExec({ plugin: "bridge", verb: "DEL", phase: "exit", code: null, durationMs: 20_000, timedOut: true });
    await m.timeReconcile(async () => 1);
    await expect(m.timeReconcile(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    m.leaseReport({ ok: true, seconds: 0.2, leasesByNetwork: new Map([["lab", 3]]) });
    m.leaseReport({ ok: true, seconds: 0.1, leasesByNetwork: new Map([["other", 1]]) });
    m.ruleSync({ family: 4, applyMs: 12, error: null });
    m.ruleSync({ family: 6, applyMs: null, error: "nft: no" });

    const parsed = AgentMetricsSnapshot.safeParse(await m.snapshot(new Date()));
    expect(parsed.error?.issues).toBeUndefined();
    const samples = (name: string) => parsed.data!.metrics.find((f) => f.name === name)!.samples;
    const calls = samples("switchyard_agent_plugin_calls_total").map((s) => [s.labels.plugin, s.labels.verb, s.labels.outcome, s.value]);
    expect(calls).toEqual(expect.arrayContaining([["bridge", "ADD", "ok", 1], ["portmap", "ADD", "error", 1], ["bridge", "DEL", "timeout", 1]]));
    expect(calls).toHaveLength(3);
    expect(samples("switchyard_agent_plugin_call_duration_seconds").find((s) => s.suffix === "_sum" && s.labels.verb === "ADD" && s.labels.plugin === "bridge")!.value).toBeCloseTo(0.04);
    expect(samples("switchyard_agent_reconcile_runs_total").map((s) => [s.labels.outcome, s.value]).sort()).toEqual([["error", 1], ["ok", 1]]);
    // The gauge follows the last snapshot: a network gone is gone.
    expect(samples("switchyard_agent_leases").map((s) => [s.labels.network, s.value])).toEqual([["other", 1]]);
    expect(samples("switchyard_agent_rule_syncs_total").map((s) => [s.labels.family, s.labels.outcome, s.value]).sort()).toEqual([["4", "ok", 1], ["6", "error", 1]]);
    expect(samples("switchyard_agent_rule_sync_duration_seconds").find((s) => s.suffix === "_count")!.value).toBe(1);
  });
});
