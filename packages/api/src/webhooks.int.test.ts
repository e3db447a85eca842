import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWebhookWorker, pruneDeliveries, type WebhookWorker } from "./domain/webhookDelivery";
import { announceLeaks, announceOfflineHosts, enqueueProposalAwaitingReview } from "./domain/webhookEvents";
import { ingestNetworkLeases, SEEN_IN, type ReportedLease } from "./domain/ipamIngest";
import { OFFLINE_AFTER_MS } from "./domain/hosts";
import { BRIDGE_CONFLIST, setupApiTest, trpcError, type ApiTest } from "./testing";

// Issue 13 §5: webhooks delivered to a receiver this test starts on loopback (each webhook made by
// an admin with the allow-local flag), retried after a failure, their signatures verified; URLs
// at link-local addresses or at the console itself refused without the flag, and nothing written.

const CONSOLE_PORT = 3000;
const PUBLIC_URL = "http://console.switchyard.test:3000";

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver on 127.0.0.1: records each request; answers from a per-path script of statuses (then 200). */
function startReceiver() {
  const received: Received[] = [];
  const scripts = new Map<string, number[]>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      const status = scripts.get(path)?.shift() ?? 200;
      if (status >= 300 && status < 400) res.setHeader("location", "http://169.254.169.254/");
      res.writeHead(status, { "content-type": "text/plain" }).end(status >= 400 ? `receiver says ${status}` : "ok");
    });
  });
  return new Promise<{ url: string; received: Received[]; script(path: string, statuses: number[]): void; at(path: string): Received[]; close(): Promise<void> }>((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        url: `http://127.0.0.1:${port}`,
        received,
        script: (path, statuses) => scripts.set(path, [...statuses]),
        at: (path) => received.filter((r) => r.path === path),
        close: () => new Promise((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
      });
    });
  });
}

