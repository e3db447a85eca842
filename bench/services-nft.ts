/**
 * The services data plane on the real nft (issue 12's targets: cold sync of 10,000 services ×
 * 10 members ≤ 1 s, one change on the loaded table ≤ 50 ms), in a namespace it creates and removes.
 *
 *   sizes:    1,000 then 10,000 services (--services 1000,10000), 10 members each, IPv4, no affinity
 *             (--affinity-every k: every k-th service with affinity); each in both layouts
 *             (--layouts member-chains,compact: the design's, and §11 option (a)).
 *   cold:     planSync(null) (render + text) and `nft -f -` of it on an empty namespace.
 *   change:   one member's weight, --changes times: planSync(belief) (render + diff) and its apply.
 *   paths:    --paths nft,netlink: the text through `nft -f -`, or the same ops as one netlink batch
 *             sent from this process (packages/dataplane/src/netlink).
 *   baseline: in the same run, `nft list tables` and `nft -f -` of an empty transaction, on the
 *             empty namespace and on the loaded one (every nft start loads a cache).
 *
 *   sudo npx tsx bench/services-nft.ts [--services 1000,10000] [--changes 5] [--timeout-s 300]
 *
 * Root only. The machine may be shared: the load average is printed before and after.
 */
import { execFileSync } from "node:child_process";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import type { DesiredService, DesiredServices } from "../packages/dataplane/src/desired";
import { applyTransaction, runNft } from "../packages/dataplane/src/nft";
import { applyOps } from "../packages/dataplane/src/netlink/apply";
import { encodeBatch } from "../packages/dataplane/src/netlink/encode";
import { NftSocket } from "../packages/dataplane/src/netlink/socket";
import { LAYOUTS, type Layout } from "../packages/dataplane/src/lower";
import type { Op } from "../packages/dataplane/src/ops";
import { type Belief, type SyncPlan, planCleanup, planSync } from "../packages/dataplane/src/transaction";

type SyncSets = SyncPlan["sets"];
import { clamp, median, row } from "./stats";

const { values: flags } = parseArgs({
  options: {
    services: { type: "string", default: "1000,10000" },
    members: { type: "string", default: "10" },
    changes: { type: "string", default: "5" },
    "affinity-every": { type: "string", default: "0" },
    "timeout-s": { type: "string", default: "300" },
    layouts: { type: "string", default: "member-chains,compact" },
    paths: { type: "string", default: "nft,netlink" },
  },
});
const sizes = flags.services.split(",").map((s) => clamp(Number(s), 1, 10_000));
const membersPer = clamp(Number(flags.members), 1, 100);
const changes = clamp(Number(flags.changes), 1, 50);
const affinityEvery = clamp(Number(flags["affinity-every"]), 0, 10_000);
const layouts = flags.layouts.split(",").filter((l): l is Layout => (LAYOUTS as readonly string[]).includes(l));
const timeoutMs = clamp(Number(flags["timeout-s"]), 10, 1800) * 1000;
const paths = flags.paths.split(",").filter((p): p is "nft" | "netlink" => p === "nft" || p === "netlink");

const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const ms = (t0: number) => performance.now() - t0;

function desiredOf(services: number): DesiredServices {
  const list: DesiredService[] = [];
  for (let i = 0; i < services; i++) {
    const vip = `10.241.${i >> 8}.${i & 255}`;
    list.push({
      id: `svc${i}`,
      name: `s${i}`,
      vip,
      ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }],
      affinity: affinityEvery > 0 && i % affinityEvery === 0 ? { timeoutSeconds: 600 } : null,
      members: Array.from({ length: membersPer }, (_, j) => {
        const n = i * membersPer + j;
        return { address: `10.${88 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`, port: null, weight: 100, state: "active" as const, health: "none" as const, localCidr: j % 2 === 0 ? "10.88.0.0/16" : null };
      }),
    });
  }
  return { version: 1, family: 4, serviceCidrs: ["10.241.0.0/16"], services: list };
}

