import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import pg from "pg";
import { requireRoot } from "./support";

// Issue 15 §3: two console processes (the built console, `server.mjs`) on one PostgreSQL behind
// nginx with the proxy settings we ship (deploy/nginx/switchyard-proxy.conf), a real agent and a
// browser on nginx's address. Each replica is SIGKILLed in turn while an operation is in flight:
// the agent's push stream and the tab's live stream move to the replica left, the operation
// completes, later ones too, and the page follows without a reload.

test.describe.configure({ mode: "serial" });
requireRoot();

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const hex = randomBytes(3).toString("hex");
const PASSWORD = `replica admin ${hex} password`;
const METRICS_TOKEN = randomBytes(24).toString("hex");
const hostName = `e2e-rep-${hex}`;
const networkName = `e2e-rep-${hex}`;
const bridge = `syrep${hex}`;
const sandboxes = [`sytest-rep1-${hex}`, `sytest-rep2-${hex}`];
const subnet = `10.233.${parseInt(hex.slice(0, 2), 16)}.0/24`;
const work = mkdtempSync(path.join(tmpdir(), "switchyard-e2e-replicas-"));
const database = `sytest_replicas_${hex}`;

type Replica = { name: string; port: number; proc: ChildProcess; output: () => string };
const replicas: Replica[] = [];
let nginx: ChildProcess | undefined;
let agent: ChildProcess | undefined;
let agentLog = "";
let lbUrl = "";
let dbUrl = "";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

