/**
 * bench/ipam.ts's memory probe, bundled by it with esbuild and run as a bare `node` child: what the
 * agent holds to report a network of many leases. It reads the host-local data dir as the agent
 * does (buildIpamSnapshot), merges it into the report's view (snapshotViews) and builds the full
 * report's requests (fullReportRequests), then prints its peak resident set (VmHWM) as JSON.
 *
 *   node child.mjs '{"dataDir":"/var/lib/cni/…","conflist":{…},"cacheDir":"/tmp/…"}'
 */
import { readFileSync } from "node:fs";
import { createCniRuntime, loadNetworkList } from "@switchyard/cni";
import { fullReportRequests, snapshotViews } from "../apps/agent/src/ipam/report";
import { buildIpamSnapshot } from "../apps/agent/src/ipam/snapshot";

const statusKb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? Number.NaN);

async function main() {
  const { conflist, cacheDir } = JSON.parse(process.argv[2] ?? "{}") as { conflist: unknown; cacheDir: string };
  const net = loadNetworkList(JSON.stringify(conflist));
  const runtime = createCniRuntime({ pluginDirs: ["/usr/lib/cni"], cacheDir });
  const t0 = performance.now();
  const snapshot = await buildIpamSnapshot({ networks: [{ name: net.name, knownFrom: ["console"], net }], runtime, netnsDirs: ["/run/netns"] });
  const t1 = performance.now();
  const views = snapshotViews(snapshot);
  const requests = fullReportRequests(views, snapshot.takenAt);
  const t2 = performance.now();
  const bytes = requests.reduce((n, r) => n + JSON.stringify(r).length, 0);
  const leases = snapshot.networks.reduce((n, x) => n + x.leases.length, 0);
  const rssNowMb = statusKb("VmRSS") / 1024;
  process.stdout.write(
    JSON.stringify({ leases, requests: requests.length, bytes, snapshotMs: t1 - t0, reportMs: t2 - t1, peakRssMb: statusKb("VmHWM") / 1024, rssNowMb, heapMb: process.memoryUsage().heapUsed / 2 ** 20, findings: snapshot.networks[0]?.findings.length ?? -1 }),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
