import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Dispatcher } from "undici";
import type { ListenerState, MemberRuntime } from "./listener-state";

/**
 * The HTTP/1.1 half of the proxy (issue 14 §2): one request from a client, routed to a pool,
 * balanced to a member and carried over that member's keep-alive connections (undici), streamed
 * both ways with backpressure. Node's own parser (llhttp, strict) reads the client; what it
 * refuses (both Content-Length and Transfer-Encoding, two Content-Lengths, obsolete line
 * folding, a head over the limit) is answered 400 and the connection closed by the server's
 * clientError handler (server.ts).
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1): meant for one connection, never forwarded. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);
/** Methods RFC 9110 §9.2.2 calls idempotent: retried on another member when no byte came back. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
/** A value the proxy writes into a header must not carry a line break or NUL (header injection). */
const UNSAFE_HEADER_VALUE = /[\r\n\0]/;

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
  picked?(listener: ListenerState, member: MemberRuntime, socket: Socket): void;
  /** The outcome of one try on a member, for passive health: ok is false for a failed connect, a reset or a 5xx. */
  memberResult(listener: ListenerState, member: MemberRuntime, ok: boolean, ms: number): void;
  /** The request is done (access log, metrics). */
  requestDone(outcome: RequestOutcome): void;
}

/** The client's address without the IPv4-mapped prefix a dual-stack socket adds. */
export function clientAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? "";
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}

/** The host a request names, lowercase and without its port; null when it names none. */
export function requestHost(req: IncomingMessage): string | null {
  const raw = req.headers.host;
  if (!raw) return null;
  const host = raw.startsWith("[") ? raw.slice(0, raw.indexOf("]") + 1) : raw.split(":", 1)[0]!;
  return host.toLowerCase();
}

/** The request's headers for the member: hop-by-hop ones (and those Connection names) removed, X-Forwarded-* added. */
export function upstreamHeaders(req: IncomingMessage, client: string): string[] | string {
  const raw = req.rawHeaders;
  const connectionNamed = new Set<string>();
  const connection = req.headers.connection;
  if (connection) for (const token of connection.split(",")) connectionNamed.add(token.trim().toLowerCase());
  const out: string[] = [];
  let forwardedFor: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || connectionNamed.has(lower)) continue;
    // The proxy writes these three itself (a client's own X-Forwarded-For is kept at the front of ours).
    if (lower === "x-forwarded-for") {
      forwardedFor = forwardedFor === null ? raw[i + 1]! : `${forwardedFor}, ${raw[i + 1]!}`;
      continue;
    }
    if (lower === "x-forwarded-proto" || lower === "x-forwarded-host") continue;
    out.push(name, raw[i + 1]!);
  }
  const host = req.headers.host ?? "";
  const added = [forwardedFor === null ? client : `${forwardedFor}, ${client}`, host];
  if (added.some((v) => UNSAFE_HEADER_VALUE.test(v))) return "a forwarded header would carry a line break";
  out.push("x-forwarded-for", added[0]!, "x-forwarded-proto", "http", "x-forwarded-host", added[1]!);
  return out;
}

/** The member's response headers for the client: hop-by-hop ones removed (Node frames the body for the client itself). */
function responseHeaders(raw: Buffer[] | string[]): string[] {
  const out: string[] = [];
  let connectionNamed: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toString().toLowerCase() !== "connection") continue;
    connectionNamed ??= new Set();
    for (const token of raw[i + 1]!.toString().split(",")) connectionNamed.add(token.trim().toLowerCase());
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString("latin1");
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || connectionNamed?.has(lower)) continue;
    out.push(name, raw[i + 1]!.toString("latin1"));
  }
  return out;
}

/** Whether a request carries a body (a Content-Length above 0, or chunked). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  if (length !== undefined) return length !== "0";
  return req.headers["transfer-encoding"] !== undefined;
}

/** Errors that mean nothing reached the member: a retry anywhere is safe whatever the method. */
function isConnectFailure(err: Error & { code?: string }): boolean {
  return err.code === "ECONNREFUSED" || err.code === "UND_ERR_CONNECT_TIMEOUT" || err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH" || err.code === "EADDRNOTAVAIL";
}

