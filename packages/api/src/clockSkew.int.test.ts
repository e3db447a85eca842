import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "./testing";
import { postgresAnswers, startConsoleProcess, type ConsoleProcess } from "./testConsoleProcess";

/**
 * Issue 16 §4: two console replicas on one PostgreSQL, B's clock 10 minutes ahead for real (its
 * process runs under libfaketime). Everything one replica writes and the other compares (a host's
 * last beat, a session's expiry, a join token's, when an operation is due, how long its claim
 * lasts) must mean the same on both: no host flaps offline, no session ends early, no operation is
 * stuck or claimed twice. Sessions live 5 minutes here, less than the skew.
 */
const SKEW = "+600s";
const SESSION_TTL_MS = 5 * 60_000;
const hasPostgres = await postgresAnswers();

interface Answer {
  status: number;
  data: Record<string, unknown> | null | undefined;
  message: string;
  cookie: string | null;
}

/** One tRPC call over HTTP: a mutation POSTed as JSON (from the replica's own origin), or a query. */
async function call(base: string, path: string, input: unknown, opts: { cookie?: string; bearer?: string; query?: boolean; meta?: unknown } = {}): Promise<Answer> {
  const endpoint = path.startsWith("agent.") ? "/api/agent" : "/api/trpc";
  const headers: Record<string, string> = { ...(opts.cookie ? { cookie: opts.cookie } : {}), ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}) };
  // superjson's envelope; `meta` says which fields are dates.
  const encoded = JSON.stringify({ json: input, ...(opts.meta ? { meta: opts.meta } : {}) });
  const send = () =>
    opts.query
      ? fetch(`${base}${endpoint}/${path}?input=${encodeURIComponent(encoded)}`, { headers })
      : fetch(`${base}${endpoint}/${path}`, { method: "POST", headers: { ...headers, "content-type": "application/json", origin: base }, body: encoded });
  // Sent again once when no answer came at all (a kept-alive connection reset as it was reused, on a loaded machine).
  const res = await send().catch(() => send());
  const body = (await res.json()) as { result?: { data: { json: Record<string, unknown> | null } }; error?: { json?: { message: string } } };
  return { status: res.status, data: body.result?.data.json, message: body.error?.json?.message ?? "", cookie: res.headers.get("set-cookie")?.split(";")[0] ?? null };
}

