import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SSE_PING_MS, SSE_RECONNECT_AFTER_INACTIVITY_MS } from "./trpc";
import { serveApi, setupApiTest, type ApiTest } from "./testing";

let t: ApiTest;
let server: Awaited<ReturnType<typeof serveApi>>;

beforeAll(async () => {
  t = await setupApiTest();
  server = await serveApi(t.deps);
});
afterAll(async () => {
  await server?.close();
  await t?.close();
});

/** The SSE events (name and data) of a stream as they come over real HTTP, until `done` says so. */
async function readEvents(res: Response, done: (events: { event: string; data: string }[]) => boolean, ms: number) {
  const events: { event: string; data: string }[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = Date.now() + ms;
  let buf = "";
  try {
    while (!done(events) && Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), deadline - Date.now()))]);
      if (!chunk || chunk.done) break;
      buf += chunk.value;
      const blocks = buf.split("\n\n");
      buf = blocks.pop()!;
      for (const block of blocks) {
        const lines = block.split("\n");
        events.push({ event: lines.find((l) => l.startsWith("event:"))?.slice(6).trim() ?? "message", data: lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n") });
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return events;
}

describe("SSE streams cannot go deaf", () => {
  it("a quiet stream pings, and tells its client to dial again after a silence (a half-open connection)", async () => {
    const admin = await t.callerAs("admin", "ada");
    const { token } = await admin.caller.hosts.createJoinToken({ note: "sse-ping", ttlMinutes: 10 });
    const { credential } = await t.agentCaller(null).enroll({ joinToken: token, hostname: "sse-ping", agentVersion: "test" });
    const res = await fetch(`${server.url}/api/agent/agent.work?input=${encodeURIComponent(JSON.stringify({ json: { slots: 1 } }))}`, { headers: { authorization: `Bearer ${credential}`, accept: "text/event-stream" } });
    expect(res.status).toBe(200);
    const events = await readEvents(res, (e) => e.some((x) => x.event === "ping"), SSE_PING_MS + 5_000);
    expect(events[0]).toMatchObject({ event: "connected" });
    expect(JSON.parse(events[0]!.data)).toEqual({ reconnectAfterInactivityMs: SSE_RECONNECT_AFTER_INACTIVITY_MS });
    expect(events.map((e) => e.event)).toContain("ping");
    expect(SSE_PING_MS).toBeLessThan(SSE_RECONNECT_AFTER_INACTIVITY_MS);
  }, 30_000);
});
