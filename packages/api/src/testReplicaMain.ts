// A console replica as its own process, for tests: `node --import tsx testReplicaMain.ts <db url> <name>`.
// Serves the browser and agent endpoints over the database's event bus, prints {"url"} when
// listening, and shuts down on SIGTERM.
import { createDb } from "@switchyard/db";
import { createDbEventBus } from "./eventBusDb";
import { serveApi } from "./testing";

const [url, name] = process.argv.slice(2);
if (!url || !name) throw new Error("usage: testReplicaMain.ts <database url> <replica name>");
const db = createDb(url);
const events = createDbEventBus(url, { applicationName: `switchyard-events-${name}` });
await events.ready;
const server = await serveApi({ db, events, sessionPolicy: { ttlMs: 3600_000 }, secureCookies: false, reservedHostPorts: [] });
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.once("SIGTERM", () => {
  void (async () => {
    await server.close();
    await events.close();
    await db.$disconnect();
    process.exit(0);
  })();
});
