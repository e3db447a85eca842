/**
 * A real agent (root, Debian's plugins) against a real console, through a loopback proxy that
 * makes one call hang: the console accepting a request and never answering cannot be made with
 * the console itself, so the proxy holds the agent's first `completeMany` open without an answer.
 * The call must time out, the outcome stay queued, and its retry be fenced by (operation, attempt).
 */
import { spawn } from "node:child_process";
import { readdirSync, existsSync, mkdirSync } from "node:fs";
import { createServer, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { bridgeConflist, createTestDirs, deleteBridge, randomSuffix } from "@switchyard/cni/test-host";
import { afterEach, describe, expect, it } from "vitest";
import { agentArgs, isRoot, useTestConsole } from "./harness";
import { type AgentProcess, startAgentProcess } from "./support/agent-process";
import { waitFor } from "./wait";
const COMPLETE = "/api/agent/agent.completeMany";

type Hang = "answer" | "request";

/**
 * Forwards everything to `target`, except the first `completeMany`: with "answer" the console gets
 * it and its answer is dropped; with "request" the console never sees it. Either way the agent's
 * connection stays open with no answer.
 */
async function startHangingProxy(target: string, hang: Hang) {
  const held: ServerResponse[] = [];
  let hung = 0;
  const server: Server = createServer((req, res) => {
    const swallow = req.method === "POST" && req.url?.startsWith(COMPLETE) && hung === 0;
    if (swallow) {
      hung++;
      held.push(res);
      if (hang === "request") return void req.resume();
    }
    const upstream = request(new URL(req.url ?? "/", target), { method: req.method, headers: req.headers }, (answer) => {
      if (swallow) return void answer.resume();
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hung: () => hung,
    close: () => new Promise<void>((r) => (held.forEach((h) => h.destroy()), server.closeAllConnections(), server.close(() => r()))),
  };
}

describe.runIf(isRoot)("the agent's outcome call hangs: it times out, stays queued, and is sent again", { timeout: 120_000 }, () => {
  const c = useTestConsole();
  const cleanups: (() => Promise<unknown>)[] = [];
  const agents: AgentProcess[] = [];

  afterEach(async () => {
    for (const a of agents.splice(0)) await a.kill();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });

  async function run(hang: Hang) {
    const { t, server, admin, operator } = c;
    const proxy = await startHangingProxy(server.url, hang);
    cleanups.push(() => proxy.close());
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    const { conflist, names } = bridgeConflist({ dataDir: dirs.dataDir, ipv4: true });
    cleanups.push(() => deleteBridge(names.bridge));
    const network = await operator.caller.networks.create({ text: JSON.stringify(conflist), comment: "" });
    const hostname = `sytest-${randomSuffix()}`;
    const dataDir = join(dirs.root, "agent");
    mkdirSync(join(dirs.root, "net.d"), { recursive: true });
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    const agent = startAgentProcess(agentArgs({ consoleUrl: proxy.url, root: dirs.root, cacheDir: dirs.cacheDir, hostname, joinToken: token, extra: ["--console-timeout", "2000"] }));
    agents.push(agent);
    const { logs } = agent;
    const hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);
    const sandbox = `sytest-${randomSuffix()}`;
    cleanups.push(async () => spawn("ip", ["netns", "del", sandbox]));
    const { attachment, operation } = await operator.caller.attachments.create({ hostId, networkId: network.id, target: { kind: "sandbox", name: sandbox }, ifName: "eth0", portMappings: [] });
    const notDelivered = await waitFor("the hung outcome call to time out", async () => logs.find((l) => l.msg === "outcome not delivered; it stays queued"), 30_000);
    expect(proxy.hung()).toBe(1);
    expect(notDelivered).toMatchObject({ operationId: operation.id, attempt: 1, error: "console call agent.completeMany timed out after 2000 ms without an answer" });
    await waitFor("the queued result to go again (with a heartbeat)", async () => logs.find((l) => l.msg === "console unreachable: the result is queued"), 10_000);
    const reports = join(dataDir, "reports");
    await waitFor("the outcome to leave the queue", async () => existsSync(reports) && readdirSync(reports).length === 0, 40_000);
    return { logs, attachment, operation };
  }

  it("the console took the outcome but its answer never came: the retry is refused by the fence and changes nothing", async () => {
    const { logs, attachment, operation } = await run("answer");
    const { t, operator } = c;
    expect(logs.find((l) => l.msg === "result refused by the console (stale attempt)")).toMatchObject({ operationId: operation.id, attempt: 1 });
    const job = await operator.caller.attachments.operation({ id: operation.id });
    expect(job).toMatchObject({ status: "succeeded", attempt: 1 });
    // The job's last lines came with the first call only.
    expect(job.logs.filter((l) => l.line === "bridge ADD")).toHaveLength(1);
    expect((await t.db.attachment.findUniqueOrThrow({ where: { id: attachment.id } })).state).toBe("ready");
  });

  it("the outcome never reached the console: the retry records it", async () => {
    const { logs, attachment, operation } = await run("request");
    const { t, operator } = c;
    expect(logs.find((l) => l.msg === "result refused by the console (stale attempt)")).toBeUndefined();
    expect(await operator.caller.attachments.operation({ id: operation.id })).toMatchObject({ status: "succeeded", attempt: 1 });
    expect((await t.db.attachment.findUniqueOrThrow({ where: { id: attachment.id } })).state).toBe("ready");
  });
});
