/**
 * The console's lists at scale: list page time (server side, procedure without HTTP), network
 * create time as the count grows, and the console process's memory over many list calls, against
 * the list as it was (one OR clause per network in one query of every network). See README.md.
 *
 *   npx tsx bench/console-lists.ts                      # 5,000 networks, 20,000 attachments, PGlite
 *   npx tsx bench/console-lists.ts --networks 2000 --attachments 8000 --samples 20
 *   SWITCHYARD_TEST_DB=postgres npx tsx bench/console-lists.ts
 */
import { availableParallelism, loadavg } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parseArgs } from "node:util";
import { type ApiTest, BRIDGE_CONFLIST, explainList, setupApiTest } from "@switchyard/api/testing";
import { clamp, median, quantile, row } from "./stats";

const { values: flags } = parseArgs({
  options: {
    networks: { type: "string", default: "5000" },
    attachments: { type: "string", default: "20000" },
    samples: { type: "string", default: "30" },
    creates: { type: "string", default: "20" },
    explain: { type: "boolean", default: false },
  },
});
const NETWORKS = clamp(Number(flags.networks), 100, 20_000);
const ATTACHMENTS = clamp(Number(flags.attachments), 0, 100_000);
const SAMPLES = clamp(Number(flags.samples), 5, 200);
const CREATES = clamp(Number(flags.creates), 5, 100);
const HOSTS = 20;
const AUDIT_ROWS = 25_000;
const DEADLINE = Date.now() + 15 * 60_000; // everything, seeding included
const TARGET_P50_MS = 50;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function checkDeadline() {
  if (Date.now() > DEADLINE) throw new Error("bench: 15 minute bound reached");
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const out = await fn();
  return [performance.now() - t0, out];
}

/** JS heap, memory outside it (ArrayBuffers: PGlite's WebAssembly memory is one) and the resident set. */
function memory(): { rssMb: number; heapMb: number; externalMb: number } {
  gc();
  const m = process.memoryUsage();
  return { rssMb: m.rss / 2 ** 20, heapMb: m.heapUsed / 2 ** 20, externalMb: m.external / 2 ** 20 };
}
const delta = (a: number, b: number) => `${b - a >= 0 ? "+" : ""}${(b - a).toFixed(1)}`;
const memLine = (label: string, before: ReturnType<typeof memory>, after: ReturnType<typeof memory>) =>
  `${label.padEnd(52)} heap ${before.heapMb.toFixed(0)} → ${after.heapMb.toFixed(0)} MB (${delta(before.heapMb, after.heapMb)})  external ${before.externalMb.toFixed(0)} → ${after.externalMb.toFixed(0)} MB (${delta(before.externalMb, after.externalMb)})  rss ${before.rssMb.toFixed(0)} → ${after.rssMb.toFixed(0)} MB (${delta(before.rssMb, after.rssMb)})`;

/** The list as it was before paging: every network, then one OR clause per network for their latest revisions. */
async function legacyListNetworks(t: ApiTest) {
  const networks = await t.db.network.findMany({ orderBy: { name: "asc" }, select: { id: true, name: true, latestRevision: true, updatedAt: true, createdAt: true } });
  const revisions = await t.db.networkRevision.findMany({
    where: { OR: networks.map((n) => ({ networkId: n.id, number: n.latestRevision })) },
    select: { networkId: true, conflist: true, authorName: true },
  });
  return revisions.length;
}

