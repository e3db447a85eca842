/**
 * The agent's calls to the console have time limits. A console that accepts a request and never
 * answers is a fault that cannot be made with the real console, so the server here is a local
 * HTTP server on loopback that reads requests and never responds; the real console path (answers,
 * retries, the fence) is tested in test/console-timeout.int.test.ts and test/agent.int.test.ts.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { recordingLogger, tempDir } from "../test/fakes";
import { ConsoleHttpError, ConsoleTimeoutError, callTimeoutMs, createAgentClient } from "./client";
import { createConsolePort } from "./console";
import { createOutbox } from "./outbox";
import { createReportQueue } from "./reports";

interface SilentServer {
  url: string;
  /** Requests received (path), and how many of their connections the client closed. */
  received: string[];
  closedByClient(): number;
  close(): Promise<void>;
}

async function startSilentServer(): Promise<SilentServer> {
  const received: string[] = [];
  const open = new Set<IncomingMessage>();
  let closed = 0;
  const server: Server = createServer((req) => {
    received.push(new URL(req.url ?? "/", "http://x").pathname);
    open.add(req);
    req.resume();
    req.socket.once("close", () => (closed++, open.delete(req)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    closedByClient: () => closed,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

const servers: SilentServer[] = [];
const dirs: { remove(): void }[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  dirs.splice(0).forEach((d) => d.remove());
});

async function silentConsole(timeoutMs: number) {
  const server = await startSilentServer();
  servers.push(server);
  return { server, client: createAgentClient({ consoleUrl: server.url, credential: () => "syh_test", userAgent: "test", timeoutMs }) };
}

describe("agent → console time limits", () => {
  it("a call the console never answers fails after its limit, naming the call and the limit, and its connection is closed", async () => {
    const { server, client } = await silentConsole(300);
    const started = performance.now();
    const error = await client.completeMany.mutate({ outcomes: [{ operationId: "op-1", attempt: 1, outcome: "succeeded" }] }).catch((e: unknown) => e);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect((error as Error).message).toBe("console call agent.completeMany timed out after 300 ms without an answer");
    expect((error as Error).cause).toBeInstanceOf(ConsoleTimeoutError);
    expect(server.received).toEqual(["/api/agent/agent.completeMany"]);
    // The request was abandoned for real, not left open on the wire.
    await expect.poll(() => server.closedByClient(), { timeout: 5_000 }).toBe(1);
  });

  it("every kind of call has the limit: a query and the job log too", async () => {
    const { client } = await silentConsole(200);
    await expect(client.desired.query()).rejects.toThrow("console call agent.desired timed out after 200 ms without an answer");
    await expect(client.log.mutate({ entries: [] })).rejects.toThrow("console call agent.log timed out after 200 ms without an answer");
  });

  it("a long poll gets its wait on top of the limit; a caller's own abort stays an abort", async () => {
    expect(callTimeoutMs("agent.poll", { max: 1, waitMs: 20_000 }, 30_000)).toBe(50_000);
    expect(callTimeoutMs("agent.completeMany", { waitMs: 20_000 }, 30_000)).toBe(30_000);
    const { client } = await silentConsole(200);
    await expect(client.poll.mutate({ max: 1, waitMs: 300 })).rejects.toThrow("console call agent.poll timed out after 500 ms without an answer");
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    const error = await client.poll.mutate({ max: 1, waitMs: 300 }, { signal: abort.signal }).catch((e: unknown) => e);
    expect((error as Error).cause).not.toBeInstanceOf(ConsoleTimeoutError);
  });

  it("a push stream that never opens is given up after the limit and dialled again, not waited on forever", async () => {
    const { server, client } = await silentConsole(300);
    const errors: Error[] = [];
    const sub = client.work.subscribe({ slots: 1 }, { onData: () => {}, onError: (e) => errors.push(e) });
    try {
      await expect.poll(() => server.received.filter((p) => p === "/api/agent/agent.work").length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
      expect(server.closedByClient()).toBeGreaterThanOrEqual(1);
    } finally {
      sub.unsubscribe();
    }
  });

  it("a redirect is not followed: the call fails naming where it pointed, and the credential goes nowhere else", async () => {
    const elsewhere: string[] = [];
    const other = createServer((req, res) => (elsewhere.push(String(req.headers.authorization)), res.end()));
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    const location = `http://127.0.0.1:${(other.address() as AddressInfo).port}/api/agent/agent.heartbeat`;
    const redirecting = createServer((req, res) => req.resume().on("end", () => res.writeHead(308, { location }).end()));
    await new Promise<void>((resolve) => redirecting.listen(0, "127.0.0.1", resolve));
    try {
      const client = createAgentClient({ consoleUrl: `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`, credential: () => "syh_test", userAgent: "test", timeoutMs: 5000 });
      const error = (await client.heartbeat.mutate({ agentVersion: "test" }).catch((e: unknown) => e)) as Error;
      expect(error.cause).toBeInstanceOf(ConsoleHttpError);
      expect((error.cause as ConsoleHttpError).status).toBe(308);
      expect(error.message).toBe(`the console answered HTTP 308: redirected to ${location} (not followed: give that as the console URL)`);
      expect(elsewhere).toEqual([]);
    } finally {
      await Promise.all([redirecting, other].map((s) => new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve())))));
    }
  });

  it("an outcome whose call times out stays queued on disk (durable) and the caller goes on", async () => {
    const { client } = await silentConsole(300);
    const dir = tempDir();
    dirs.push(dir);
    const queue = createReportQueue(dir.path);
    const outbox = createOutbox({ console: createConsolePort(client, () => {}), queue, log: recordingLogger(), onMoreWork: () => {} });
    const report = { operationId: "op-1", attempt: 2, attachmentId: "att-1", outcome: "succeeded" as const };
    let intentDropped = false;
    expect(await outbox.record(report, async () => void (intentDropped = true))).toBe(false);
    expect(intentDropped).toBe(true);
    expect(queue.list()).toEqual([report]);
  });
});
