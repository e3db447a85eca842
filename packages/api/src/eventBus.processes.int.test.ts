import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSession } from "./auth/session";
import { authenticateAgent } from "./domain/hosts";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "./testing";

// Two console processes on one PostgreSQL (a PGlite directory opens in one process only).
const MAIN = fileURLToPath(new URL("./testReplicaMain.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

type Replica = { url: string; proc: ChildProcess };
let t: ApiTest;
const replicas: Replica[] = [];

async function startReplica(name: string): Promise<Replica> {
  const proc = spawn(process.execPath, ["--import", "tsx", MAIN, t.url, name], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica ${name} did not start within 60 s:\n${out}`)), 60_000);
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const found = /\{"url":"([^"]+)"\}/.exec(out)?.[1];
      if (found) clearTimeout(timer), resolve(found);
    });
    proc.once("exit", (code) => reject(new Error(`replica ${name} exited (${code}):\n${out}`)));
  });
  const replica = { url, proc };
  replicas.push(replica);
  return replica;
}

/** Opens an SSE GET and resolves with the time the first data line matching `pattern` arrived (or null). */
function waitForSse(url: string, headers: Record<string, string>, pattern: () => string | null, ms: number) {
  const abort = new AbortController();
  let text = "";
  const opened = fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: abort.signal });
  const seen = (async () => {
    const res = await opened;
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      text += decoder.decode(value, { stream: true });
      const want = pattern();
      if (want && text.includes(want)) return performance.now();
    }
  })().catch(() => null);
  const timer = setTimeout(() => abort.abort(), ms);
  return {
    text: () => text,
    seen: seen.finally(() => (clearTimeout(timer), abort.abort())),
  };
}

beforeAll(async () => {
  t = await setupApiTest({ kind: "postgres" });
}, 120_000);
afterAll(async () => {
  for (const r of replicas) r.proc.kill("SIGTERM");
  await Promise.all(replicas.map((r) => new Promise((res) => (r.proc.exitCode !== null ? res(null) : r.proc.once("exit", res)))));
  await t?.close();
});

describe("two console processes on one PostgreSQL", () => {
  it("an attachment created through process B is pushed to the agent streaming from process A, and A's browsers see it", async () => {
    const [a, b] = await Promise.all([startReplica("proc-a"), startReplica("proc-b")]);
    const admin = await t.callerAs("admin", "padmin");
    const operator = await t.createUserRow("poperator", "operator");
    const { id: networkId } = await t.caller(t.sessionOf(operator)).networks.create({ text: BRIDGE_CONFLIST("procnet", "10.74.0.0/24", "10.74.0.1"), comment: "" });
    const { token } = await admin.caller.hosts.createJoinToken({ note: "", ttlMinutes: 10 });
    const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname: "proc-host", agentVersion: "test" });
    expect(await authenticateAgent(t.db, enrolled.credential)).not.toBeNull();
    const { token: sessionToken } = await createSession(t.db, { userId: operator.id, policy: { ttlMs: 3600_000 }, sourceIp: "", userAgent: "test" });
    const cookie = `sy_session=${sessionToken}`;

    let operationId: string | null = null;
    const input = encodeURIComponent(JSON.stringify({ json: { slots: 4 } }));
    const agentStream = waitForSse(`${a.url}/api/agent/agent.work?input=${input}`, { authorization: `Bearer ${enrolled.credential}` }, () => operationId, 60_000);
    const browserStream = waitForSse(`${a.url}/api/trpc/events.stream`, { cookie }, () => operationId, 60_000);
    // Both streams are open (the agent's says "open").
    const deadline = Date.now() + 30_000;
    while (!agentStream.text().includes('"open"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(agentStream.text()).toContain('"open"');
    // B answers a first request before the clock starts (this machine may be loaded).
    expect((await fetch(`${b.url}/api/trpc/hosts.list`, { headers: { cookie } })).status).toBe(200);

    const started = performance.now();
    const res = await fetch(`${b.url}/api/trpc/attachments.create`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: b.url, cookie },
      body: JSON.stringify({ json: { hostId: enrolled.hostId, networkId, target: { kind: "netns", name: "proc-1" }, ifName: "eth0", portMappings: [] } }),
    });
    expect(res.status).toBe(200);
    operationId = ((await res.json()) as { result: { data: { json: { operation: { id: string } } } } }).result.data.json.operation.id;
    const [pushedAt, shownAt] = await Promise.all([agentStream.seen, browserStream.seen]);
    expect(pushedAt, `agent stream on A:\n${agentStream.text()}`).not.toBeNull();
    expect(shownAt, `browser stream on A:\n${browserStream.text()}`).not.toBeNull();
    // Far below the agent's 15 s safety poll: pushed across processes.
    expect(pushedAt! - started).toBeLessThan(3000);
    expect(shownAt! - started).toBeLessThan(3000);
    expect((await t.db.operation.findUniqueOrThrow({ where: { id: operationId } })).status).toBe("running");
  });
});
