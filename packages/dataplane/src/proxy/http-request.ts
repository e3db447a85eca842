import { listenerKey } from "./config";
import type { ClientConnection, RequestOutcome } from "./http";
import type { MemberRuntime } from "./listener-state";
import type { Exchange, UpstreamConnection, UpstreamFailure } from "./upstream";

/**
 * One request of a client connection (http.ts), from its head to the end of its response: the
 * head the members get (hop-by-hop headers out, X-Forwarded-* in), the pool, the member and the
 * retries, the body streamed both ways, and the response's framing for this client.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1): meant for one connection, never forwarded. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);
/** Methods RFC 9110 §9.2.2 calls idempotent: retried on another member when no byte came back. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
/** A value the proxy writes into a header must not carry a line break or NUL (header injection). */
const UNSAFE_HEADER_VALUE = /[\r\n\0]/;
/** Body bytes kept, while a member connection is still connecting, to send to another member if it fails. */
const REPLAY_MAX = 1_048_576;
/** Connection tokens that name no header. */
const CONNECTION_OPTIONS = new Set(["close", "keep-alive", "upgrade"]);
const REASONS: Record<number, string> = { 400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large", 431: "Request Header Fields Too Large", 499: "Client Closed Request", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout" };

/** A response the proxy writes itself, whole. */
export function ownResponse(status: number, message: string, close: boolean): string {
  const body = message === "" ? "" : `${message}\n`;
  const type = body === "" ? "" : "content-type: text/plain; charset=utf-8\r\n";
  return `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\n${type}content-length: ${Buffer.byteLength(body)}\r\n${close ? "connection: close\r\n" : ""}\r\n${body}`;
}

/** The host a Host header names, lowercase and without its port. */
export function hostOf(raw: string): string {
  const end = raw.startsWith("[") ? raw.indexOf("]") + 1 : raw.indexOf(":");
  return (end <= 0 ? raw : raw.slice(0, end)).toLowerCase();
}

/** The header names a Connection value lists for this hop only (none for the usual `keep-alive` or `close`). */
function namedByConnection(value: string): Set<string> | null {
  const lower = value.toLowerCase();
  if (lower === "keep-alive" || lower === "close") return null;
  const named = new Set<string>();
  for (const token of lower.split(",")) {
    const t = token.trim();
    if (t !== "" && !CONNECTION_OPTIONS.has(t)) named.add(t);
  }
  return named.size > 0 ? named : null;
}

/** One request from a client, from its head to the end of its response. */
export class ProxyRequest implements Exchange {
  /** Set before `start` for a request refused outright (a status and a reason). */
  refuse: [number, string] | null = null;
  requestSent = false;
  private readonly started = performance.now();
  private readonly outcome: RequestOutcome;
  private upstreamHead = "";
  private hashKey: string | null = null;
  private chunkedIn = false;
  private bodyBytes = 0;
  private hasBody = false;
  /** Body bytes read before a member connection was there to take them (a pipelined request's). */
  private early: Buffer[] | null = null;
  private requestEnded = false;
  private conn: UpstreamConnection | null = null;
  private member: MemberRuntime | null = null;
  private tryStarted = 0;
  private acquired = false;
  /** Tried again on a fresh connection after a stale kept-alive one (once, not counted as a retry). */
  private staleRetried = false;
  private earlyBytes = 0;
  /**
   * Body bytes written to a member connection still connecting: they never left this host, so a
   * failed connect may send them to another member (up to REPLAY_MAX; null once connected or past it).
   */
  private replay: Buffer[] | null = [];
  private replayBytes = 0;
  /** Members tried and failed (made on the first failure: most requests never need it). */
  private tried: Set<string> | null = null;
  private corked = false;
  private responded = false;
  private responseEnded = false;
  private chunkedOut = false;
  private finished = false;
  private abandoned = false;

  static refusal(connection: ClientConnection, status: number, reason: string): ProxyRequest {
    const r = new ProxyRequest(connection, "GET", "/", [], false, false);
    r.refuse = [status, reason];
    r.requestEnded = true;
    return r;
  }

  constructor(
    private readonly connection: ClientConnection,
    readonly method: string,
    readonly url: string,
    private readonly headers: string[],
    private readonly http10: boolean,
    readonly keepAlive: boolean,
  ) {
    const query = url.indexOf("?");
    this.outcome = {
      listener: connection.listener,
      member: null,
      pool: "default",
      method,
      path: query < 0 ? url : url.slice(0, query),
      status: 0,
      ms: 0,
      error: null,
      retried: false,
      client: connection.client,
    };
  }

  /** While the client owes body bytes (its idle timeout applies); after that, the member's timeouts do. */
  get readingBody(): boolean {
    return !this.requestEnded;
  }

