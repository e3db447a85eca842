import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmdirSync, statSync, symlinkSync, unlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
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

/** How old a reap lock must be before another process takes it over (its holder died holding it). */
const REAP_STALE_MS = 10_000;

/**
 * A lock across processes for the microseconds of a reap: a directory (mkdir is atomic), taken
 * over once older than REAP_STALE_MS; undefined when another process holds it. proper-lockfile's
 * scheme, without loading it (and graceful-fs, which patches fs) at every start of the CLI.
 */
function tryLockDir(path: string): (() => void) | undefined {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      mkdirSync(path);
      return () => rmdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const held = statSync(path, { throwIfNoEntry: false });
    if (held && Date.now() - held.mtimeMs < REAP_STALE_MS) return undefined;
    try {
      rmdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return undefined;
}

export interface CacheDirLockOptions {
  /** How long an operation waits for a GC, a GC for operations, or an attachment for its holder; default 5 minutes. */
  waitTimeoutMs?: number;
  pollMs?: number;
  /**
   * How long this process stays registered as a reader after its last operation; default 1000 ms.
   * Back-to-back operations then skip a create and an unlink each; a GC of another process waits
   * at most this much longer (a GC of this process does not wait for it).
   */
  readerLingerMs?: number;
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
 * that names its owner's `<pid>.<start time>` (a symlink to it, made in one call), so a lock whose owner died
 * (pid gone or reused) is recognised at once and removed — under a short `reap` lock
 * (tryLockDir), so that two waiters never both remove it, the second a fresh owner's.
 *
 * - `<cacheDir>/locks/gc`: held by a GC of the directory;
 * - `<cacheDir>/locks/readers/<pid>.<start>`: exists while that process has ADD/CHECK/DEL in flight
 *   (and for `readerLingerMs` after);
 * - `<cacheDir>/locks/attachments/<net>-<containerId>-<ifname>`: the attachment is in use.
 *
 * A reader registers first and then looks for the GC file; GC creates the GC file first and then
 * waits until no live process is registered. Whichever comes second sees the other, so no
 * ADD/DEL starts once a GC holds the directory and a GC starts only after those in flight end;
 * a reader that sees a GC steps back and waits. Uncontended, an operation costs a stat of the GC
 * file and a symlink and an unlink for its attachment (plus, when its process was idle longer than
 * `readerLingerMs`, a create and an unlink) — synchronous calls of a few microseconds on a local
 * directory, cheaper than thread-pool round trips (bench/README.md).
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
  const lingerMs = options.readerLingerMs ?? 1000;
  let inFlight = 0;
  let registered = false;
  let linger: NodeJS.Timeout | undefined;

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

  /** Runs a create call, creating the file's directory the first time. */
  function creating<T>(file: string, create: () => T): T {
    try {
      return create();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      return create();
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

  /**
   * The owner `file` names; undefined when there is no file. A lock is a symlink whose target is
   * its owner: created with its owner in one call. A regular file (an earlier version's lock, which
   * held its owner as content) is read; "" while such a file was being written.
   */
  function ownerOf(file: string, mostlyAbsent = false): string | undefined {
    // lstat answers "none" without the cost of an ENOENT exception (existsSync would follow the link).
    if (mostlyAbsent && !lstatSync(file, { throwIfNoEntry: false })) return undefined;
    try {
      return readlinkSync(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      if (code !== "EINVAL") throw error;
    }
    try {
      return readFileSync(file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  /** Creates the lock `file` naming us; false when it exists. One symlink(2): no window without an owner. */
  function tryCreate(file: string): boolean {
    try {
      creating(file, () => symlinkSync(me, file));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw error;
    }
  }

  /** Removes `file` if it still belongs to the dead `owner`; true when it is gone. */
  function reapIfDead(file: string, owner: string): boolean {
    if (ownerAlive(owner)) return false;
    const release = tryLockDir(`${reap}.lock`);
    if (!release) return false;
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
    inFlight++;
    if (linger) {
      clearTimeout(linger);
      linger = undefined;
    }
    if (!registered) {
      closeSync(creating(readerFile, () => openSync(readerFile, "w", 0o600)));
      registered = true;
      process.once("exit", leaveAtExit);
    }
  }

  /**
   * A process that exits while registered (a command that ran one operation exits within
   * readerLingerMs) takes its reader file with it: no file per run is left for a GC to reap.
   * 'exit' listeners run on a natural exit and on process.exit() alike, synchronously.
   */
  function leaveAtExit(): void {
    try {
      if (registered) unlinkSync(readerFile);
    } catch {
      // Gone already, or not ours to remove any more: a dead owner's file is reaped anyway.
    }
  }

  function deregister(): void {
    if (linger) clearTimeout(linger);
    linger = undefined;
    if (inFlight === 0 && registered) {
      remove(readerFile);
      registered = false;
      process.removeListener("exit", leaveAtExit);
    }
  }

  function unregister(): void {
    if (--inFlight > 0 || !registered) return;
    if (lingerMs <= 0) return deregister();
    linger = setTimeout(deregister, lingerMs);
    linger.unref();
  }

  /** Registers as a reader unless a (live) GC holds the directory. */
  function tryEnter(): true | undefined {
    register();
    const owner = ownerOf(gcFile, true);
    if (owner === undefined) return true;
    // Stepping back for a GC: no lingering, the GC waits for our file.
    inFlight--;
    deregister();
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
      // Our own lingering registration is not an operation in flight.
      deregister();
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
