/**
 * Issue 11's browser figures (bench/README.md): the IPAM map of a /16 network holding 50,000 leases,
 * fed through the agent's report path (an enrolled host's credential, the agent's own request
 * builders, the real HTTP agent endpoint), drawn in Chromium by the production console. It prints
 * the map's own performance measures (ipam-map.tsx, map-timing.ts): `ipam-map:first-render` (the
 * map asks for its data → its cells painted) and `ipam-map:zoom` (a click on a block or a
 * breadcrumb → the cells of the new level painted), with the long tasks seen meanwhile.
 *
 *   npx turbo run build --filter=@switchyard/console   # the production build it serves
 *   npx tsx bench/ipam-browser.ts                       # port 3171, 50,000 leases, 20 samples each
 *   npx tsx bench/ipam-browser.ts --port 3180 --leases 20000 --samples 10
 *
 * It starts its own console (`node server.mjs`) on a fresh embedded database in a temporary
 * directory, removes both on exit (also on error, SIGINT and SIGTERM), and talks only to loopback.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type Browser, type Page, chromium } from "@playwright/test";
import { createAgentClient } from "../apps/agent/src/client";
import { fullReportRequests } from "../apps/agent/src/ipam/report";
import { viewOf } from "./ipam-feed";
import { clamp, median, quantile } from "./stats";

const { values: flags } = parseArgs({
  options: {
    port: { type: "string", default: "3171" },
    leases: { type: "string", default: "50000" },
    samples: { type: "string", default: "20" },
  },
});
const PORT = clamp(Number(flags.port), 1024, 65_535);
const LEASES = clamp(Number(flags.leases), 1000, 65_000);
const SAMPLES = clamp(Number(flags.samples), 5, 100);
const URL_BASE = `http://127.0.0.1:${PORT}`;
const DEADLINE = Date.now() + 10 * 60_000;
const TARGETS = { firstRenderMs: 300, zoomMs: 100 };
const ADMIN_PASSWORD = "bench admin password, long enough";
const CONSOLE_DIR = fileURLToPath(new URL("../apps/console", import.meta.url));
const NETWORK = "bench-ipam-browser";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
const load = () => loadavg().map((l) => l.toFixed(1)).join(" ");
function checkDeadline() {
  if (Date.now() > DEADLINE) throw new Error("bench: 10 minute bound reached");
}

/** The production console on a fresh embedded database, as the quick start runs it. */
async function startConsole(dataDir: string): Promise<ChildProcess> {
  if (!existsSync(join(CONSOLE_DIR, ".next/BUILD_ID"))) throw new Error("no production build: run `npx turbo run build --filter=@switchyard/console` first");
  const child = spawn(process.execPath, ["server.mjs"], {
    cwd: CONSOLE_DIR,
    env: { ...process.env, HOST: "127.0.0.1", PORT: String(PORT), SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_ADMIN_PASSWORD: ADMIN_PASSWORD, NEXT_MANUAL_SIG_HANDLE: "true", NEXT_TELEMETRY_DISABLED: "1", DATABASE_URL: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const until = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`console exited early:\n${output}`);
    // The first request runs the console's start-up (migrations, the admin).
    const ok = await fetch(`${URL_BASE}/login`).then((r) => r.status === 200, () => false);
    if (ok) return child;
    if (Date.now() > until) throw new Error(`console not answering on ${URL_BASE} within 90 s:\n${output}`);
    await sleep(250);
  }
}

/** A tRPC call with the signed-in page's session, as the browser sends it. */
async function call<T>(page: Page, procedure: string, input: unknown, kind: "query" | "mutation"): Promise<T> {
  const res =
    kind === "mutation"
      ? await page.request.post(`/api/trpc/${procedure}`, { data: { json: input }, headers: { origin: URL_BASE } })
      : await page.request.get(`/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`);
  if (res.status() !== 200) throw new Error(`${procedure}: HTTP ${res.status()} ${await res.text()}`);
  return ((await res.json()) as { result: { data: { json: T } } }).result.data.json;
}

/** A network of a /16, a host enrolled over HTTP, and its snapshot of LEASES leases sent as its agent sends it. */
async function feed(page: Page): Promise<{ networkId: string; feedMs: number }> {
  const text = JSON.stringify({ cniVersion: "1.0.0", name: NETWORK, plugins: [{ type: "bridge", bridge: "sybench0", ipam: { type: "host-local", subnet: "10.60.0.0/16", gateway: "10.60.0.1" } }] });
  const { id: networkId } = await call<{ id: string }>(page, "networks.create", { text, comment: "bench" }, "mutation");
  const { token } = await call<{ token: string }>(page, "hosts.createJoinToken", { note: "bench-browser-host", ttlMinutes: 5 }, "mutation");
  const res = await fetch(`${URL_BASE}/api/agent/agent.enroll`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ json: { joinToken: token, hostname: "bench-browser-host", agentVersion: "bench" } }) });
  if (res.status !== 200) throw new Error(`enrol: HTTP ${res.status} ${await res.text()}`);
  const { credential } = ((await res.json()) as { result: { data: { json: { credential: string } } } }).result.data.json;
  const agent = createAgentClient({ consoleUrl: URL_BASE, credential: () => credential, userAgent: "bench", timeoutMs: 120_000 });
  const t0 = performance.now();
  for (const request of fullReportRequests(new Map([[NETWORK, viewOf(NETWORK, LEASES, 60)]]), Date.now())) await agent.reportIpam.mutate(request);
  const feedMs = performance.now() - t0;
  const summary = await call<{ subnets: { leased: number }[] }>(page, "ipam.summary", { networkId }, "query");
  if (summary.subnets[0]?.leased !== LEASES) throw new Error(`feed: the console counts ${summary.subnets[0]?.leased} leases, expected ${LEASES}`);
  return { networkId, feedMs };
}

