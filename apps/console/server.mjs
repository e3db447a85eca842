// The console's HTTP server: Next.js behind a plain Node server so the peer address
// the audit log records is the socket's, not a header the client wrote.
// X-Forwarded-For from the client is kept only with SWITCHYARD_TRUST_PROXY=true (behind
// a reverse proxy you run); either way the socket address is appended last, and the
// API reads the last entry.
import { createServer } from "node:http";
import next from "next";

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 3000);
const trustProxy = /^(1|true|yes|on)$/i.test(process.env.SWITCHYARD_TRUST_PROXY ?? "");

const app = next({ dev: false, hostname: host, port });
await app.prepare();
const handle = app.getRequestHandler();

createServer((req, res) => {
  const peer = req.socket.remoteAddress ?? "";
  const claimed = trustProxy ? req.headers["x-forwarded-for"] : undefined;
  req.headers["x-forwarded-for"] = claimed ? `${claimed}, ${peer}` : peer;
  void handle(req, res);
}).listen(port, host, () => {
  console.log(`Switchyard console listening on http://${host}:${port}`);
});