describe.skipIf(!hasPostgres)("two console replicas on one PostgreSQL, one 10 minutes ahead (libfaketime)", () => {
  let t: ApiTest;
  let a: ConsoleProcess;
  let b: ConsoleProcess;
  let operatorCookieA: string;
  let operatorCookieB: string;

  beforeAll(async () => {
    t = await setupApiTest({ kind: "postgres" });
    [a, b] = await Promise.all([
      startConsoleProcess({ url: t.url, name: "clock-a", sessionTtlMs: SESSION_TTL_MS }),
      startConsoleProcess({ url: t.url, name: "clock-b", clockOffset: SKEW, sessionTtlMs: SESSION_TTL_MS }),
    ]);
    await t.createUserRow("skew-operator", "operator", "skew-password-123");
    await t.createUserRow("skew-admin", "admin", "skew-password-123");
    const signIn = async (base: string, username: string) => {
      const r = await call(base, "auth.signIn", { username, password: "skew-password-123" });
      expect(r.status, r.message).toBe(200);
      return r.cookie!;
    };
    operatorCookieA = await signIn(a.url, "skew-operator");
    operatorCookieB = await signIn(b.url, "skew-operator");
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await t?.close();
  });

  it("B's clock really is 10 minutes ahead, and B says so in its log", () => {
    expect(b.clock - a.clock).toBeGreaterThan(590_000);
    expect(b.output()).toContain("clock differs from the database's");
    expect(a.output()).not.toContain("clock differs from the database's");
  });

  it("a session signed in on either replica stands on the other, and expires after its TTL by the database's clock", async () => {
    for (const [cookie, other] of [[operatorCookieA, b], [operatorCookieB, a]] as const) {
      const me = await call(other.url, "auth.me", undefined, { cookie, query: true });
      expect(me.status).toBe(200);
      expect(me.data?.username).toBe("skew-operator");
    }
    const [row] = await t.db.$queryRaw<{ left: number }[]>`SELECT extract(epoch FROM max("expiresAt") - (now() AT TIME ZONE 'UTC'))::float8 AS left FROM "Session"`;
    // Neither 10 minutes more nor 10 minutes less than the TTL.
    expect(row!.left * 1000).toBeGreaterThan(SESSION_TTL_MS - 30_000);
    expect(row!.left * 1000).toBeLessThan(SESSION_TTL_MS + 30_000);
  });

  it("a join token made on one replica enrols through the other; the host then stays online on both, whichever replica it beats on", async () => {
    const adminA = (await call(a.url, "auth.signIn", { username: "skew-admin", password: "skew-password-123" })).cookie!;
    const adminB = (await call(b.url, "auth.signIn", { username: "skew-admin", password: "skew-password-123" })).cookie!;
    const hosts: { hostId: string; credential: string }[] = [];
    for (const [maker, cookie, enroller, name] of [[a, adminA, b, "skew-host-1"], [b, adminB, a, "skew-host-2"]] as const) {
      // 5 minutes: less than the skew.
      const made = await call(maker.url, "hosts.createJoinToken", { note: name, ttlMinutes: 5 }, { cookie });
      expect(made.status, made.message).toBe(200);
      const enrolled = await call(enroller.url, "agent.enroll", { joinToken: made.data!.token, hostname: name, agentVersion: "test" });
      expect(enrolled.status, `${name}: ${enrolled.message}`).toBe(200);
      hosts.push(enrolled.data as { hostId: string; credential: string });
    }
    for (const host of hosts) {
      for (const [beatOn, readOn] of [[a, b], [b, a], [a, a], [b, b]] as const) {
        const beat = await call(beatOn.url, "agent.heartbeat", { agentVersion: "test" }, { bearer: host.credential });
        expect(beat.status, beat.message).toBe(200);
        const got = await call(readOn.url, "hosts.get", { id: host.hostId }, { cookie: operatorCookieA, query: true });
        expect(got.data?.liveness, `beat on ${beatOn === a ? "A" : "B"}, read on ${readOn === a ? "A" : "B"}`).toBe("online");
      }
    }
    // The last beat is written in the database's time, not 10 minutes ahead of it.
    const [seen] = await t.db.$queryRaw<{ ahead: number }[]>`SELECT extract(epoch FROM max("lastSeenAt") - (now() AT TIME ZONE 'UTC'))::float8 AS ahead FROM "Host"`;
    expect(Math.abs(seen!.ahead)).toBeLessThan(5);
  });

  it("an operation queued on B is due at once on A, and a claim made on A is not taken again by B (nor one made on B by A)", async () => {
    const { token } = await (await t.callerAs("admin")).caller.hosts.createJoinToken({ note: "", ttlMinutes: 10 });
    const host = (await call(a.url, "agent.enroll", { joinToken: token, hostname: "skew-host-3", agentVersion: "test" })).data as { hostId: string; credential: string };
    const network = await call(b.url, "networks.create", { text: BRIDGE_CONFLIST("skewnet", "10.76.0.0/24", "10.76.0.1"), comment: "" }, { cookie: operatorCookieB });
    expect(network.status, network.message).toBe(200);
    const networkId = (network.data as { id: string }).id;
    const attach = async (on: ConsoleProcess, name: string) => {
      const r = await call(on.url, "attachments.create", { hostId: host.hostId, networkId, target: { kind: "netns", name } }, { cookie: on === a ? operatorCookieA : operatorCookieB });
      expect(r.status, r.message).toBe(200);
      return (r.data as { operation: { id: string } }).operation.id;
    };
    const claim = async (on: ConsoleProcess) => {
      const r = await call(on.url, "agent.claim", { max: 8 }, { bearer: host.credential });
      expect(r.status, r.message).toBe(200);
      return (r.data as unknown as { operationId: string; attempt: number }[]).map((o) => `${o.operationId}#${o.attempt}`);
    };
    const onB = await attach(b, "skew-ns-1");
    expect(await claim(a)).toEqual([`${onB}#1`]);
    expect(await claim(b)).toEqual([]);
    const onA = await attach(a, "skew-ns-2");
    expect(await claim(a)).toEqual([`${onA}#1`]);
    expect(await claim(b)).toEqual([]);
    expect(await claim(a)).toEqual([]);
    const ops = await t.db.operation.findMany({ where: { id: { in: [onA, onB] } }, select: { attempt: true, status: true } });
    expect(ops).toEqual([{ attempt: 1, status: "running" }, { attempt: 1, status: "running" }]);
  });

  it("a push stream opened on B hands back no claim made on A after it opened (the agent sends the open event's time to any replica)", async () => {
    const { token } = await (await t.callerAs("admin")).caller.hosts.createJoinToken({ note: "", ttlMinutes: 10 });
    const host = (await call(a.url, "agent.enroll", { joinToken: token, hostname: "skew-host-4", agentVersion: "test" })).data as { hostId: string; credential: string };
    const network = await call(a.url, "networks.create", { text: BRIDGE_CONFLIST("skewnet4", "10.75.0.0/24", "10.75.0.1"), comment: "" }, { cookie: operatorCookieA });
    const networkId = (network.data as { id: string }).id;
    const attach = async (name: string) => (((await call(a.url, "attachments.create", { hostId: host.hostId, networkId, target: { kind: "netns", name } }, { cookie: operatorCookieA })).data as { operation: { id: string } }).operation.id);
    // The stream on B, one slot: it says "open" (with its time), then claims and pushes the first operation, which fills its slot.
    const abort = new AbortController();
    let text = "";
    const res = await fetch(`${b.url}/api/agent/agent.work?input=${encodeURIComponent(JSON.stringify({ json: { slots: 1 } }))}`, { headers: { accept: "text/event-stream", authorization: `Bearer ${host.credential}` }, signal: abort.signal });
    const reading = (async () => {
      const reader = res.body!.getReader();
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    })();
    const until = async (needle: string) => {
      for (const deadline = Date.now() + 10_000; !text.includes(needle) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
      expect(text).toContain(needle);
    };
    await until('"open"');
    const openedAt = /"kind":"open","at":"([^"]+)"/.exec(text)![1]!;
    const first = await attach("skew-ns-4a");
    await until(first);
    // A second operation, claimed on A after the stream opened (the stream's slot is full).
    const second = await attach("skew-ns-4b");
    const claimed = await call(a.url, "agent.claim", { max: 1 }, { bearer: host.credential });
    expect((claimed.data as unknown as { operationId: string }[]).map((o) => o.operationId)).toEqual([second]);
    // The agent, not having the second yet, says what it holds as of the open.
    const handBack = await call(a.url, "agent.holding", { openedAt, operationIds: [first] }, { bearer: host.credential, meta: { values: { openedAt: ["Date"] } } });
    expect(handBack.data).toEqual({ released: 0 });
    abort.abort();
    await reading;
    const ops = await t.db.operation.findMany({ where: { id: { in: [first, second] } }, select: { attempt: true, status: true } });
    expect(ops).toEqual([{ attempt: 1, status: "running" }, { attempt: 1, status: "running" }]);
  });
});
