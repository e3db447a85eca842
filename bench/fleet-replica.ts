/**
 * A console replica for bench/fleet.ts: `node --import tsx bench/fleet-replica.ts '<options as JSON>'`.
 * The browser, agent and REST endpoints (serveApi: the same handlers the console's routes mount) on
 * a PostgreSQL database, with what a console process runs beside them (apps/console/src/server/
 * deps.ts): the database's clock, the event bus at the default tick, the pool at its default size,
 * the sweep of lapsed registrations and the webhook scans. The agents' rate limits are the
 * defaults unless given; /metrics answers the scrape token. A fixed port lets the bench start it
 * again where nginx and the agents look for it. Prints {"url"} when listening; SIGTERM stops it;
 * it exits by itself when the bench that started it is gone.
 */
import { createDbEventBus, startClockSync, startRegistrationSweep, startWebhooks } from "@switchyard/api";
import { serveApi } from "@switchyard/api/testing";
import { createDb } from "@switchyard/db";
import { createStretchProfiler } from "./profile";

interface ReplicaOptions {
  url: string;
  name: string;
  port: number;
  metricsToken: string;
  /** SWITCHYARD_ENROL_RATE / _BURST (default 10/s, 20) when set. */
  enrol?: { perSecond: number; burst: number };
}

const options = JSON.parse(process.argv[2] ?? "null") as ReplicaOptions | null;
if (!options?.url || !options.name || !options.metricsToken) throw new Error(`usage: fleet-replica.ts '{"url":"postgresql://…","name":"a","port":0,"metricsToken":"…"}'`);
const log = (entry: Record<string, unknown>) => process.stderr.write(`${JSON.stringify({ replica: options.name, ...entry })}\n`);
// The console's defaults: SWITCHYARD_DB_POOL 10, SWITCHYARD_DB_POOL_WAIT_MS 10 s, SWITCHYARD_EVENTS_TICK_MS 10;
// the pool's two taken from the environment as the console takes them (the bench passes its own on).
const setting = (name: string, fallback: number, max: number) => {
  const n = Number(process.env[name] ?? fallback);
  return Number.isInteger(n) && n >= 1 && n <= max ? n : fallback;
};
const db = createDb(options.url, { max: setting("SWITCHYARD_DB_POOL", 10, 1000), waitMs: setting("SWITCHYARD_DB_POOL_WAIT_MS", 10_000, 600_000) });
const clock = startClockSync(db, { log });
await clock.ready;
const events = createDbEventBus(options.url, { applicationName: `switchyard-events-${options.name}`, tickMs: 10 });
await events.ready;
const sweep = startRegistrationSweep({ db, events }, { onError: (err) => log({ level: "error", msg: "registration sweep failed", error: String(err) }) });
const webhooks = startWebhooks({ db, policy: { ownPorts: [options.port] }, onError: (err) => log({ level: "error", msg: "webhook scan failed", error: String(err) }) });
const server = await serveApi({ db, events, sessionPolicy: { ttlMs: 3600_000 }, secureCookies: false, reservedHostPorts: [] }, options.port, {
  metricsToken: options.metricsToken,
  ...(options.enrol ? { agentRates: { enrol: options.enrol } } : {}),
});
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    clock.stop();
    sweep.stop();
    await Promise.race([
      (async () => {
        await webhooks.stop();
        await server.close();
        await events.close();
        await db.$disconnect();
      })(),
      new Promise((r) => setTimeout(r, 5000).unref()),
    ]);
  }
  process.exit(code);
}
process.once("SIGTERM", () => void stop(0));
// fleet.ts --profile DIR: SIGUSR2 starts a CPU profile, the next one writes it to DIR/replica-<name>.cpuprofile.
const profiler = createStretchProfiler();
let profiling = false;
process.on("SIGUSR2", () => {
  const dir = process.env.BENCH_PROFILE_DIR;
  if (!dir) return;
  profiling = !profiling;
  void (profiling ? profiler.start() : profiler.stop(`${dir}/replica-${options.name}.cpuprofile`)).catch((e: unknown) => log({ level: "error", msg: "profile failed", error: String(e) }));
});
// Its own process group (the bench's Ctrl-C is the bench's to handle); orphaned, it stops.
process.on("SIGINT", () => {});
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void stop(1);
}, 1000).unref();
