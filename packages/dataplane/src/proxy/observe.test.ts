import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { ProxyConfig } from "./config";
import type { RequestOutcome } from "./http";
import { ListenerState } from "./listener-state";
import { createObserver, createProxyMetrics, createSampler } from "./observe";

describe("createSampler", () => {
  it("passes every call up to `full` in a second, then one in `oneIn`; a new second starts over", () => {
    let now = 1_000_000;
    const sample = createSampler(() => now);
    const first = Array.from({ length: 1000 }, () => sample(100, 100)).filter(Boolean).length;
    // 100 in full, then calls 200, 300, …, 1000: 9 more.
    expect(first).toBe(109);
    now += 1000;
    expect(Array.from({ length: 50 }, () => sample(100, 100)).every(Boolean)).toBe(true);
  });
});

describe("createObserver", () => {
  const config = ProxyConfig.parse({
    version: 1,
    accessLog: { enabled: true, fullRatePerSecond: 3, sampleOneIn: 10 },
    listeners: [{ serviceId: "svc1", serviceName: "web", address: "10.96.0.10", port: 80, kind: "tcp", balance: { algorithm: "round-robin" }, pools: { default: [{ address: "10.1.0.5", port: 8080, weight: 100, state: "active", health: "none" }] } }],
  });

  it("writes one JSON access line per request while quiet, samples when busy, and counts every request by member and status class", async () => {
    const lines: string[] = [];
    const stream = new Writable({ write: (chunk, _e, done) => (lines.push(...String(chunk).trim().split("\n")), done()) });
    const metrics = createProxyMetrics();
    const observer = createObserver({ metrics, config: () => config, log: pino(stream) });
    const listener = new ListenerState(config.listeners[0]!);
    const member = listener.members.get("10.1.0.5:8080")!;
    const outcome: RequestOutcome = { listener, member, pool: "default", method: "GET", path: "/x", status: 200, ms: 1.234, error: null, retried: false, client: "10.2.0.9" };
    for (let i = 0; i < 23; i++) observer.requestDone(outcome);
    await new Promise((r) => setImmediate(r));
    // 3 in full, then the 10th and 20th calls.
    expect(lines).toHaveLength(5);
    expect(JSON.parse(lines[0]!)).toMatchObject({ kind: "http", service: "web", listener: "10.96.0.10:80", pool: "default", member: "10.1.0.5:8080", client: "10.2.0.9", method: "GET", path: "/x", status: 200, ms: 1.23, retried: false, error: null });
    const text = await metrics.registry.metrics();
    expect(text).toContain('switchyard_proxy_requests_total{service="web",listener="10.96.0.10:80",member="10.1.0.5:8080",code="2xx"} 23');
    expect(text).toContain('switchyard_proxy_request_duration_seconds_count{service="web",listener="10.96.0.10:80",member="10.1.0.5:8080"} 23');
    await listener.close();
  });

  it("writes nothing when the access log is off (the counters still count)", async () => {
    const lines: string[] = [];
    const stream = new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) });
    const off = { ...config, accessLog: { ...config.accessLog, enabled: false } };
    const metrics = createProxyMetrics();
    const observer = createObserver({ metrics, config: () => off, log: pino(stream) });
    const listener = new ListenerState(config.listeners[0]!);
    observer.requestDone({ listener, member: null, pool: "default", method: "GET", path: "/", status: 503, ms: 0.1, error: "no member", retried: false, client: "10.2.0.9" });
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual([]);
    expect(await metrics.registry.metrics()).toContain('member="",code="5xx"} 1');
    await listener.close();
  });
});