/** Seeds directly in the database: the lists read rows, however they were written. */
async function seed(t: ApiTest, userId: string) {
  await t.db.$executeRawUnsafe(`
    INSERT INTO "Host" (id, name, "credentialHash", "credentialExpiresAt", "lastSeenAt", "agentVersion")
    SELECT 'bh-' || i, 'bench-host-' || lpad(i::text, 3, '0'), 'bench-cred-' || i, now() + interval '30 days', now() - (i || ' seconds')::interval, 'bench'
    FROM generate_series(1, ${HOSTS}) i`);
  await t.db.$executeRawUnsafe(`
    INSERT INTO "Network" (id, name, "latestRevision", "createdAt", "updatedAt")
    SELECT 'bn-' || i, 'bench-net-' || lpad(i::text, 5, '0'), 1, now() - (i || ' minutes')::interval, now() - (i || ' minutes')::interval
    FROM generate_series(1, ${NETWORKS}) i`);
  await t.db.$executeRawUnsafe(`
    INSERT INTO "NetworkRevision" (id, "networkId", number, conflist, text, "authorId", "authorName")
    SELECT 'br-' || i, 'bn-' || i, 1, c, jsonb_pretty(c) || chr(10), '${userId}', 'bench'
    FROM generate_series(1, ${NETWORKS}) i
    CROSS JOIN LATERAL (SELECT jsonb_build_object('cniVersion', '1.0.0', 'name', 'bench-net-' || lpad(i::text, 5, '0'), 'plugins', jsonb_build_array(
        jsonb_build_object('type', 'bridge', 'bridge', 'syb' || i, 'ipam', jsonb_build_object('type', 'host-local', 'ranges',
          jsonb_build_array(jsonb_build_array(jsonb_build_object('subnet', '10.' || (100 + i / 256) || '.' || (i % 256) || '.0/24'))))),
        jsonb_build_object('type', 'portmap', 'capabilities', jsonb_build_object('portMappings', true)))) AS c) AS conf`);
  // The overlap check's index of each latest revision's subnets, as networks.create keeps it.
  await t.db.$executeRawUnsafe(`
    INSERT INTO "NetworkSubnet" ("networkId", cidr)
    SELECT 'bn-' || i, ('10.' || (100 + i / 256) || '.' || (i % 256) || '.0/24')::inet
    FROM generate_series(1, ${NETWORKS}) i`);
  const states = ["ready", "ready", "ready", "ready", "ready", "ready", "pending", "applying", "failed", "detached"];
  await t.db.$executeRawUnsafe(`
    INSERT INTO "Attachment" ("hostId", "networkId", "networkName", "networkRevision", "containerId", "ifName", "targetKind", target,
                              "capabilityArgs", present, state, result, "createdByName", "createdAt", "updatedAt")
    SELECT 'bh-' || (1 + i % ${HOSTS}), 'bn-' || (1 + i % ${NETWORKS}), 'bench-net-' || lpad((1 + i % ${NETWORKS})::text, 5, '0'), 1,
           'ctr-' || lpad(i::text, 6, '0'), 'eth0', 'netns', 'ns-' || i,
           CASE WHEN i % 4 = 0 THEN jsonb_build_object('portMappings', jsonb_build_array(jsonb_build_object('hostPort', 20000 + i % 40000, 'containerPort', 80, 'protocol', 'tcp'))) ELSE '{}'::jsonb END,
           (ARRAY[${states.map((s) => `'${s}'`).join(",")}])[1 + i % ${states.length}] <> 'detached',
           (ARRAY[${states.map((s) => `'${s}'`).join(",")}])[1 + i % ${states.length}]::"AttachmentState",
           jsonb_build_object('cniVersion', '1.1.0', 'ips', jsonb_build_array(jsonb_build_object('address', '10.200.' || (i / 250) % 256 || '.' || (2 + i % 250) || '/16'))),
           'bench', now() - (i || ' seconds')::interval, now() - (i || ' seconds')::interval
    FROM generate_series(1, ${ATTACHMENTS}) i`);
  await t.db.$executeRawUnsafe(`
    INSERT INTO "AuditEvent" (at, "actorId", "actorName", action, "targetType", "targetId", "targetName", after, outcome)
    SELECT now() - ((${AUDIT_ROWS} - i) || ' seconds')::interval, '${userId}', 'bench', 'networks.update', 'network', 'bn-' || (1 + i % ${NETWORKS}),
           'bench-net-' || lpad((1 + i % ${NETWORKS})::text, 5, '0'), jsonb_build_object('revision', 1), 'success'
    FROM generate_series(1, ${AUDIT_ROWS}) i`);
}

type Caller = Awaited<ReturnType<ApiTest["callerAs"]>>["caller"];

type ListName = "networks" | "hosts" | "attachments" | "audit";
type ListInput = Record<string, unknown>;

/**
 * The list calls measured: each list's first page in every sort order, searched (a selective term,
 * a term most rows match, a term no row matches, a term too short for a trigram), filtered.
 */
