// bench/proxy-http.ts --targets …,raw-floor: what a Node.js reverse proxy costs when it skips
// node:http and undici: client and member connections as plain `net` sockets, heads read by
// Node's own strict llhttp (`HTTPParser` of node:_http_common, internal on Node 20), heads written
// as one string, bodies passed on as they come (Content-Length as is, chunked re-chunked), member
// connections kept alive in a pool, round robin. Bodiless requests only (the bench sends GETs): a
// measurement of the approach for issue 14's speed target, not a proxy to run.
"use strict";
const net = require("node:net");
const { HTTPParser, methods } = require("_http_common");

const [listenAddress, membersJson] = process.argv.slice(2);
const members = JSON.parse(membersJson).map((m) => {
  const i = m.lastIndexOf(":");
  return { host: m.slice(0, i), port: Number(m.slice(i + 1)), idle: [] };
});
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);
let next = 0;

/** A member connection with its own response parser; `done` is told when a response has ended. */
function connectTo(member) {
  const socket = net.connect({ host: member.host, port: member.port, noDelay: true });
  const up = { socket, member, parser: new HTTPParser(), current: null, open: true };
  up.parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
  up.parser[HTTPParser.kOnHeadersComplete] = (_maj, _min, headers, _method, _url, status, message) => up.current?.onHead(status, message, headers);
  up.parser[HTTPParser.kOnBody] = (chunk) => up.current?.onBody(chunk);
  up.parser[HTTPParser.kOnMessageComplete] = () => {
    const c = up.current;
    up.current = null;
    c?.onEnd();
    if (up.open) member.idle.push(up);
  };
  socket.on("data", (d) => {
    const r = up.parser.execute(d);
    if (r instanceof Error) socket.destroy(r);
  });
  const gone = () => {
    up.open = false;
    const i = member.idle.indexOf(up);
    if (i >= 0) member.idle.splice(i, 1);
    up.current?.onError();
  };
  socket.on("error", gone);
  socket.on("close", gone);
  return up;
}

const server = net.createServer({ noDelay: true }, (client) => {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {}, 0, 0);
  const queue = [];
  let busy = false;
  const forwarded = client.remoteAddress;
  parser[HTTPParser.kOnHeadersComplete] = (_maj, _min, headers, method, url, _s, _m, _upgrade, keepAlive) => {
    queue.push({ method: methods[method], url, headers, keepAlive });
    if (!busy) pump();
  };
  client.on("data", (d) => {
    const r = parser.execute(d);
    if (r instanceof Error) client.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
  });
  client.on("error", () => client.destroy());

  function pump() {
    const req = queue.shift();
    if (!req) return void (busy = false);
    busy = true;
    const member = members[next++ % members.length];
    const up = member.idle.pop() ?? connectTo(member);
    let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < req.headers.length; i += 2) if (!HOP.has(req.headers[i].toLowerCase())) head += `${req.headers[i]}: ${req.headers[i + 1]}\r\n`;
    head += `x-forwarded-for: ${forwarded}\r\n\r\n`;
    let chunked = false;
    up.current = {
      onHead(status, message, headers) {
        let out = `HTTP/1.1 ${status} ${message}\r\n`;
        let length = false;
        for (let i = 0; i < headers.length; i += 2) {
          const name = headers[i].toLowerCase();
          if (HOP.has(name)) continue;
          if (name === "content-length") length = true;
          out += `${headers[i]}: ${headers[i + 1]}\r\n`;
        }
        chunked = !length && status !== 204 && status !== 304 && req.method !== "HEAD";
        if (chunked) out += "transfer-encoding: chunked\r\n";
        if (!req.keepAlive) out += "connection: close\r\n";
        // Head and the body that came with it leave in one writev.
        client.cork();
        process.nextTick(() => client.uncork());
        client.write(`${out}\r\n`, "latin1");
      },
      onBody(chunk) {
        if (chunked) client.write(`${chunk.length.toString(16)}\r\n`, "latin1");
        client.write(chunk);
        if (chunked) client.write("\r\n", "latin1");
      },
      onEnd() {
        if (chunked) client.write("0\r\n\r\n", "latin1");
        if (!req.keepAlive) return void client.end();
        pump();
      },
      onError() {
        client.destroy();
      },
    };
    up.socket.write(head, "latin1");
  }
});
server.listen(80, listenAddress, () => console.log("ready"));
setTimeout(() => process.exit(0), 30 * 60_000).unref();
