import { writeFileSync } from "node:fs";
import { type AddressInfo, type Server, createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../../test/fakes";
import { runProbeClient } from "./probe-client";

// The client runs as its own node process (as under nsenter), against a real listener on loopback.
// A preload steps that process's wall clock (Date.now) by STEP_MS when the first connection starts.
const STEP_PRELOAD = `
const net = require("node:net");
const realNow = Date.now;
let offset = 0;
Date.now = () => realNow() + offset;
const connect = net.connect;
net.connect = function (...args) { offset = Number(process.env.STEP_MS); return connect.apply(this, args); };
`;

let dir: ReturnType<typeof tempDir>;
let server: Server;
let port: number;
beforeAll(async () => {
  dir = tempDir();
  writeFileSync(join(dir.path, "step.cjs"), STEP_PRELOAD);
  server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  dir.remove();
});

describe("probe client", () => {
  it.each([
    ["back an hour", -3600_000],
    ["forward two hours", 2 * 3600_000],
  ])("makes every connection and reports its own duration when the wall clock steps %s", async (_step, stepMs) => {
    const command: [string, string[]] = ["/usr/bin/env", [`NODE_OPTIONS=--require=${join(dir.path, "step.cjs")}`, `STEP_MS=${stepMs}`]];
    const out = await runProbeClient(command, { vip: "127.0.0.1", port, protocol: "tcp", count: 5, concurrency: 1, timeoutMs: 1000, totalMs: 10_000 }, 20_000);
    expect(out.connections.map((c) => c.outcome)).toEqual(["answered", "answered", "answered", "answered", "answered"]);
    expect(out.durationMs).toBeGreaterThanOrEqual(0);
    expect(out.durationMs).toBeLessThan(10_000);
  });
});
