import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_METRICS_STALE_MS } from "./domain/agentMetrics";
import { openReplica, type Replica } from "./testReplicas";
import { BRIDGE_CONFLIST, parseMetricsText, serveApi, setupApiTest, trpcOverHttp, type ApiTest } from "./testing";

// Issue 13 §5: the console's /metrics scraped over real HTTP after real calls, parsed strictly.
// Counters are per process (and this process may have served other test files): each assertion
// compares a scrape before with one after.
let t: ApiTest;
let api: Awaited<ReturnType<typeof serveApi>>;
let replicaB: Replica | undefined;
let apiB: Awaited<ReturnType<typeof serveApi>> | undefined;
let scrapeToken: string;
const SCRAPE_SECRET = "metrics-scrape-secret-0123456789abcdef";

async function scrape(opts: { bearer?: string | null; scope?: string; url?: string } = {}) {
  const bearer = opts.bearer === undefined ? scrapeToken : opts.bearer;
  const res = await fetch(`${opts.url ?? api.url}/metrics${opts.scope ? `?scope=${opts.scope}` : ""}`, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
  const text = await res.text();
  return { res, text, metrics: res.status === 200 ? parseMetricsText(text) : null };
}
const metricsNow = async (url?: string) => (await scrape({ url })).metrics!;

async function agentCall(credential: string, path: string, input: unknown, url = api.url) {
  const res = await fetch(`${url}/api/agent/${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${credential}` }, body: JSON.stringify({ json: input }) });
  const body = (await res.json()) as { result?: { data: { json: unknown } }; error?: { json?: { message: string } } };
  return { status: res.status, data: body.result?.data.json, message: body.error?.json?.message ?? "" };
}

const snapshot = (bridgeAdds: number, takenAt = new Date()) => ({
  takenAt: takenAt.toISOString(),
  metrics: [
    { name: "switchyard_agent_plugin_calls_total", samples: [{ suffix: "", labels: { plugin: "bridge", verb: "ADD", outcome: "ok" }, value: bridgeAdds }] },
    {
      name: "switchyard_agent_plugin_call_duration_seconds",
      samples: [
        { suffix: "_bucket", labels: { plugin: "bridge", verb: "ADD", le: "0.1" }, value: bridgeAdds },
        { suffix: "_bucket", labels: { plugin: "bridge", verb: "ADD", le: "+Inf" }, value: bridgeAdds },
        { suffix: "_sum", labels: { plugin: "bridge", verb: "ADD" }, value: 0.04 * bridgeAdds },
        { suffix: "_count", labels: { plugin: "bridge", verb: "ADD" }, value: bridgeAdds },
      ],
    },
    { name: "switchyard_agent_leases", samples: [{ suffix: "", labels: { network: 'lab "one"' }, value: 3 }] },
  ],
});

beforeAll(async () => {
  t = await setupApiTest();
  api = await serveApi(t.deps, 0, { metricsToken: SCRAPE_SECRET });
  scrapeToken = SCRAPE_SECRET;
});
afterAll(async () => {
  await apiB?.close();
  await replicaB?.close();
  await api?.close();
  await t?.close();
});

