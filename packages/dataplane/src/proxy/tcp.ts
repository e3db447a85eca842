import net from "node:net";
import type { ListenerState, MemberRuntime } from "./listener-state";

/**
 * The L4 half of the proxy (issue 14 §2): a client's TCP connection spliced to a member's, bytes
 * both ways with backpressure (pipe), a half-close passed on (each side ends its write half when
 * the other's read half ends; the connection closes when both have), connect and idle timeouts.
 * The client is paused until the member answers, so a failed connect can go to another member
 * without losing a byte the client sent.
 */

export interface ConnectionOutcome {
  listener: ListenerState;
  member: MemberRuntime | null;
  client: string;
  bytesIn: number;
  bytesOut: number;
  ms: number;
  error: string | null;
}

export interface TcpHooks {
  picked?(listener: ListenerState, member: MemberRuntime, socket: net.Socket): void;
  memberResult(listener: ListenerState, member: MemberRuntime, ok: boolean, ms: number): void;
  connectionDone(outcome: ConnectionOutcome): void;
}

export function handleConnection(listener: ListenerState, client: net.Socket, hooks: TcpHooks): void {
  const started = performance.now();
  const remote = client.remoteAddress ?? "";
  const address = remote.startsWith("::ffff:") && remote.includes(".") ? remote.slice(7) : remote;
  const config = listener.config;
  const hashKey = config.balance.algorithm === "consistent-hash" ? address : null;
  const outcome: ConnectionOutcome = { listener, member: null, client: address, bytesIn: 0, bytesOut: 0, ms: 0, error: null };
  let done = false;
  const finish = (error: string | null) => {
    if (done) return;
    done = true;
    outcome.ms = performance.now() - started;
    outcome.error = error;
    hooks.connectionDone(outcome);
  };
  client.pause();
  client.setNoDelay(true);
  client.setTimeout(config.timeouts.idleMs, () => client.destroy(new Error(`idle for ${config.timeouts.idleMs} ms`)));
  // A client that leaves before a member answered: nothing more to do than count it.
  client.on("error", () => undefined);

  const tried = new Set<string>();
  const attempt = () => {
    const member = listener.pick("default", hashKey, tried);
    if (member === null) {
      client.destroy();
      return finish(tried.size === 0 ? `no member of ${config.serviceName} takes connections` : `every member of ${config.serviceName} tried failed`);
    }
    tried.add(member.key);
    outcome.member = member;
    hooks.picked?.(listener, member, client);
    const tryStarted = performance.now();
    const upstream = net.connect({ host: member.address, port: member.port, allowHalfOpen: true, noDelay: true });
    const connectTimer = setTimeout(() => upstream.destroy(Object.assign(new Error(`connect timed out after ${config.timeouts.connectMs} ms`), { code: "ETIMEDOUT" })), config.timeouts.connectMs);
    const onConnectError = (err: Error) => {
      clearTimeout(connectTimer);
      hooks.memberResult(listener, member, false, performance.now() - tryStarted);
      if (client.destroyed) return finish("the client closed the connection");
      if (tried.size < 2) return attempt();
      client.destroy();
      finish(`${member.key}: ${err.message}`);
    };
    upstream.once("error", onConnectError);
    upstream.once("connect", () => {
      clearTimeout(connectTimer);
      upstream.off("error", onConnectError);
      hooks.memberResult(listener, member, true, performance.now() - tryStarted);
      if (client.destroyed) {
        upstream.destroy();
        return finish("the client closed the connection");
      }
      listener.acquire(member);
      splice(client, upstream, config.timeouts.idleMs, outcome, (error) => {
        listener.release(member);
        finish(error);
      });
    });
  };
  attempt();
}

function splice(client: net.Socket, upstream: net.Socket, idleMs: number, outcome: ConnectionOutcome, onClose: (error: string | null) => void): void {
  let error: string | null = null;
  let open = 2;
  const closed = () => {
    if (--open > 0) return;
    outcome.bytesIn = client.bytesRead;
    outcome.bytesOut = client.bytesWritten;
    onClose(error);
  };
  const fail = (side: string) => (err: Error) => {
    error ??= `${side}: ${err.message}`;
    // One side broke: the other cannot be finished cleanly, close it too (a reset reaches the peer).
    client.destroy();
    upstream.destroy();
  };
  client.setTimeout(0);
  client.setTimeout(idleMs, () => fail("idle")(new Error(`no bytes for ${idleMs} ms`)));
  upstream.setTimeout(idleMs, () => fail("idle")(new Error(`no bytes for ${idleMs} ms`)));
  client.on("error", fail("client"));
  upstream.on("error", fail("member"));
  client.on("close", closed);
  upstream.on("close", closed);
  // pipe ends the other side's write half when this side's read half ends: the half-close passes through.
  client.pipe(upstream);
  upstream.pipe(client);
}