/** Long tasks (> 50 ms on the main thread) of the page, kept from its start (runs in the page: no DOM types here). */
const OBSERVE_LONG_TASKS = () => {
  (performance as unknown as { setResourceTimingBufferSize(n: number): void }).setResourceTimingBufferSize(10_000);
  const w = globalThis as unknown as { __longTasks: { start: number; duration: number }[] };
  w.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) w.__longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: "longtask", buffered: true } as unknown as Parameters<typeof PerformanceObserver.prototype.observe>[0]);
};

interface Sample {
  ms: number;
  /** Of which: until the map's answer had arrived (resource timing's responseEnd), when it was fetched inside the measure. */
  dataMs: number | null;
  /** Of that: from the measure's start to the fetch, the fetch queued in the browser (a connection free), the server's time to its first byte. */
  sentMs: number | null;
  queuedMs: number | null;
  serverMs: number | null;
  /** Long tasks inside the measure: how many, and the longest. */
  longTasks: number;
  longestMs: number;
}

/** Waits for the `nth` (1-based) measure of `name` on the page; its duration with the long tasks inside it. */
async function measured(page: Page, name: string, nth: number): Promise<Sample> {
  // Waited for with a PerformanceObserver, not waitForFunction: its polling (every animation frame)
  // and role locators ran on the page's main thread during the very frames being measured.
  await page.evaluate(
    ([n, k]) =>
      new Promise<void>((resolve, reject) => {
        if (performance.getEntriesByName(n as string, "measure").length >= (k as number)) return resolve();
        const timer = setTimeout(() => reject(new Error(`no measure ${n} #${k} within 30 s`)), 30_000);
        const observer = new PerformanceObserver(() => {
          if (performance.getEntriesByName(n as string, "measure").length < (k as number)) return;
          observer.disconnect();
          clearTimeout(timer);
          resolve();
        });
        observer.observe({ type: "measure" });
      }),
    [name, nth] as const,
  );
  return page.evaluate(([n, k]) => {
    const m = performance.getEntriesByName(n as string, "measure")[(k as number) - 1]!;
    const tasks = (globalThis as unknown as { __longTasks: { start: number; duration: number }[] }).__longTasks.filter((t) => t.start < m.startTime + m.duration && t.start + t.duration > m.startTime);
    const fetched = (performance.getEntriesByType("resource") as unknown as { name: string; startTime: number; requestStart: number; responseStart: number; responseEnd: number }[]).filter(
      (r) => r.name.includes("/api/trpc/ipam.map") && r.responseEnd > m.startTime && r.responseEnd <= m.startTime + m.duration,
    );
    const last = fetched.sort((a, b) => a.responseEnd - b.responseEnd)[fetched.length - 1];
    const dataMs = last ? last.responseEnd - m.startTime : null;
    const sentMs = last ? last.startTime - m.startTime : null;
    const queuedMs = last ? last.requestStart - last.startTime : null;
    const serverMs = last ? last.responseStart - last.requestStart : null;
    return { ms: m.duration, dataMs, sentMs, queuedMs, serverMs, longTasks: tasks.length, longestMs: Math.max(0, ...tasks.map((t) => t.duration)) };
  }, [name, nth] as const);
}