const LIST_CALLS: [string, ListName, ListInput][] = [
  ["networks: first page (name)", "networks", {}],
  ["networks: sorted by updated, desc", "networks", { sort: "updatedAt", dir: "desc" }],
  ["networks: sorted by created, asc", "networks", { sort: "createdAt", dir: "asc" }],
  ["networks: searched (name)", "networks", { q: "net-042" }],
  ["networks: searched (subnet in conflist)", "networks", { q: "10.110.7." }],
  ["networks: searched, every row matches", "networks", { q: "bridge", sort: "updatedAt", dir: "desc" }],
  ["networks: searched, no row matches", "networks", { q: "no-such-net" }],
  ["networks: searched, 2 characters", "networks", { q: "7z" }],
  ["hosts: first page (name)", "hosts", {}],
  ["hosts: sorted by last seen, searched", "hosts", { sort: "lastSeenAt", dir: "desc", q: "host-01" }],
  ["hosts: sorted by enrolled", "hosts", { sort: "enrolledAt", dir: "desc" }],
  ["attachments: first page (default states)", "attachments", {}],
  ["attachments: sorted by container id", "attachments", { sort: "containerId", dir: "asc" }],
  ["attachments: sorted by updated", "attachments", { sort: "updatedAt", dir: "desc" }],
  ["attachments: sorted by network name", "attachments", { sort: "networkName", dir: "asc" }],
  ["attachments: sorted by host name", "attachments", { sort: "hostName", dir: "asc" }],
  ["attachments: sorted by state", "attachments", { sort: "state", dir: "asc" }],
  ["attachments: searched", "attachments", { q: "ctr-0123" }],
  ["attachments: searched by host name", "attachments", { q: "bench-host-007" }],
  ["attachments: searched, every row matches", "attachments", { q: "eth0" }],
  ["attachments: searched, no row matches", "attachments", { q: "no-such-ctr" }],
  ["attachments: searched, 2 characters", "attachments", { q: "7z" }],
  ["attachments: one network, all states", "attachments", { networkId: "bn-42", states: ["pending", "applying", "ready", "failed", "detaching", "detached"] }],
  ["attachments: detached, by host name", "attachments", { states: ["detached"], sort: "hostName" }],
  ["audit: first page", "audit", { limit: 50 }],
  ["audit: searched by target name", "audit", { q: "bench-net-0042", limit: 50 }],
  ["audit: searched, no row matches", "audit", { q: "no-such-target", limit: 50 }],
  ["audit: oldest first, actor", "audit", { dir: "asc", actor: "bench", limit: 50 }],
];

function listCalls(c: Caller): [string, () => Promise<unknown>][] {
  return LIST_CALLS.map(([label, list, input]) => [label, () => (c[list].list as (i: ListInput) => Promise<unknown>)(input)]);
}

/** `--explain`: each list call's statement, EXPLAIN ANALYZE'd on the seeded database. */
async function explainAll(t: ApiTest) {
  for (const [label, list, input] of LIST_CALLS) console.log(`\n== ${label}\n${await explainList(t.db, list, input)}`);
}