export function handleRequest(listener: ListenerState, req: IncomingMessage, res: ServerResponse, hooks: HttpHooks): void {
  const started = performance.now();
  const client = clientAddress(req);
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  const path = query < 0 ? url : url.slice(0, query);
  const pool = listener.route(requestHost(req), path);
  const config = listener.config;
  const balance = config.balance;
  const hashKey =
    balance.algorithm !== "consistent-hash" ? null : balance.hashOn.kind === "header" ? (headerValue(req, balance.hashOn.name) ?? client) : client;

  const outcome: RequestOutcome = { listener, member: null, pool, method: req.method ?? "GET", path, status: 0, ms: 0, error: null, retried: false, client };
  let finished = false;
  const finish = (status: number, error: string | null) => {
    if (finished) return;
    finished = true;
    outcome.status = status;
    outcome.error = error;
    outcome.ms = performance.now() - started;
    hooks.requestDone(outcome);
  };
  const refuse = (status: number, error: string) => {
    if (!res.headersSent) {
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(error) + 1 });
      res.end(`${error}\n`);
    } else {
      res.destroy();
    }
    finish(status, error);
  };

  const limit = config.limits.maxBodyBytes;
  const declared = req.headers["content-length"];
  if (limit !== null && declared !== undefined && Number(declared) > limit) return refuse(413, `the body is over ${limit} bytes`);
  const headers = upstreamHeaders(req, client);
  if (typeof headers === "string") return refuse(400, headers);
  const body = hasBody(req);
  // A chunked body over the limit: 413 (if nothing was answered yet) and the try is abandoned; not the member's failure.
  let bodyOver = false;
  if (limit !== null && body && declared === undefined) {
    limitChunkedBody(req, limit, () => {
      bodyOver = true;
      abortTry?.(new Error(`the body is over ${limit} bytes`));
      refuse(413, `the body is over ${limit} bytes`);
    });
  }

  const tried = new Set<string>();
  let abortTry: ((err?: Error) => void) | null = null;
  let clientGone = false;
  const attempt = () => {
    const member = listener.pick(pool, hashKey, tried);
    if (member === null) {
      return refuse(503, tried.size === 0 ? `no member of ${config.serviceName} (pool ${pool}) takes traffic` : `every member of ${config.serviceName} tried failed`);
    }
    tried.add(member.key);
    outcome.member = member;
    hooks.picked?.(listener, member, req.socket);
    const tryStarted = performance.now();
    listener.acquire(member);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      listener.release(member);
    };
    let responded = false;
    let unusable: string | null = null;
    // undici 7 hands the legacy handler methods (onHeaders, onData…) straight to its HTTP/1.1
    // client; the newer controller API goes through a wrapper that parses every head into an object.
    const handler: Dispatcher.DispatchHandler = {
      onConnect(abort) {
        abortTry = abort;
      },
      onError(err: Error & { code?: string }) {
        abortTry = null;
        release();
        // The client left and the try was aborted for it: not the member's failure, and nobody to answer.
        if (clientGone) return finish(499, "the client closed the connection");
        if (bodyOver) return;
        if (unusable !== null) return hooks.memberResult(listener, member, false, performance.now() - tryStarted);
        hooks.memberResult(listener, member, false, performance.now() - tryStarted);
        // Another member, once: after a failed connect (nothing was sent) when the body was not
        // read yet, or for an idempotent request without a body that got no byte back.
        const bodyUntouched = !body || !req.readableDidRead;
        const retryable = !responded && !outcome.retried && ((isConnectFailure(err) && bodyUntouched) || (IDEMPOTENT.has(outcome.method) && !body));
        if (retryable && !res.destroyed) {
          outcome.retried = true;
          return attempt();
        }
        if (responded) {
          // Bytes went to the client already: cutting the connection is the only way left to say the response is broken.
          res.destroy();
          return finish(outcome.status, `${member.key}: ${err.message}`);
        }
        const timeout = err.code === "UND_ERR_HEADERS_TIMEOUT" || err.code === "UND_ERR_CONNECT_TIMEOUT";
        refuse(timeout ? 504 : 502, `${config.serviceName}: member ${member.key} failed: ${err.code ?? err.message}`);
      },
      onHeaders(status, rawHeaders, resume) {
        // 1xx (100 Continue) is between the member and undici; Node answers the client's Expect itself.
        if (status < 200) return true;
        responded = true;
        outcome.status = status;
        try {
          res.writeHead(status, responseHeaders(rawHeaders as Buffer[]));
        } catch (e) {
          // A header value Node will not write (the member sent garbage): its answer cannot be passed
          // on. The try is aborted (its connection freed); onError counts it against the member.
          unusable = `${member.key}: unusable response header: ${(e as Error).message}`;
          refuse(502, unusable);
          abortTry?.(new Error(unusable));
          return false;
        }
        hooks.memberResult(listener, member, status < 500, performance.now() - tryStarted);
        res.on("drain", resume);
        return true;
      },
      onData(chunk) {
        return res.write(chunk);
      },
      onComplete() {
        abortTry = null;
        release();
        res.end();
        finish(outcome.status, null);
      },
    };
    member.upstream!.dispatch(
      {
        method: outcome.method as Dispatcher.HttpMethod,
        path: url,
        headers,
        body: body ? req : null,
      },
      handler,
    );
  };
  // The client went away mid-request: stop the member's side too, so its connection is not held by a response nobody reads.
  res.on("close", () => {
    if (abortTry === null || res.writableFinished) return;
    const abort = abortTry;
    abortTry = null;
    clientGone = true;
    abort(new Error("the client closed the connection"));
  });
  attempt();
}

function headerValue(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name];
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(",") : v;
}

/** Counts a chunked body's bytes as they stream; over `limit`, `onOver` answers 413 and the request stops. */
function limitChunkedBody(req: IncomingMessage, limit: number, onOver: () => void): void {
  let seen = 0;
  const original = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk !== null && Buffer.isBuffer(chunk)) {
      seen += chunk.length;
      if (seen > limit) {
        onOver();
        req.destroy(new Error(`body over ${limit} bytes`));
        return false;
      }
    }
    return original(chunk, encoding);
  };
}
