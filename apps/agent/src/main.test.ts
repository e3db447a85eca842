import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/fakes";
import { main } from "./main";

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

/** A loopback port with nothing listening on it: every console call fails at once (ECONNREFUSED). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** An enrolled agent's flags (a stored credential) against a console that is down. */
async function enrolledArgs(): Promise<string[]> {
  const dir = tempDir();
  dirs.push(dir);
  const data = join(dir.path, "data");
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, "credential.json"), JSON.stringify({ consoleUrl: "x", hostId: "h1", hostName: "host-a", credential: `syh_${"a".repeat(43)}`, credentialExpiresAt: "2030-01-01T00:00:00Z" }), { mode: 0o600 });
  for (const d of ["plugins", "netns", "cache", "conf"]) mkdirSync(join(dir.path, d));
  const url = `http://127.0.0.1:${await closedPort()}`;
  return ["--console-url", url, "--data-dir", data, "--cni-path", join(dir.path, "plugins"), "--netns-dir", join(dir.path, "netns"), "--cache-dir", join(dir.path, "cache"), "--conf-dir", join(dir.path, "conf"), "--hostname", "host-a", "--shutdown-grace", "1000"];
}

describe("main", () => {
  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const)("on %s stops within its bounds and exits 128+signal, even with the console down", async (signal, code) => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const exit = main(await enrolledArgs());
      // Running: its first calls to the console have failed.
      await vi.waitFor(() => expect(stderr.mock.calls.some((c) => String(c[0]).includes('"agent started"'))).toBe(true), { timeout: 10_000 });
      const stopAt = Date.now();
      process.emit(signal, signal);
      process.emit(signal, signal); // a second signal changes nothing
      expect(await exit).toBe(code);
      // grace 1 s for operations and jobs, then at most MIN_FLUSH_MS for the flush
      expect(Date.now() - stopAt).toBeLessThan(3500);
    } finally {
      stderr.mockRestore();
    }
  });

  it("exits 2 on a bad configuration, saying which option", async () => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(await main(["--console-url", "ftp://x", "--data-dir", "/tmp/x"])).toBe(2);
      expect(stderr.mock.calls.map((c) => String(c[0])).join("")).toContain('"option":"consoleUrl"');
    } finally {
      stderr.mockRestore();
    }
  });
});
