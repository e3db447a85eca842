// The console's HTTP server: Next.js behind a plain Node server so the peer address
// the audit log records is the socket's, not a header the client wrote.
// The API records the LAST entry of X-Forwarded-For. Without SWITCHYARD_TRUST_PROXY the header
// is replaced by the socket address. With it (behind a reverse proxy you run, which appends the
// address it saw: nginx's $proxy_add_x_forwarded_for) the proxy's header is kept as it came, so
// its last entry is the client's address; a request with no header (not through the proxy)
// gets the socket address.
import { createServer } from "node:http";
import next from "next";

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 3000);
const trustProxy = /^(1|true|yes|on)$/i.test(process.env.SWITCHYARD_TRUST_PROXY ?? "");

const app = next({ dev: false, hostname: host, port });
await app.prepare();
const handle = app.getRequestHandler();

const server = createServer((req, res) => {
  const peer = req.socket.remoteAddress ?? "";
  const claimed = trustProxy ? req.headers["x-forwarded-for"] : undefined;
  req.headers["x-forwarded-for"] = claimed || peer;
  void handle(req, res);
});
// A reverse proxy keeps idle connections to the console (nginx's upstream keepalive: 60 s unless
// set). Node closes an idle one after 5 s by default, so a request the proxy sends on one just as
// Node closes it gets the proxy's 502, and a POST is not retried. The console keeps them longer
// than a proxy does, so the proxy is the one that closes.
server.keepAliveTimeout = 75_000;
server.headersTimeout = 76_000;
server.listen(port, host, () => {
  console.log(`Switchyard console listening on http://${host}:${port}`);
});
