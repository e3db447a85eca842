import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import lockfile from "proper-lockfile";
import { CNI_ERROR_CODES, CniError } from "../errors";

// The lock files are tiny and local (under /var/lib/cni): their syscalls are made synchronously,
// a few microseconds each, instead of a thread-pool round trip each (see bench/README.md).

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

/**
 * /proc/<pid>/stat field 22 (start time in clock ticks): tells a live process from a reused pid.
 * A zombie (state Z: exited, not yet reaped) counts as gone.
 */
function startTimeOf(pid: number | "self"): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/** Whether `<pid>.<start>` names a process that is still running. */
function ownerAlive(owner: string): boolean {
  const [pid, start] = owner.split(".");
  if (!pid || !start || !/^\d+$/.test(pid)) return false;
  return startTimeOf(Number(pid)) === start;
}

export interface CacheDirLockOptions {
  /** How long an operation waits for a GC, a GC for operations, or an attachment for its holder; default 5 minutes. */
  waitTimeoutMs?: number;
  pollMs?: number;
}

export interface CacheDirLock {
  /** ADD, CHECK, DEL: many at once, across processes; never during a GC of the same cache dir. */
  shared<T>(fn: () => Promise<T>): Promise<T>;
  /** GC: alone, across processes. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** One operation at a time on the attachment `name` (`<net>-<containerId>-<ifname>`), across processes. */
  attachment<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

/** A lock file younger than this with no owner written yet is being created, not abandoned. */
const UNWRITTEN_GRACE_MS = 2_000;

/**
 * Locks on a cache directory, across processes, with no native code. Each lock is a file
 * created with O_EXCL that holds its owner's `<pid>.<start time>`, so a lock whose owner died
 * (pid gone or reused) is recognised at once and removed — under a short `reap` lock
 * (proper-lockfile), so that two waiters never both remove it, the second a fresh owner's.
 *
 * - `<cacheDir>/locks/gc`: held by a GC of the directory;
 * - `<cacheDir>/locks/readers/<pid>.<start>`: exists while that process has ADD/CHECK/DEL in flight;
 * - `<cacheDir>/locks/attachments/<net>-<containerId>-<ifname>`: the attachment is in use.
 *
 * A reader registers first and then looks for the GC file; GC creates the GC file first and then
 * waits until no live process is registered. Whichever comes second sees the other, so no
 * ADD/DEL starts once a GC holds the directory and a GC starts only after those in flight end;
 * a reader that sees a GC steps back and waits. Uncontended, an operation costs a stat (and,
 * when its process had none in flight, a create and an unlink) — synchronous calls of a few
 * microseconds on a local directory, cheaper than thread-pool round trips (bench/README.md).
 */
export function createCacheDirLock(cacheDir: string, options: CacheDirLockOptions = {}): CacheDirLock {
  const waitTimeoutMs = options.waitTimeoutMs ?? 5 * 60_000;
  const pollMs = options.pollMs ?? 25;
  const lockDir = join(cacheDir, "locks");
  const readersDir = join(lockDir, "readers");
  const attachmentsDir = join(lockDir, "attachments");
  const gcFile = join(lockDir, "gc");
  const reap = join(lockDir, "reap");
  const me = `${process.pid}.${startTimeOf("self") ?? "0"}`;
  const readerFile = join(readersDir, me);
  let inFlight = 0;

  const timeoutError = (what: string) =>
    new CniError(CNI_ERROR_CODES.tryAgainLater, `cache directory busy`, `${what} in ${cacheDir} did not finish within ${waitTimeoutMs} ms`, { reason: "lockTimeout" });

  async function waitFor<T>(what: string, attempt: () => T | undefined): Promise<T> {
    const deadline = Date.now() + waitTimeoutMs;
    for (;;) {
      const got = attempt();
      if (got !== undefined) return got;
      if (Date.now() > deadline) throw timeoutError(what);
      await sleep(pollMs);
    }
  }

  /** open(2) of a lock file, creating its directory the first time. */
  function openCreating(file: string, flags: "w" | "wx"): number {
    try {
      return openSync(file, flags, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      return openSync(file, flags, 0o600);
    }
  }

  /** Removes a lock file of ours. */
  function remove(file: string): void {
    try {
      unlinkSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }

  /** The owner written in `file`; "" while being created; undefined when there is no file. */
  function ownerOf(file: string): string | undefined {
    // Mostly there is none: existsSync answers without the cost of an ENOENT exception.
    if (!existsSync(file)) return undefined;
    try {
      return readFileSync(file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  /** Creates `file` holding our owner id; false when it exists. */
  function tryCreate(file: string): boolean {
    let fd: number;
    try {
      fd = openCreating(file, "wx");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw error;
    }
    try {
      writeSync(fd, me);
    } finally {
      closeSync(fd);
    }
    return true;
  }

  /** Removes `file` if it still belongs to the dead `owner`; true when it is gone. */
  function reapIfDead(file: string, owner: string): boolean {
    if (ownerAlive(owner)) return false;
    let release: () => void;
    try {
      release = lockfile.lockSync(reap, { realpath: false, lockfilePath: `${reap}.lock`, stale: 10_000, onCompromised: () => {} });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ELOCKED") return false;
      throw error;
    }
    try {
      const current = ownerOf(file);
      if (current === undefined) return true;
      if (current !== owner) return false;
      if (current === "" && Date.now() - statSync(file).mtimeMs < UNWRITTEN_GRACE_MS) return false;
      unlinkSync(file);
      return true;
    } finally {
      release();
    }
  }

  /** Takes the lock file `file`, waiting while a live owner holds it. */
  function acquire(file: string, what: string): Promise<() => void> {
    return waitFor(what, () => {
      // Retried at once when the file just went away or its dead owner's file was removed.
      for (let tries = 0; tries < 3; tries++) {
        if (tryCreate(file)) return () => remove(file);
        const owner = ownerOf(file);
        if (owner !== undefined && !reapIfDead(file, owner)) return undefined;
      }
      return undefined;
    });
  }

  function register(): void {
    if (inFlight++ === 0) closeSync(openCreating(readerFile, "w"));
  }

  function unregister(): void {
    if (--inFlight === 0) remove(readerFile);
  }

  /** Registers as a reader unless a (live) GC holds the directory. */
  function tryEnter(): true | undefined {
    register();
    const owner = ownerOf(gcFile);
    if (owner === undefined) return true;
    unregister();
    reapIfDead(gcFile, owner);
    return undefined;
  }

  /** Live registered readers; files of dead processes are removed. */
  function liveReaders(): number {
    let live = 0;
    for (const name of readdirSync(readersDir)) {
      if (ownerAlive(name)) live++;
      else remove(join(readersDir, name));
    }
    return live;
  }

  return {
    async shared(fn) {
      await waitFor("a GC", tryEnter);
      try {
        return await fn();
      } finally {
        unregister();
      }
    },
    async exclusive(fn) {
      mkdirSync(readersDir, { recursive: true, mode: 0o700 });
      const release = await acquire(gcFile, "another GC");
      try {
        await waitFor("ADD/DEL operations", () => (liveReaders() === 0 ? true : undefined));
        return await fn();
      } finally {
        release();
      }
    },
    async attachment(name, fn) {
      const release = await acquire(join(attachmentsDir, name), `an operation on attachment ${name}`);
      try {
        return await fn();
      } finally {
        release();
      }
    },
  };
}
