import { spawn } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createCacheDirLock, createKeyedMutex } from "./index";

/** A promise the test resolves when it chooses: tasks hold a lock until their gate opens. */
function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** Resolves once `condition` holds (checked every 5 ms, for at most 10 s). */
async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met within 10 s");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("keyed mutex", () => {
  it("runs one task per key at a time, in order, and different keys in parallel", async () => {
    const mutex = createKeyedMutex();
    const log: string[] = [];
    const a1 = gate();
    const task = (name: string, until?: Promise<void>) => async () => {
      log.push(`${name}+`);
      await until;
      log.push(`${name}-`);
    };
    const all = Promise.all([mutex.run("a", task("a1", a1.wait)), mutex.run("a", task("a2")), mutex.run("b", task("b1"))]);
    // b1 runs to its end while a1 holds "a"; a2 waits for a1.
    await waitFor(() => log.includes("b1-"));
    expect(log).toEqual(["a1+", "b1+", "b1-"]);
    a1.open();
    await all;
    expect(log).toEqual(["a1+", "b1+", "b1-", "a1-", "a2+", "a2-"]);
    expect(mutex.size).toBe(0);
  });
});

describe("cache dir lock", () => {
  it("GC waits for ADD/DEL in flight, and ADD/DEL wait for GC", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-lock-"));
    const lock = createCacheDirLock(dir, { pollMs: 5, readerLingerMs: 0 });
    const log: string[] = [];
    const addGate = gate();
    const gcGate = gate();
    const shared = lock.shared(async () => {
      log.push("add+");
      await addGate.wait;
      log.push("add-");
    });
    const gc = lock.exclusive(async () => {
      log.push("gc+");
      await gcGate.wait;
      log.push("gc-");
    });
    // The GC holds the directory's GC file and waits for the ADD; a DEL that comes now waits for the GC.
    await waitFor(() => lstatSync(join(dir, "locks", "gc"), { throwIfNoEntry: false }) !== undefined);
    const del = lock.shared(async () => {
      log.push("del+");
    });
    expect(log).toEqual(["add+"]);
    addGate.open();
    await waitFor(() => log.includes("gc+"));
    expect(log).toEqual(["add+", "add-", "gc+"]);
    gcGate.open();
    await Promise.all([shared, gc, del]);
    expect(log).toEqual(["add+", "add-", "gc+", "gc-", "del+"]);
    expect(readdirSync(join(dir, "locks", "readers"))).toEqual([]);
  });

  it("does not wait for reader files of dead processes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-lock-"));
    mkdirSync(join(dir, "locks", "readers"), { recursive: true });
    const stale = join(dir, "locks", "readers", "999999999.12345");
    writeFileSync(stale, "");
    const lock = createCacheDirLock(dir, { pollMs: 5, waitTimeoutMs: 2000 });
    expect(await lock.exclusive(async () => "ran")).toBe("ran");
    expect(existsSync(stale)).toBe(false);
  });

  it("gives up with try-again-later (11) when the other side never finishes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-lock-"));
    mkdirSync(join(dir, "locks", "readers"), { recursive: true });
    // A live process (ourselves, another start time is not needed: pid 1 is always alive).
    const { readFileSync } = await import("node:fs");
    const stat = readFileSync("/proc/1/stat", "utf8");
    writeFileSync(join(dir, "locks", "readers", `1.${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`), "");
    const lock = createCacheDirLock(dir, { pollMs: 5, waitTimeoutMs: 200 });
    await expect(lock.exclusive(async () => "ran")).rejects.toMatchObject({ code: 11 });
  });
});

