import net from "node:net";
import type { Listener } from "./config";
import { HTTPParser, type LlhttpParser, type OnBody, type OnHeaders, type OnHeadersComplete, type ParserError } from "./llhttp";
import { type Swept, unwatch, watch } from "./sweep";

/**
 * A member's keep-alive connections (issue 14 §2), as nginx's `upstream { keepalive N; }` keeps
 * them: a request takes an idle connection or opens one, one request at a time on each (no
 * pipelining: a slow response never holds up another), and a connection whose response ended
 * cleanly goes back to the idle list, most recently used first, up to `connectionsPerMember`.
 * Each connection reads its member's responses with llhttp, strict, with the listener's head
 * limit: a member that answers garbage fails its request, never the client's framing.
 */

/** How a try on a member failed; `connect` and `connect-timeout` mean nothing reached it. */
export type UpstreamFailure = "connect" | "connect-timeout" | "response-timeout" | "idle-timeout" | "reset" | "garbage";

/** A request in flight on a member connection: what the connection tells it. */
export interface Exchange {
  readonly method: string;
  /** Whether the whole request (head and body) was handed to the connection: only then may it be reused. */
  readonly requestSent: boolean;
  /** The member's final response head (1xx heads are dropped here). */
  onHead(status: number, reason: string, headers: string[]): void;
  onBody(chunk: Buffer): void;
  /** The response ended; the connection is back in its pool (or closed) already. */
  onEnd(): void;
  /**
   * The try failed; the connection is closed already. `stale`: it was a kept-alive connection that
   * the member closed before any byte of an answer, the race every keep-alive pool has with a
   * member's idle timeout: not the member's failure, and a fresh connection may be tried.
   */
  onFailure(kind: UpstreamFailure, detail: string, stale: boolean): void;
  /** The member's bytes of one read were all handled (the client's writes of it may be flushed together). */
  afterRead(): void;
  /** The client has not read the response for the idle timeout (the member is held back for it). */
  onClientStalled(): void;
  /** The member's socket took what was queued for it (request body backpressure). */
  onDrain(): void;
}

export class UpstreamConnection implements Swept {
  readonly socket: net.Socket;
  exchange: Exchange | null = null;
  private readonly parser: LlhttpParser;
  connected = false;
  private closed = false;
  private responded = false;
  private informational = false;
  private keepAlive = false;
  /** Taken from the idle list (not opened for this request). */
  reused = false;
  /** How long the member keeps an idle connection, when its Keep-Alive header says (ms). */
  private memberKeepsMs: number | null = null;
  /** The start of the phase the sweep times: connecting, waiting for a head, the body, or idle. */
  private since = performance.now();
  private extraHeaders: string[] = [];

  constructor(readonly pool: MemberPool) {
    this.parser = new HTTPParser();
    this.parser.initialize(HTTPParser.RESPONSE, {}, pool.settings().limits.maxHeaderBytes, HTTPParser.kLenientNone);
    this.parser[HTTPParser.kOnHeaders] = ((headers) => {
      this.extraHeaders.push(...headers);
    }) satisfies OnHeaders;
    this.parser[HTTPParser.kOnHeadersComplete] = ((_major, _minor, headers, _method, _url, status, reason, upgrade, keepAlive) =>
      this.onHeadersComplete(headers, status ?? 0, reason ?? "", upgrade, keepAlive)) satisfies OnHeadersComplete;
    this.parser[HTTPParser.kOnBody] = ((chunk) => this.exchange?.onBody(chunk)) satisfies OnBody;
    this.parser[HTTPParser.kOnMessageComplete] = () => this.onMessageComplete();
    this.socket = net.connect({ host: pool.address, port: pool.port, noDelay: true });
    this.socket.on("connect", () => {
      this.connected = true;
      this.since = performance.now();
    });
    this.socket.on("data", (data: Buffer) => this.onData(data));
    this.socket.on("drain", () => this.exchange?.onDrain());
    this.socket.on("end", () => this.onMemberEnd());
    this.socket.on("error", (err: Error & { code?: string }) => this.fail(this.connected ? "reset" : "connect", err.code ?? err.message));
    this.socket.on("close", () => this.onClose());
    watch(this);
  }

  /** Starts a request: its head now, its body through `write`. */
  begin(exchange: Exchange, head: string): void {
    this.exchange = exchange;
    this.responded = false;
    this.since = performance.now();
    this.socket.write(head, "latin1");
  }

  /** Request body bytes (framed by the caller); false when the member's socket is full. */
  write(data: Buffer | string): boolean {
    this.since = performance.now();
    return typeof data === "string" ? this.socket.write(data, "latin1") : this.socket.write(data);
  }

  /** The request was given up on (the client left, or its body broke a limit): the connection cannot be reused. */
  abandon(): void {
    this.exchange = null;
    this.destroy();
  }

  check(now: number): void {
    const { timeouts } = this.pool.settings();
    if (!this.connected) {
      if (now - this.since > timeouts.connectMs) this.fail("connect-timeout", `no connection within ${timeouts.connectMs} ms`);
    } else if (this.exchange === null) {
      if (now - this.since > this.idleLimitMs(timeouts.idleMs)) this.destroy();
    } else if (!this.responded) {
      // The member's time starts when it has the whole request: a client slow with its body is the client's (its idle timeout).
      if (this.exchange.requestSent && now - this.since > timeouts.responseMs) this.fail("response-timeout", `no response within ${timeouts.responseMs} ms`);
    } else if (now - this.since > timeouts.idleMs) {
      // Paused: the member's bytes wait for a client that does not read. Its stall, not the member's.
      if (this.socket.isPaused()) this.exchange.onClientStalled();
      else this.fail("idle-timeout", `no bytes for ${timeouts.idleMs} ms`);
    }
  }

