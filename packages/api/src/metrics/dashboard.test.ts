import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AGENT_METRIC_NAMES } from "../schemas/agentMetrics";
import { replicaMetrics } from "./replica";

// deploy/grafana/switchyard.json must graph what the console serves: a renamed metric fails here.
describe("the Grafana dashboard", () => {
  it("queries only metric names /metrics serves", () => {
    const dashboard = readFileSync(new URL("../../../../deploy/grafana/switchyard.json", import.meta.url), "utf8");
    const served = new Set<string>([
      ...replicaMetrics().registry.getMetricsAsArray().map((m) => m.name),
      ...AGENT_METRIC_NAMES,
      "switchyard_operations_unfinished",
      "switchyard_agent_snapshot_age_seconds",
    ]);
    const used = new Set([...dashboard.matchAll(/\bswitchyard_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, "")));
    used.delete("switchyard_overview"); // the dashboard's uid
    used.delete("switchyard_agent_"); // "switchyard_agent_*" in its description
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((n) => !served.has(n))).toEqual([]);
  });
});