async function timed(label: string, f: () => Promise<unknown>, n: number): Promise<number[]> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f();
    xs.push(ms(t0));
  }
  console.log(row(label, xs, 44));
  return xs;
}

async function main(): Promise<void> {
  console.log(`load average before: ${load()}`);
  const ns = `sytest-bench-${process.pid}`;
  execFileSync("ip", ["netns", "add", ns]);
  const on = { netns: ns, timeoutMs };
  try {
    await timed("baseline empty: nft list tables", () => runNft(["list", "tables"], "", on), 10);
    await timed("baseline empty: nft -f - (empty)", () => applyTransaction("\n".repeat(1), on), 10);
    for (const size of sizes) for (const layout of layouts) for (const path of paths) {
      console.log(`\n== ${size} services × ${membersPer} members, ${layout} layout, through ${path}${affinityEvery ? `, affinity every ${affinityEvery}` : ""}`);
      const socket = path === "netlink" ? NftSocket.open({ netns: ns }) : null;
      // nft: the text on stdin of `nft -f -`; netlink: the ops encoded and sent as one batch.
      const apply = async (plan: { family: 4 | 6; ops: Op[]; sets: SyncSets; transaction: string }) => (socket ? applyOps(socket, plan) : applyTransaction(plan.transaction, on));
      try {
        const desired = desiredOf(size);
        let t0 = performance.now();
        const cold = planSync(null, desired, { layout });
        const renderMs = ms(t0);
        if (socket) {
          t0 = performance.now();
          const encoded = encodeBatch(4, cold.ops, cold.sets, 1);
          console.log(`cold: encode alone ${ms(t0).toFixed(0)} ms, ${(encoded.batch.length / 1e6).toFixed(1)} MB, ${cold.ops.length} ops`);
        } else {
          const lines = cold.transaction.split("\n").length - 1;
          console.log(`cold: ${lines} lines, ${(cold.transaction.length / 1e6).toFixed(1)} MB`);
        }
        t0 = performance.now();
        await apply(cold);
        const applyMs = ms(t0);
        console.log(`cold: planSync ${renderMs.toFixed(0)} ms, ${path} ${applyMs.toFixed(0)} ms${socket ? " (encode + kernel)" : " (text + nft)"}, total ${(renderMs + applyMs).toFixed(0)} ms  [target ≤ 1000 ms at 10,000]`);
        await timed("baseline loaded: nft list tables", () => runNft(["list", "tables"], "", on), 3);
        await timed(`baseline loaded: ${path}, an empty transaction`, () => (socket ? applyOps(socket, { family: 4, ops: [{ kind: "table", verb: "add", comment: true }] }) : applyTransaction("\n", on)), 5);
        let belief: Belief = cold.belief;
        const plans: number[] = [];
        const applies: number[] = [];
        for (let c = 0; c < changes; c++) {
          const next = { ...desired, version: c + 2, services: desired.services.slice() };
          const i = Math.floor(size / 2);
          next.services[i] = structuredClone(desired.services[i]!);
          next.services[i]!.members[3]!.weight = c % 2 === 0 ? 300 : 100;
          t0 = performance.now();
          const plan = planSync(belief, next, { layout });
          plans.push(ms(t0));
          t0 = performance.now();
          await apply(plan);
          applies.push(ms(t0));
          belief = planCleanup(plan.belief).belief;
        }
        console.log(row("one weight change: planSync", plans, 44));
        console.log(row(`one weight change: ${path}`, applies, 44));
        const totals = plans.map((p, i) => p + applies[i]!);
        console.log(`${row("one weight change: total", totals, 44)}  [target ≤ 50 ms]`);
        t0 = performance.now();
        await applyTransaction("delete table ip switchyard\n", on);
        console.log(`delete table: ${ms(t0).toFixed(0)} ms; median change ${median(totals).toFixed(0)} ms`);
      } finally {
        socket?.close();
      }
    }
  } finally {
    execFileSync("ip", ["netns", "del", ns]);
    console.log(`\nload average after: ${load()}`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