async function withAdminDb<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: process.env.SWITCHYARD_TEST_PG_URL });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** A console replica: the built console as the quick start runs it, on the shared database. */
async function startReplica(name: string, port: number): Promise<Replica> {
  const proc = spawn(process.execPath, ["server.mjs"], {
    cwd: path.join(root, "apps/console"),
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_URL: dbUrl,
      SWITCHYARD_ADMIN_PASSWORD: PASSWORD,
      SWITCHYARD_PUBLIC_URL: lbUrl,
      SWITCHYARD_TRUST_PROXY: "true",
      SWITCHYARD_METRICS_TOKEN: METRICS_TOKEN,
      NEXT_MANUAL_SIG_HANDLE: "true",
      NEXT_TELEMETRY_DISABLED: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  proc.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const replica = { name, port, proc, output: () => output };
  replicas.push(replica);
  // The first request runs the console's start (migrations, bootstrap admin, the event listener).
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`replica ${name} exited (${proc.exitCode}):\n${output}`);
    const ok = await fetch(`http://127.0.0.1:${port}/login`).then((r) => r.ok, () => false);
    if (ok) return replica;
    if (Date.now() > deadline) throw new Error(`replica ${name} not serving within 90 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** nginx with the shipped proxy settings, in front of `ports`. */
async function startNginx(lbPort: number, ports: number[]): Promise<void> {
  const dir = path.join(work, "nginx");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, "nginx.conf"),
    `user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log notice;
events { worker_connections 1024; }
http {
  log_format upstream '$status $upstream_status $upstream_addr "$request"';
  access_log ${dir}/access.log upstream;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream switchyard_console {
${ports.map((p) => `    server 127.0.0.1:${p} max_fails=3 fail_timeout=5s;`).join("\n")}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${lbPort};
    include ${path.join(root, "deploy/nginx/switchyard-proxy.conf")};
  }
}
`,
  );
  nginx = spawn("nginx", ["-p", dir, "-c", path.join(dir, "nginx.conf"), "-g", "daemon off;"], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  nginx.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  await expect.poll(async () => (nginx!.exitCode === null ? fetch(`${lbUrl}/login`).then((r) => r.status, () => 0) : `nginx exited: ${err}`), { timeout: 15_000 }).toBe(200);
}

/** Agent push streams open on a replica, from its own /metrics (null when it does not answer). */
async function pushStreams(r: Replica): Promise<number | null> {
  const res = await fetch(`http://127.0.0.1:${r.port}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).catch(() => null);
  if (!res?.ok) return null;
  const line = /^switchyard_push_streams_open (\d+)/m.exec(await res.text());
  return line ? Number(line[1]) : 0;
}

async function mutate<T>(request: APIRequestContext, procedure: string, input: unknown): Promise<T> {
  const res = await request.post(`/api/trpc/${procedure}`, { data: { json: input }, headers: { origin: lbUrl } });
  expect(res.status(), `${procedure}: ${await res.text()}`).toBe(200);
  return ((await res.json()) as { result: { data: { json: T } } }).result.data.json;
}

async function query<T>(request: APIRequestContext, procedure: string, input: unknown): Promise<T> {
  const res = await request.get(`/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`);
  expect(res.status(), `${procedure}: ${await res.text()}`).toBe(200);
  return ((await res.json()) as { result: { data: { json: T } } }).result.data.json;
}

type Attachment = { id: string; state: string };
type Created = { attachment: Attachment; operation: { id: string } };

/** The addresses on eth0 inside `netns`. */
function addressesIn(netns: string): string[] {
  const out = JSON.parse(execFileSync("ip", ["-n", netns, "-j", "addr", "show", "eth0"], { encoding: "utf8" })) as { addr_info: { local: string; prefixlen: number }[] }[];
  return out[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
}

/** nginx's access log: `$status $upstream_status $upstream_addr "$request"` per line. */
const accessLog = () => readFileSync(path.join(work, "nginx/access.log"), "utf8").split("\n").filter(Boolean);

const count = (text: string, needle: string) => text.split(needle).length - 1;

/** Counts the tab's live-stream requests (each redial after a lost stream is one more). */
function countLiveStreams(page: Page): () => number {
  let n = 0;
  page.on("request", (r) => {
    if (r.url().includes("events.stream")) n++;
  });
  return () => n;
}

test.beforeAll(async () => {
  expect(process.env.SWITCHYARD_TEST_PG_URL, "the replica test needs PostgreSQL (scripts/test.sh starts it and sets SWITCHYARD_TEST_PG_URL)").toBeTruthy();
  await withAdminDb((c) => c.query(`CREATE DATABASE "${database}"`));
  const url = new URL(process.env.SWITCHYARD_TEST_PG_URL!);
  url.pathname = `/${database}`;
  dbUrl = url.toString();
  lbUrl = `http://127.0.0.1:${await freePort()}`;
});

test.afterAll(async () => {
  agent?.kill("SIGTERM");
  for (const r of replicas) if (r.proc.exitCode === null) r.proc.kill("SIGTERM");
  nginx?.kill("SIGQUIT");
  await Promise.all([agent, nginx, ...replicas.map((r) => r.proc)].map((p) => (p && p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once("exit", r)) : null)));
  for (const args of [...sandboxes.map((s) => ["netns", "del", s]), ["link", "del", bridge]]) {
    try {
      execFileSync("ip", args, { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
  if (process.env.E2E_LOG) writeFileSync(process.env.E2E_LOG.replace(/(\.\w+)?$/, "-replicas$1"), [agentLog, ...replicas.map((r) => r.output())].join("\n----\n"));
  if (!process.env.E2E_KEEP) rmSync(work, { recursive: true, force: true });
  rmSync(`/var/lib/cni/networks/${networkName}`, { recursive: true, force: true });
  await withAdminDb((c) => c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)).catch(() => {});
});

test("a replica killed mid-operation hands its agent and its browser tab to the other; nothing is lost", async ({ browser }) => {
  test.setTimeout(240_000);
  const ports = [await freePort(), await freePort()];
  // Both start at once on the empty database: both migrate it (one waits on the other's lock).
  const [first, second] = await Promise.all([startReplica("a", ports[0]!), startReplica("b", ports[1]!)]);
  await startNginx(Number(new URL(lbUrl).port), ports);

  const context = await browser.newContext({ baseURL: lbUrl, storageState: { cookies: [], origins: [] } });
  const page = await context.newPage();
  await page.goto("/login");
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Networks" })).toBeVisible();

  const network = await mutate<{ id: string }>(page.request, "networks.create", {
    text: JSON.stringify({ cniVersion: "1.0.0", name: networkName, plugins: [{ type: "bridge", bridge, ipam: { type: "host-local", ranges: [[{ subnet }]] } }] }),
    comment: "e2e replicas",
  });
  const { token } = await mutate<{ token: string }>(page.request, "hosts.createJoinToken", { note: hostName, ttlMinutes: 10 });
  agent = spawn(
    process.execPath,
    [path.join(root, "apps/agent/bin/switchyard-agent"), "--console-url", lbUrl, "--join-token", token, "--hostname", hostName,
      "--data-dir", path.join(work, "agent"), "--cache-dir", path.join(work, "cache"), "--conf-dir", path.join(work, "net.d"), "--netns-dir", "/run/netns",
      "--cni-path", "/opt/cni/bin:/usr/lib/cni", "--reconcile-interval", "600000", "--services", "off",
      // A lost stream is dialled again within 1 s (30 s spread by default, for fleets).
      "--reconnect-spread", "1000"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  agent.stdout!.on("data", (d: Buffer) => (agentLog += d.toString()));
  agent.stderr!.on("data", (d: Buffer) => (agentLog += d.toString()));

  await page.goto("/attachments");
  const liveStreams = countLiveStreams(page);
  let hostId = "";
  await expect.poll(async () => {
    hostId = (await query<{ items: { id: string; name: string }[] }>(page.request, "hosts.list", null)).items.find((h) => h.name === hostName)?.id ?? "";
    return hostId;
  }, { timeout: 30_000, message: "the agent enrolled through nginx" }).not.toBe("");

  // The replica holding the agent's push stream is the one to kill.
  let holder: Replica | undefined;
  await expect.poll(async () => {
    for (const r of [first, second]) if ((await pushStreams(r)) === 1) holder = r;
    return holder?.name ?? null;
  }, { timeout: 30_000 }).not.toBeNull();
  const survivors = { [first.name]: second, [second.name]: first };

  for (const [round, sandbox] of sandboxes.entries()) {
    const victim = holder!;
    const survivor = survivors[victim.name]!;
    const streamsBefore = liveStreams();
    const lostBefore = count(agentLog, "push stream lost; reconnecting after a random wait");
    // An attach requested, then its replica killed at once: the operation is in flight (queued,
    // pushed, or running on the agent) while the replica dies.
    const created = await mutate<Created>(page.request, "attachments.create", { hostId, networkId: network.id, target: { kind: "sandbox", name: sandbox }, ifName: "eth0", portMappings: [] });
    victim.proc.kill("SIGKILL");

    if (round === 0) {
      // The agent's stream was on the victim: the agent saw it go, and dials again after its random wait
      // (long-polling the survivor meanwhile), not at once through the link's own redial.
      await expect.poll(() => count(agentLog, "push stream lost; reconnecting after a random wait"), { timeout: 30_000 }).toBeGreaterThan(lostBefore);
    } else {
      // The tab's stream was on the victim for certain (the first kill left it nowhere else): it dials again.
      await expect.poll(() => liveStreams(), { timeout: 30_000, message: "the tab's live stream dialled again" }).toBeGreaterThan(streamsBefore);
    }

    // The operation completes: recorded ready, and the address is in the namespace.
    await expect.poll(async () => (await query<Attachment>(page.request, "attachments.get", { id: created.attachment.id })).state, { timeout: 60_000, message: `round ${round}: attachment ready` }).toBe("ready");
    expect(addressesIn(sandbox).join(" ")).toMatch(/^10\.233\./);

    // The page, never reloaded, shows it (read again on the live stream's events or its resync).
    await expect(page.getByTestId(`attachment-row-${sandbox}`).getByTestId("attachment-state")).toHaveText(/ready/i, { timeout: 30_000 });

    // The killed replica comes back on its port; the next round kills the survivor.
    const logBefore = accessLog().length;
    const back = await startReplica(victim.name, victim.port);
    // nginx takes it back once its fail_timeout has passed (5 s after the kill's failures). Until it
    // has served a request, killing the other would leave nginx none (502s, as in production).
    await expect.poll(async () => {
      await fetch(`${lbUrl}/login`).catch(() => null);
      return accessLog().slice(logBefore).some((l) => l.startsWith(`200 200 127.0.0.1:${back.port} `));
    }, { timeout: 30_000, intervals: [250], message: `nginx routes to the restarted replica ${back.name}` }).toBe(true);
    survivors[survivor.name] = back;
    survivors[back.name] = survivor;
    holder = survivor;
  }

  // The agent's push stream is open again on one of the replicas (after its long-poll window).
  await expect.poll(async () => (await Promise.all(replicas.filter((r) => r.proc.exitCode === null && r.proc.signalCode === null).map(pushStreams))).reduce((a: number, n) => a + (n ?? 0), 0), { timeout: 120_000, message: "the agent's stream open again" }).toBe(1);

  // After both kills: a detach through the page, served by whichever replica nginx picks.
  const row = page.getByTestId(`attachment-row-${sandboxes[0]}`);
  await row.getByRole("button", { name: /^Detach / }).click();
  await page.getByRole("dialog", { name: "Detach attachment" }).getByRole("button", { name: "Yes, detach" }).click();
  await expect(row).toHaveCount(0, { timeout: 30_000 });
  expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toContain(sandboxes[0]);

  // Nothing answered 500 (a request in flight to a killed replica may get nginx's 502, which agents retry).
  const statuses = accessLog().map((l) => l.split(" ")[0]);
  expect(statuses.filter((s) => s === "500")).toEqual([]);
  // The agent never gave up: it is still running, and said it reconnected.
  expect(agent.exitCode).toBeNull();

  // Both replicas lost at once: the tab's stream dials nginx again and gets its 502 (no replica
  // up), which EventSource never retries by itself. The tab opens it again after its wait, once
  // the replicas are back, and the page follows again without a reload.
  const streamsBeforeOutage = liveStreams();
  const running = replicas.filter((r) => r.proc.exitCode === null && r.proc.signalCode === null);
  for (const r of running) r.proc.kill("SIGKILL");
  await expect.poll(() => accessLog().some((l) => l.startsWith("502 ") && l.includes("events.stream")), { timeout: 30_000, message: "the tab's redial answered 502" }).toBe(true);
  const logAtRestart = accessLog().length;
  const restarted = await Promise.all(running.map((r) => startReplica(r.name, r.port)));
  await expect.poll(async () => {
    await fetch(`${lbUrl}/login`).catch(() => null);
    const served = accessLog().slice(logAtRestart).filter((l) => l.startsWith("200 200 "));
    return restarted.every((r) => served.some((l) => l.includes(`127.0.0.1:${r.port} `)));
  }, { timeout: 30_000, intervals: [250], message: "nginx routes to the restarted replicas" }).toBe(true);
  await expect.poll(() => liveStreams(), { timeout: 60_000, message: "the tab opened its stream again after the 502" }).toBeGreaterThan(streamsBeforeOutage + 1);
  const again = await mutate<Created>(page.request, "attachments.create", { hostId, networkId: network.id, target: { kind: "sandbox", name: sandboxes[0] }, ifName: "eth0", portMappings: [] });
  await expect(page.getByTestId(`attachment-row-${sandboxes[0]}`)).toBeVisible({ timeout: 30_000 });
  await expect.poll(async () => (await query<Attachment>(page.request, "attachments.get", { id: again.attachment.id })).state, { timeout: 60_000 }).toBe("ready");
  await context.close();
});
