import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isRoot } from "./harness";
import { type ProxyBench, VIP, createProxyBench } from "./support/proxy-bench";

/**
 * HTTP/1.1 semantics through the userspace proxy, pinned down so a rewrite of its HTTP path can
 * be checked against them: framing (pipelining, HTTP/1.0, HEAD, chunked, large and slow bodies),
 * headers (many of them, hop-by-hop ones, X-Forwarded-For), Expect: 100-continue, clients that
 * leave, members that close, URLs passed as they came. The built bundle runs in the bench's host
 * namespace; every request leaves the client's namespace for the VIP. The backends' bench paths
 * (/echo, /chunked, /big, /progress, /head-many, /hop, /close) are described in proxy-bench.ts.
 */

/** Port 80: both members, round robin. Port 81: backend-0 alone (a test reading a member's state needs the same member every time). */
const BOTH = 80;
const ONE = 81;

/**
 * Raw HTTP from the client namespace: `exchange(steps, o)` opens one TCP connection to
 * ADDRESS:PORT (argv 1, 2), writes each step's bytes once `after` responses (1xx included)
 * arrived, parses the responses (Content-Length, chunked or close-delimited bodies; `heads[i]`
 * says the i-th final response answers a HEAD) and resolves when `finals` final responses
 * arrived (and, with waitClose, the connection closed; with lingerMs, after that long more, to
 * see whether it closes), or after timeoutMs. Every response: {version, status, headers
 * (lowercase names, repeated ones joined with ", "), bodyLength, text (up to 8 KB), sha256}.
 */
const RAW = `
const net = require("node:net");
const crypto = require("node:crypto");
const ADDRESS = process.argv[1]; const PORT = Number(process.argv[2]);
const print = (v) => console.log(JSON.stringify(v));
// A script that throws says so at once (the test fails naming it) instead of printing nothing until the timeout.
process.on("uncaughtException", (e) => { print({ crashed: String(e && e.stack || e) }); process.exit(1); });
process.on("unhandledRejection", (e) => { print({ crashed: String(e && e.stack || e) }); process.exit(1); });
function parseResponses(buf, heads, closed) {
  const responses = []; let off = 0; let finals = 0;
  for (;;) {
    const end = buf.indexOf("\\r\\n\\r\\n", off);
    if (end < 0) break;
    const lines = buf.subarray(off, end).toString("latin1").split("\\r\\n");
    const m = /^HTTP\\/1\\.([01]) (\\d{3})/.exec(lines[0]);
    if (!m) { responses.push({ error: "not a status line: " + JSON.stringify(lines[0].slice(0, 80)) }); break; }
    const status = Number(m[2]);
    const headers = {};
    for (const l of lines.slice(1)) { const i = l.indexOf(":"); const k = l.slice(0, i).trim().toLowerCase(); const v = l.slice(i + 1).trim(); headers[k] = k in headers ? headers[k] + ", " + v : v; }
    let p = end + 4; let body = Buffer.alloc(0);
    if (status >= 200 && !heads[finals] && status !== 204 && status !== 304) {
      if (/chunked/i.test(headers["transfer-encoding"] || "")) {
        const parts = []; let whole = false;
        for (;;) {
          const le = buf.indexOf("\\r\\n", p); if (le < 0) break;
          const size = parseInt(buf.subarray(p, le).toString("latin1"), 16);
          if (size === 0) { const te = buf.indexOf("\\r\\n\\r\\n", le); if (te >= 0) { p = te + 4; whole = true; } break; }
          if (buf.length < le + 2 + size + 2) break;
          parts.push(buf.subarray(le + 2, le + 2 + size)); p = le + 2 + size + 2;
        }
        if (!whole) break;
        body = Buffer.concat(parts);
      } else if (headers["content-length"] !== undefined) {
        const n = Number(headers["content-length"]); if (buf.length < p + n) break;
        body = buf.subarray(p, p + n); p += n;
      } else { if (!closed) break; body = buf.subarray(p); p = buf.length; }
    }
    if (status >= 200) finals++;
    responses.push({ version: "1." + m[1], status, headers, bodyLength: body.length, text: body.length <= 8192 ? body.toString("latin1") : null, sha256: crypto.createHash("sha256").update(body).digest("hex") });
    off = p;
  }
  return { responses, consumed: off };
}
function exchange(steps, o) {
  return new Promise((resolve) => {
    const s = net.connect(PORT, ADDRESS);
    let buf = Buffer.alloc(0); let closed = false; let next = 0; let parsed = { responses: [], consumed: 0 }; let done = false; let lingering = false;
    const finish = () => { if (done) return; done = true; clearTimeout(timer); s.destroy(); resolve({ responses: parsed.responses, closed, trailing: buf.length - parsed.consumed }); };
    const step = () => {
      if (done) return;
      parsed = parseResponses(buf, o.heads || [], closed);
      while (next < steps.length && parsed.responses.length >= (steps[next].after || 0)) s.write(steps[next++].data);
      if (parsed.responses.some((r) => r.error)) return finish();
      const finals = parsed.responses.filter((r) => r.status >= 200).length;
      if (finals < o.finals || (o.waitClose && !closed)) return;
      if (!o.lingerMs) return finish();
      if (!lingering) { lingering = true; setTimeout(finish, o.lingerMs); }
    };
    s.on("connect", step);
    s.on("data", (d) => { buf = Buffer.concat([buf, d]); step(); });
    s.on("close", () => { closed = true; step(); finish(); });
    s.on("error", () => {});
    const timer = setTimeout(finish, o.timeoutMs || 5000);
  });
}
`;

