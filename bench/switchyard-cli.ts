/**
 * The `switchyard` CLI (apps/cli, its built bundle as a CI job runs it), against baselines measured
 * in the same run, interleaved. See bench/README.md.
 *
 *   start: `switchyard --version` and `--help` (wall, spawn → exit) vs `node -e 0`; and
 *          `switchyard networks -o json` against a console vs the same networks.list call made by
 *          `node` with plain fetch (a process that only starts and sends it).
 *   apply: `switchyard apply -f DIR --yes` of N network files (100 by default, each a new bridge
 *          network) vs the same two calls (files.plan, files.applyPlan) sent from this process with
 *          plain fetch: what the CLI adds to the console's own work. And `switchyard diff -f DIR`
 *          of the same N files once applied (nothing to change) vs files.plan sent directly.
 *
 *   npx turbo run build --filter=@switchyard/cli && npx tsx bench/switchyard-cli.ts [--starts 20] [--files 100] [--rounds 5]
 *
 * One console in this process (PGlite in memory, `serveApi` on 127.0.0.1); each apply round writes
 * N new networks (10.<round>.<i>.0/24), so every round creates. Bounded: counts clamped, 10 minutes.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BRIDGE_CONFLIST, serveApi, setupApiTest, trpcOverHttp } from "@switchyard/api/testing";
import { clamp, median, row } from "./stats";

const { values: flags } = parseArgs({
  options: {
    starts: { type: "string", default: "20" },
    files: { type: "string", default: "100" },
    rounds: { type: "string", default: "5" },
  },
});
const STARTS = clamp(Number(flags.starts), 1, 200);
const FILES = clamp(Number(flags.files), 1, 250);
const ROUNDS = clamp(Number(flags.rounds), 1, 20);
const DEADLINE = Date.now() + 10 * 60_000;
const REPO = resolve(fileURLToPath(new URL("..", import.meta.url)));
const BIN = join(REPO, "apps/cli/bin/switchyard");
if (!existsSync(join(REPO, "apps/cli/dist/switchyard.mjs"))) {
  console.error("the CLI is not built: npx turbo run build --filter=@switchyard/cli");
  process.exit(2);
}
// A minimal environment, as bench/cli-add-del.ts: NODE_EXTRA_CA_CERTS in a shell here costs every node start ~40 ms.
const baseEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: mkdtempSync(join(tmpdir(), "switchyard-bench-home-")) };
const temps: string[] = [baseEnv.HOME];

function timed(args: string[], env: Record<string, string> = {}): Promise<number> {
  if (Date.now() > DEADLINE) throw new Error("bench: 10 minute bound reached");
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env: { ...baseEnv, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d));
    child.on("error", rej);
    child.on("close", (code) => (code === 0 ? res(performance.now() - t0) : rej(new Error(`${args.join(" ")} exited ${code}: ${err}`))));
  });
}

const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(2);

async function main() {
  console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(" ")} (${availableParallelism()} cores)`);
  const t = await setupApiTest({ kind: "pglite" });
  const api = await serveApi(t.deps);
  try {
    const operator = (await t.callerAs("operator", "bench-op")).caller;
    const { token } = await operator.tokens.create({ name: "bench", scope: "general", role: "operator", expiresInDays: 1 });
    const env = { SWITCHYARD_URL: api.url, SWITCHYARD_TOKEN: token };
    // One list call, as a bare node process sends it with fetch: the floor of `switchyard networks`.
    const fetchOne = `const r = await fetch(${JSON.stringify(`${api.url}/api/trpc/networks.list?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`)}, { headers: { authorization: "Bearer " + process.env.SWITCHYARD_TOKEN } }); await r.text(); if (!r.ok) process.exit(1); process.exit(0);`;

    // ---- start
    const s = { node: [] as number[], version: [] as number[], help: [] as number[], fetch: [] as number[], list: [] as number[] };
    await timed([BIN, "--version"]); // warm the page cache
    for (let i = 0; i < STARTS; i++) {
      s.node.push(await timed(["-e", "0"]));
      s.version.push(await timed([BIN, "--version"]));
      s.help.push(await timed([BIN, "--help"]));
      s.fetch.push(await timed(["--input-type=module", "-e", fetchOne], env));
      s.list.push(await timed([BIN, "networks", "-o", "json"], env));
    }
    console.log("\nstart (wall, spawn → exit)");
    console.log(row("node -e 0", s.node));
    console.log(`${row("switchyard --version", s.version)}  ${ratio(s.version, s.node)}× node -e 0 (+${(median(s.version) - median(s.node)).toFixed(1)} ms)`);
    console.log(`${row("switchyard --help", s.help)}  ${ratio(s.help, s.node)}× node -e 0`);
    console.log(row("node + fetch networks.list", s.fetch));
    console.log(`${row("switchyard networks -o json", s.list)}  ${ratio(s.list, s.fetch)}× node + fetch`);

    // ---- apply of FILES network files
    const a = { cli: [] as number[], direct: [] as number[], diff: [] as number[], plan: [] as number[] };
    const filesOf = (round: number) =>
      Array.from({ length: FILES }, (_, i) => {
        const name = `b${round}-${i}`;
        return { path: `10-${name}.conflist`, text: BRIDGE_CONFLIST(name, `10.${round}.${i}.0/24`, `10.${round}.${i}.1`) };
      });
    const direct = async (files: { path: string; text: string }[]) => {
      const t0 = performance.now();
      const plan = await trpcOverHttp(api.url, "files.plan", { files }, { bearer: token });
      if (plan.status !== 200) throw new Error(`files.plan: ${plan.status} ${plan.message}`);
      const applied = await trpcOverHttp(api.url, "files.applyPlan", { files, expectedDigest: plan.data!.digest }, { bearer: token });
      if (applied.status !== 200) throw new Error(`files.applyPlan: ${applied.status} ${applied.message}`);
      return performance.now() - t0;
    };
    for (let r = 0; r < ROUNDS; r++) {
      // CLI and direct alternate which goes first
      const cliRound = 20 + 2 * r;
      const directRound = 21 + 2 * r;
      const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-files-"));
      temps.push(dir);
      for (const f of filesOf(cliRound)) writeFileSync(join(dir, f.path), f.text);
      const runCli = async () => a.cli.push(await timed([BIN, "apply", "-f", dir, "--yes"], env));
      const runDirect = async () => a.direct.push(await direct(filesOf(directRound)));
      if (r % 2 === 0) await runCli().then(runDirect);
      else await runDirect().then(runCli);
      // the same files again: nothing to change (the plan compares every file with the console)
      a.diff.push(await timed([BIN, "diff", "-f", dir, "--exit-code"], env));
      const t0 = performance.now();
      const plan = await trpcOverHttp(api.url, "files.plan", { files: filesOf(cliRound) }, { bearer: token });
      if (plan.status !== 200) throw new Error(`files.plan: ${plan.status}`);
      a.plan.push(performance.now() - t0);
    }
    const networks = await t.db.network.count();
    console.log(`\napply of ${FILES} network files (each round creates ${FILES} networks; ${networks} on the console at the end)`);
    console.log(row("direct: files.plan + applyPlan", a.direct));
    console.log(`${row(`switchyard apply -f DIR --yes`, a.cli)}  ${ratio(a.cli, a.direct)}× direct (+${(median(a.cli) - median(a.direct)).toFixed(1)} ms)`);
    console.log(row("direct: files.plan (unchanged)", a.plan));
    console.log(`${row("switchyard diff -f DIR", a.diff)}  ${ratio(a.diff, a.plan)}× direct (+${(median(a.diff) - median(a.plan)).toFixed(1)} ms)`);
  } finally {
    await api.close();
    await t.close();
    for (const d of temps) rmSync(d, { recursive: true, force: true });
    console.log(`\nload average after: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  }
}

await main();