/** The map as a user opens it: a fresh page load each time, the /16 heatmap's first render. */
async function benchFirstRender(page: Page, networkId: string): Promise<Sample[]> {
  const out: Sample[] = [];
  for (let s = 0; s <= SAMPLES; s++) {
    checkDeadline();
    await page.goto(`/networks/${networkId}/ipam`);
    const sample = await measured(page, "ipam-map:first-render", 1);
    if (s > 0) out.push(sample); // the first is the warm-up
  }
  return out;
}

/** From the /16 heatmap into a /24 never opened before (its data asked for), and back out (the /16's data cached). */
async function benchZoom(page: Page, networkId: string): Promise<{ into: Sample[]; out: Sample[] }> {
  await page.goto(`/networks/${networkId}/ipam`);
  await measured(page, "ipam-map:first-render", 1);
  const into: Sample[] = [];
  const out: Sample[] = [];
  let n = 0;
  const profiler = process.env.BENCH_PROFILE ? await page.context().newCDPSession(page) : null;
  if (profiler) {
    await profiler.send("Profiler.enable");
    await profiler.send("Profiler.setSamplingInterval", { interval: 200 });
    await profiler.send("Profiler.start");
  }
  for (let s = 0; s <= SAMPLES; s++) {
    checkDeadline();
    // Blocks that hold leases, a different one each time (LEASES / 256 of them are full).
    const block = `10.60.${(s * 7) % Math.max(1, Math.floor(LEASES / 256))}.0/24`;
    await page.locator(`[data-block="${block}"]`).click();
    const zoomIn = await measured(page, "ipam-map:zoom", ++n);
    // CSS locators: role ones compute the ARIA role of every cell on the page's main thread.
    await page.locator('nav[aria-label="Zoom"] button', { hasText: "10.60.0.0/16" }).click();
    const zoomOut = await measured(page, "ipam-map:zoom", ++n);
    if (s > 0) {
      into.push(zoomIn);
      out.push(zoomOut);
    }
  }
  if (profiler) printProfile(((await profiler.send("Profiler.stop")) as { profile: CpuProfile }).profile);
  return { into, out };
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples: number[];
  timeDeltas: number[];
}

