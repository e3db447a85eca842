import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setupApiTest, type ApiTest } from "../testing";

let t: ApiTest;
beforeAll(async () => {
  t = await setupApiTest();
});
afterAll(() => t?.close());

const codeOf = (p: Promise<unknown>) => p.then(() => "OK", (e: unknown) => (e instanceof TRPCError ? e.code : String(e)));

describe("users", () => {
  it("lets an admin create users, never returning or auditing the password hash", async () => {
    const admin = await t.callerAs("admin", "ada");
    const created = await admin.caller.users.create({ username: "nora", displayName: "Nora", password: "correct horse battery", role: "operator" });
    expect(created).not.toHaveProperty("passwordHash");
    const listed = await admin.caller.users.list();
    expect(listed.find((u) => u.username === "nora")).toMatchObject({ role: "operator", disabled: false });
    for (const u of listed) expect(u).not.toHaveProperty("passwordHash");
    const events = await t.db.auditEvent.findMany();
    const dump = JSON.stringify(events);
    expect(dump).not.toContain("scrypt$");
    expect(dump).not.toContain("correct horse battery");
  });

  it("refuses user management to operators and viewers (FORBIDDEN) and to anonymous callers (UNAUTHORIZED)", async () => {
    const target = await t.createUserRow("target-user", "viewer");
    for (const role of ["viewer", "operator"] as const) {
      const { caller } = await t.callerAs(role);
      expect(await codeOf(caller.users.list())).toBe("FORBIDDEN");
      expect(await codeOf(caller.users.create({ username: `x-${role}`, password: "a long enough password", role: "admin" }))).toBe("FORBIDDEN");
      expect(await codeOf(caller.users.setRole({ id: target.id, role: "admin" }))).toBe("FORBIDDEN");
      expect(await codeOf(caller.users.setDisabled({ id: target.id, disabled: true }))).toBe("FORBIDDEN");
      expect(await codeOf(caller.users.resetPassword({ id: target.id, password: "a long enough password" }))).toBe("FORBIDDEN");
    }
    expect(await codeOf(t.anonymous.users.list())).toBe("UNAUTHORIZED");
    expect(await codeOf(t.anonymous.users.setRole({ id: target.id, role: "admin" }))).toBe("UNAUTHORIZED");
    expect((await t.db.user.findUniqueOrThrow({ where: { id: target.id } })).role).toBe("viewer");
  });

  it("refuses an operator granting itself admin, and audits the attempt", async () => {
    const { user, caller } = await t.callerAs("operator", "climber");
    expect(await codeOf(caller.users.setRole({ id: user.id, role: "admin" }))).toBe("FORBIDDEN");
    expect((await t.db.user.findUniqueOrThrow({ where: { id: user.id } })).role).toBe("operator");
    const event = await t.db.auditEvent.findFirst({ where: { actorName: "climber", action: "users.setRole" } });
    expect(event?.outcome).toBe("denied");
    expect(event?.targetId).toBe(user.id);
  });

  it("never demotes or disables the last enabled admin", async () => {
    const fresh = await setupApiTest();
    try {
      const { user, caller } = await fresh.callerAs("admin", "solo");
      expect(await codeOf(caller.users.setRole({ id: user.id, role: "operator" }))).toBe("PRECONDITION_FAILED");
      expect(await codeOf(caller.users.setDisabled({ id: user.id, disabled: true }))).toBe("PRECONDITION_FAILED");
      expect(await fresh.db.user.findUniqueOrThrow({ where: { id: user.id } })).toMatchObject({ role: "admin", disabled: false });
      const second = await caller.users.create({ username: "second", password: "another long password", role: "admin" });
      await caller.users.setRole({ id: user.id, role: "operator" });
      expect((await fresh.db.user.findUniqueOrThrow({ where: { id: user.id } })).role).toBe("operator");
      expect(second.role).toBe("admin");
    } finally {
      await fresh.close();
    }
  });

  it("never lets two admins demote each other at the same moment", async () => {
    const fresh = await setupApiTest();
    try {
      const a = await fresh.callerAs("admin", "alpha");
      const b = await fresh.callerAs("admin", "beta");
      const results = await Promise.all([
        codeOf(a.caller.users.setRole({ id: b.user.id, role: "viewer" })),
        codeOf(b.caller.users.setRole({ id: a.user.id, role: "viewer" })),
      ]);
      expect(results.sort()).toEqual(["OK", "PRECONDITION_FAILED"]);
      expect(await fresh.db.user.count({ where: { role: "admin", disabled: false } })).toBe(1);
    } finally {
      await fresh.close();
    }
  });

  it("signs a disabled user out everywhere", async () => {
    const admin = await t.callerAs("admin");
    const victim = await t.createUserRow("leaving", "operator");
    await t.db.session.create({ data: { id: "s-leaving", userId: victim.id, expiresAt: new Date(Date.now() + 60_000) } });
    await admin.caller.users.setDisabled({ id: victim.id, disabled: true });
    expect(await t.db.session.count({ where: { userId: victim.id } })).toBe(0);
  });

  it("lets an admin reset a password, which signs the user out everywhere", async () => {
    const admin = await t.callerAs("admin");
    const user = await t.createUserRow("forgetful", "viewer", "the old long password");
    await t.db.session.create({ data: { id: "s-forgetful", userId: user.id, expiresAt: new Date(Date.now() + 60_000) } });
    await admin.caller.users.resetPassword({ id: user.id, password: "the new long password" });
    expect(await t.db.session.count({ where: { userId: user.id } })).toBe(0);
    expect(await codeOf(t.anonymous.auth.signIn({ username: "forgetful", password: "the new long password" }))).toBe("OK");
    expect(await codeOf(t.anonymous.auth.signIn({ username: "forgetful", password: "the old long password" }))).toBe("UNAUTHORIZED");
    const event = await t.db.auditEvent.findFirst({ where: { action: "users.resetPassword", targetId: user.id } });
    expect(event?.outcome).toBe("success");
    expect(JSON.stringify(event)).not.toContain("the new long password");
  });

  it("validates input with clear errors", async () => {
    const admin = await t.callerAs("admin");
    expect(await codeOf(admin.caller.users.create({ username: "Bad Name", password: "long enough password", role: "viewer" }))).toBe("BAD_REQUEST");
    expect(await codeOf(admin.caller.users.create({ username: "shortpw", password: "short", role: "viewer" }))).toBe("BAD_REQUEST");
    await admin.caller.users.create({ username: "twice", password: "long enough password", role: "viewer" });
    expect(await codeOf(admin.caller.users.create({ username: "twice", password: "long enough password", role: "viewer" }))).toBe("CONFLICT");
    expect(await codeOf(admin.caller.users.setRole({ id: "nobody", role: "viewer" }))).toBe("NOT_FOUND");
  });
});
