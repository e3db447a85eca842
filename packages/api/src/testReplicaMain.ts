// A console replica as its own process, for tests: `node --import tsx testReplicaMain.ts <db url> <name> [port]`.
// Serves the browser and agent endpoints over the database's event bus, prints {"url"} when
// listening, and shuts down on SIGTERM. A port (default: any free one) lets a test restart a killed
// replica where its agents keep dialing it (the fault run, apps/agent/test/support/fault-run.ts).
import { createDb } from "@switchyard/db";
import { createDbEventBus } from "./eventBusDb";
import { serveApi } from "./testing";

const [url, name, portText] = process.argv.slice(2);
if (!url || !name) throw new Error("usage: testReplicaMain.ts <database url> <replica name> [port]");
const port = portText === undefined ? 0 : Number(portText);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`port "${portText}" is invalid: must be 0-65535 (0: any free port)`);
const db = createDb(url);
const events = createDbEventBus(url, { applicationName: `switchyard-events-${name}` });
await events.ready;
const server = await serveApi({ db, events, sessionPolicy: { ttlMs: 3600_000 }, secureCookies: false, reservedHostPorts: [] }, port);
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.once("SIGTERM", () => {
  void (async () => {
    await server.close();
    await events.close();
    await db.$disconnect();
    process.exit(0);
  })();
});
