import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Db, createDb, isBusyError } from "../src/index";
import { createTestDb, type TestDb } from "../src/testing";

/**
 * A database too busy to take more work, made for real: one connection held by a transaction
 * that sleeps, and more work asked of it. What fails must be recognised as "busy" (the console
 * answers 503 with Retry-After), and what it held must not be changed.
 */
describe(`a busy database is recognised (${process.env.SWITCHYARD_TEST_DB ?? "pglite"})`, () => {
  let t: TestDb;
  let db: Db;
  beforeAll(async () => {
    t = await createTestDb();
    // One connection, and 300 ms to wait for it (PGlite has one connection whatever the pool says).
    db = t.kind === "postgres" ? createDb(t.url, { max: 1, waitMs: 300 }) : t.db;
  });
  afterAll(async () => {
    if (db !== t.db) await db.$disconnect();
    await t?.close();
  });

  const holdFor = (ms: number, name: string) =>
    db.$transaction(async (tx) => {
      await tx.network.create({ data: { name } });
      await tx.$executeRawUnsafe(`SELECT pg_sleep(${ms / 1000})`);
    }, { timeout: 10_000 });

  // PGlite is one connection in this process: its adapter queues a transaction until the one before ends, whatever maxWait says.
  it.runIf(process.env.SWITCHYARD_TEST_DB === "postgres")("a transaction that cannot start within its maxWait is busy, and changes nothing", async () => {
    const holding = holdFor(1500, "held-1");
    await new Promise((r) => setTimeout(r, 100));
    const error = await db.$transaction(async (tx) => tx.network.create({ data: { name: "waiting" } }), { maxWait: 200 }).catch((e: unknown) => e);
    await holding;
    expect(error).toBeInstanceOf(Error);
    expect(isBusyError(error)).toBe(true);
    expect(await db.network.count({ where: { name: "waiting" } })).toBe(0);
    expect(await db.network.count({ where: { name: "held-1" } })).toBe(1);
  });

  it.runIf(process.env.SWITCHYARD_TEST_DB === "postgres")("a query that gets no connection from the pool within its wait is busy", async () => {
    const holding = holdFor(1500, "held-2");
    await new Promise((r) => setTimeout(r, 100));
    const error = await db.network.findMany().catch((e: unknown) => e);
    await holding;
    expect(isBusyError(error)).toBe(true);
  });

  it("other errors are not busy", async () => {
    await db.network.create({ data: { name: "taken" } });
    const duplicate = await db.network.create({ data: { name: "taken" } }).catch((e: unknown) => e);
    expect(duplicate).toBeInstanceOf(Error);
    expect(isBusyError(duplicate)).toBe(false);
    expect(isBusyError(new Error("boom"))).toBe(false);
  });
});
