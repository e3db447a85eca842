import { type TestNetns, createNetnsPool, run } from "@switchyard/cni/test-host";
import { enableForwarding, linkNamespaces } from "./host-netns";
import { type NetnsProcess, spawnNodeInNetns } from "./netns-process";

/**
 * The traffic-test bench for services (issue 12's Tests): a "host" namespace holding a bridge
 * (where a test loads its nftables table, blackhole and sink routes), N backend sandboxes on the
 * bridge, each running a tiny HTTP and UDP server that answers its own name, and a client sandbox.
 * Everything lives in namespaces made here (10.70.0.0/24 on the bridge, 10.71.0.0/24 for a
 * routed client), every process has a bounded lifetime, and `cleanup()` removes it all.
 */

export const BRIDGE = "sybr0";
export const BRIDGE_CIDR = "10.70.0.0/24";
export const BRIDGE_GATEWAY = "10.70.0.1";
export const CLIENT_BRIDGED_ADDRESS = "10.70.0.2";
export const CLIENT_ROUTED_ADDRESS = "10.71.0.2";
export const BACKEND_PORT = 8080;
/** With `ipv6`: the bridge's IPv6 subnet; the host side is ::1, the bridged client ::2, backend i ::(10+i). */
export const BRIDGE_GATEWAY6 = "fd00:70::1";
export const CLIENT_BRIDGED_ADDRESS6 = "fd00:70::2";

export interface Backend {
  /** What it answers: `backend-<i>`. */
  name: string;
  netns: TestNetns;
  address: string;
  /** Its IPv6 address, with `ipv6`. */
  address6?: string;
  port: number;
  process: NetnsProcess;
}

export interface BackendBench {
  host: TestNetns;
  backends: Backend[];
  client: { netns: TestNetns; address: string; address6?: string };
  /** Stops a backend's server (its namespace and address stay): a member that went down. */
  stopBackend(name: string): Promise<void>;
  /** Starts a stopped backend's server again. */
  startBackend(name: string): Promise<void>;
  /** Kills every server and deletes every namespace. Safe to call twice. */
  cleanup(): Promise<void>;
}

export interface BackendBenchOptions {
  count: number;
  /** "bridged": the client on the backends' bridge (default); "routed": on its own link to the host namespace, so its traffic is forwarded. */
  client?: "bridged" | "routed";
  /** Each server is killed after this long whatever happens (default 2 minutes). */
  lifetimeMs?: number;
  /** IPv6 beside IPv4 on the bridge (fd00:70::/64, forwarding on in the host namespace); bridged client only. */
  ipv6?: boolean;
  /** Each backend's server instead of the name-answering one: a script printing "ready" once it listens; it gets a pipe on stdin. */
  serverScript?: (name: string, addresses: readonly string[]) => string;
}

/**
 * A server answering `name` (body and `x-backend` header) on every path, keep-alive on as real
 * backends (an idle connection is kept 2 minutes, so a test can hold one open across an apply),
 * and the same name to every UDP datagram on the same port; on each of its addresses.
 */
const backendScript = (name: string, addresses: readonly string[]) => `
const answer = (req, res) => {
  res.writeHead(200, { "content-type": "text/plain", "x-backend": ${JSON.stringify(name)} });
  res.end(${JSON.stringify(name)});
};
const addresses = ${JSON.stringify(addresses)};
let pending = addresses.length * 2;
const listening = () => { if (--pending === 0) console.log("ready"); };
for (const address of addresses) {
  const server = require("node:http").createServer(answer);
  server.keepAliveTimeout = 120000;
  server.listen(${BACKEND_PORT}, address, listening);
  const udp = require("node:dgram").createSocket(address.includes(":") ? "udp6" : "udp4");
  udp.on("message", (msg, from) => udp.send(${JSON.stringify(name)}, from.port, from.address));
  udp.bind(${BACKEND_PORT}, address, listening);
}
process.on("SIGTERM", () => process.exit(0));
`;