describe("/metrics: who may scrape", () => {
  it("refuses a scrape without a bearer, with a bad one, with a registrar or a limited token: 401/403 saying what to send", async () => {
    const none = await scrape({ bearer: null });
    expect(none.res.status).toBe(401);
    expect(none.res.headers.get("www-authenticate")).toContain("Bearer");
    expect(none.text).toContain("Metrics need a bearer token");
    expect(none.text).not.toContain("switchyard_");
    expect((await scrape({ bearer: "syt_nottherightone" })).res.status).toBe(401);
    expect((await scrape({ bearer: `${SCRAPE_SECRET}x` })).res.status).toBe(401);
    const operator = await t.callerAs("operator", "metrics-op");
    const { token: registrar } = await operator.caller.tokens.create({ name: "registrar", scope: "registrar" });
    const asRegistrar = await scrape({ bearer: registrar });
    expect(asRegistrar.res.status).toBe(403);
    expect(asRegistrar.text).toContain("metrics need a general token");
    const { token: limited, id } = await operator.caller.tokens.create({ name: "limited", scope: "general", role: "viewer" });
    await t.db.apiToken.update({ where: { id }, data: { networkIds: ["some-network"] } });
    const asLimited = await scrape({ bearer: limited });
    expect(asLimited.res.status).toBe(403);
    expect(asLimited.text).toContain("limited to some networks or services");
  });

  it("serves the scrape token and a viewer's general API token; scope picks replica or fleet series", async () => {
    const viewer = await t.callerAs("viewer", "metrics-viewer");
    const { token } = await viewer.caller.tokens.create({ name: "prometheus", scope: "general", role: "viewer", readOnly: true });
    const byToken = await scrape({ bearer: token });
    expect(byToken.res.status).toBe(200);
    expect(byToken.res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(byToken.metrics!.types.get("switchyard_trpc_requests_total")).toBe("counter");
    expect(byToken.metrics!.types.get("switchyard_operations_unfinished")).toBe("gauge");
    const replica = (await scrape({ scope: "replica" })).metrics!;
    expect(replica.types.has("switchyard_push_streams_open")).toBe(true);
    expect(replica.types.has("switchyard_operations_unfinished")).toBe(false);
    const fleet = (await scrape({ scope: "fleet" })).metrics!;
    expect(fleet.types.has("switchyard_operations_unfinished")).toBe(true);
    expect(fleet.types.has("switchyard_trpc_requests_total")).toBe(false);
    const bad = await scrape({ scope: "everything" });
    expect(bad.res.status).toBe(400);
    expect(bad.text).toContain('scope "everything" is not one of all, replica, fleet');
  });
});

describe("/metrics: console series move with real calls", () => {
  it("counts tRPC calls by endpoint, procedure and status; a made-up procedure is 'unknown', not a new series", async () => {
    const operator = await t.callerAs("operator", "metrics-caller");
    const { token } = await operator.caller.tokens.create({ name: "ci", scope: "general", role: "operator" });
    const labels = { endpoint: "browser", procedure: "networks.list", status: "200" };
    const before = await metricsNow();
    expect((await trpcOverHttp(api.url, "networks.list", {}, { bearer: token, kind: "query" })).status).toBe(200);
    expect((await trpcOverHttp(api.url, "networks.list", {}, { bearer: token, kind: "query" })).status).toBe(200);
    expect((await trpcOverHttp(api.url, "users.list", undefined, { bearer: token, kind: "query" })).status).toBe(403);
    expect((await trpcOverHttp(api.url, "no.such.procedure", {}, { bearer: token, kind: "query" })).status).toBe(404);
    expect((await trpcOverHttp(api.url, "networks.list", {}, { bearer: "syt_wrong", kind: "query" })).status).toBe(401);
    const after = await metricsNow();
    const delta = (name: string, l: Record<string, string>) => (after.value(name, l) ?? 0) - (before.value(name, l) ?? 0);
    expect(delta("switchyard_trpc_requests_total", labels)).toBe(2);
    expect(delta("switchyard_trpc_requests_total", { endpoint: "browser", procedure: "users.list", status: "403" })).toBe(1);
    expect(delta("switchyard_trpc_requests_total", { endpoint: "browser", procedure: "unknown", status: "404" })).toBe(1);
    expect(delta("switchyard_trpc_requests_total", { endpoint: "browser", procedure: "networks.list", status: "401" })).toBe(1);
    expect(after.find("switchyard_trpc_requests_total", { procedure: "no.such.procedure" })).toEqual([]);
    expect(delta("switchyard_trpc_request_duration_seconds_count", { endpoint: "browser", procedure: "networks.list" })).toBe(3);
  });

  it("an operation: queue depth from the database, push delay at its claim, finished by kind and outcome", async () => {
    const operator = await t.callerAs("operator", "metrics-op2");
    const host = await t.enrollHost("metrics-host-1");
    const network = await operator.caller.networks.create({ text: BRIDGE_CONFLIST("metrics-net", "10.77.1.0/24", "10.77.1.1"), comment: "" });
    const before = await metricsNow();
    const { operation } = await operator.caller.attachments.create({ hostId: host.hostId, networkId: network.id, target: { kind: "sandbox", name: "metrics-sbx" }, ifName: "eth0", portMappings: [] });
    const queued = await metricsNow();
    expect(queued.value("switchyard_operations_unfinished", { host: "metrics-host-1", status: "queued" })).toBe(1);
    expect(queued.value("switchyard_operations_unfinished", { host: "metrics-host-1", status: "running" })).toBe(0);

    const claimed = await agentCall(host.credential, "agent.claim", { max: 4 });
    expect(claimed.status).toBe(200);
    const [op] = claimed.data as { operationId: string; attempt: number; kind: string }[];
    expect(op).toMatchObject({ operationId: operation.id, attempt: 1, kind: "attach" });
    const running = await metricsNow();
    expect(running.value("switchyard_operations_unfinished", { host: "metrics-host-1", status: "queued" })).toBe(0);
    expect(running.value("switchyard_operations_unfinished", { host: "metrics-host-1", status: "running" })).toBe(1);
    const delays = (m: typeof before) => m.value("switchyard_operation_push_delay_seconds_count", { via: "claim" }) ?? 0;
    expect(delays(running) - delays(before)).toBe(1);
    // The delay is the time since it was queued: at most this test's few seconds, never negative.
    const sum = (m: typeof before) => m.value("switchyard_operation_push_delay_seconds_sum", { via: "claim" }) ?? 0;
    expect(sum(running) - sum(before)).toBeGreaterThanOrEqual(0);
    expect(sum(running) - sum(before)).toBeLessThan(30);

    const done = await agentCall(host.credential, "agent.complete", { operationId: op!.operationId, attempt: 1, outcome: "succeeded", result: { cniVersion: "1.0.0" } });
    expect(done.status).toBe(200);
    const after = await metricsNow();
    const finished = (m: typeof before, outcome: string) => m.value("switchyard_operations_finished_total", { kind: "attach", outcome }) ?? 0;
    expect(finished(after, "succeeded") - finished(before, "succeeded")).toBe(1);
    expect(finished(after, "failed") - finished(before, "failed")).toBe(0);
    expect(after.value("switchyard_operations_unfinished", { host: "metrics-host-1", status: "running" })).toBe(0);
    const agentCalls = (m: typeof before, procedure: string) => m.value("switchyard_trpc_requests_total", { endpoint: "agent", procedure, status: "200" }) ?? 0;
    expect(agentCalls(after, "agent.claim") - agentCalls(before, "agent.claim")).toBe(1);
    expect(agentCalls(after, "agent.complete") - agentCalls(before, "agent.complete")).toBe(1);
  });

  it("counts the open agent push streams of this replica", async () => {
    const host = await t.enrollHost("metrics-host-stream");
    const streams = async () => (await metricsNow()).value("switchyard_push_streams_open") ?? 0;
    const before = await streams();
    const abort = new AbortController();
    const input = encodeURIComponent(JSON.stringify({ json: { slots: 2 } }));
    const res = await fetch(`${api.url}/api/agent/agent.work?input=${input}`, { headers: { authorization: `Bearer ${host.credential}`, accept: "text/event-stream" }, signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read(); // the stream is open once its first event came
    expect(await streams()).toBe(before + 1);
    abort.abort();
    await reader.cancel().catch(() => {});
    const deadline = Date.now() + 5000;
    while ((await streams()) !== before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await streams()).toBe(before);
  });
});

describe("agent metrics pushed through the console", () => {
  it("a push lands and is served with its host label, by any replica on the database", async () => {
    const host = await t.enrollHost("metrics-agent-a");
    const pushed = await agentCall(host.credential, "agent.reportMetrics", snapshot(7));
    expect(pushed.status).toBe(200);
    expect(pushed.data).toMatchObject({ stored: true, samples: 6 });
    const m = await metricsNow();
    expect(m.value("switchyard_agent_plugin_calls_total", { host: "metrics-agent-a", plugin: "bridge", verb: "ADD", outcome: "ok" })).toBe(7);
    expect(m.value("switchyard_agent_plugin_call_duration_seconds_bucket", { host: "metrics-agent-a", le: "+Inf" })).toBe(7);
    expect(m.value("switchyard_agent_leases", { host: "metrics-agent-a", network: 'lab "one"' })).toBe(3);
    expect(m.types.get("switchyard_agent_plugin_call_duration_seconds")).toBe("histogram");
    expect(m.value("switchyard_agent_snapshot_age_seconds", { host: "metrics-agent-a" })).toBeLessThan(30);

    // A second console replica (its own Prisma client and event bus) serves the same host's series.
    replicaB = await openReplica(t, "metrics-b");
    apiB = await serveApi(replicaB.deps, 0, { metricsToken: SCRAPE_SECRET });
    const fromB = (await scrape({ url: apiB.url, scope: "fleet" })).metrics!;
    expect(fromB.value("switchyard_agent_plugin_calls_total", { host: "metrics-agent-a", plugin: "bridge", verb: "ADD", outcome: "ok" })).toBe(7);
    // A push through replica B replaces the snapshot for both.
    expect((await agentCall(host.credential, "agent.reportMetrics", snapshot(9), apiB.url)).status).toBe(200);
    expect((await metricsNow()).value("switchyard_agent_plugin_calls_total", { host: "metrics-agent-a", outcome: "ok" })).toBe(9);
    // An older snapshot arriving late does not overwrite the newer one.
    const late = await agentCall(host.credential, "agent.reportMetrics", snapshot(8, new Date(Date.now() - 60_000)));
    expect(late.data).toMatchObject({ stored: false });
    expect((await metricsNow()).value("switchyard_agent_plugin_calls_total", { host: "metrics-agent-a", outcome: "ok" })).toBe(9);
  });

  it("refuses bad pushes with a clear error and keeps the stored snapshot as it was", async () => {
    const host = await t.enrollHost("metrics-agent-bad");
    expect((await agentCall(host.credential, "agent.reportMetrics", snapshot(2))).status).toBe(200);
    const stored = await t.db.hostMetricsSnapshot.findUniqueOrThrow({ where: { hostId: host.hostId } });
    const good = snapshot(5);
    const family = (name: string, samples: unknown[]) => ({ takenAt: new Date().toISOString(), metrics: [{ name, samples }] });
    const cases: [unknown, string][] = [
      [family("switchyard_console_secret", [{ suffix: "", labels: {}, value: 1 }]), "switchyard_agent_plugin_calls_total"],
      [family("switchyard_agent_plugin_calls_total", [{ suffix: "", labels: { plugin: "bridge", verb: "ADD", outcome: "ok", host: "another-host" }, value: 1 }]), "takes labels {outcome, plugin, verb}, got {host, outcome, plugin, verb}"],
      [family("switchyard_agent_plugin_calls_total", [{ suffix: "", labels: { plugin: "bridge", verb: "ADD", outcome: "ok" }, value: -4 }]), "cannot be negative, got -4"],
      [family("switchyard_agent_plugin_calls_total", [{ suffix: "_bucket", labels: { plugin: "bridge", verb: "ADD", outcome: "ok", le: "1" }, value: 1 }]), 'is a counter: suffix "_bucket" does not fit'],
      [family("switchyard_agent_reconcile_duration_seconds", [{ suffix: "_bucket", labels: { le: "soon" }, value: 1 }]), 'le must be a bucket bound or "+Inf", got "soon"'],
      [family("switchyard_agent_leases", [{ suffix: "", labels: { network: "x".repeat(129) }, value: 1 }]), "128"],
      [family("switchyard_agent_leases", Array.from({ length: 5001 }, (_, i) => ({ suffix: "", labels: { network: `n${i}` }, value: 1 }))), "5000"],
      [{ ...good, metrics: [...good.metrics, good.metrics[0]] }, "metric switchyard_agent_plugin_calls_total is sent twice"],
    ];
    for (const [input, message] of cases) {
      const refused = await agentCall(host.credential, "agent.reportMetrics", input);
      expect(refused.status, message).toBe(400);
      expect(refused.message, message).toContain(message);
    }
    // superjson carries Infinity (the agent endpoint's transformer): refused too.
    const infinite = await fetch(`${api.url}/api/agent/agent.reportMetrics`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${host.credential}` },
      body: JSON.stringify({ json: family("switchyard_agent_leases", [{ suffix: "", labels: { network: "n" }, value: "Infinity" }]), meta: { values: { "metrics.0.samples.0.value": ["number"] } } }),
    });
    expect(infinite.status).toBe(400);
    // Nothing changed: the row, and what is served.
    expect(await t.db.hostMetricsSnapshot.findUniqueOrThrow({ where: { hostId: host.hostId } })).toEqual(stored);
    expect((await metricsNow()).value("switchyard_agent_plugin_calls_total", { host: "metrics-agent-bad" })).toBe(2);
    // And a push without a host credential is no push at all.
    expect((await agentCall("syh_nope", "agent.reportMetrics", snapshot(3))).status).toBe(401);
  });

  it("drops a stale snapshot (the host went quiet) and a revoked host's", async () => {
    const quiet = await t.enrollHost("metrics-agent-quiet");
    const revoked = await t.enrollHost("metrics-agent-revoked");
    for (const h of [quiet, revoked]) expect((await agentCall(h.credential, "agent.reportMetrics", snapshot(1))).status).toBe(200);
    const served = await metricsNow();
    expect(served.find("switchyard_agent_plugin_calls_total", { host: "metrics-agent-quiet" })).toHaveLength(1);
    expect(served.find("switchyard_agent_plugin_calls_total", { host: "metrics-agent-revoked" })).toHaveLength(1);
    await t.db.hostMetricsSnapshot.update({ where: { hostId: quiet.hostId }, data: { receivedAt: new Date(Date.now() - AGENT_METRICS_STALE_MS - 1000) } });
    const admin = await t.callerAs("admin", "metrics-admin");
    await admin.caller.hosts.revoke({ id: revoked.hostId });
    const after = await metricsNow();
    expect(after.find("switchyard_agent_plugin_calls_total", { host: "metrics-agent-quiet" })).toEqual([]);
    expect(after.find("switchyard_agent_snapshot_age_seconds", { host: "metrics-agent-quiet" })).toEqual([]);
    expect(after.find("switchyard_agent_plugin_calls_total", { host: "metrics-agent-revoked" })).toEqual([]);
  });
});
