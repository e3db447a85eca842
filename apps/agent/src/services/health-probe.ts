import { request } from "node:http";
import { type Socket, connect } from "node:net";
import { type Clock, systemClock } from "../clock";
import type { HealthCheck, ProbeOutcome } from "./health";

/** Latency on the monotonic clock (a wall-clock step would make it negative or hours long); `at` on the wall clock, for the console. */
export type ProbeClock = Pick<Clock, "now" | "monotonic">;

/** Response headers larger than this fail the check: a member cannot make the agent buffer much. */
export const PROBE_MAX_HEADER_BYTES = 8 * 1024;
/** Body bytes read before the connection is closed (the verdict is the status; the start of the body is kept for the message). */
export const PROBE_MAX_BODY_BYTES = 1024;

export interface ProbeTarget {
  /** A validated member address (canonical IP literal): no name is ever resolved. */
  address: string;
  port: number;
}

/**
 * Runs one check against one member, never longer than `check.timeoutMs` (connect and response
 * together), and never anywhere but `target`: the address is an IP literal (no DNS), HTTP
 * redirects are a status like any other (never followed), headers and body are bounded.
 */
export function probeMember(target: ProbeTarget, check: HealthCheck, clock: ProbeClock = systemClock): Promise<ProbeOutcome> {
  return check.kind === "tcp" ? probeTcp(target, check.timeoutMs, clock) : probeHttp(target, check, clock);
}

function probeTcp(target: ProbeTarget, timeoutMs: number, clock: ProbeClock): Promise<ProbeOutcome> {
  const started = clock.monotonic();
  return new Promise((resolve) => {
    const socket = connect({ host: target.address, port: target.port, noDelay: true });
    const finish = settleOnce(socket, started, clock, resolve, timeoutMs);
    const timer = setTimeout(() => finish("timeout", `no TCP connection to ${hostPort(target)} within ${timeoutMs} ms`), timeoutMs);
    socket.once("connect", () => finish("success", `TCP connect to ${hostPort(target)}`));
    socket.once("error", (e: NodeJS.ErrnoException) => finish("failure", `TCP connect to ${hostPort(target)}: ${e.code ?? e.message}`));
    socket.once("close", () => clearTimeout(timer));
  });
}

function probeHttp(target: ProbeTarget, check: Extract<HealthCheck, { kind: "http" }>, clock: ProbeClock): Promise<ProbeOutcome> {
  const started = clock.monotonic();
  return new Promise((resolve) => {
    let settled = false;
    let latencyMs: number | null = null;
    const finish = (result: ProbeOutcome["result"], message: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ result, latencyMs: latencyMs ?? waited(result, clock.monotonic() - started, check.timeoutMs), message, at: clock.now() });
    };
    const req = request({
      host: target.address,
      port: target.port,
      path: check.path,
      method: "GET",
      agent: false,
      maxHeaderSize: PROBE_MAX_HEADER_BYTES,
      headers: { host: hostPort(target), "user-agent": "switchyard-health/1", accept: "*/*", connection: "close" },
    });
    const timer = setTimeout(() => finish("timeout", `no HTTP answer from ${hostPort(target)}${check.path} within ${check.timeoutMs} ms`), check.timeoutMs);
    req.once("error", (e: NodeJS.ErrnoException) => finish("failure", `HTTP GET ${hostPort(target)}${check.path}: ${e.code ?? e.message}`));
    req.once("response", (res) => {
      latencyMs = clock.monotonic() - started;
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const conclude = () => {
        const body = Buffer.concat(chunks).subarray(0, 120).toString("utf8").replace(/[^\x20-\x7e]+/g, " ").trim();
        const said = body ? `: ${body}` : "";
        if (status === check.expectedStatus) finish("success", `HTTP ${status}`);
        else finish("failure", `HTTP ${status} (expected ${check.expectedStatus})${said}`);
      };
      res.on("data", (b: Buffer) => {
        chunks.push(b);
        size += b.length;
        if (size >= PROBE_MAX_BODY_BYTES) conclude();
      });
      res.once("end", conclude);
      res.once("error", conclude);
    });
    req.end();
  });
}

function settleOnce(socket: Socket, started: number, clock: ProbeClock, resolve: (o: ProbeOutcome) => void, timeoutMs: number) {
  let settled = false;
  return (result: ProbeOutcome["result"], message: string) => {
    if (settled) return;
    settled = true;
    socket.destroy();
    resolve({ result, latencyMs: waited(result, clock.monotonic() - started, timeoutMs), message, at: clock.now() });
  };
}

/**
 * A timeout waited its whole limit: Node's timers run on libuv's loop clock, whole milliseconds
 * read at the start of a loop turn, so a 150 ms timer can fire when the monotonic clock says
 * 149.98 ms. Reported as at least the limit (a check "timed out within 150 ms" after 149.98 reads wrong).
 */
const waited = (result: ProbeOutcome["result"], elapsedMs: number, timeoutMs: number) => (result === "timeout" ? Math.max(elapsedMs, timeoutMs) : elapsedMs);

const hostPort = (t: ProbeTarget) => (t.address.includes(":") ? `[${t.address}]:${t.port}` : `${t.address}:${t.port}`);
