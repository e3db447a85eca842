// Issue 16 §1: one agent credential opens 10,000 push streams (SSE) against a console process.
//
//   SWITCHYARD_TEST_PG_URL=postgresql://switchyard:switchyard@127.0.0.1:5432/postgres npx tsx bench/sse-streams.ts
//   npx tsx bench/sse-streams.ts --streams 10000 --concurrency 500 --time-limit 240
//
// Two console processes on one PostgreSQL, one after the other: "uncapped" (a cap of 1,000,000 per
// credential: what the console did before) and "default" (SWITCHYARD_STREAMS_PER_CREDENTIAL's
// default, 32). For each: the statuses, how long opening them all took, the console process's
// memory (RSS, and its peak) and open file descriptors with the streams held, how fast another host
// and a browser are answered meanwhile, and whether the credential gets its whole cap back once
// every stream is closed. Loopback only; every fetch is aborted at the end, the processes are
// stopped and the test database dropped on exit, error or Ctrl-C, within --time-limit.
import { readFileSync, readdirSync } from "node:fs";
import { parseArgs } from "node:util";
import { createSession } from "../packages/api/src/auth/session";
import { setupApiTest } from "../packages/api/src/testing";
import { type ConsoleProcess, startConsoleProcess } from "../packages/api/src/testConsoleProcess";
import { DEFAULT_STREAMS_PER_CREDENTIAL } from "../packages/api/src/heldRequests";
import { clamp } from "./stats";

const { values } = parseArgs({ options: { streams: { type: "string", default: "10000" }, concurrency: { type: "string", default: "500" }, "time-limit": { type: "string", default: "240" } } });
const STREAMS = clamp(Number(values.streams), 1, 20_000);
const CONCURRENCY = clamp(Number(values.concurrency), 1, 2000);
const TIME_LIMIT_S = clamp(Number(values["time-limit"]), 10, 900);

const aborts: AbortController[] = [];
/** Streams held open: a Response nobody references is collected, and undici closes its connection then. */
const held: Response[] = [];
let firstOdd = "";
const consoles: ConsoleProcess[] = [];
let cleanupDone: Promise<void> | undefined;
let t: Awaited<ReturnType<typeof setupApiTest>> | undefined;

function cleanup(): Promise<void> {
  return (cleanupDone ??= (async () => {
    for (const a of aborts) a.abort();
    await Promise.all(consoles.map((c) => c.stop()));
    await t?.close();
    const alive = consoles.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
    console.log(`cleanup checked: ${consoles.length} console processes stopped (${alive.length} left), ${aborts.length} streams aborted, test database dropped`);
  })());
}
const limit = setTimeout(() => {
  console.error(`time limit of ${TIME_LIMIT_S} s reached: stopping`);
  void cleanup().finally(() => process.exit(2));
}, TIME_LIMIT_S * 1000);
process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));

const mib = (kib: number) => (kib / 1024).toFixed(1);
function procStatus(pid: number): { rssKiB: number; hwmKiB: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? "NaN");
  return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM"), fds: readdirSync(`/proc/${pid}/fd`).length };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, performance.now() - started];
}