/** BENCH_PROFILE=1: where the page's main thread spent the zooms (self time by function, sampled). */
function printProfile(profile: CpuProfile) {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const f = byNode.get(id)!.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(`
CPU profile of the zooms (${total.toFixed(0)} ms sampled), self time:`);
  for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${ms.toFixed(1).padStart(8)} ms  ${k}`);
}

/** The floor of a map request: the same HTTP path (session, tRPC, superjson) for `auth.me`, timed inside the page. */
async function benchFloor(page: Page): Promise<number[]> {
  return page.evaluate(async (n) => {
    const out: number[] = [];
    for (let i = 0; i <= n; i++) {
      const t0 = performance.now();
      await (await fetch("/api/trpc/auth.me?input=%7B%22json%22%3Anull%7D")).text();
      if (i > 0) out.push(performance.now() - t0);
    }
    return out;
  }, SAMPLES);
}

function report(label: string, xs: Sample[], target?: number) {
  const ms = xs.map((x) => x.ms);
  const p50 = median(ms);
  const p95 = quantile(ms, 0.95);
  const tasks = xs.reduce((n, x) => n + x.longTasks, 0);
  const longest = Math.max(0, ...xs.map((x) => x.longestMs));
  const judged = target === undefined ? "" : `  (target ≤ ${target}): ${verdict(p50 <= target)} at p50, ${verdict(p95 <= target)} at p95`;
  console.log(`  ${label.padEnd(44)} n=${String(xs.length).padStart(3)}  p50 ${p50.toFixed(1).padStart(7)} ms  p95 ${p95.toFixed(1).padStart(7)} ms${judged}`);
  const fetched = xs.filter((x) => x.dataMs !== null);
  const data = fetched.map((x) => x.dataMs!);
  const drawing = fetched.map((x) => x.ms - x.dataMs!);
  const sent = median(fetched.map((x) => x.sentMs!));
  const server = median(fetched.map((x) => x.serverMs!));
  const queued = median(fetched.map((x) => x.queuedMs!));
  const split =
    fetched.length > 0
      ? `data in ${median(data).toFixed(1)} ms (asked at +${sent.toFixed(1)}, queued ${queued.toFixed(1)}, server's first byte after ${server.toFixed(1)}), then drawn in ${median(drawing).toFixed(1)} ms (p50s of the ${fetched.length} that fetched)`
      : "no fetch inside the measure";
  console.log(`  ${"".padEnd(44)}   ${split}; long tasks ${tasks} (longest ${longest.toFixed(0)} ms)`);
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), "switchyard-bench-browser-"));
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  const cleanup = async () => {
    await browser?.close().catch(() => {});
    if (server && server.exitCode === null) {
      server.kill("SIGTERM");
      await Promise.race([new Promise((r) => server!.once("exit", r)), sleep(10_000)]);
      if (server.exitCode === null) server.kill("SIGKILL");
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.on("SIGINT", () => void cleanup().finally(() => process.exit(130)));
  process.on("SIGTERM", () => void cleanup().finally(() => process.exit(143)));
  try {
    console.log(`load average ${load()} on ${availableParallelism()} CPUs`);
    console.log(`ipam-browser: production console on ${URL_BASE} (embedded PGlite), ${LEASES} leases in a /16, ${SAMPLES} samples each, Chromium headless`);
    server = await startConsole(dataDir);
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    const context = await browser.newContext({ baseURL: URL_BASE, viewport: { width: 1280, height: 900 } });
    await context.addInitScript(OBSERVE_LONG_TASKS);
    const page = await context.newPage();
    await page.goto("/login");
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill(ADMIN_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Networks" }).waitFor();
    const { networkId, feedMs } = await feed(page);
    console.log(`fed ${LEASES} leases through agent.reportIpam over HTTP in ${feedMs.toFixed(0)} ms`);

    if (process.env.BENCH_DIAGNOSE) {
      page.on("requestfinished", (r) => {
        void r.response().then(async (res) => {
          const t = r.timing();
          console.log(`  ${r.method()} ${r.url().slice(URL_BASE.length, URL_BASE.length + 90)} ${(await res?.body())?.length ?? 0} B, ${(t.responseEnd).toFixed(0)} ms`);
        });
      });
      await page.goto(`/networks/${networkId}/ipam`);
      await measured(page, "ipam-map:first-render", 1);
      await sleep(3000);
      page.removeAllListeners("requestfinished");
    }
    const first = await benchFirstRender(page, networkId);
    const zoom = await benchZoom(page, networkId);
    const floor = await benchFloor(page);
    console.log("\nThe map in Chromium (performance measures of ipam-map.tsx; a fresh page load per first render):");
    report("first render: /16 heatmap, data asked → painted", first, TARGETS.firstRenderMs);
    report("zoom in: a /24 grid never opened before", zoom.into, TARGETS.zoomMs);
    report("zoom out: back to the /16 (its data cached)", zoom.out, TARGETS.zoomMs);
    report("zoom, both directions", [...zoom.into, ...zoom.out], TARGETS.zoomMs);
    console.log(`  ${"floor: auth.me over the same HTTP path".padEnd(44)} n=${String(floor.length).padStart(3)}  p50 ${median(floor).toFixed(1).padStart(7)} ms  p95 ${quantile(floor, 0.95).toFixed(1).padStart(7)} ms`);
    console.log(`\nload average at the end ${load()}`);
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
