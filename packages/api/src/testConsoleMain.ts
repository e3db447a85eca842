// A console replica as its own process, for tests that need one with its own clock (run under
// libfaketime) or its own lifetime: `node --import tsx testConsoleMain.ts '<options as JSON>'`.
// It starts as apps/console does (the clock taken from the database's), serves the browser, agent
// and REST endpoints, prints {"url","clock"} when listening, and shuts down on SIGTERM.
import { createDb } from "@switchyard/db";
import { startClockSync } from "./clock";
import { createDbEventBus } from "./eventBusDb";
import type { AgentRates } from "./http";
import { serveApi } from "./testing";

const options = JSON.parse(process.argv[2] ?? "null") as { url: string; name: string; sessionTtlMs?: number; streamsPerCredential?: number; agentRates?: Partial<AgentRates> } | null;
if (!options?.url || !options.name) throw new Error(`usage: testConsoleMain.ts '{"url":"postgresql://…","name":"a","sessionTtlMs":300000}'`);
const db = createDb(options.url);
const clock = startClockSync(db);
await clock.ready;
const events = createDbEventBus(options.url, { applicationName: `switchyard-events-${options.name}` });
await events.ready;
const server = await serveApi(
  { db, events, sessionPolicy: { ttlMs: options.sessionTtlMs ?? 3600_000 }, secureCookies: false, reservedHostPorts: [] },
  0,
  { ...(options.streamsPerCredential ? { streamsPerCredential: options.streamsPerCredential } : {}), ...(options.agentRates ? { agentRates: options.agentRates } : {}) },
);
process.stdout.write(`${JSON.stringify({ url: server.url, clock: Date.now() })}\n`);
process.once("SIGTERM", () => {
  void (async () => {
    clock.stop();
    await server.close();
    await events.close();
    await db.$disconnect();
    process.exit(0);
  })();
});