  start(): void {
    if (this.refuse !== null) return this.answer(this.refuse[0], this.refuse[1]);
    const config = this.connection.listener.config;
    const prepared = this.prepare();
    if (prepared !== null) return this.answer(prepared[0], prepared[1]);
    const limit = config.limits.maxBodyBytes;
    if (limit !== null && this.declaredLength > limit) return this.answer(413, `the body is over ${limit} bytes`);
    this.attempt();
  }

  private declaredLength = 0;

  /** Reads the head once: its pool, hash key and body framing, and the head the members get. Returns a refusal, or null. */
  private prepare(): [number, string] | null {
    const listener = this.connection.listener;
    const balance = listener.config.balance;
    const hashHeader = balance.algorithm === "consistent-hash" && balance.hashOn.kind === "header" ? balance.hashOn.name : null;
    const raw = this.headers;
    let host: string | null = null;
    let connection: string | null = null;
    let forwardedFor: string | null = null;
    let expectContinue = false;
    let head = `${this.method} ${this.url} HTTP/1.1\r\n`;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      const lower = name.toLowerCase();
      switch (lower) {
        case "host":
          host = host === null ? value : host;
          break;
        case "content-length":
          this.hasBody = value !== "0";
          this.declaredLength = Number(value);
          break;
        case "transfer-encoding":
          // llhttp let it through only as chunked, last, without a Content-Length.
          this.chunkedIn = true;
          this.hasBody = true;
          continue;
        case "connection":
          connection = connection === null ? value : `${connection}, ${value}`;
          continue;
        case "expect":
          expectContinue = value.toLowerCase() === "100-continue";
          continue;
        // The proxy writes these three itself (a client's own X-Forwarded-For is kept at the front of ours).
        case "x-forwarded-for":
          forwardedFor = forwardedFor === null ? value : `${forwardedFor}, ${value}`;
          continue;
        case "x-forwarded-proto":
        case "x-forwarded-host":
          continue;
        default:
          if (HOP_BY_HOP.has(lower)) continue;
      }
      if (lower === hashHeader) this.hashKey = this.hashKey === null ? value : `${this.hashKey},${value}`;
      head += `${name}: ${value}\r\n`;
    }
    if (host === null) {
      if (!this.http10) return [400, "a request without a Host header"];
      // HTTP/1.0 may name no host; the member gets the listener's address, as nginx's $proxy_host.
      head += `host: ${listenerKey(listener.config)}\r\n`;
    }
    if (connection !== null) {
      // Headers the client's Connection names are for this hop only: the head is written again without them.
      const named = namedByConnection(connection);
      if (named !== null) head = this.headWithout(named);
    }
    const forwardedHost = host ?? "";
    const xff = forwardedFor === null ? this.connection.client : `${forwardedFor}, ${this.connection.client}`;
    if (UNSAFE_HEADER_VALUE.test(xff) || UNSAFE_HEADER_VALUE.test(forwardedHost)) return [400, "a forwarded header would carry a line break"];
    head += `x-forwarded-for: ${xff}\r\nx-forwarded-proto: http\r\n`;
    if (host !== null) head += `x-forwarded-host: ${forwardedHost}\r\n`;
    if (this.chunkedIn) head += "transfer-encoding: chunked\r\n";
    this.upstreamHead = `${head}\r\n`;
    if (balance.algorithm === "consistent-hash") this.hashKey ??= this.connection.client;
    this.outcome.pool = listener.route(host === null ? null : hostOf(host), this.outcome.path);
    // Expect: 100-continue is answered here, as node:http and nginx do: the member gets the body without asking.
    if (expectContinue && !this.http10) this.connection.socket.write("HTTP/1.1 100 Continue\r\n\r\n", "latin1");
    return null;
  }

  /** The head for the members without the headers in `named` (the slow path: the client's Connection named some). */
  private headWithout(named: ReadonlySet<string>): string {
    let head = `${this.method} ${this.url} HTTP/1.1\r\n`;
    const raw = this.headers;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase();
      if (HOP_BY_HOP.has(lower) || named.has(lower) || lower === "expect" || lower.startsWith("x-forwarded-")) continue;
      head += `${raw[i]!}: ${raw[i + 1]!}\r\n`;
    }
    return head;
  }

  private attempt(sameMember: MemberRuntime | null = null): void {
    const listener = this.connection.listener;
    const member = sameMember ?? listener.pick(this.outcome.pool, this.hashKey, this.tried ?? undefined);
    if (member === null || member.upstream === null) {
      const service = listener.config.serviceName;
      return this.answer(503, this.tried === null ? `no member of ${service} (pool ${this.outcome.pool}) takes traffic` : `every member of ${service} tried failed`);
    }
    this.member = member;
    this.outcome.member = member;
    this.connection.hooks.picked?.(listener, member, this.connection.socket);
    listener.acquire(member);
    this.acquired = true;
    this.tryStarted = performance.now();
    const conn = sameMember === null ? member.upstream.take() : member.upstream.connect();
    this.conn = conn;
    conn.begin(this, this.upstreamHead);
    if (this.early !== null) {
      for (const chunk of this.early) this.forward(chunk);
      this.early = null;
      this.earlyBytes = 0;
      this.connection.socket.resume();
    }
    if (this.requestEnded) this.endUpstreamBody();
  }

  onRequestBody(chunk: Buffer): void {
    if (this.abandoned || this.responseEnded) return; // answered already: the rest of the body is read and dropped
    this.bodyBytes += chunk.length;
    const limit = this.connection.listener.config.limits.maxBodyBytes;
    if (limit !== null && this.bodyBytes > limit) {
      // Over the limit while streaming (a chunked body): this try is given up, not counted against the member.
      this.conn?.abandon();
      this.conn = null;
      this.releaseMember();
      this.connection.closing = true;
      return this.answer(413, `the body is over ${limit} bytes`);
    }
    if (this.conn !== null) return this.forward(chunk);
    // A pipelined request's body, read while the one before it is answered: kept until its turn, reading paused past 256 KiB.
    (this.early ??= []).push(chunk);
    this.earlyBytes += chunk.length;
    if (this.earlyBytes > 262_144) this.connection.socket.pause();
  }

  onRequestEnd(): void {
    this.requestEnded = true;
    if (this.conn !== null) this.endUpstreamBody();
    if (this.responseEnded) this.connection.next(this);
  }

  private forward(chunk: Buffer): void {
    const conn = this.conn!;
    if (this.replay !== null) {
      if (conn.connected || this.replayBytes + chunk.length > REPLAY_MAX) this.replay = null;
      else {
        this.replay.push(chunk);
        this.replayBytes += chunk.length;
      }
    }
    let ok: boolean;
    if (this.chunkedIn) {
      conn.socket.cork();
      conn.write(`${chunk.length.toString(16)}\r\n`);
      conn.write(chunk);
      ok = conn.write("\r\n");
      conn.socket.uncork();
    } else {
      ok = conn.write(chunk);
    }
    if (!ok) this.connection.socket.pause();
  }

  private endUpstreamBody(): void {
    if (this.chunkedIn) this.conn!.write("0\r\n\r\n");
    this.requestSent = true;
  }

  // The member's side (Exchange).

  onHead(status: number, reason: string, headers: string[]): void {
    this.responded = true;
    this.outcome.status = status;
    this.connection.hooks.memberResult(this.connection.listener, this.member!, status < 500, performance.now() - this.tryStarted);
    const socket = this.connection.socket;
    let out = `HTTP/1.1 ${status} ${reason}\r\n`;
    let length = false;
    let connection: string | null = null;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      const lower = name.toLowerCase();
      if (lower === "connection") connection = connection === null ? headers[i + 1]! : `${connection}, ${headers[i + 1]!}`;
      if (HOP_BY_HOP.has(lower)) continue;
      if (lower === "content-length") length = true;
      out += `${name}: ${headers[i + 1]!}\r\n`;
    }
    if (connection !== null) {
      const named = namedByConnection(connection);
      if (named !== null) {
        out = `HTTP/1.1 ${status} ${reason}\r\n`;
        for (let i = 0; i < headers.length; i += 2) {
          const lower = headers[i]!.toLowerCase();
          if (!HOP_BY_HOP.has(lower) && !named.has(lower)) out += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
        }
      }
    }
    const bodyless = this.method === "HEAD" || status === 204 || status === 304;
    let closeAfter = this.connection.closing || !this.keepAlive;
    if (!bodyless && !length) {
      // The member's body ends with its chunks or its close: this client gets chunks, or (HTTP/1.0) the close.
      if (this.http10) closeAfter = true;
      else {
        this.chunkedOut = true;
        out += "transfer-encoding: chunked\r\n";
      }
    }
    if (closeAfter) {
      this.connection.closing = true;
      out += "connection: close\r\n";
    } else if (this.http10) {
      out += "connection: keep-alive\r\n";
    }
    // The head and the body that came in the same read leave in one writev (uncorked in afterRead).
    socket.cork();
    this.corked = true;
    socket.write(`${out}\r\n`, "latin1");
  }

  afterRead(): void {
    if (!this.corked) return;
    this.corked = false;
    this.connection.socket.uncork();
  }

  onBody(chunk: Buffer): void {
    const socket = this.connection.socket;
    let ok: boolean;
    if (this.chunkedOut) {
      socket.write(`${chunk.length.toString(16)}\r\n`, "latin1");
      socket.write(chunk);
      ok = socket.write("\r\n", "latin1");
    } else {
      ok = socket.write(chunk);
    }
    if (!ok) this.conn?.socket.pause();
  }

  onEnd(): void {
    this.conn = null;
    this.releaseMember();
    if (this.chunkedOut) this.connection.socket.write("0\r\n\r\n", "latin1");
    this.connection.lastActive = performance.now();
    this.responseEnded = true;
    this.finish(this.outcome.status, null);
    if (this.requestEnded) this.connection.next(this);
  }

  onFailure(kind: UpstreamFailure, detail: string, stale: boolean): void {
    this.conn = null;
    this.releaseMember();
    const listener = this.connection.listener;
    const member = this.member!;
    if (stale) {
      // The keep-alive race (the member closed an idle connection as the request went out): the
      // same member again on a new connection, once, for what may be sent twice; never its failure.
      if (!this.staleRetried && IDEMPOTENT.has(this.method) && !this.hasBody) {
        this.staleRetried = true;
        this.requestSent = false;
        return this.attempt(member);
      }
      return this.answer(502, `${listener.config.serviceName}: member ${member.key} closed a kept-alive connection as the request went out (not retried: this ${this.method} may have been acted on)`);
    }
    this.connection.hooks.memberResult(listener, member, false, performance.now() - this.tryStarted);
    if (this.responded) {
      // Bytes went to the client already: cutting its connection is the only way left to say the response is broken.
      this.connection.socket.destroy();
      return this.finish(this.outcome.status, `${member.key}: ${detail}`);
    }
    // Another member, once: after a failed connect (nothing was sent) when no body byte was read yet,
    // or for an idempotent request without a body that got no byte back.
    const nothingSent = kind === "connect" || kind === "connect-timeout";
    // Nothing left this host: the body read so far is all kept to send again (or there was none).
    const bodyKept = this.bodyBytes === 0 || (this.replay !== null && this.replayBytes === this.bodyBytes);
    const retryable = !this.outcome.retried && ((nothingSent && bodyKept) || (IDEMPOTENT.has(this.method) && !this.hasBody));
    if (retryable) {
      if (this.bodyBytes > 0) {
        this.early = this.replay;
        this.replay = [];
        this.replayBytes = 0;
      }
      (this.tried ??= new Set()).add(member.key);
      this.outcome.retried = true;
      this.requestSent = false;
      return this.attempt();
    }
    const timeout = kind === "connect-timeout" || kind === "response-timeout";
    this.answer(timeout ? 504 : 502, `${listener.config.serviceName}: member ${member.key} failed: ${detail}`);
  }

  onClientStalled(): void {
    // Closing the client's connection ends this request as the client's (499), never the member's failure.
    this.connection.socket.destroy();
  }

  onDrain(): void {
    this.connection.socket.resume();
  }

  onClientDrain(): void {
    this.conn?.socket.resume();
  }

  /** The client went away: the member's side is stopped too, so its connection is not held by a response nobody reads. */
  onClientGone(): void {
    this.abandoned = true;
    if (this.conn !== null) {
      this.conn.abandon();
      this.conn = null;
    }
    this.releaseMember();
    this.finish(499, "the client closed the connection");
  }

  /** The proxy's own answer (no member's response to pass on). */
  private answer(status: number, message: string): void {
    this.responseEnded = true;
    this.outcome.status = status;
    const socket = this.connection.socket;
    if (this.responded) {
      // The member's head went out already: cutting the connection is the only way left to say the response is broken.
      socket.destroy();
      return this.finish(this.outcome.status, message);
    }
    // The rest of a body not read yet would have to be drained: simpler and safer to close after the answer.
    if (!this.requestEnded) this.connection.closing = true;
    const close = this.connection.closing || !this.keepAlive;
    if (close) this.connection.closing = true;
    if (socket.writable) socket.write(ownResponse(status, message, close), "latin1");
    this.finish(status, message);
    if (this.requestEnded || close) this.connection.next(this);
  }

  private releaseMember(): void {
    if (this.acquired) {
      this.acquired = false;
      this.connection.listener.release(this.member!);
    }
  }

  private finish(status: number, error: string | null): void {
    if (this.finished) return;
    this.finished = true;
    this.outcome.status = status;
    this.outcome.error = error;
    this.outcome.ms = performance.now() - this.started;
    this.connection.hooks.requestDone(this.outcome);
  }
}
