import type net from "node:net";
import { ProxyRequest, ownResponse } from "./http-request";
import type { ListenerState, MemberRuntime } from "./listener-state";
import { HTTPParser, type LlhttpParser, METHODS, type OnBody, type OnHeaders, type OnHeadersComplete, type ParserError } from "./llhttp";
import { type Swept, unwatch, watch } from "./sweep";

/**
 * The HTTP/1.1 half of the proxy (issue 14 §2), over plain sockets: a client connection is read
 * by llhttp (strict, as node:http reads it), each request is routed to a pool, balanced to a
 * member and written to one of that member's keep-alive connections (upstream.ts), and the
 * response is passed back as it comes, both ways with backpressure. Heads are rewritten as one
 * string each way (hop-by-hop headers out, X-Forwarded-* in, the body's framing for this
 * client); bodies are never buffered beyond what one socket read holds. What the parser refuses
 * (both Content-Length and Transfer-Encoding, two Content-Lengths, obsolete line folding, a head
 * over the limit) is answered 400 or 431 and the connection closed.
 *
 * Written on sockets rather than node:http + undici for the speed target: the same work
 * took 1.2–1.3× the CPU per request through those two, measured in the same hour (bench/README.md).
 * One request's own work is http-request.ts; the member connections are upstream.ts.
 */

/** Requests a connection may have read ahead of the one being answered before the proxy stops reading. */
const MAX_PIPELINED = 16;

export interface RequestOutcome {
  listener: ListenerState;
  member: MemberRuntime | null;
  pool: string;
  method: string;
  path: string;
  status: number;
  /** Milliseconds from the request's arrival to the response's end (or failure). */
  ms: number;
  /** Why it failed, when it did on the proxy's side (no member, connect refused, reset…). */
  error: string | null;
  retried: boolean;
  client: string;
}

export interface HttpHooks {
  /** A member was picked for a request or connection from `socket` (a probe's attribution). */
  picked?(listener: ListenerState, member: MemberRuntime, socket: net.Socket): void;
  /** The outcome of one try on a member, for passive health: ok is false for a failed connect, a reset or a 5xx. */
  memberResult(listener: ListenerState, member: MemberRuntime, ok: boolean, ms: number): void;
  /** The request is done (access log, metrics). */
  requestDone(outcome: RequestOutcome): void;
}

/** The client's address without the IPv4-mapped prefix a dual-stack socket adds. */
export function clientAddress(socket: net.Socket): string {
  const a = socket.remoteAddress ?? "";
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}

/** Serves one client connection of an HTTP listener until it closes. */
export function serveHttp(listener: ListenerState, socket: net.Socket, hooks: HttpHooks): ClientConnection {
  return new ClientConnection(listener, socket, hooks);
}

export class ClientConnection implements Swept {
  /** The request being answered; those read behind it wait in `queue` (pipelining). */
  current: ProxyRequest | null = null;
  readonly client: string;
  /** Answer the current request with `connection: close`, then close. */
  closing = false;
  lastActive = performance.now();
  private readonly parser: LlhttpParser;
  private readonly queue: ProxyRequest[] = [];
  /** The request whose body the parser is reading (the current one or one queued). */
  private reading: ProxyRequest | null = null;
  private headStarted = 0;
  private extraHeaders: string[] = [];
  private extraUrl = "";
  private stopped = false;
  private gone = false;
  /** The client shut its side: what it sent is answered, then the connection closes. */
  private clientEnded = false;

