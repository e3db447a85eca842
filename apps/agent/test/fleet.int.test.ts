/**
 * Issue 15 §1–2: agents never give up on a console that is down, failing or busy, and the console
 * sheds a burst with 429 and Retry-After instead of failing it. A real console over HTTP; the
 * faults a console cannot be made to produce on cue (a 500 on the first enrolment) come from a
 * relay in front of it, beside the real 429s of its own rate limit.
 */
import { existsSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type ApiTest, serveApi, setupApiTest } from "@switchyard/api/testing";
import { createTestDirs, randomSuffix } from "@switchyard/cni/test-host";
import { createDb } from "@switchyard/db";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../src/client";
import { systemClock } from "../src/clock";
import { createConsolePort } from "../src/console";
import { createEnrolment } from "../src/enrolment";
import { recordingLogger, tempDir } from "./fakes";
import { startAgentProcess } from "./support/agent-process";
import { AGENT_BIN, isRoot } from "./harness";
import { waitFor } from "./wait";

const t0kind = () => process.env.SWITCHYARD_TEST_DB ?? "pglite";

describe("a fleet against a console that fails and sheds load (issue 15)", { timeout: 120_000 }, () => {
  let t: ApiTest;
  let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];

  beforeAll(async () => {
    t = await setupApiTest();
    admin = await t.callerAs("admin", "root-admin");
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await t?.close();
  });

  const joinToken = async (note: string) => (await admin.caller.hosts.createJoinToken({ note, ttlMinutes: 10 })).token;

  it("50 hosts enrolling at once against a console taking 10 a second: all enrolled, the rest told 429 with Retry-After and retried, no 500", async () => {
    const server = await serveApi(t.deps, 0, { agentRates: { enrol: { perSecond: 10, burst: 5 } } });
    cleanups.push(() => server.close());
    const hosts = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const dir = tempDir();
        cleanups.push(() => dir.remove());
        const log = recordingLogger();
        const hostname = `fleet-${randomSuffix()}-${i}`;
        const enrolment = createEnrolment({ consoleUrl: server.url, dataDir: dir.path, hostname, joinToken: await joinToken(hostname), log, clock: systemClock });
        const port = createConsolePort(createAgentClient({ consoleUrl: server.url, credential: enrolment.credential, userAgent: "fleet-test" }), () => undefined);
        return { hostname, enrolment, port, log, dir };
      }),
    );
    const started = performance.now();
    await Promise.all(hosts.map((h) => h.enrolment.enroll(h.port)));
    const seconds = (performance.now() - started) / 1000;

    for (const h of hosts) {
      expect(h.enrolment.credential()).toMatch(/^syh_/);
      expect(existsSync(join(h.dir.path, "credential.json"))).toBe(true);
    }
    expect(await t.deps.db.host.count({ where: { name: { in: hosts.map((h) => h.hostname) } } })).toBe(50);
    const retries = hosts.flatMap((h) => h.log.lines.filter((l) => l.msg === "enrolment failed; retrying"));
    const statuses = new Set(retries.map((l) => l.fields.status));
    expect(retries.length).toBeGreaterThanOrEqual(45);
    expect([...statuses]).toEqual([429]);
    // 5 at once, then 10 a second: the other 45 cannot have been let in under 4.5 s.
    expect(seconds).toBeGreaterThan(4.4);
    console.log(`50 enrolments at 10/s (burst 5): ${seconds.toFixed(1)} s, ${retries.length} retries after 429, none failed`);
  });

  // PGlite is one connection in-process; a pool with no connection free is PostgreSQL's case.
  it.runIf(t0kind() === "postgres")("a console whose database has no connection free answers 503 with Retry-After, never 500; an enrolment meanwhile succeeds after it", async () => {
    const db = createDb(t.url, { max: 1, waitMs: 300 });
    cleanups.push(() => db.$disconnect());
    const server = await serveApi({ ...t.deps, db });
    cleanups.push(() => server.close());
    // The only connection, held by a transaction that sleeps 2 s.
    const holding = db.$transaction(async (tx) => void (await tx.$executeRawUnsafe("SELECT pg_sleep(2)")), { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const log = recordingLogger();
    const hostname = `fleet-${randomSuffix()}`;
    const token = await joinToken(hostname);
    const direct = await fetch(`${server.url}/api/agent/agent.enroll`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ json: { joinToken: token, hostname, agentVersion: "test" } }) });
    expect(direct.status).toBe(503);
    expect(direct.headers.get("retry-after")).toBe("2");
    expect(await direct.text()).toContain("database is busy");
    const enrolment = createEnrolment({ consoleUrl: server.url, dataDir: dir.path, hostname, joinToken: token, log, clock: systemClock });
    await enrolment.enroll(createConsolePort(createAgentClient({ consoleUrl: server.url, credential: enrolment.credential, userAgent: "fleet-test" }), () => undefined));
    await holding;
    expect(enrolment.credential()).toMatch(/^syh_/);
    expect(log.lines.filter((l) => l.msg === "enrolment failed; retrying").map((l) => l.fields.status)).toContain(503);
  });

  describe.runIf(isRoot)("the agent process", () => {
    /**
     * A relay to the console that answers the first enrolments itself, as `faults` says, and counts
     * what it saw. A fault `afterConsole` passes the request on and drops the console's answer:
     * the enrolment happened, the agent hears only the fault (a proxy's 502 after the commit).
     */
    async function faultyRelay(consoleUrl: string, faults: { status: number; headers?: Record<string, string>; afterConsole?: boolean }[]) {
      const target = new URL(consoleUrl);
      const enrolments: number[] = [];
      const relay = http.createServer((req, res) => {
        const fault = req.url?.startsWith("/api/agent/agent.enroll") ? (enrolments.push(Date.now()), faults.shift()) : undefined;
        const answerFault = (f: NonNullable<typeof fault>) => {
          res.writeHead(f.status, { "content-type": "text/plain", ...f.headers });
          res.end(`injected ${f.status}`);
        };
        if (fault && !fault.afterConsole) {
          req.resume();
          return answerFault(fault);
        }
        const upstream = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
          if (fault) return void answer.resume().on("end", () => answerFault(fault));
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        upstream.on("error", () => res.destroy());
        res.on("close", () => upstream.destroy());
        req.pipe(upstream);
      });
      await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
      cleanups.push(() => new Promise((r) => (relay.closeAllConnections(), relay.close(r))));
      return { url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`, enrolments };
    }

    function startAgent(consoleUrl: string, hostname: string, token: string, root: string, cacheDir: string) {
      const agent = startAgentProcess([AGENT_BIN, "--console-url", consoleUrl, "--join-token", token, "--hostname", hostname, "--data-dir", join(root, "agent"), "--cache-dir", cacheDir, "--conf-dir", join(root, "net.d"), "--services", "off", "--reconcile-interval", "600000"]);
      cleanups.push(() => agent.kill());
      return agent;
    }

    it("enrols through a console that answers 500, then 429 (Retry-After: 2), then takes it; a used join token exits 3", async () => {
      const server = await serveApi(t.deps);
      cleanups.push(() => server.close());
      const relay = await faultyRelay(server.url, [{ status: 500 }, { status: 429, headers: { "retry-after": "2" } }]);
      const dirs = await createTestDirs();
      cleanups.push(() => dirs.remove());
      const hostname = `fleet-${randomSuffix()}`;
      const token = await joinToken(hostname);
      const agent = startAgent(relay.url, hostname, token, dirs.root, dirs.cacheDir);
      await waitFor("the agent to open its push stream", async () => agent.logs.some((l) => l.msg === "push stream open"), 30_000);
      expect(agent.proc.exitCode).toBeNull();
      expect(agent.logs.filter((l) => l.msg === "enrolment failed; retrying").map((l) => l.status)).toEqual([500, 429]);
      expect(relay.enrolments).toHaveLength(3);
      expect(relay.enrolments[2]! - relay.enrolments[1]!).toBeGreaterThanOrEqual(2000);
      expect(await t.deps.db.host.count({ where: { name: hostname, revokedAt: null } })).toBe(1);

      // The same token again, from another host: used up, a refusal, exit 3 at once.
      const other = await createTestDirs();
      cleanups.push(() => other.remove());
      const second = startAgent(server.url, `${hostname}-b`, token, other.root, other.cacheDir);
      expect(await Promise.race([second.exited, new Promise((r) => setTimeout(() => r("still running"), 20_000))])).toBe(3);
      expect(second.logs.some((l) => String(l.error ?? l.msg).includes("refused to enrol this host"))).toBe(true);
    });

    it("an enrolment whose answer is lost after the console made it: the agent asks again with its key and is enrolled, not refused", async () => {
      const server = await serveApi(t.deps);
      cleanups.push(() => server.close());
      const relay = await faultyRelay(server.url, [{ status: 502, afterConsole: true }]);
      const dirs = await createTestDirs();
      cleanups.push(() => dirs.remove());
      const hostname = `fleet-${randomSuffix()}`;
      const token = await joinToken(hostname);
      const agent = startAgent(relay.url, hostname, token, dirs.root, dirs.cacheDir);
      await waitFor("the agent to open its push stream", async () => agent.logs.some((l) => l.msg === "push stream open"), 30_000);
      expect(agent.proc.exitCode).toBeNull();
      expect(agent.logs.filter((l) => l.msg === "enrolment failed; retrying").map((l) => l.status)).toEqual([502]);
      expect(relay.enrolments).toHaveLength(2);
      const host = await t.deps.db.host.findUniqueOrThrow({ where: { name: hostname } });
      const audit = await t.deps.db.auditEvent.findMany({ where: { action: "agent.enroll", targetId: host.id }, orderBy: { at: "asc" } });
      expect(audit.map((a) => (a.after as { repeated?: boolean }).repeated ?? false)).toEqual([false, true]);
    });
  });
});