describe("attachment lock", () => {
  /** `<pid>.<start time>` of a live process, as the lock files hold it. */
  function ownerId(pid: number): string {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return `${pid}.${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`;
  }
  function lockFile(dir: string, name: string, owner: string): string {
    mkdirSync(join(dir, "locks", "attachments"), { recursive: true });
    const file = join(dir, "locks", "attachments", name);
    writeFileSync(file, owner);
    return file;
  }

  it("one operation per attachment at a time; other attachments run alongside", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-lock-"));
    const lock = createCacheDirLock(dir, { pollMs: 5 });
    const log: string[] = [];
    const a1 = gate();
    const op = (name: string, tag: string, until?: Promise<void>) =>
      lock.attachment(name, async () => {
        log.push(`${tag}+`);
        expect(readlinkSync(join(dir, "locks", "attachments", name))).toBe(ownerId(process.pid));
        await until;
        log.push(`${tag}-`);
      });
    const all = Promise.all([op("net-a-eth0", "a1", a1.wait), op("net-a-eth0", "a2"), op("net-b-eth0", "b")]);
    await waitFor(() => log.includes("b-"));
    expect(log).toEqual(["a1+", "b+", "b-"]);
    a1.open();
    await all;
    expect(log.slice(3)).toEqual(["a1-", "a2+", "a2-"]);
    expect(readdirSync(join(dir, "locks", "attachments"))).toEqual([]);
  });

  it("waits while another live process holds the attachment, and goes on once it has exited", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-lock-"));
    const holder = spawn("sleep", ["600"]);
    await new Promise((resolve) => holder.once("spawn", resolve));
    const file = lockFile(dir, "net-c-eth0", ownerId(holder.pid!));
    const lock = createCacheDirLock(dir, { pollMs: 10, waitTimeoutMs: 10_000 });
    // Run once the holder has exited: gone, or a zombie not yet reaped (state Z).
    const holderState = () => (existsSync(`/proc/${holder.pid}/stat`) ? readFileSync(`/proc/${holder.pid}/stat`, "utf8").split(") ")[1]![0] : "gone");
    // The first attempt happens at the call, and finds the holder alive.
    const op = lock.attachment("net-c-eth0", async () => ({ owner: readlinkSync(file), holder: holderState() }));
    holder.kill("SIGKILL");
    const seen = await op;
    expect(seen.owner).toBe(ownerId(process.pid));
    expect(["Z", "gone"]).toContain(seen.holder);
    expect(existsSync(file)).toBe(false);
  });

  it("takes over at once the file of a dead owner, and gives up with code 11 on a live one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-lock-"));
    lockFile(dir, "net-d-eth0", "999999999.12345");
    // At once: a poll would outlast the wait timeout and fail with code 11.
    const patient = createCacheDirLock(dir, { pollMs: 60_000, waitTimeoutMs: 0 });
    expect(await patient.attachment("net-d-eth0", async () => "ran")).toBe("ran");
    const lock = createCacheDirLock(dir, { pollMs: 5, waitTimeoutMs: 200 });
    lockFile(dir, "net-e-eth0", ownerId(1));
    await expect(lock.attachment("net-e-eth0", async () => "ran")).rejects.toMatchObject({ code: 11, reason: "lockTimeout" });
  });

  it("leaves a just-created file without owner alone, and removes one that stayed empty", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-lock-"));
    const file = lockFile(dir, "net-f-eth0", "");
    const lock = createCacheDirLock(dir, { pollMs: 5, waitTimeoutMs: 100 });
    await expect(lock.attachment("net-f-eth0", async () => "ran")).rejects.toMatchObject({ code: 11 });
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    expect(await lock.attachment("net-f-eth0", async () => "ran")).toBe("ran");
  });

  it("an ADD/DEL waits for a live GC of another process and passes a dead one's file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-lock-"));
    mkdirSync(join(dir, "locks"), { recursive: true });
    const holder = spawn("sleep", ["600"]);
    await new Promise((resolve) => holder.once("spawn", resolve));
    symlinkSync(ownerId(holder.pid!), join(dir, "locks", "gc"));
    const lock = createCacheDirLock(dir, { pollMs: 10, waitTimeoutMs: 10_000, readerLingerMs: 0 });
    let holderExited = false;
    holder.once("exit", () => (holderExited = true));
    // The first attempt happens at the call, and finds the GC's owner alive.
    const op = lock.shared(async () => (lstatSync(join(dir, "locks", "gc"), { throwIfNoEntry: false }) ? "ran during the GC" : "ran"));
    holder.kill("SIGKILL");
    expect(await op).toBe("ran");
    expect(holderExited).toBe(true);
    writeFileSync(join(dir, "locks", "gc"), "999999999.1");
    expect(await lock.shared(async () => "ran")).toBe("ran");
    expect(existsSync(join(dir, "locks", "gc"))).toBe(false);
    expect(readdirSync(join(dir, "locks", "readers"))).toEqual([]);
  });

  it("a registered reader removes its file when the process exits, and stops listening once it is no longer registered", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-lock-"));
    const listeners = () => process.listeners("exit").length;
    const before = listeners();
    const lock = createCacheDirLock(dir, { pollMs: 5, readerLingerMs: 20 });
    await lock.shared(async () => "ran");
    // Lingering: one 'exit' listener, which takes the file away if the process ends now.
    expect(readdirSync(join(dir, "locks", "readers"))).toEqual([ownerId(process.pid)]);
    expect(listeners()).toBe(before + 1);
    process.listeners("exit").at(-1)!.call(process, 0);
    expect(readdirSync(join(dir, "locks", "readers"))).toEqual([]);
    // After the linger the registration ends and its listener goes: a long-lived process collects none.
    await waitFor(() => listeners() === before);
    for (let i = 0; i < 3; i++) await createCacheDirLock(dir, { readerLingerMs: 0 }).shared(async () => "ran");
    expect(listeners()).toBe(before);
  });

  it("a process stays registered as a reader for readerLingerMs after its last operation; its own GC does not wait for that", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-lock-"));
    const lock = createCacheDirLock(dir, { pollMs: 5, waitTimeoutMs: 1000, readerLingerMs: 60_000 });
    await lock.shared(async () => "ran");
    expect(readdirSync(join(dir, "locks", "readers"))).toEqual([ownerId(process.pid)]);
    // A GC of this process runs at once (a wait would outlast waitTimeoutMs with the 60 s linger) and ends it.
    expect(await lock.exclusive(async () => readdirSync(join(dir, "locks", "readers")))).toEqual([]);
    const short = createCacheDirLock(dir, { pollMs: 5, readerLingerMs: 20 });
    await short.shared(async () => "ran");
    await waitFor(() => readdirSync(join(dir, "locks", "readers")).length === 0);
  });

  it("an attachment's lock is a symlink naming its owner; an earlier version's regular lock file is still honoured", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-lock-"));
    const lock = createCacheDirLock(dir, { pollMs: 5, waitTimeoutMs: 100 });
    const file = join(dir, "locks", "attachments", "net-g-eth0");
    expect(await lock.attachment("net-g-eth0", async () => lstatSync(file).isSymbolicLink() && readlinkSync(file))).toBe(ownerId(process.pid));
    writeFileSync(file, ownerId(1));
    await expect(lock.attachment("net-g-eth0", async () => "ran")).rejects.toMatchObject({ code: 11 });
  });
});