/** What a receiver does with the README's recipe: HMAC-SHA256 over `timestamp.body`, compared in constant time. */
function signatureValid(secret: string, r: Received): boolean {
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(`${String(r.headers["x-switchyard-timestamp"])}.${r.body}`).digest("hex")}`);
  const got = Buffer.from(String(r.headers["x-switchyard-signature"] ?? ""));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

let t: ApiTest;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let worker: WebhookWorker;
let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;
let networkId: string;

/** Runs the worker until the delivery is no longer pending (retries come due after a short back-off here). */
async function settle(deliveryId: string) {
  for (let i = 0; i < 200; i++) {
    await worker.drain();
    const row = await t.db.webhookDelivery.findUniqueOrThrow({ where: { id: deliveryId } });
    if (row.status !== "pending") return row;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`delivery ${deliveryId} still pending`);
}

beforeAll(async () => {
  t = await setupApiTest();
  t.deps.publicUrl = PUBLIC_URL;
  t.deps.reservedHostPorts = [CONSOLE_PORT];
  receiver = await startReceiver();
  // Back-off of 20–40 ms so that the retry test does not wait 10 s; the rest is as the console runs it.
  worker = createWebhookWorker({ db: t.db, policy: { ownPorts: [CONSOLE_PORT], publicUrl: PUBLIC_URL }, baseDelayMs: 40, pollMs: 60_000 });
  admin = await t.callerAs("admin", "wh-admin");
  operator = await t.callerAs("operator", "wh-op");
  viewer = await t.callerAs("viewer", "wh-viewer");
  networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("wh-net", "10.93.0.0/24", "10.93.0.1"), comment: "" })).id;
});
afterAll(async () => {
  await worker?.stop();
  await receiver?.close();
  await t?.close();
});

describe("webhooks", () => {
  it("a real operation failure is delivered to the receiver, signed with the secret shown once", async () => {
    const made = await admin.caller.webhooks.create({ name: "ops-failures", url: `${receiver.url}/ops?team=net`, events: ["operation.failed"], allowLocal: true });
    expect(made.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    // The secret is never shown again, nor written to the audit log.
    expect(JSON.stringify(await admin.caller.webhooks.list())).not.toContain(made.secret);
    expect(JSON.stringify(await t.db.auditEvent.findMany({ where: { action: "webhooks.create" } }))).not.toContain(made.secret);

    const h = await t.enrollHost("wh-host-1");
    const a = await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name: "wh-1" }, ifName: "eth0", portMappings: [] });
    const b = await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name: "wh-2" }, ifName: "eth0", portMappings: [] });
    await h.agent.claim({ max: 8 });
    // A retryable failure is queued again: no event. A failure for good is.
    expect((await h.agent.complete({ operationId: b.operation.id, attempt: 1, outcome: "failed", error: "plugin timed out", retryable: true })).status).toBe("queued");
    expect(await t.db.webhookDelivery.count()).toBe(0);
    expect((await h.agent.complete({ operationId: a.operation.id, attempt: 1, outcome: "failed", error: "bridge: address in use" })).status).toBe("failed");
    // Enqueued with the close (same transaction), before any worker ran.
    const [delivery] = await t.db.webhookDelivery.findMany({ where: { event: "operation.failed" } });
    expect(delivery).toMatchObject({ status: "pending", attempts: 0 });

    const row = await settle(delivery!.id);
    expect(row).toMatchObject({ status: "succeeded", attempts: 1, lastStatus: 200, lastError: "" });
    const [got] = receiver.at("/ops?team=net");
    expect(got).toBeDefined();
    expect(got!.headers["content-type"]).toBe("application/json");
    expect(got!.headers["x-switchyard-event"]).toBe("operation.failed");
    expect(got!.headers["x-switchyard-delivery"]).toBe(delivery!.id);
    expect(Math.abs(Number(got!.headers["x-switchyard-timestamp"]) - Date.now() / 1000)).toBeLessThan(30);
    expect(signatureValid(made.secret, got!)).toBe(true);
    expect(signatureValid("whsec_not-the-secret", got!)).toBe(false);
    const body = JSON.parse(got!.body) as { event: string; id: string; data: { operation: { id: string; error: string; kind: string }; host: { name: string }; attachment: { id: string; networkName: string } } };
    expect(body).toMatchObject({
      event: "operation.failed",
      data: { operation: { id: a.operation.id, kind: "attach", error: "bridge: address in use" }, host: { name: "wh-host-1" }, attachment: { id: a.attachment.id, networkName: "wh-net" } },
    });
    // The log shows it to operators too.
    const log = await operator.caller.webhooks.deliveries({ webhookId: made.id });
    expect(log.items.map((d) => [d.event, d.status, d.attempts, d.lastStatus])).toEqual([["operation.failed", "succeeded", 1, 200]]);
  });

  it("a receiver that answers 500 first gets the retry: the log shows 2 attempts, then success", async () => {
    const made = await admin.caller.webhooks.create({ name: "pager", url: `${receiver.url}/flaky`, events: ["host.offline"], allowLocal: true });
    receiver.script("/flaky", [500]);
    const h = await t.enrollHost("wh-host-2");
    // The host falls silent: its last heartbeat was longer ago than OFFLINE_AFTER_MS.
    const lastSeenAt = new Date(Date.now() - OFFLINE_AFTER_MS - 5000);
    await t.db.host.update({ where: { id: h.hostId }, data: { lastSeenAt } });
    expect((await announceOfflineHosts(t.db)).announced).toBe(1);
    // Announced once per silence, however often (and by however many replicas) it is looked for.
    expect((await announceOfflineHosts(t.db)).announced).toBe(0);
    const [delivery] = await t.db.webhookDelivery.findMany({ where: { webhookId: made.id } });
    const row = await settle(delivery!.id);
    expect(row).toMatchObject({ status: "succeeded", attempts: 2, lastStatus: 200 });
    const hits = receiver.at("/flaky");
    expect(hits.map((r) => [r.headers["x-switchyard-delivery"], r.headers["x-switchyard-attempt"]])).toEqual([
      [delivery!.id, "1"],
      [delivery!.id, "2"],
    ]);
    expect(hits.every((r) => signatureValid(made.secret, r))).toBe(true);
    expect(JSON.parse(hits[1]!.body)).toMatchObject({ event: "host.offline", data: { host: { id: h.hostId, name: "wh-host-2" }, lastSeenAt: lastSeenAt.toISOString() } });
    // A heartbeat, then silence again: a new silence, a new event.
    await h.agent.heartbeat({ agentVersion: "test" });
    expect((await announceOfflineHosts(t.db)).announced).toBe(0);
    await t.db.host.update({ where: { id: h.hostId }, data: { lastSeenAt: new Date(Date.now() - OFFLINE_AFTER_MS - 1000) } });
    expect((await announceOfflineHosts(t.db)).announced).toBe(1);
    await worker.drain();
  });

  it("gives up after its last attempt, does not follow redirects, and an admin redelivers", async () => {
    const made = await admin.caller.webhooks.create({ name: "down", url: `${receiver.url}/down`, events: ["proposal.awaiting_review"], allowLocal: true });
    receiver.script("/down", [503, 302, 200]);
    await enqueueProposalAwaitingReview(t.db, { proposal: { id: "p1", title: "widen lab" }, target: { kind: "network", id: networkId, name: "wh-net" }, author: "wh-op", approvalsNeeded: 1 });
    const delivery = await t.db.webhookDelivery.findFirstOrThrow({ where: { webhookId: made.id } });
    await t.db.webhookDelivery.update({ where: { id: delivery.id }, data: { maxAttempts: 2 } });
    const row = await settle(delivery.id);
    expect(row).toMatchObject({ status: "failed", attempts: 2, lastStatus: 302 });
    expect(row.lastError).toContain("a redirect (not followed");
    // The redirect's target was not requested: only the receiver's two answers.
    expect(receiver.at("/down")).toHaveLength(2);
    expect((await trpcError(operator.caller.webhooks.redeliver({ deliveryId: delivery.id }))).code).toBe("FORBIDDEN");
    const { deliveryId } = await admin.caller.webhooks.redeliver({ deliveryId: delivery.id });
    expect(await settle(deliveryId)).toMatchObject({ status: "succeeded", attempts: 1 });
    const [first, , again] = receiver.at("/down");
    // The same event (its id), a new delivery.
    expect(JSON.parse(again!.body).id).toBe(JSON.parse(first!.body).id);
    expect(again!.headers["x-switchyard-delivery"]).toBe(deliveryId);
    expect(await t.db.auditEvent.count({ where: { action: "webhooks.redeliver", outcome: "success" } })).toBe(1);
  });

  it("a test event goes to the one webhook; a leak is announced once when first judged one", async () => {
    const made = await admin.caller.webhooks.create({ name: "leaks", url: `${receiver.url}/leaks`, events: ["ipam.leak"], allowLocal: true });
    const { deliveryId } = await admin.caller.webhooks.sendTest({ id: made.id });
    expect(await settle(deliveryId)).toMatchObject({ status: "succeeded" });
    expect(receiver.at("/leaks").map((r) => r.headers["x-switchyard-event"])).toEqual(["webhook.test"]);

    const h = await t.enrollHost("wh-leak-host");
    const leases: ReportedLease[] = [
      { address: "10.93.0.20", containerId: "ctrd-live", ifName: "eth0", seenIn: SEEN_IN.leaseFile | SEEN_IN.resultCache, netns: "/var/run/netns/cni-1", netnsAlive: true },
      { address: "10.93.0.21", containerId: "crashed", ifName: "eth0", seenIn: SEEN_IN.leaseFile },
      { address: "10.93.0.22", containerId: "gone", ifName: "eth0", seenIn: SEEN_IN.leaseFile | SEEN_IN.resultCache, netns: "/run/netns/gone", netnsAlive: false },
    ];
    await ingestNetworkLeases(t.db, { id: h.hostId, name: h.name }, { networkName: "wh-net", dataDir: "/var/lib/cni/networks", digest: "x", leaseCount: leases.length, findings: [], mode: "replace", leases });
    // What the announcement calls a leak is what the leaks page judges one.
    const judged = (await operator.caller.ipam.leaks({ networkId })).filter((l) => l.verdict === "leak").map((l) => l.address).sort();
    expect(judged).toEqual(["10.93.0.21", "10.93.0.22"]);
    expect((await announceLeaks(t.db)).announced).toBe(2);
    expect((await announceLeaks(t.db)).announced).toBe(0);
    const delivery = await t.db.webhookDelivery.findFirstOrThrow({ where: { webhookId: made.id, event: "ipam.leak" } });
    await settle(delivery.id);
    const body = JSON.parse(receiver.at("/leaks")[1]!.body) as { data: { host: { name: string }; networkName: string; leaks: { address: string; netnsGone: boolean }[] } };
    expect(body.data).toMatchObject({ host: { name: "wh-leak-host" }, networkName: "wh-net" });
    expect(body.data.leaks.map((l) => [l.address, l.netnsGone]).sort()).toEqual([["10.93.0.21", false], ["10.93.0.22", true]]);
  });

  it("refuses link-local, loopback and the console's own URL without the admin flag, and writes nothing", async () => {
    const before = { hooks: await t.db.webhook.count(), deliveries: await t.db.webhookDelivery.count() };
    const refused = async (url: string) => {
      const err = await trpcError(admin.caller.webhooks.create({ name: `bad-${Math.random().toString(36).slice(2, 8)}`, url, events: ["host.offline"] }));
      expect(err.code).toBe("BAD_REQUEST");
      return err.message;
    };
    expect(await refused("http://169.254.169.254/latest/meta-data")).toContain("is a link-local address");
    expect(await refused("http://[fe80::1]:8080/hook")).toContain("link-local");
    expect(await refused(`${PUBLIC_URL}/api/trpc/users.create`)).toContain("points at the console itself");
    expect(await refused("http://127.0.0.1:3000/")).toContain("loopback");
    expect(await refused("http://[::ffff:127.0.0.1]:9/")).toContain("loopback");
    expect(await refused("http://localhost:3000/")).toContain("loopback");
    expect(await refused("http://0.0.0.0:3000/")).toContain("unspecified");
    expect(await refused("http://224.0.0.1/")).toContain("multicast");
    expect(await refused("ftp://example.com/x")).toContain("only http:// and https://");
    expect(await refused("http://user:pw@example.com/x")).toContain("credentials in the URL");
    // This machine's own address on the console's port is the console itself.
    const own = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal && a.family === "IPv4");
    if (own) expect(await refused(`http://${own.address}:${CONSOLE_PORT}/hook`)).toContain("the console itself");
    // Even the admin flag does not make multicast a destination.
    expect((await trpcError(admin.caller.webhooks.create({ name: "mc", url: "http://224.0.0.1/", events: ["host.offline"], allowLocal: true }))).message).toContain("multicast");
    // With the flag the same link-local URL is accepted (an admin's decision).
    const allowed = await admin.caller.webhooks.create({ name: "metadata-ok", url: "http://169.254.169.254/x", events: ["host.offline"], allowLocal: true });
    // Turning the flag off again is refused while the URL needs it; the row keeps its flag.
    expect((await trpcError(admin.caller.webhooks.update({ id: allowed.id, allowLocal: false }))).message).toContain("link-local");
    expect((await t.db.webhook.findUniqueOrThrow({ where: { id: allowed.id } })).allowLocal).toBe(true);
    await admin.caller.webhooks.delete({ id: allowed.id });
    expect({ hooks: await t.db.webhook.count(), deliveries: await t.db.webhookDelivery.count() }).toEqual(before);
    // Each refusal is in the audit log.
    expect(await t.db.auditEvent.count({ where: { action: "webhooks.create", outcome: "error" } })).toBeGreaterThanOrEqual(11);
  });

  it("checks the destination again at delivery: a webhook whose URL is no longer allowed is not sent to", async () => {
    const made = await admin.caller.webhooks.create({ name: "rebound", url: `${receiver.url}/rebound`, events: ["proposal.awaiting_review"], allowLocal: true });
    // As if the flag had been cleared behind the API's back (or the name re-pointed at loopback).
    await t.db.webhook.update({ where: { id: made.id }, data: { allowLocal: false } });
    await enqueueProposalAwaitingReview(t.db, { proposal: { id: "p2", title: "x" }, target: { kind: "service", id: "s", name: "web" }, author: "a", approvalsNeeded: 1 });
    const delivery = await t.db.webhookDelivery.findFirstOrThrow({ where: { webhookId: made.id } });
    const row = await settle(delivery.id);
    expect(row).toMatchObject({ status: "failed", attempts: 1, lastStatus: null });
    expect(row.lastError).toContain("loopback");
    expect(receiver.at("/rebound")).toHaveLength(0);
  });

  it("a delivery whose console died mid-send is sent again; one that died on its last attempt fails; the log stays bounded", async () => {
    const made = await admin.caller.webhooks.create({ name: "restart", url: `${receiver.url}/restart`, events: ["proposal.awaiting_review"], allowLocal: true });
    for (let i = 0; i < 3; i++) await enqueueProposalAwaitingReview(t.db, { proposal: { id: `r${i}`, title: "x" }, target: { kind: "network", id: networkId, name: "wh-net" }, author: "a", approvalsNeeded: 1 });
    const [died, diedLast, held] = await t.db.webhookDelivery.findMany({ where: { webhookId: made.id }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
    const past = new Date(Date.now() - 1000);
    // A console claimed it (attempt 1) and died: its claim ran out.
    await t.db.webhookDelivery.update({ where: { id: died!.id }, data: { attempts: 1, claimedUntil: past } });
    // Died during the last attempt.
    await t.db.webhookDelivery.update({ where: { id: diedLast!.id }, data: { attempts: 10, claimedUntil: past } });
    // Another replica is sending this one right now: left alone.
    await t.db.webhookDelivery.update({ where: { id: held!.id }, data: { attempts: 1, claimedUntil: new Date(Date.now() + 60_000) } });
    await worker.drain();
    expect(await t.db.webhookDelivery.findUniqueOrThrow({ where: { id: died!.id } })).toMatchObject({ status: "succeeded", attempts: 2 });
    expect(receiver.at("/restart").map((r) => r.headers["x-switchyard-delivery"])).toEqual([died!.id]);
    expect(await t.db.webhookDelivery.findUniqueOrThrow({ where: { id: held!.id } })).toMatchObject({ status: "pending", attempts: 1 });
    expect(await pruneDeliveries(t.db)).toEqual({ expired: 1, pruned: 0 });
    const failed = await t.db.webhookDelivery.findUniqueOrThrow({ where: { id: diedLast!.id } });
    expect(failed).toMatchObject({ status: "failed", attempts: 10 });
    expect(failed.lastError).toContain("the console stopped during the last attempt");
    expect((await pruneDeliveries(t.db, { keepPerWebhook: 1 })).pruned).toBeGreaterThanOrEqual(1);
    // One finished delivery kept per webhook, and every pending one.
    expect(await t.db.webhookDelivery.count({ where: { webhookId: made.id } })).toBe(2);
    expect(await t.db.webhookDelivery.count({ where: { webhookId: made.id, status: "pending" } })).toBe(1);
  });

  it("admins only change webhooks; operators read them without secrets or paths; viewers see nothing", async () => {
    const input = { name: "nope", url: "https://hooks.example.com/T000/B000/XXXX", events: ["host.offline" as const] };
    expect((await trpcError(operator.caller.webhooks.create(input))).code).toBe("FORBIDDEN");
    expect((await trpcError(viewer.caller.webhooks.create(input))).code).toBe("FORBIDDEN");
    expect(await t.db.webhook.count({ where: { name: "nope" } })).toBe(0);
    const made = await admin.caller.webhooks.create({ ...input, name: "chat" });
    expect((await trpcError(operator.caller.webhooks.update({ id: made.id, allowLocal: true }))).code).toBe("FORBIDDEN");
    expect((await trpcError(operator.caller.webhooks.delete({ id: made.id }))).code).toBe("FORBIDDEN");
    expect((await trpcError(operator.caller.webhooks.sendTest({ id: made.id }))).code).toBe("FORBIDDEN");
    expect((await trpcError(viewer.caller.webhooks.list())).code).toBe("FORBIDDEN");
    expect((await trpcError(viewer.caller.webhooks.deliveries({ webhookId: made.id }))).code).toBe("FORBIDDEN");
    const seen = (await operator.caller.webhooks.list()).find((w) => w.id === made.id)!;
    expect(seen.url).toBe("https://hooks.example.com/…");
    expect(Object.keys(seen)).not.toContain("secret");
    expect((await admin.caller.webhooks.list()).find((w) => w.id === made.id)!.url).toBe(input.url);
    expect(await t.db.auditEvent.count({ where: { action: "webhooks.create", outcome: "denied" } })).toBe(2);
  });

  it("two workers on one database deliver each delivery once", async () => {
    const made = await admin.caller.webhooks.create({ name: "fanout", url: `${receiver.url}/fanout`, events: ["proposal.awaiting_review"], allowLocal: true });
    for (let i = 0; i < 12; i++) await enqueueProposalAwaitingReview(t.db, { proposal: { id: `f${i}`, title: "x" }, target: { kind: "network", id: networkId, name: "wh-net" }, author: "a", approvalsNeeded: 1 });
    const other = createWebhookWorker({ db: t.db, policy: { ownPorts: [CONSOLE_PORT] }, concurrency: 3, pollMs: 60_000 });
    try {
      await Promise.all([worker.drain(), other.drain()]);
    } finally {
      await other.stop();
    }
    const hits = receiver.at("/fanout");
    expect(hits).toHaveLength(12);
    expect(new Set(hits.map((r) => r.headers["x-switchyard-delivery"])).size).toBe(12);
    expect(await t.db.webhookDelivery.count({ where: { webhookId: made.id, status: "succeeded", attempts: 1 } })).toBe(12);
  });
});
