import { rmSync } from "node:fs";
import { type Server, type Socket, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomSuffix } from "@switchyard/cni/test-host";
import { spawnNodeInNetns } from "./netns-process";

/**
 * Makes the test console (on this namespace's loopback) reachable from inside a test namespace,
 * on that namespace's own loopback, with no link or route added anywhere: a relay in the test
 * process from a Unix socket (file system paths are not per network namespace) to the console,
 * and a relay process inside the namespace from its 127.0.0.1 to that socket. So an agent can run
 * inside the namespace standing in for its host, and its health checks start from there.
 */
export interface ConsoleRelay {
  /** The console's URL as seen from inside the namespace. */
  url: string;
  close(): Promise<void>;
}

const pipeBoth = (a: Socket, b: Socket) => {
  a.pipe(b).pipe(a);
  a.on("error", () => b.destroy());
  b.on("error", () => a.destroy());
};

// Inside the namespace: 127.0.0.1:<any port> → the Unix socket in argv[1]; prints the port.
const INNER = `
const net = require("node:net");
const server = net.createServer((c) => {
  const u = net.connect(process.argv[1]);
  c.pipe(u).pipe(c);
  c.on("error", () => u.destroy());
  u.on("error", () => c.destroy());
});
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));
process.on("SIGTERM", () => process.exit(0));
`;

export async function relayConsoleInto(netns: string, consoleUrl: string, lifetimeMs = 300_000): Promise<ConsoleRelay> {
  const target = new URL(consoleUrl);
  const socketPath = join(tmpdir(), `sytest-relay-${randomSuffix()}.sock`);
  const open = new Set<Socket>();
  const outer: Server = createServer((c) => {
    open.add(c);
    c.on("close", () => open.delete(c));
    pipeBoth(c, connect(Number(target.port), target.hostname));
  });
  await new Promise<void>((resolve, reject) => outer.once("error", reject).listen(socketPath, resolve));
  const inner = spawnNodeInNetns(netns, INNER, [socketPath], { lifetimeMs });
  try {
    const { port } = JSON.parse(await inner.waitForLine(/"port"/, 15_000)) as { port: number };
    return {
      url: `http://127.0.0.1:${port}`,
      async close() {
        await inner.stop();
        for (const c of open) c.destroy(); // an agent's event stream would hold close() open
        await new Promise<void>((r) => outer.close(() => r()));
        rmSync(socketPath, { force: true });
      },
    };
  } catch (e) {
    await inner.stop();
    outer.close();
    rmSync(socketPath, { force: true });
    throw e;
  }
}
