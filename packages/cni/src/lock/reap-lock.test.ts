import { existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createCacheDirLock } from "./index";

// The reap lock (`locks/reap.lock`, a directory) keeps two processes from both removing a dead
// owner's lock file. It was proper-lockfile's; now the package's own (no graceful-fs at start).
describe("reap lock", () => {
  function deadOwnersLock(dir: string, name: string): string {
    mkdirSync(join(dir, "locks", "attachments"), { recursive: true });
    const file = join(dir, "locks", "attachments", name);
    writeFileSync(file, "999999999.12345");
    return file;
  }

  it("while another process reaps, a dead owner's file stays; a reap lock its holder left behind is taken over after 10 s", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-reap-"));
    const file = deadOwnersLock(dir, "net-a-eth0");
    const reapLock = join(dir, "locks", "reap.lock");
    mkdirSync(reapLock);
    const lock = createCacheDirLock(dir, { pollMs: 5, waitTimeoutMs: 100 });
    await expect(lock.attachment("net-a-eth0", async () => "ran")).rejects.toMatchObject({ code: 11, reason: "lockTimeout" });
    expect(existsSync(file)).toBe(true);

    const old = new Date(Date.now() - 11_000);
    utimesSync(reapLock, old, old);
    expect(await lock.attachment("net-a-eth0", async () => "ran")).toBe("ran");
    // Released after the reap: the next dead owner's file is reaped at once.
    expect(existsSync(reapLock)).toBe(false);
    deadOwnersLock(dir, "net-b-eth0");
    expect(await createCacheDirLock(dir, { pollMs: 60_000, waitTimeoutMs: 0 }).attachment("net-b-eth0", async () => "ran")).toBe("ran");
  });
});
