import { spawn } from "node:child_process";
import { z } from "zod";

/**
 * The connections of a probe, sent by a small Node process started inside the namespace they
 * must leave from (`nsenter --net=<path>` or `ip netns exec`, argv arrays only). Its script is a
 * constant: every input comes as JSON on stdin, the outcome goes as JSON on stdout, so nothing
 * the console sends is ever part of a command line or of code.
 */

export const ClientInput = z.object({
  vip: z.string(),
  port: z.number().int().min(1).max(65535),
  /** http: a TCP connection that sends one GET and is answered by a response (a service on the proxy plane's HTTP port). */
  protocol: z.enum(["tcp", "udp", "http"]),
  count: z.number().int().min(1).max(1000),
  concurrency: z.number().int().min(1).max(64),
  timeoutMs: z.number().int().min(100).max(10_000),
  totalMs: z.number().int().min(1000).max(60_000),
});
export type ClientInput = z.infer<typeof ClientInput>;

export const ClientConnection = z.object({
  localAddress: z.string().max(64),
  localPort: z.number().int().min(0).max(65535),
  outcome: z.enum(["answered", "refused", "timedOut", "failed"]),
  code: z.string().max(64).optional(),
});
export type ClientConnection = z.infer<typeof ClientConnection>;

export const ClientOutput = z.object({ connections: z.array(ClientConnection).max(1000), durationMs: z.number().min(0) });
export type ClientOutput = z.infer<typeof ClientOutput>;

/**
 * Runs in the namespace. TCP: a connect per connection (answered when it connects, then closed);
 * UDP: a datagram from a new socket per connection (answered when a reply comes). Each has its own
 * timeout; no connection starts after `totalMs`. Its local address and port are what conntrack's
 * original tuple names, so the agent can tell which member each one reached.
 */
export const PROBE_CLIENT_SCRIPT = `
"use strict";
const net = require("node:net");
const dgram = require("node:dgram");
let raw = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => { raw += c; });
process.stdin.on("end", () => {
  const o = JSON.parse(raw);
  // Monotonic: a wall-clock step would end the probe early or report a duration the agent refuses.
  const started = performance.now();
  const connections = [];
  let next = 0;
  const classify = (e) => (e && e.code === "ECONNREFUSED" ? "refused" : "failed");
  const tcp = () => new Promise((resolve) => {
    const s = net.connect({ host: o.vip, port: o.port });
    let done = false;
    const finish = (outcome, code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      connections.push({ localAddress: s.localAddress || "", localPort: s.localPort || 0, outcome, ...(code ? { code } : {}) });
      s.destroy();
      resolve();
    };
    const timer = setTimeout(() => finish("timedOut"), o.timeoutMs);
    if (o.protocol === "http") {
      // The proxy picks a member per request: one GET, answered by the status line of its response.
      s.on("connect", () => s.write("GET / HTTP/1.1\\r\\nHost: " + (o.vip.includes(":") ? "[" + o.vip + "]" : o.vip) + "\\r\\nConnection: close\\r\\nUser-Agent: switchyard-probe\\r\\n\\r\\n"));
      s.on("data", () => finish("answered"));
    } else {
      s.on("connect", () => finish("answered"));
    }
    s.on("error", (e) => finish(classify(e), e.code || "error"));
  });
  const udp = () => new Promise((resolve) => {
    const s = dgram.createSocket(o.vip.includes(":") ? "udp6" : "udp4");
    let done = false;
    let local = { address: "", port: 0 };
    const finish = (outcome, code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      connections.push({ localAddress: local.address, localPort: local.port, outcome, ...(code ? { code } : {}) });
      try { s.close(); } catch {}
      resolve();
    };
    const timer = setTimeout(() => finish("timedOut"), o.timeoutMs);
    s.on("message", () => finish("answered"));
    s.on("error", (e) => finish(classify(e), e.code || "error"));
    s.connect(o.port, o.vip, () => {
      try { local = s.address(); } catch {}
      s.send("switchyard probe\\n", (e) => { if (e) finish(classify(e), e.code || "error"); });
    });
  });
  const one = o.protocol === "udp" ? udp : tcp;
  const worker = async () => {
    while (next < o.count && performance.now() - started < o.totalMs) { next++; await one(); }
  };
  Promise.all(Array.from({ length: Math.min(o.concurrency, o.count) }, worker)).then(() => {
    process.stdout.write(JSON.stringify({ connections, durationMs: performance.now() - started }));
  });
});
`;

/** How the client process is started: `[file, argv]` with the script's own argv appended. */
export type ClientCommand = [file: string, args: string[]];

/** Runs the client (`command` + `node -e SCRIPT`), bounded by `killAfterMs`; throws with what it said when it fails. */
export async function runProbeClient(command: ClientCommand, input: ClientInput, killAfterMs: number): Promise<ClientOutput> {
  const parsed = ClientInput.parse(input);
  const [file, args] = command;
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args, process.execPath, "-e", PROBE_CLIENT_SCRIPT], { stdio: ["pipe", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" } });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => void (out.length < 1 << 20 && (out += c)));
    child.stderr.setEncoding("utf8").on("data", (c: string) => void (err.length < 4096 && (err += c)));
    const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    child.on("error", (e) => (clearTimeout(timer), reject(new Error(`the probe client could not start (${file}): ${e.message}`))));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`the probe client ${signal ? `was killed (${signal}) after ${killAfterMs} ms` : `exited ${code}`}${err.trim() ? `: ${err.trim().slice(0, 500)}` : ""}`));
      try {
        resolve(ClientOutput.parse(JSON.parse(out)));
      } catch (e) {
        reject(new Error(`the probe client printed no result: ${(e as Error).message.slice(0, 200)}`));
      }
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(JSON.stringify(parsed));
  });
}