interface RawResponse {
  version: string;
  status: number;
  headers: Record<string, string>;
  bodyLength: number;
  text: string | null;
  sha256: string;
  error?: string;
}
interface Exchange {
  responses: RawResponse[];
  closed: boolean;
  /** Bytes after the last whole response (a HEAD's body leaking, a response framed wrong). */
  trailing: number;
}
/** What a backend's /echo reports. */
interface Echo {
  backend: string;
  method: string;
  url: string;
  httpVersion: string;
  headers: Record<string, string>;
  rawHeaders: string[];
  bodyLength: number;
  bodySha256: string;
}
interface Step {
  data: string;
  after?: number;
}
interface ExchangeOptions {
  finals: number;
  heads?: boolean[];
  waitClose?: boolean;
  lingerMs?: number;
  timeoutMs?: number;
}

const req = (method: string, target: string, headers: Record<string, string> = {}, body = "", version = "1.1") =>
  `${method} ${target} HTTP/${version}\r\nHost: web.test\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n${body}`;
const echoOf = (r: RawResponse | undefined): Echo => JSON.parse(r?.text ?? "null") as Echo;

describe.runIf(isRoot)("HTTP/1.1 semantics through the userspace proxy", { timeout: 120_000 }, () => {
  let px: ProxyBench;
  const raw = (port: number, steps: Step[], o: ExchangeOptions) =>
    px.client<Exchange>(`${RAW}\nexchange(${JSON.stringify(steps)}, ${JSON.stringify(o)}).then(print);`, [VIP, port], 30_000);
  /** Runs `script` after the RAW helpers (ADDRESS, PORT, print, exchange), with argv 3… as `args`. */
  const script = <T>(port: number, body: string, args: (string | number)[] = [], timeoutMs = 60_000) => px.client<T>(`${RAW}\n${body}`, [VIP, port, ...args], timeoutMs);

  beforeAll(async () => {
    px = await createProxyBench({ backends: 2 });
    const [b0] = px.members();
    await px.apply({ version: 1, listeners: [px.listener({ port: BOTH }), px.listener({ port: ONE, pools: { default: [b0!] } })] });
  }, 120_000);
  afterAll(async () => {
    await px?.cleanup();
  });

  // Three requests in one write, the first answered 300 ms late by its member and the third 100 ms late:
  // the answers come back whole and in the order asked, on the one connection.
  test("pipelining: three GETs in one write get three whole answers, in order", async () => {
    const r = await raw(BOTH, [{ data: req("GET", "/echo?i=1&delay=300") + req("GET", "/echo?i=2") + req("GET", "/echo?i=3&delay=100") }], { finals: 3 });
    expect(r.responses.map((x) => x.status)).toEqual([200, 200, 200]);
    expect(r.responses.map((x) => echoOf(x).url)).toEqual(["/echo?i=1&delay=300", "/echo?i=2", "/echo?i=3&delay=100"]);
    expect(r.trailing).toBe(0);
    expect(r.closed).toBe(false);
  });

  // HTTP/1.0 closes after the answer unless the client asks for keep-alive; a 1.0 client never gets a chunked body.
  test("HTTP/1.0: closed after the answer without keep-alive, two answers on one connection with it, never chunked", async () => {
    const plain = await raw(BOTH, [{ data: req("GET", "/echo?v=10", {}, "", "1.0") }], { finals: 1, waitClose: true });
    expect(plain.responses).toHaveLength(1);
    expect(plain.responses[0]!.status).toBe(200);
    expect(echoOf(plain.responses[0]).url).toBe("/echo?v=10");
    expect(plain.closed).toBe(true);

    const kept = await raw(
      BOTH,
      [
        { data: req("GET", "/echo?n=1", { Connection: "keep-alive" }, "", "1.0") },
        { after: 1, data: req("GET", "/echo?n=2", { Connection: "keep-alive" }, "", "1.0") },
      ],
      { finals: 2, lingerMs: 300 },
    );
    expect(kept.responses.map((x) => x.status)).toEqual([200, 200]);
    expect(kept.responses.map((x) => echoOf(x).url)).toEqual(["/echo?n=1", "/echo?n=2"]);
    expect(kept.closed).toBe(false);

    // The member answers chunked; a 1.0 client cannot read chunked: it gets the bytes whole, framed by a length or by the close.
    const chunked = await raw(BOTH, [{ data: req("GET", "/chunked?n=5000", { Connection: "keep-alive" }, "", "1.0") }], { finals: 1 });
    const answer = chunked.responses[0]!;
    expect(answer.status).toBe(200);
    expect(answer.headers["transfer-encoding"]).toBeUndefined();
    expect(answer.bodyLength).toBe(5000);
    expect(answer.sha256).toBe(answer.headers["x-body-sha256"]);
  });

  // HEAD: the member's Content-Length comes back, no body does, and the connection is still in step for the next request.
  test("HEAD: the member's headers without a body; the next request on the connection works, sent after it or pipelined behind it", async () => {
    const after = await raw(BOTH, [{ data: req("HEAD", "/head-many?n=3") }, { after: 1, data: req("GET", "/echo?after-head") }], { finals: 2, heads: [true, false] });
    expect(after.responses.map((x) => x.status)).toEqual([200, 200]);
    // The member's headers, its Content-Length (of the body a GET would get) among them.
    expect(after.responses[0]!.headers).toMatchObject({ "content-length": "2", "x-r-0": "v-0", "x-r-2": "v-2" });
    expect(after.responses[0]!.bodyLength).toBe(0);
    expect(echoOf(after.responses[1]).url).toBe("/echo?after-head");
    expect(after.trailing).toBe(0);

    const pipelined = await raw(BOTH, [{ data: req("HEAD", "/echo?h=2") + req("GET", "/echo?behind-head") }], { finals: 2, heads: [true, false] });
    expect(pipelined.responses.map((x) => x.status)).toEqual([200, 200]);
    expect(echoOf(pipelined.responses[1]).url).toBe("/echo?behind-head");
    expect(pipelined.trailing).toBe(0);
  });

  // Bodies: a chunked answer arrives intact and the connection stays usable; 2 MB request bodies (declared
  // length and chunked) reach the member intact.
  test("bodies: a 100 KB chunked answer intact; 2 MB request bodies, with Content-Length and chunked, reach the member intact", async () => {
    const chunked = await raw(BOTH, [{ data: req("GET", "/chunked?n=102400") }, { after: 1, data: req("GET", "/echo?after-chunked") }], { finals: 2 });
    const answer = chunked.responses[0]!;
    expect(answer.status).toBe(200);
    expect(answer.bodyLength).toBe(102_400);
    expect(answer.sha256).toBe(answer.headers["x-body-sha256"]);
    expect(echoOf(chunked.responses[1]).url).toBe("/echo?after-chunked");

    const posted = await script<{ sha: string; withLength: { status: number; echo: Echo }; chunked: { status: number; echo: Echo } }>(
      BOTH,
      `const http = require("node:http");
       const size = Number(process.argv[3]); const body = crypto.randomBytes(size);
       const post = (headers) => new Promise((resolve) => {
         const q = http.request({ host: ADDRESS, port: PORT, method: "POST", path: "/echo", headers, agent: false }, (res) => {
           let d = ""; res.setEncoding("utf8"); res.on("data", (c) => { d += c; }); res.on("end", () => resolve({ status: res.statusCode, echo: JSON.parse(d) }));
         });
         q.on("error", (e) => resolve({ status: 0, error: e.message }));
         let o = 0; const pump = () => { while (o < size) { const ok = q.write(body.subarray(o, o + 65536)); o += 65536; if (!ok) return q.once("drain", pump); } q.end(); }; pump();
       });
       (async () => print({ sha: crypto.createHash("sha256").update(body).digest("hex"), withLength: await post({ "content-length": size }), chunked: await post({}) }))();`,
      [2 * 1024 * 1024],
    );
    for (const r of [posted.withLength, posted.chunked]) {
      expect(r.status).toBe(200);
      expect(r.echo.bodyLength).toBe(2 * 1024 * 1024);
      expect(r.echo.bodySha256).toBe(posted.sha);
    }
    expect(posted.withLength.echo.headers["content-length"]).toBe(String(2 * 1024 * 1024));
  });

  // Backpressure: the client reads a little of a 48 MB answer and stops for a second. The member is then
  // blocked on its writes, far from done (the proxy did not read the answer into memory: the socket buffers
  // on the way hold some 10 MB here); afterwards, read slowly, every byte arrives in order. (8 MB would
  // fit in those buffers whole, and show nothing.)
  test("backpressure: a 48 MB answer to a slow reader holds the member back and arrives intact", async () => {
    const n = 48 * 1024 * 1024;
    const r = await script<{ status: number; got: number; sha: string; expected: string; observed: { written: number; waiting: boolean; n: number } | null }>(
      ONE,
      `const http = require("node:http");
       const n = Number(process.argv[3]); const id = "slow-" + process.pid;
       const progress = () => new Promise((resolve) => http.get({ host: ADDRESS, port: PORT, path: "/progress?id=" + id, agent: false }, (res) => { let d = ""; res.on("data", (c) => { d += c; }); res.on("end", () => resolve(JSON.parse(d))); }));
       http.get({ host: ADDRESS, port: PORT, path: "/big?n=" + n + "&id=" + id, agent: false }, (res) => {
         const h = crypto.createHash("sha256"); let got = 0; let observed; let next = 2 << 20;
         res.on("data", (c) => {
           h.update(c); got += c.length;
           if (observed === undefined) { observed = null; res.pause(); setTimeout(async () => { observed = await progress(); res.resume(); }, 1000); }
           else if (got >= next) { next += 2 << 20; res.pause(); setTimeout(() => res.resume(), 25); }
         });
         res.on("end", () => print({ status: res.statusCode, got, sha: h.digest("hex"), expected: res.headers["x-body-sha256"], observed }));
       });`,
      [n],
    );
    expect(r.status).toBe(200);
    expect(r.got).toBe(n);
    expect(r.sha).toBe(r.expected);
    expect(r.observed?.waiting).toBe(true);
    expect(r.observed!.written).toBeLessThan(n);
  });

  // Many headers both ways: 50 request headers (and one sent twice) reach the member; 60 response headers reach the client.
  test("more than 40 headers: 50 request headers reach the member in order, 60 response headers reach the client", async () => {
    const r = await script<{ echo: Echo; response: Record<string, string> }>(
      BOTH,
      `const http = require("node:http");
       const headers = { "x-multi": ["a", "b"] };
       for (let i = 0; i < 50; i++) headers["x-h-" + String(i).padStart(2, "0")] = "value-" + i;
       const get = (path, h) => new Promise((resolve) => http.get({ host: ADDRESS, port: PORT, path, headers: h, agent: false }, (res) => { let d = ""; res.on("data", (c) => { d += c; }); res.on("end", () => resolve({ headers: res.headers, body: d })); }));
       (async () => { const echo = JSON.parse((await get("/echo", headers)).body); const response = (await get("/head-many?n=60", {})).headers; print({ echo, response }); })();`,
    );
    const sent = r.echo.rawHeaders.filter((_, i) => i % 2 === 0 && /^x-h-/i.test(r.echo.rawHeaders[i]!)).map((name) => name.toLowerCase());
    expect(sent).toEqual(Array.from({ length: 50 }, (_, i) => `x-h-${String(i).padStart(2, "0")}`));
    for (let i = 0; i < 50; i++) expect(r.echo.headers[`x-h-${String(i).padStart(2, "0")}`]).toBe(`value-${i}`);
    expect(r.echo.headers["x-multi"]).toBe("a, b");
    for (let i = 0; i < 60; i++) expect(r.response[`x-r-${i}`]).toBe(`v-${i}`);
  });

  // Expect: 100-continue: the client is told to go on (100), sends its body, and gets the member's answer.
  // (The node:http + undici engine failed this: undici refused any request carrying Expect, a 502 counted against the member.)
  test("Expect: 100-continue: 100 Continue, then the body reaches the member and its 200 comes back", async () => {
    const r = await raw(
      BOTH,
      [{ data: req("POST", "/echo?expect", { "Content-Length": "5", Expect: "100-continue" }) }, { after: 1, data: "hello" }],
      { finals: 1 },
    );
    expect(r.responses.map((x) => x.status)).toEqual([100, 200]);
    const echo = echoOf(r.responses[1]);
    expect(echo.method).toBe("POST");
    expect(echo.bodyLength).toBe(5);
  });

  // Hop-by-hop headers stay on their hop: the member's Connection (and what it names) and Keep-Alive do not
  // reach the client, nor does the member's close end the client's connection; the client's Connection,
  // what it names, Keep-Alive, Proxy-Connection and TE do not reach the member. X-Forwarded-For is appended to.
  test("hop-by-hop headers are not passed either way; a client's X-Forwarded-For is kept at the front", async () => {
    for (const close of [false, true]) {
      const r = await raw(BOTH, [{ data: req("GET", `/hop?close=${close ? 1 : 0}`) }, { after: 1, data: req("GET", "/echo?after-hop") }], { finals: 2 });
      const hop = r.responses[0]!;
      expect(hop.status).toBe(200);
      expect(hop.text).toBe("ok");
      expect(hop.headers["x-keep-me"]).toBe("1");
      expect(hop.headers["x-drop-me"]).toBeUndefined();
      expect(hop.headers.connection ?? "").not.toMatch(/x-drop-me|close/i);
      // The proxy may say its own Keep-Alive; the member's (timeout=99, max=7) is not passed.
      expect(hop.headers["keep-alive"] ?? "").not.toMatch(/max=7|timeout=99/);
      // The member's Connection: close was for its own connection: the client's carries the next request.
      expect(r.responses[1]?.status).toBe(200);
      expect(echoOf(r.responses[1]).url).toBe("/echo?after-hop");
    }

    const sent = await raw(
      BOTH,
      [
        {
          data:
            "GET /echo?hop HTTP/1.1\r\nHost: web.test\r\nConnection: keep-alive, x-secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n" +
            "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\nX-Other: 2\r\n\r\n",
        },
      ],
      { finals: 1 },
    );
    const echo = echoOf(sent.responses[0]);
    expect(echo.headers["x-secret"]).toBeUndefined();
    expect(echo.headers["keep-alive"]).toBeUndefined();
    expect(echo.headers["proxy-connection"]).toBeUndefined();
    expect(echo.headers.te).toBeUndefined();
    expect(echo.headers.connection ?? "").not.toMatch(/x-secret/i);
    expect(echo.headers["x-other"]).toBe("2");
    expect(echo.headers["x-forwarded-for"]).toBe(`1.2.3.4, 5.6.7.8, ${px.bench.client.address}`);
  });

  // A client that leaves in the middle of a 64 MB answer: the member's connection for it is closed (not left
  // streaming into nothing or parked), and the proxy goes on serving.
  test("a client leaving mid-response: the member's connection is closed and 20 more requests succeed", async () => {
    const r = await script<{ got: number; progress: { closed: boolean; finished: boolean; written: number; n: number } | null; statuses: number[] }>(
      ONE,
      `const http = require("node:http");
       const n = 64 * 1024 * 1024; const id = "cut-" + process.pid;
       // Each request bounded: one that hangs is reported (status -1, its path) instead of holding the script.
       const get = (path) => new Promise((resolve) => { const q = http.get({ host: ADDRESS, port: PORT, path, agent: false }, (res) => { let d = ""; res.on("data", (c) => { d += c; }); res.on("end", () => resolve({ status: res.statusCode, body: d })); }); q.on("error", () => resolve({ status: 0, body: "" })); q.setTimeout(10000, () => { q.destroy(); resolve({ status: -1, body: "no answer within 10 s: " + path }); }); });
       (async () => {
       const got = await new Promise((resolve) => {
         let got = 0;
         const q = http.get({ host: ADDRESS, port: PORT, path: "/big?sha=0&n=" + n + "&id=" + id, agent: false }, (res) => {
           res.on("data", (c) => { got += c.length; if (got >= 256 * 1024) { q.destroy(); resolve(got); } });
         });
         q.on("error", () => {});
         q.setTimeout(10000, () => { q.destroy(); resolve(-got - 1); });
       });
       let progress = null;
       for (let i = 0; i < 50; i++) {
         const answer = await get("/progress?id=" + id);
         // Not the member's JSON (a proxy error, a cut connection): shown in the failure, not thrown.
         try { progress = JSON.parse(answer.body); } catch { progress = { status: answer.status, body: answer.body.slice(0, 300) }; break; }
         if (progress && progress.closed) break;
         await new Promise((r) => setTimeout(r, 100));
       }
       const statuses = [];
       for (let i = 0; i < 20; i++) statuses.push((await get("/echo?after-cut=" + i)).status);
       print({ got, progress, statuses });
       })();`,
    );
    expect(r.got).toBeGreaterThanOrEqual(256 * 1024);
    expect(r.progress).toMatchObject({ closed: true, finished: false });
    expect(r.progress!.written).toBeLessThan(r.progress!.n);
    expect(r.statuses).toEqual(Array.from({ length: 20 }, () => 200));
  });

  // A member that ends its connection after every answer (Connection: close): 50 requests, GETs and POSTs
  // (which are never retried), on one client connection all succeed.
  test("a member closing its connection after each answer: 50 GETs and POSTs on one client connection all succeed", async () => {
    const r = await script<{ statuses: number[]; sockets: number; reused: number }>(
      ONE,
      `const http = require("node:http");
       const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
       const statuses = []; const sockets = new Set(); let reused = 0;
       const one = (i) => new Promise((resolve) => {
         const post = i % 2 === 1;
         const q = http.request({ host: ADDRESS, port: PORT, method: post ? "POST" : "GET", path: "/close", agent, headers: post ? { "content-length": 5 } : {} }, (res) => {
           sockets.add(q.socket); if (q.reusedSocket) reused++; res.resume(); res.on("end", () => { statuses.push(res.statusCode); resolve(); });
         });
         q.on("error", () => { statuses.push(0); resolve(); });
         q.end(post ? "hello" : undefined);
       });
       (async () => { for (let i = 0; i < 50; i++) await one(i); print({ statuses, sockets: sockets.size, reused }); agent.destroy(); })();`,
    );
    expect(r.statuses).toEqual(Array.from({ length: 50 }, () => 200));
    expect(r.sockets).toBe(1);
    expect(r.reused).toBe(49);
  });

  // Odd but valid request targets reach the member byte for byte: no normalising of dot segments, double
  // slashes, percent-encoding, empty queries or parameters.
  test("query strings and odd but valid paths are passed to the member unchanged", async () => {
    const targets = [
      "/echo/a/b?x=1&y=%20",
      "/echo//a//b/./c/../d?",
      "/echo;p=1/x?a=%2F&b=&&c=d=e",
      "/echo?q=%ZZ&r=~!$'()*+,;=:@/?",
      "/echo/%E2%9C%93/%2e%2e/?%C3%A9=1",
      "/echo?",
    ];
    const r = await raw(BOTH, [{ data: targets.map((t) => req("GET", t)).join("") }], { finals: targets.length });
    expect(r.responses.map((x) => x.status)).toEqual(targets.map(() => 200));
    expect(r.responses.map((x) => echoOf(x).url)).toEqual(targets);
  });

  // OPTIONS * (the asterisk form, RFC 9112 §3.2.4) is passed on as it came.
  // (The node:http + undici engine failed this: undici took only paths starting with "/", a 502 counted against the member.)
  test("OPTIONS * is passed to the member as *", async () => {
    const r = await raw(BOTH, [{ data: req("OPTIONS", "*") }], { finals: 1 });
    expect(r.responses[0]?.status).toBe(200);
    const echo = echoOf(r.responses[0]);
    expect(echo.method).toBe("OPTIONS");
    expect(echo.url).toBe("*");
  });
});
