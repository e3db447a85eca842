import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createCacheDirLock, createKeyedMutex } from "./index";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("keyed mutex", () => {
  it("runs one task per key at a time, in order, and different keys in parallel", async () => {
    const mutex = createKeyedMutex();
    const log: string[] = [];
    const task = (name: string, ms: number) => async () => {
      log.push(`${name}+`);
      await sleep(ms);
      log.push(`${name}-`);
    };
    await Promise.all([mutex.run("a", task("a1", 30)), mutex.run("a", task("a2", 1)), mutex.run("b", task("b1", 1))]);
    expect(log.indexOf("a2+")).toBeGreaterThan(log.indexOf("a1-"));
    expect(log.indexOf("b1-")).toBeLessThan(log.indexOf("a1-"));
    expect(mutex.size).toBe(0);
  });
});

describe("cache dir lock", () => {
  it("GC waits for ADD/DEL in flight, and ADD/DEL wait for GC", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-lock-"));
    const lock = createCacheDirLock(dir, { pollMs: 5 });
    const log: string[] = [];
    const shared = lock.shared(async () => {
      log.push("add+");
      await sleep(100);
      log.push("add-");
    });
    await sleep(20);
    const gc = lock.exclusive(async () => {
      log.push("gc+");
      await sleep(100);
      log.push("gc-");
    });
    await sleep(20);
    const del = lock.shared(async () => {
      log.push("del+");
    });
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