/** Builds the bench: namespaces, bridge, veths, addresses, routes, and one running server per backend. */
export async function createBackendBench(options: BackendBenchOptions): Promise<BackendBench> {
  if (!Number.isInteger(options.count) || options.count < 1 || options.count > 50) throw new Error(`backend count ${options.count}: must be 1-50`);
  if (options.ipv6 && options.client === "routed") throw new Error("ipv6: only with the bridged client");
  const pool = createNetnsPool();
  const processes = new Set<NetnsProcess>();
  const backends: Backend[] = [];
  const lifetimeMs = options.lifetimeMs ?? 120_000;
  const cleanup = async () => {
    for (const p of processes) await p.stop();
    processes.clear();
    await pool.cleanup();
  };
  const startServer = async (b: Pick<Backend, "name" | "netns" | "address" | "address6">) => {
    const script = options.serverScript ?? backendScript;
    const p = spawnNodeInNetns(b.netns.name, script(b.name, b.address6 ? [b.address, b.address6] : [b.address]), [], { lifetimeMs, hasStdin: options.serverScript !== undefined });
    processes.add(p);
    await p.waitForLine(/^ready$/, 15_000);
    return p;
  };

  try {
    const host = await pool.create();
    const ipHost = (...args: string[]) => run("ip", ["-n", host.name, ...args]);
    await ipHost("link", "add", BRIDGE, "type", "bridge");
    await ipHost("addr", "add", `${BRIDGE_GATEWAY}/24`, "dev", BRIDGE);
    await ipHost("link", "set", BRIDGE, "up");
    await enableForwarding(host.name);
    if (options.ipv6) {
      await ipHost("-6", "addr", "add", `${BRIDGE_GATEWAY6}/64`, "dev", BRIDGE, "nodad");
      await run("ip", ["netns", "exec", host.name, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
    }

    const attach = async (ns: TestNetns, index: number, address: string, address6?: string) => {
      const hostSide = `syb${index}`;
      await linkNamespaces({ netns: host.name, ifname: hostSide }, { netns: ns.name, ifname: "eth0", cidr: `${address}/24` });
      await ipHost("link", "set", hostSide, "master", BRIDGE);
      await run("ip", ["-n", ns.name, "route", "add", "default", "via", BRIDGE_GATEWAY]);
      if (address6) {
        await run("ip", ["-n", ns.name, "-6", "addr", "add", `${address6}/64`, "dev", "eth0", "nodad"]);
        await run("ip", ["-n", ns.name, "-6", "route", "add", "default", "via", BRIDGE_GATEWAY6]);
      }
    };

    for (let i = 0; i < options.count; i++) {
      const netns = await pool.create();
      const address = `10.70.0.${10 + i}`;
      const address6 = options.ipv6 ? `fd00:70::${10 + i}` : undefined;
      await attach(netns, i, address, address6);
      const name = `backend-${i}`;
      backends.push({ name, netns, address, address6, port: BACKEND_PORT, process: await startServer({ name, netns, address, address6 }) });
    }

    const clientNs = await pool.create();
    let clientAddress = CLIENT_BRIDGED_ADDRESS;
    if (options.client === "routed") {
      clientAddress = CLIENT_ROUTED_ADDRESS;
      await linkNamespaces({ netns: host.name, ifname: "sycl0", cidr: "10.71.0.1/24" }, { netns: clientNs.name, ifname: "eth0", cidr: `${clientAddress}/24` });
      await run("ip", ["-n", clientNs.name, "route", "add", "default", "via", "10.71.0.1"]);
    } else {
      await attach(clientNs, options.count, clientAddress, options.ipv6 ? CLIENT_BRIDGED_ADDRESS6 : undefined);
    }

    const find = (name: string) => {
      const b = backends.find((x) => x.name === name);
      if (!b) throw new Error(`no backend "${name}": have ${backends.map((x) => x.name).join(", ")}`);
      return b;
    };
    return {
      host,
      backends,
      client: { netns: clientNs, address: clientAddress, ...(options.ipv6 ? { address6: CLIENT_BRIDGED_ADDRESS6 } : {}) },
      async stopBackend(name) {
        const b = find(name);
        await b.process.stop();
        processes.delete(b.process);
      },
      async startBackend(name) {
        const b = find(name);
        if (b.process.child.exitCode === null && b.process.child.signalCode === null) return;
        b.process = await startServer(b);
      },
      cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

export interface CountAnswersOptions {
  /** The client namespace the requests leave from. */
  clientNetns: string;
  address: string;
  port: number;
  /** How many requests, each on a new connection (a new flow, so a new load-balancing decision). At most 10,000. */
  requests: number;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Per request (default 2 s); the whole run is bounded by requests × this. */
  timeoutMs?: number;
}

export interface AnswerCounts {
  /** Answers per backend name. */
  byName: Record<string, number>;
  failures: number;
  /** The first few failure messages (ECONNREFUSED, timeouts, …). */
  errors: string[];
}

// Runs in the client namespace: N GETs on fresh connections, answers counted by body.
const CLIENT_SCRIPT = `
const http = require("node:http");
const [address, port, total, concurrency, timeoutMs] = process.argv.slice(1);
const byName = {}; let failures = 0; const errors = []; let next = 0;
const one = () => new Promise((resolve) => {
  const req = http.get({ host: address, port: Number(port), path: "/", agent: false, timeout: Number(timeoutMs) }, (res) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (c) => { if (body.length < 256) body += c; });
    res.on("end", () => { byName[body] = (byName[body] || 0) + 1; resolve(); });
    res.on("error", (e) => { failures++; if (errors.length < 5) errors.push(e.code || e.message); resolve(); });
  });
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.on("error", (e) => { failures++; if (errors.length < 5) errors.push(e.code || e.message); resolve(); });
});
const worker = async () => { while (next < Number(total)) { next++; await one(); } };
Promise.all(Array.from({ length: Number(concurrency) }, worker)).then(() => console.log(JSON.stringify({ byName, failures, errors })));
`;

/** Sends a bounded number of HTTP requests from the client namespace to `address:port` and counts the answers per backend name. */
export async function countAnswers(options: CountAnswersOptions): Promise<AnswerCounts> {
  const { requests, concurrency = 4, timeoutMs = 2000 } = options;
  if (!Number.isInteger(requests) || requests < 1 || requests > 10_000) throw new Error(`requests ${requests}: must be 1-10000`);
  const args = [options.address, String(options.port), String(requests), String(Math.min(concurrency, requests)), String(timeoutMs)];
  const bound = Math.ceil(requests / concurrency) * timeoutMs + 15_000;
  const { stdout } = await run("ip", ["netns", "exec", options.clientNetns, process.execPath, "-e", CLIENT_SCRIPT, ...args], { timeoutMs: bound });
  return JSON.parse(stdout.trim()) as AnswerCounts;
}
