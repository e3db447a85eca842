import { describe, expect, it } from "vitest";
import { labelKeyProblem, labelValueProblem, LabelSelector, selectorMatches, ServiceSpec } from "./services";

describe("labels, as Kubernetes validates them", () => {
  it("takes prefixed and plain keys and refuses the rest, naming the key", () => {
    for (const ok of ["app", "app.kubernetes.io/name", "a", "A-b_c.d", "switchyard.dev/tier"]) expect(labelKeyProblem(ok), ok).toBeNull();
    for (const bad of ["", "-app", "app-", "a/b/c", "UPPER.dev/x", "x".repeat(64), "/app", "a b", 'a"b']) expect(labelKeyProblem(bad), bad).toContain(`"${bad}"`);
    expect(labelValueProblem("")).toBeNull();
    expect(labelValueProblem("web-1")).toBeNull();
    expect(labelValueProblem("web 1")).toContain("web 1");
  });
});

describe("selectorMatches", () => {
  const labels = { app: "web", tier: "front" };
  const cases: [unknown, boolean][] = [
    [{}, true],
    [{ matchLabels: { app: "web" } }, true],
    [{ matchLabels: { app: "db" } }, false],
    [{ matchExpressions: [{ key: "tier", operator: "In", values: ["front", "back"] }] }, true],
    [{ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["front"] }] }, false],
    [{ matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, true],
    [{ matchExpressions: [{ key: "zone", operator: "Exists" }] }, false],
    [{ matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] }, true],
    [{ matchLabels: { app: "web" }, matchExpressions: [{ key: "tier", operator: "Exists" }] }, true],
  ];
  it.each(cases)("%j → %s", (selector, expected) => {
    expect(selectorMatches(LabelSelector.parse(selector), labels)).toBe(expected);
  });
  it("refuses an unknown operator and In without values", () => {
    expect(LabelSelector.safeParse({ matchExpressions: [{ key: "a", operator: "Like", values: ["x"] }] }).success).toBe(false);
    expect(LabelSelector.safeParse({ matchExpressions: [{ key: "a", operator: "In", values: [] }] }).success).toBe(false);
    expect(LabelSelector.safeParse({ matchLabels: { a: "b" }, extra: 1 }).success).toBe(false);
  });
});

describe("ServiceSpec", () => {
  it("fills the defaults and keeps a member's own port to one-port services", () => {
    const spec = ServiceSpec.parse({ ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }], manualMembers: [{ address: "10.88.0.5", port: 9000 }] });
    expect(spec).toMatchObject({ affinityTimeoutSeconds: null, hostSelector: null, memberSelector: null, overrides: [] });
    expect(spec.manualMembers[0]).toEqual({ address: "10.88.0.5", port: 9000, hostId: null, weight: 100, state: "active", pool: "default" });
    const two = ServiceSpec.safeParse({ ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }, { protocol: "udp", port: 53, targetPort: 53 }], manualMembers: [{ address: "10.88.0.5", port: 9000 }] });
    expect(two.success).toBe(false);
  });
  it("refuses the same endpoint twice, also a port-less member beside one naming the target port", () => {
    const ports = [{ protocol: "tcp", port: 80, targetPort: 8080 }];
    expect(ServiceSpec.safeParse({ ports, manualMembers: [{ address: "10.88.0.5" }, { address: "10.88.0.5" }] }).success).toBe(false);
    expect(ServiceSpec.safeParse({ ports, manualMembers: [{ address: "10.88.0.5" }, { address: "10.88.0.5", port: 8080 }] }).success).toBe(false);
    expect(ServiceSpec.safeParse({ ports, manualMembers: [{ address: "10.88.0.5" }, { address: "10.88.0.5", port: 9090 }] }).success).toBe(true);
  });
  it("refuses an HTTP check path with spaces or without a leading slash", () => {
    for (const path of ["health", "/a b", "/x\n"]) {
      expect(ServiceSpec.safeParse({ ports: [{ protocol: "tcp", port: 80, targetPort: 80 }], healthCheck: { kind: "http", path } }).success, path).toBe(false);
    }
    expect(ServiceSpec.parse({ ports: [{ protocol: "tcp", port: 80, targetPort: 80 }], healthCheck: { kind: "http", path: "/healthz" } }).healthCheck).toEqual({
      kind: "http", path: "/healthz", expectStatus: 200, intervalSeconds: 5, timeoutSeconds: 2, healthyThreshold: 2, unhealthyThreshold: 3,
    });
  });
});