async function main() {
  const t = await setupApiTest();
  const cleanup = async () => {
    await t.close().catch(() => {});
  };
  process.on("SIGINT", () => void cleanup().finally(() => process.exit(130)));
  process.on("SIGTERM", () => void cleanup().finally(() => process.exit(143)));
  try {
    const op = await t.callerAs("operator", "bench-op");
    const viewer = (await t.callerAs("viewer", "bench-viewer")).caller;
    console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(" ")} on ${availableParallelism()} CPUs`);
    console.log(`console-lists: ${process.env.SWITCHYARD_TEST_DB ?? "pglite"}, ${NETWORKS} networks, ${ATTACHMENTS} attachments, ${HOSTS} hosts, ${AUDIT_ROWS} audit events, ${SAMPLES} samples per list`);

    // 1. Create at a low count, through the API's create procedure (parse, overlap check, audit).
    const create = async (tag: string, i: number) => (await timed(() => op.caller.networks.create({ text: BRIDGE_CONFLIST(`bench-create-${tag}-${i}`, `10.250.${i}.0/24`, `10.250.${i}.1`), comment: "" })))[0];
    await create("warm", 0);
    const createLow: number[] = [];
    for (let i = 1; i <= CREATES; i++) createLow.push(await create("low", i));

    const [seedMs] = await timed(() => seed(t, op.user.id));
    console.log(`seeded in ${(seedMs / 1000).toFixed(1)} s`);
    await t.db.$executeRawUnsafe("ANALYZE");
    if (process.env.BENCH_SET) await t.db.$executeRawUnsafe(process.env.BENCH_SET);
    if (flags.explain) return await explainAll(t);

    // 2. Create at the full count.
    const createHigh: number[] = [];
    for (let i = 1; i <= CREATES; i++) createHigh.push(await create("high", i));
    checkDeadline();

    // 3. List pages: every call once per round, rounds interleaved, after one warm-up round. The
    //    floor beside them: one trivial statement through Prisma, and the procedure around it.
    const calls: [string, () => Promise<unknown>][] = [
      ["floor: SELECT 1 through Prisma", () => t.db.$queryRaw`SELECT 1`],
      ["floor: auth.me through createCaller", () => viewer.auth.me()],
      ...listCalls(viewer),
    ];
    for (const [, call] of calls) await call();
    const times = new Map<string, number[]>(calls.map(([label]) => [label, []]));
    for (let s = 0; s < SAMPLES; s++) {
      for (const [label, call] of calls) times.get(label)!.push((await timed(call))[0]);
      checkDeadline();
    }

    // 4. Memory over many list calls: the paged lists with changing searches and cursors.
    const memBefore = memory();
    let cursor: string | undefined;
    for (let i = 0; i < 300; i++) {
      const page = await viewer.networks.list({ q: i % 3 === 0 ? `net-${String(i).padStart(3, "0")}` : undefined, cursor: i % 3 === 0 ? undefined : cursor });
      cursor = page.nextCursor ?? undefined;
      await viewer.attachments.list({ q: i % 2 ? `ctr-${i}` : undefined, states: i % 5 === 0 ? ["detached"] : undefined });
      await viewer.audit.list({ q: i % 4 === 0 ? `bench-net-0${i}` : undefined, limit: 50 });
      if (i % 50 === 0) checkDeadline();
    }
    const memAfter = memory();

    // 5. The baseline: the list as it was, and the hypothesis about its memory — Prisma compiles and
    //    caches a query plan per query shape, and an OR clause per network is a new shape at every count.
    const legacyBefore = memory();
    const legacy: number[] = [];
    for (let i = 0; i < 5; i++) legacy.push((await timed(() => legacyListNetworks(t)))[0]);
    const legacyAfter = memory();
    const ids = (await t.db.network.findMany({ select: { id: true }, orderBy: { id: "asc" }, take: 1100 })).map((n) => n.id);
    const orOf = (k: number) => t.db.networkRevision.findMany({ where: { OR: ids.slice(0, k).map((networkId) => ({ networkId, number: 1 })) }, select: { networkId: true } });
    const sameBefore = memory();
    for (let i = 0; i < 40; i++) await orOf(1000);
    const sameAfter = memory();
    const shapesBefore = memory();
    const shapeTimes: number[] = [];
    for (let i = 0; i < 40; i++) shapeTimes.push((await timed(() => orOf(1001 + i)))[0]);
    const shapesAfter = memory();
    const sameTimes: number[] = [];
    for (let i = 0; i < 10; i++) sameTimes.push((await timed(() => orOf(1000)))[0]);

    // Report.
    console.log("\nList page data, server side (procedure through createCaller, no HTTP), ms:");
    let worst = 0;
    for (const [label, xs] of times) {
      if (!label.startsWith("floor")) worst = Math.max(worst, median(xs));
      console.log(`  ${row(label, xs, 46)}`);
    }
    console.log(`  → worst p50 ${worst.toFixed(1)} ms (target ≤ ${TARGET_P50_MS}): ${worst <= TARGET_P50_MS ? "met" : "MISSED"}`);
    console.log(`  baseline, the old networks.list (all ${NETWORKS + CREATES * 2 + 1} networks, OR clause per network): ${row("", legacy, 0)}`);

    console.log("\nNetwork create through networks.create, ms:");
    console.log(`  ${row(`at ~${CREATES} networks`, createLow, 44)}`);
    console.log(`  ${row(`at ~${NETWORKS} networks`, createHigh, 44)}`);
    console.log(`  → ratio of medians ${(median(createHigh) / median(createLow)).toFixed(2)} (flat = 1.0)`);

    console.log("\nConsole process memory (after gc):");
    console.log(`  ${memLine("paged lists, 900 calls (networks, attachments, audit)", memBefore, memAfter)}`);
    console.log(`  ${memLine("old networks.list × 5", legacyBefore, legacyAfter)}`);
    console.log(`  ${memLine("OR of 1000 networks, same shape × 40", sameBefore, sameAfter)}`);
    console.log(`  ${memLine("OR of 1001…1040 networks, 40 shapes", shapesBefore, shapesAfter)}`);
    console.log(`  per call: same shape median ${median(sameTimes).toFixed(1)} ms, a new shape median ${median(shapeTimes).toFixed(1)} ms (p90 ${quantile(shapeTimes, 0.9).toFixed(1)})`);
  } finally {
    await cleanup();
  }
  const left = process.memoryUsage();
  console.log(`\ndone; database closed (rss ${(left.rss / 2 ** 20).toFixed(0)} MB at exit)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
