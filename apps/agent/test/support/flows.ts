import { type NetnsProcess, spawnNodeInNetns } from "./netns-process";

/**
 * Long-lived flows for the services traffic tests: one keep-alive HTTP connection, or one UDP
 * socket bound to a fixed source port, held by a process in a test namespace. Each `ask()` sends
 * one request (one datagram) on that same flow and resolves with who answered. Every process has a
 * bounded lifetime and every ask a timeout; `stop()` ends it.
 */

export interface FlowAnswer {
  /** The backend's name, or null when nothing came back in time. */
  name: string | null;
  /** The client's local port: the same on every ask while the flow is the same. */
  localPort: number | null;
  error?: string;
}

export interface HeldFlow {
  ask(): Promise<FlowAnswer>;
  stop(): Promise<void>;
}

// One keep-alive socket (maxSockets 1): every request line on stdin is a GET on it.
const KEEPALIVE_SCRIPT = `
const http = require("node:http");
const [address, port, timeoutMs] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
require("node:readline").createInterface({ input: process.stdin }).on("line", () => {
  const req = http.get({ host: address, port: Number(port), path: "/", agent, timeout: Number(timeoutMs) }, (res) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (c) => { if (body.length < 256) body += c; });
    res.on("end", () => console.log(JSON.stringify({ name: body, localPort: req.socket ? req.socket.localPort : null })));
  });
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.on("error", (e) => console.log(JSON.stringify({ name: null, localPort: null, error: e.code || e.message })));
});
console.log(JSON.stringify({ ready: true }));
`;

// One UDP socket bound to a fixed source port: every stdin line sends a datagram, the next reply (or none) is printed.
// An ICMP error for an earlier datagram (a member that stopped) is kept on the socket and fails the
// next send with ECONNREFUSED, the datagram unsent: that send is made once more, as a client retries.
const UDP_SCRIPT = `
const dgram = require("node:dgram");
const [address, port, bindAddress, sourcePort, timeoutMs] = process.argv.slice(1);
const s = dgram.createSocket(address.includes(":") ? "udp6" : "udp4");
let waiting = null;
const answer = (name, error) => { if (!waiting) return; clearTimeout(waiting); waiting = null; console.log(JSON.stringify({ name, localPort: Number(sourcePort), ...(error ? { error } : {}) })); };
s.on("message", (msg) => answer(msg.toString()));
s.on("error", () => {}); // a receive-side ICMP error: the ask's timeout says nothing came
s.bind(Number(sourcePort), bindAddress, () => {
  require("node:readline").createInterface({ input: process.stdin }).on("line", () => {
    if (waiting) clearTimeout(waiting);
    waiting = setTimeout(() => answer(null, "timeout"), Number(timeoutMs));
    const send = (retry) => s.send("who", Number(port), address, (e) => { if (e && retry) send(false); else if (e) answer(null, e.code || e.message); });
    send(true);
  });
  console.log(JSON.stringify({ ready: true }));
});
`;

function holdFlow(p: NetnsProcess, timeoutMs: number): HeldFlow {
  return {
    async ask() {
      const from = p.lines.length;
      p.writeLine("ask");
      const line = await p.waitForLine((l) => l.startsWith('{"name"'), timeoutMs + 5000, from);
      return JSON.parse(line) as FlowAnswer;
    },
    stop: () => p.stop(),
  };
}

/** A keep-alive HTTP connection from `netns` to `address:port` (opened by the first ask, kept by the next). */
export async function openKeepAliveFlow(o: { netns: string; address: string; port: number; timeoutMs?: number; lifetimeMs?: number }): Promise<HeldFlow> {
  const timeoutMs = o.timeoutMs ?? 2000;
  const p = spawnNodeInNetns(o.netns, KEEPALIVE_SCRIPT, [o.address, String(o.port), String(timeoutMs)], { hasStdin: true, lifetimeMs: o.lifetimeMs ?? 120_000 });
  await p.waitForLine(/"ready"/, 15_000);
  return holdFlow(p, timeoutMs);
}

/** A UDP socket in `netns` bound to `bindAddress:sourcePort`, sending to `address:port`: one conntrack flow for all its datagrams. */
export async function openUdpFlow(o: { netns: string; address: string; port: number; bindAddress: string; sourcePort: number; timeoutMs?: number; lifetimeMs?: number }): Promise<HeldFlow> {
  const timeoutMs = o.timeoutMs ?? 1500;
  const p = spawnNodeInNetns(o.netns, UDP_SCRIPT, [o.address, String(o.port), o.bindAddress, String(o.sourcePort), String(timeoutMs)], { hasStdin: true, lifetimeMs: o.lifetimeMs ?? 120_000 });
  await p.waitForLine(/"ready"/, 15_000);
  return holdFlow(p, timeoutMs);
}
