import { afterEach, describe, expect, it } from "vitest";
import type { Db } from "@switchyard/db";
import { clockOffsetMs, dbNowMs, startClockSync, syncClockWithDatabase } from "./clock";

/** A database whose clock is `aheadMs` ahead of this process's (or one that fails). */
const dbAhead = (aheadMs: number | "down") =>
  ({
    $queryRaw: async () => {
      if (aheadMs === "down") throw new Error("connect ECONNREFUSED");
      return [{ now: new Date(Date.now() + aheadMs) }];
    },
  }) as unknown as Db;

afterEach(async () => {
  await syncClockWithDatabase(dbAhead(0));
});

describe("the console's clock: the database's", () => {
  it("keeps time by the database's clock once measured, whatever this process's says", async () => {
    expect(Math.abs(dbNowMs() - Date.now())).toBeLessThan(100);
    await syncClockWithDatabase(dbAhead(-600_000));
    expect(Math.abs(clockOffsetMs() + 600_000)).toBeLessThan(100);
    expect(Math.abs(dbNowMs() - (Date.now() - 600_000))).toBeLessThan(100);
  });

  it("logs an offset over a second once, keeps the last offset when the database cannot be read, and says so once", async () => {
    const lines: Record<string, unknown>[] = [];
    const sync = startClockSync(dbAhead(600_000), { intervalMs: 60_000, log: (e) => lines.push(e) });
    await sync.ready;
    sync.stop();
    expect(lines).toMatchObject([{ level: "warn", msg: "this console process's clock differs from the database's; the console keeps time by the database's" }]);
    expect(Math.abs((lines[0]!.offsetMs as number) - 600_000)).toBeLessThan(100);
    const down = startClockSync(dbAhead("down"), { log: (e) => lines.push(e) });
    await down.ready;
    down.stop();
    expect(lines.at(-1)).toMatchObject({ msg: "could not read the database's clock; keeping the last offset" });
    expect(Math.abs(clockOffsetMs() - 600_000)).toBeLessThan(100);
  });
});
