import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSession } from "./auth/session";
import type { LogEntry } from "./throttledLog";
import { serveApi, setupApiTest, type ApiTest } from "./testing";

/**
 * Issue 16 §1: one credential opening hundreds of live streams (SSE) or long polls. Each holds a
 * socket, an event-bus listener and timers for as long as it lasts; a cap per credential answers
 * the excess 429 with Retry-After and a message saying why, logs it once per credential every
 * 10 s, and gives a slot back when its stream closes (a leak would lock an agent out for good).
 * Other credentials are not charged. A small cap here (5); the default is 32.
 */
const CAP = 5;
let t: ApiTest;
let server: Awaited<ReturnType<typeof serveApi>>;
const logs: LogEntry[] = [];
let hostA: { credential: string; name: string };
let hostB: { credential: string; name: string };
let cookie: string;
const open: AbortController[] = [];
/** Streams held open: a Response nobody references is collected, and undici closes its connection then. */
const responses: Response[] = [];

const agentStreamUrl = () => `${server.url}/api/agent/agent.work?input=${encodeURIComponent(JSON.stringify({ json: { slots: 1 } }))}`;

/** Opens a stream; resolves with its status once its headers came (the stream stays open until aborted). */
async function openStream(url: string, headers: Record<string, string>): Promise<{ status: number; retryAfter: string | null; message: string; abort: AbortController }> {
  const abort = new AbortController();
  open.push(abort);
  // Sent again once when no answer came at all (a kept-alive connection reset as it was reused, on a loaded machine).
  const init = { headers: { accept: "text/event-stream", ...headers }, signal: abort.signal };
  const res = await fetch(url, init).catch(() => fetch(url, init));
  responses.push(res);
  let message = "";
  if (res.status !== 200) {
    message = ((await res.json()) as { error: { message: string } }).error.message;
    abort.abort();
  }
  return { status: res.status, retryAfter: res.headers.get("retry-after"), message, abort };
}

const countBy = (statuses: number[]) => statuses.reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});
const streamLogs = (holder: string) => logs.filter((l) => l.msg === "too many streams held by one credential: 429 with Retry-After" && String(l.holder).includes(holder));

/** Opens a stream with `headers` until one is let in (a closed stream's slot comes back once the server has seen it close). */
async function openOnceFree(url: string, headers: Record<string, string>, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await openStream(url, headers);
    if (s.status === 200 || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  t = await setupApiTest();
  server = await serveApi(t.deps, 0, { streamsPerCredential: CAP, log: (e) => logs.push(e) });
  const a = await t.enrollHost("stream-host-a");
  const b = await t.enrollHost("stream-host-b");
  hostA = { credential: a.credential, name: a.name };
  hostB = { credential: b.credential, name: b.name };
  const viewer = await t.createUserRow("stream-viewer", "viewer");
  cookie = `sy_session=${(await createSession(t.db, { userId: viewer.id, policy: { ttlMs: 3600_000 }, sourceIp: "", userAgent: "" })).token}`;
});
afterAll(async () => {
  for (const a of open) a.abort();
  await server?.close();
  await t?.close();
});

describe("live streams per credential", () => {
  it("lets an agent's credential hold 5 push streams of 300 asked at once; the rest are 429 with Retry-After, logged once", async () => {
    const answers = await Promise.all(Array.from({ length: 300 }, () => openStream(agentStreamUrl(), { authorization: `Bearer ${hostA.credential}` })));
    expect(countBy(answers.map((a) => a.status))).toEqual({ 200: CAP, 429: 300 - CAP });
    const refused = answers.find((a) => a.status === 429)!;
    expect(refused.retryAfter).toBe("10");
    expect(refused.message).toMatch(/^Host "stream-host-a" already holds 5 streams on this console process \(at most 5 per credential, SWITCHYARD_STREAMS_PER_CREDENTIAL\): close one/);
    // One line for 295 refusals: the next one comes at the earliest 10 s later, with the count since.
    expect(streamLogs("stream-host-a")).toHaveLength(1);
    expect(streamLogs("stream-host-a")[0]).toMatchObject({ level: "warn", held: CAP, max: CAP, count: 1 });
    // Another host is not charged for it.
    expect((await openStream(agentStreamUrl(), { authorization: `Bearer ${hostB.credential}` })).status).toBe(200);
  });

  it("gives a slot back when a stream closes: closing two lets two in again, and closing all lets the full cap in", async () => {
    // Host A's five (host B's one was opened after them).
    const mine = open.filter((a) => !a.signal.aborted).slice(0, CAP);
    mine[0]!.abort();
    mine[1]!.abort();
    const again = [await openOnceFree(agentStreamUrl(), { authorization: `Bearer ${hostA.credential}` }), await openOnceFree(agentStreamUrl(), { authorization: `Bearer ${hostA.credential}` })];
    expect(again.map((s) => s.status)).toEqual([200, 200]);
    expect((await openStream(agentStreamUrl(), { authorization: `Bearer ${hostA.credential}` })).status).toBe(429);
    // Close every stream of host A, then the whole cap opens again: nothing leaked.
    for (const a of [...mine, ...again.map((s) => s.abort)]) a.abort();
    const first = await openOnceFree(agentStreamUrl(), { authorization: `Bearer ${hostA.credential}` });
    const rest = await Promise.all(Array.from({ length: CAP - 1 }, () => openOnceFree(agentStreamUrl(), { authorization: `Bearer ${hostA.credential}` })));
    expect([first, ...rest].map((s) => s.status)).toEqual(Array.from({ length: CAP }, () => 200));
  });

  it("holds a browser session to the same cap on /api/trpc (one stream per tab), apart from agents", async () => {
    const url = `${server.url}/api/trpc/events.stream`;
    const answers = await Promise.all(Array.from({ length: 100 }, () => openStream(url, { cookie })));
    expect(countBy(answers.map((a) => a.status))).toEqual({ 200: CAP, 429: 100 - CAP });
    expect(answers.find((a) => a.status === 429)!.message).toMatch(/^User "stream-viewer"'s session [0-9a-f]{8} already holds 5 streams/);
    expect(streamLogs("stream-viewer")).toHaveLength(1);
    for (const a of answers) a.abort.abort();
    expect((await openOnceFree(url, { cookie })).status).toBe(200);
    // Without a session a stream says UNAUTHORIZED (as an event, which the clients act on) and ends
    // at once: 20 of them one after the other, 4 times the cap, hold nothing.
    for (let i = 0; i < 20; i++) {
      const res = await fetch(url, { headers: { accept: "text/event-stream" } });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('"code":"UNAUTHORIZED"');
    }
  });

  it("holds an agent's long polls to the cap too, and frees their slots when they answer", async () => {
    const poll = () =>
      fetch(`${server.url}/api/agent/agent.poll`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${hostB.credential}` },
        body: JSON.stringify({ json: { max: 1, waitMs: 700 } }),
      });
    const answers = await Promise.all(Array.from({ length: CAP + 3 }, poll));
    expect(countBy(answers.map((r) => r.status))).toEqual({ 200: CAP, 429: 3 });
    expect((await poll()).status).toBe(200);
  });
});
