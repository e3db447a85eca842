import { readFileSync } from "node:fs";
import { mkdir, open, readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import lockfile from "proper-lockfile";
import { CNI_ERROR_CODES, CniError } from "../errors";

/**
 * In-process mutual exclusion per key: never two operations at once on one attachment.
 * Waiters run in arrival order.
 */
export function createKeyedMutex(): { run<T>(key: string, fn: () => Promise<T>): Promise<T>; readonly size: number } {
  const tails = new Map<string, Promise<void>>();
  return {
    async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((resolve) => (release = resolve));
      const tail = previous.then(() => mine);
      tails.set(key, tail);
      await previous;
      try {
        return await fn();
      } finally {
        release();
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
    get size() {
      return tails.size;
    },
  };
}

/** /proc/<pid>/stat field 22 (start time in clock ticks): tells a live process from a reused pid. */
function startTimeOf(pid: number | "self", text?: string): string | undefined {
  try {
    const stat = text ?? readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

async function isAlive(pid: number, startTime: string): Promise<boolean> {
  try {
    return startTimeOf(pid, await readFile(`/proc/${pid}/stat`, "utf8")) === startTime;
  } catch {
    return false;
  }
}

export interface CacheDirLockOptions {
  /** How long an ADD/DEL waits for a GC (or a GC for ADD/DELs) before giving up; default 5 minutes. */
  waitTimeoutMs?: number;
  pollMs?: number;
}

export interface CacheDirLock {
  /** ADD, CHECK, DEL: many at once, across processes; never during a GC of the same cache dir. */
  shared<T>(fn: () => Promise<T>): Promise<T>;
  /** GC: alone, across processes. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * A readers–writer lock on a cache directory, across processes, with no native code:
 *
 * - the gate `<cacheDir>/locks/gc.lock` is an exclusive lock (proper-lockfile: atomic mkdir,
 *   kept fresh while held, taken over when its holder died);
 * - a process with ADD/DEL in flight has a reader file `<cacheDir>/locks/readers/<pid>.<start>`.
 *
 * A reader passes the gate (takes and drops it) before each operation and registers itself
 * while holding it; GC takes the gate and keeps it, then waits until no live process has a
 * reader file. So no new ADD/DEL starts once GC holds the gate, and GC starts only after the
 * ones in flight are done. Files of dead processes (pid gone or reused) are removed by GC.
 */
export function createCacheDirLock(cacheDir: string, options: CacheDirLockOptions = {}): CacheDirLock {
  const waitTimeoutMs = options.waitTimeoutMs ?? 5 * 60_000;
  const pollMs = options.pollMs ?? 25;
  const lockDir = join(cacheDir, "locks");
  const readersDir = join(lockDir, "readers");
  const gate = join(lockDir, "gc");
  const myStart = startTimeOf("self") ?? "0";
  const readerFile = join(readersDir, `${process.pid}.${myStart}`);
  let inFlight = 0;
  let registering: Promise<void> | undefined;

  const timeoutError = (what: string) =>
    new CniError(CNI_ERROR_CODES.tryAgainLater, `cache directory busy`, `${what} in ${cacheDir} did not finish within ${waitTimeoutMs} ms`);

  async function takeGate(): Promise<() => Promise<void>> {
    await mkdir(readersDir, { recursive: true, mode: 0o700 });
    const deadline = Date.now() + waitTimeoutMs;
    for (;;) {
      try {
        return await lockfile.lock(gate, {
          realpath: false,
          lockfilePath: `${gate}.lock`,
          stale: 10_000,
          update: 2_000,
          retries: 0,
          // A lost gate (clock jump, blocked event loop) must not crash the process: the next GC re-checks.
          onCompromised: () => {},
        });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ELOCKED") throw error;
        if (Date.now() > deadline) throw timeoutError("a GC");
        await sleep(pollMs);
      }
    }
  }

  async function register(): Promise<void> {
    const release = await takeGate();
    try {
      if (inFlight === 0) {
        const handle = await open(readerFile, "w", 0o600);
        await handle.close();
      }
      inFlight++;
    } finally {
      await release();
    }
  }

  async function unregister(): Promise<void> {
    inFlight--;
    if (inFlight === 0) await rm(readerFile, { force: true });
  }

  async function waitForReaders(): Promise<void> {
    const deadline = Date.now() + waitTimeoutMs;
    for (;;) {
      let live = 0;
      for (const name of await readdir(readersDir)) {
        const [pid, start] = name.split(".");
        if (pid && start && (await isAlive(Number(pid), start))) live++;
        else await rm(join(readersDir, name), { force: true });
      }
      if (live === 0) return;
      if (Date.now() > deadline) throw timeoutError("ADD/DEL operations");
      await sleep(pollMs);
    }
  }

  return {
    async shared(fn) {
      // Registrations of one process go one at a time so the reader file count stays right.
      while (registering) await registering.catch(() => {});
      registering = register().finally(() => (registering = undefined));
      await registering;
      try {
        return await fn();
      } finally {
        await unregister();
      }
    },
    async exclusive(fn) {
      const release = await takeGate();
      try {
        await waitForReaders();
        return await fn();
      } finally {
        await release();
      }
    },
  };
}