  constructor(
    readonly listener: ListenerState,
    readonly socket: net.Socket,
    readonly hooks: HttpHooks,
  ) {
    this.client = clientAddress(socket);
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {}, listener.config.limits.maxHeaderBytes, HTTPParser.kLenientNone);
    parser[HTTPParser.kOnMessageBegin] = () => {
      this.headStarted = performance.now();
    };
    parser[HTTPParser.kOnHeaders] = ((headers, url) => {
      this.extraHeaders.push(...headers);
      this.extraUrl += url;
    }) satisfies OnHeaders;
    parser[HTTPParser.kOnHeadersComplete] = ((major, minor, headers, method, url, _status, _reason, upgrade, keepAlive) =>
      this.onHead(major, minor, headers, method ?? 0, url, upgrade, keepAlive)) satisfies OnHeadersComplete;
    parser[HTTPParser.kOnBody] = ((chunk) => this.reading?.onRequestBody(chunk)) satisfies OnBody;
    parser[HTTPParser.kOnMessageComplete] = () => {
      const r = this.reading;
      this.reading = null;
      r?.onRequestEnd();
    };
    this.parser = parser;
    socket.on("data", (data: Buffer) => this.onData(data));
    socket.on("drain", () => this.current?.onClientDrain());
    socket.on("end", () => this.onClientEnd());
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.onClose());
    watch(this);
  }

  check(now: number): void {
    const { timeouts } = this.listener.config;
    if (this.headStarted > 0 && now - this.headStarted > timeouts.headerMs) {
      // Slowloris: a head that does not arrive whole in time.
      if (this.current === null) this.refuseConnection(408);
      else this.socket.destroy();
    } else if (now - this.lastActive > timeouts.idleMs && (this.current === null || this.current.readingBody)) {
      // Idle between requests, or a body that stopped coming; a member's slowness is timed on its connection.
      this.socket.destroy();
    }
  }

  /** Stop taking requests: an idle connection closes now, a busy one after its response. */
  retire(): void {
    this.closing = true;
    if (this.current === null) this.socket.end();
  }

  private onData(data: Buffer): void {
    this.lastActive = performance.now();
    if (this.stopped) return;
    const result = this.parser.execute(data);
    if (result instanceof Error) this.onParseError(result as ParserError);
  }

  private onParseError(err: ParserError): void {
    this.stopped = true;
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
    // A broken body: the request it belonged to cannot be completed, nor the connection reused.
    if (this.reading !== null) return void this.socket.destroy();
    if (this.current === null) return this.refuseConnection(status);
    // Requests already read are answered first; the refusal follows them.
    this.queue.push(ProxyRequest.refusal(this, status, `the request could not be parsed: ${err.code}`));
  }

  /** A status and the connection closed, with no request to route (a head the parser refused, or a slow one). */
  private refuseConnection(status: number): void {
    this.stopped = true;
    if (this.socket.writable) this.socket.end(ownResponse(status, "", true));
    this.socket.destroySoon();
  }

  private onHead(major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    this.headStarted = 0;
    const all = headers === undefined ? this.extraHeaders : this.extraHeaders.length > 0 ? [...this.extraHeaders, ...headers] : headers;
    const target = url === undefined ? this.extraUrl : this.extraUrl + url;
    this.extraHeaders = [];
    this.extraUrl = "";
    const r = new ProxyRequest(this, METHODS[method] ?? "GET", target, all, major === 1 && minor === 0, keepAlive);
    if (upgrade) {
      // llhttp stops at an Upgrade or CONNECT head: the bytes after it are another protocol.
      this.stopped = true;
      r.refuse = [501, "upgrades (WebSocket) and CONNECT are not supported by this proxy"];
    }
    this.reading = r;
    if (this.current === null) this.begin(r);
    else {
      this.queue.push(r);
      if (this.queue.length >= MAX_PIPELINED) this.socket.pause();
    }
    return 0;
  }

  private begin(r: ProxyRequest): void {
    this.current = r;
    r.start();
  }

  /** The current request is done both ways: the next one read, or the connection closed. */
  next(done: ProxyRequest): void {
    if (this.current !== done) return;
    this.current = null;
    if (this.gone) return;
    if (this.closing || !done.keepAlive) {
      this.socket.end();
      return;
    }
    const r = this.queue.shift();
    if (this.socket.isPaused() && this.queue.length < MAX_PIPELINED) this.socket.resume();
    if (r !== undefined) this.begin(r);
    else if (this.clientEnded) this.socket.end();
  }

  private onClientEnd(): void {
    // The client sent all it will: answer every request it sent, then close.
    this.clientEnded = true;
    if (this.current === null) this.socket.end();
  }

  private onClose(): void {
    this.gone = true;
    unwatch(this);
    this.queue.length = 0;
    this.current?.onClientGone();
    this.current = null;
  }
}
