import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, mapPrismaError, Prisma } from "../src/index";
import { createTestDb, type TestDb } from "../src/testing";

describe(`createTestDb (${process.env.SWITCHYARD_TEST_DB ?? "pglite"})`, () => {
  let a: TestDb;
  let b: TestDb;
  beforeAll(async () => {
    const t0 = performance.now();
    a = await createTestDb();
    const t1 = performance.now();
    b = await createTestDb();
    const t2 = performance.now();
    console.log(`createTestDb(${a.kind}): first ${Math.round(t1 - t0)} ms, second ${Math.round(t2 - t1)} ms`);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it("gives isolated databases", async () => {
    await a.db.network.create({ data: { name: "only-in-a" } });
    expect(await a.db.network.count({ where: { name: "only-in-a" } })).toBe(1);
    expect(await b.db.network.count({ where: { name: "only-in-a" } })).toBe(0);
  });

  it("round-trips CRUD, omits passwordHash by default, maps unique and not-found errors", async () => {
    const user = await a.db.user.create({ data: { username: "ada", passwordHash: "scrypt$x" } });
    expect(user).not.toHaveProperty("passwordHash");
    const withHash = await a.db.user.findUniqueOrThrow({ where: { id: user.id }, omit: { passwordHash: false } });
    expect(withHash.passwordHash).toBe("scrypt$x");

    const network = await a.db.network.create({ data: { name: "lan" } });
    await a.db.$transaction(async (tx) => {
      await tx.networkRevision.create({
        data: { networkId: network.id, number: 1, conflist: { cniVersion: "1.0.0", plugins: [] } as Prisma.InputJsonValue, text: '{"cniVersion":"1.0.0","plugins":[]}', authorId: user.id },
      });
      await tx.network.update({ where: { id: network.id }, data: { latestRevision: 1 } });
    });
    const loaded = await a.db.network.findUniqueOrThrow({ where: { id: network.id }, include: { revisions: true } });
    expect(loaded.latestRevision).toBe(1);
    expect(loaded.revisions[0]?.conflist).toEqual({ cniVersion: "1.0.0", plugins: [] });

    const dup = await a.db.user.create({ data: { username: "ada", passwordHash: "y" } }).catch((e: unknown) => e);
    expect(mapPrismaError(dup)).toEqual({ code: "CONFLICT", fields: ["username"] });
    const missing = await a.db.user.delete({ where: { id: "nope" } }).catch((e: unknown) => e);
    expect(mapPrismaError(missing)).toEqual({ code: "NOT_FOUND" });

    await a.db.network.delete({ where: { id: network.id } });
    expect(await a.db.networkRevision.count()).toBe(0);
  });

  it("runs SELECT … FOR UPDATE SKIP LOCKED through $queryRaw", async () => {
    await b.db.auditEvent.createMany({
      data: [
        { action: "network.create", outcome: "success" },
        { action: "network.delete", outcome: "denied" },
      ],
    });
    const picked = await b.db.$transaction(
      (tx) => tx.$queryRaw<{ id: number; action: string }[]>`
        SELECT id, action FROM "AuditEvent" ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`,
    );
    expect(picked).toEqual([{ id: expect.any(Number), action: "network.create" }]);
  });

  it("is reachable again through createDb(url) in the same process", async () => {
    const again = createDb(b.url);
    try {
      expect(await again.auditEvent.count()).toBeGreaterThanOrEqual(0);
    } finally {
      await again.$disconnect();
    }
  });
});

describe("createTestDb (pglite-dir): PGlite on a directory, as the console's embedded database", () => {
  it("is migrated, keeps its rows on the directory across a reopen, and is removed on close", async () => {
    const t = await createTestDb("pglite-dir");
    const dir = t.url.slice("file:".length);
    try {
      expect(t.kind).toBe("pglite-dir");
      expect(fs.existsSync(`${dir}/PG_VERSION`)).toBe(true);
      await t.db.network.create({ data: { name: "on-disk" } });
      await t.db.$disconnect();
      const again = createDb(t.url);
      try {
        expect(await again.network.count({ where: { name: "on-disk" } })).toBe(1);
      } finally {
        await again.$disconnect();
      }
    } finally {
      await t.close();
    }
    expect(fs.existsSync(dir)).toBe(false);
  });
});