async function run(label: string, cap: number) {
  const db = t!;
  // A patient client: the host's rate (100 calls/s) only slows it down, so it is lifted here to see
  // what holding the streams costs (at 100/s one credential held 3,156 after 46 s without a cap).
  const c = await startConsoleProcess({ url: db.url, name: `sse-${label}`, streamsPerCredential: cap, agentRates: { perHost: { perSecond: 100_000, burst: 100_000 }, calls: { perSecond: 100_000, burst: 100_000 } } });
  consoles.push(c);
  const pid = c.proc.pid!;
  const hostA = await db.enrollHost(`sse-${label}-a`);
  const hostB = await db.enrollHost(`sse-${label}-b`);
  const viewer = await db.createUserRow(`sse-${label}-viewer`, "viewer");
  const cookie = `sy_session=${(await createSession(db.db, { userId: viewer.id, policy: { ttlMs: 3600_000 }, sourceIp: "", userAgent: "" })).token}`;
  const streamUrl = `${c.url}/api/agent/agent.work?input=${encodeURIComponent(JSON.stringify({ json: { slots: 4 } }))}`;
  const heartbeat = (credential: string) =>
    fetch(`${c.url}/api/agent/agent.heartbeat`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${credential}` }, body: JSON.stringify({ json: { agentVersion: "bench" } }) });
  const browser = () => fetch(`${c.url}/api/trpc/hosts.list?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`, { headers: { cookie } });
  await heartbeat(hostA.credential);
  const before = procStatus(pid);

  const statuses = new Map<number, number>();
  const open = async (credential: string): Promise<number> => {
    const abort = new AbortController();
    aborts.push(abort);
    try {
      const res = await fetch(streamUrl, { headers: { accept: "text/event-stream", authorization: `Bearer ${credential}` }, signal: abort.signal });
      if (res.status !== 200) {
        const text = await res.text();
        if (res.status !== 429 && !firstOdd) firstOdd = `${res.status}: ${text.slice(0, 300)}`;
        abort.abort();
      } else held.push(res);
      return res.status;
    } catch (err) {
      abort.abort();
      return (err as Error).name === "AbortError" ? -1 : 0;
    }
  };
  const [, openMs] = await timed(async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < STREAMS) {
          next++;
          const status = await open(hostA.credential);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
  });
  await new Promise((r) => setTimeout(r, 1000));
  const holding = procStatus(pid);
  const [otherHost, otherHostMs] = await timed(() => heartbeat(hostB.credential));
  const [person, personMs] = await timed(() => browser());
  const [otherStream, otherStreamMs] = await timed(() => open(hostB.credential));

  for (const a of aborts) a.abort();
  held.length = 0;
  await new Promise((r) => setTimeout(r, 1500));
  const after = procStatus(pid);
  // The credential gets its whole cap back (up to 32 tried) once its streams are closed.
  const tries = Math.min(cap, 32);
  const reopened = await Promise.all(Array.from({ length: tries }, () => open(hostA.credential)));
  for (const a of aborts) a.abort();
  held.length = 0;

  const counts = [...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s === 0 ? "failed" : s}: ${n}`).join(", ");
  console.log(`\n${label} (cap ${cap} per credential), ${STREAMS} streams with one host credential, ${CONCURRENCY} opening at a time`);
  console.log(`  statuses ${counts}; all answered in ${(openMs / 1000).toFixed(1)} s`);
  console.log(`  console process: RSS ${mib(before.rssKiB)} MiB before → ${mib(holding.rssKiB)} MiB with the streams held (peak ${mib(holding.hwmKiB)} MiB) → ${mib(after.rssKiB)} MiB after closing them; open fds ${before.fds} → ${holding.fds} → ${after.fds}`);
  console.log(`  meanwhile: another host's heartbeat ${otherHost.status} in ${otherHostMs.toFixed(0)} ms, a browser's hosts.list ${person.status} in ${personMs.toFixed(0)} ms, another host's stream ${otherStream} in ${otherStreamMs.toFixed(0)} ms`);
  if (firstOdd) console.log(`  first answer neither 200 nor 429: ${firstOdd}`);
  console.log(`  after closing every stream: ${reopened.filter((s) => s === 200).length} of ${tries} reopened with 200`);
  const lines = c.output().split("\n").filter((l) => l.startsWith("{"));
  const byMsg = new Map<string, number>();
  for (const l of lines) {
    const msg = String((JSON.parse(l) as { msg?: unknown }).msg ?? "?");
    byMsg.set(msg, (byMsg.get(msg) ?? 0) + 1);
  }
  console.log(`  console log lines: ${[...byMsg].map(([m, n]) => `${n} × "${m}"`).join("; ") || "none"}`);
  if (process.env.SSE_BENCH_DEBUG) console.log(c.output().slice(0, 5000));
  await c.stop();
}

try {
  t = await setupApiTest({ kind: "postgres" });
  const subjects = (process.env.SSE_BENCH_SUBJECTS ?? "uncapped,default").split(",");
  if (subjects.includes("uncapped")) await run("uncapped", 1_000_000);
  if (subjects.includes("default")) await run("default", DEFAULT_STREAMS_PER_CREDENTIAL);
} finally {
  clearTimeout(limit);
  await cleanup();
}