  /**
   * How long this connection may sit idle: the listener's idle timeout, and a second less than the
   * member said it keeps one (`Keep-Alive: timeout=N`, as undici does), so the proxy closes it
   * before the member does and never sends a request into the member's close.
   */
  idleLimitMs(idleMs: number): number {
    return this.memberKeepsMs === null ? idleMs : Math.min(idleMs, this.memberKeepsMs - 1000);
  }

  /** Whether an idle connection may still take a request now. */
  fresh(now: number): boolean {
    return now - this.since < this.idleLimitMs(this.pool.settings().timeouts.idleMs);
  }

  private onData(data: Buffer): void {
    this.since = performance.now();
    const exchange = this.exchange;
    if (exchange === null) return this.destroy(); // bytes nobody asked for: the connection is out of step
    const result = this.parser.execute(data);
    if (result instanceof Error) this.fail("garbage", (result as ParserError).code ?? result.message);
    exchange.afterRead();
  }

  private onHeadersComplete(headers: string[] | undefined, status: number, reason: string, upgrade: boolean, keepAlive: boolean): number {
    const all = headers === undefined ? this.extraHeaders : this.extraHeaders.length > 0 ? [...this.extraHeaders, ...headers] : headers;
    this.extraHeaders = [];
    const exchange = this.exchange;
    if (exchange === null) return 0;
    // 100 Continue, 103 Early Hints: between the member and the proxy (the proxy answered the client's Expect itself).
    if (status < 200 && status !== 101) {
      this.informational = true;
      return 0;
    }
    if (upgrade || status === 101) {
      this.fail("garbage", "the member switched protocols, which the proxy does not carry");
      return 0;
    }
    this.responded = true;
    this.keepAlive = keepAlive;
    this.memberKeepsMs = keepAliveTimeoutMs(all);
    exchange.onHead(status, reason, all);
    // A response to HEAD has no body whatever its Content-Length says.
    return exchange.method === "HEAD" ? 1 : 0;
  }

  private onMessageComplete(): void {
    if (this.informational) {
      this.informational = false;
      return;
    }
    const exchange = this.exchange;
    if (exchange === null) return;
    this.exchange = null;
    this.since = performance.now();
    // Held back for a slow client by the request that just ended: the next one must read its answer.
    if (this.socket.isPaused()) this.socket.resume();
    if (this.keepAlive && exchange.requestSent && !this.pool.closing) this.pool.put(this);
    else this.destroy();
    exchange.onEnd();
  }

  /** The member sent FIN: a close-delimited body ends here; anything else in flight was cut. */
  private onMemberEnd(): void {
    if (this.exchange === null) return this.destroy();
    const result = this.parser.finish();
    if (result instanceof Error) return this.fail("reset", "the member closed the connection in the middle of its response");
    if (this.exchange !== null) this.fail("reset", this.responded ? "the member closed the connection in the middle of its response" : "the member closed the connection without answering");
  }

  private fail(kind: UpstreamFailure, detail: string): void {
    const exchange = this.exchange;
    this.exchange = null;
    this.destroy();
    exchange?.onFailure(kind, detail, this.reused && !this.responded && kind === "reset");
  }

  private onClose(): void {
    if (this.exchange !== null) this.fail(this.connected ? "reset" : "connect", "the connection closed");
    else this.destroy();
  }

  private destroy(): void {
    if (this.closed) return;
    this.closed = true;
    unwatch(this);
    this.socket.destroy();
    this.pool.forget(this);
  }
}

/** One member's connections in one worker. Settings are read live from the listener's config. */
export class MemberPool {
  closing = false;
  private readonly idle: UpstreamConnection[] = [];
  private readonly open = new Set<UpstreamConnection>();
  private whenClosed: (() => void) | null = null;

  constructor(
    readonly address: string,
    readonly port: number,
    readonly settings: () => Pick<Listener, "timeouts" | "limits">,
  ) {}

  /** A connection for one request: the most recently used idle one still fresh, or a new one. */
  take(): UpstreamConnection {
    const now = performance.now();
    for (let c = this.idle.pop(); c !== undefined; c = this.idle.pop()) {
      if (c.fresh(now)) {
        c.reused = true;
        return c;
      }
      c.abandon(); // about to be closed by the member: never sent a request
    }
    return this.connect();
  }

  /** A new connection, whatever is idle (the retry after a stale one). */
  connect(): UpstreamConnection {
    const fresh = new UpstreamConnection(this);
    this.open.add(fresh);
    return fresh;
  }

  /** Open connections (busy and idle). */
  get size(): number {
    return this.open.size;
  }

  put(connection: UpstreamConnection): void {
    if (this.idle.length >= this.settings().limits.connectionsPerMember) return connection.abandon();
    this.idle.push(connection);
  }

  forget(connection: UpstreamConnection): void {
    this.open.delete(connection);
    const i = this.idle.lastIndexOf(connection);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.closing && this.open.size === 0) this.whenClosed?.();
  }

  /** Closes idle connections now and busy ones as their responses end; resolves when none is left. */
  close(): Promise<void> {
    this.closing = true;
    for (const c of [...this.idle]) c.abandon();
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.whenClosed = resolve;
    });
  }
}

/** `Keep-Alive: timeout=5, max=100` → 5000; null when the response says nothing of it. */
export function keepAliveTimeoutMs(headers: readonly string[]): number | null {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length !== 10 || headers[i]!.toLowerCase() !== "keep-alive") continue;
    const m = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(headers[i + 1]!);
    if (m) return Number(m[1]) * 1000;
  }
  return null;
}
