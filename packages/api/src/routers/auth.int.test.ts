import { TRPCError } from "@trpc/server";
import { createDb } from "@switchyard/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SESSION_COOKIE, validateSessionToken } from "../auth/session";
import { ensureBootstrapAdmin } from "../domain/users";
import { setupApiTest, type ApiTest } from "../testing";

let t: ApiTest;
beforeAll(async () => {
  t = await setupApiTest();
});
afterAll(() => t?.close());

const codeOf = (p: Promise<unknown>) => p.then(() => "OK", (e: unknown) => (e instanceof TRPCError ? e.code : String(e)));
const tokenFrom = (cookie: string) => cookie.split(";")[0]!.split("=")[1]!;

describe("bootstrap", () => {
  it("creates the first admin once, from a one-time secret, and never again", async () => {
    const fresh = await setupApiTest();
    try {
      const first = await ensureBootstrapAdmin(fresh.db, {});
      expect(first.created).toBe(true);
      if (!first.created) return;
      expect(first.secret).toMatch(/^[A-Za-z0-9_-]{20,}$/);
      expect(await ensureBootstrapAdmin(fresh.db, {})).toEqual({ created: false });
      expect(await fresh.db.user.count()).toBe(1);
      await fresh.anonymous.auth.signIn({ username: "admin", password: first.secret! });
      expect(fresh.cookies.at(-1)).toContain(`${SESSION_COOKIE}=`);
      const audit = JSON.stringify(await fresh.db.auditEvent.findMany());
      expect(audit).not.toContain(first.secret);
    } finally {
      await fresh.close();
    }
  });

  it("of replicas starting together on an empty database, one creates the admin and none fails", async () => {
    const fresh = await setupApiTest();
    // Each replica has its own pool (PGlite is one process: its connection is shared).
    const clients = fresh.kind === "postgres" ? [0, 1, 2, 3].map(() => createDb(fresh.url)) : [fresh.db];
    try {
      const results = await Promise.all([0, 1, 2, 3].map((i) => ensureBootstrapAdmin(clients[i % clients.length]!, { password: "operator chosen secret" })));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(await fresh.db.user.count()).toBe(1);
      expect(await fresh.db.auditEvent.count({ where: { action: "users.bootstrap" } })).toBe(1);
    } finally {
      if (fresh.kind === "postgres") await Promise.all(clients.map((c) => c.$disconnect()));
      await fresh.close();
    }
  });

  it("uses SWITCHYARD_ADMIN_PASSWORD when the operator sets one", async () => {
    const fresh = await setupApiTest();
    try {
      const result = await ensureBootstrapAdmin(fresh.db, { password: "operator chosen secret" });
      expect(result).toEqual({ created: true, username: "admin", secret: null });
      expect(await codeOf(fresh.anonymous.auth.signIn({ username: "admin", password: "operator chosen secret" }))).toBe("OK");
    } finally {
      await fresh.close();
    }
  });
});

describe("sign-in and sessions", () => {
  it("sets an httpOnly SameSite cookie whose token maps to a stored hashed session", async () => {
    await t.createUserRow("sam", "operator", "sam's long password");
    const res = await t.caller(null, { sourceIp: "127.0.0.7" }).auth.signIn({ username: "sam", password: "sam's long password" });
    expect(res).not.toHaveProperty("token");
    const cookie = t.cookies.at(-1)!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    const token = tokenFrom(cookie);
    expect(await t.db.session.count({ where: { id: token } })).toBe(0);
    const session = await validateSessionToken(t.db, token, t.deps.sessionPolicy);
    expect(session?.user.username).toBe("sam");
    const event = await t.db.auditEvent.findFirst({ where: { action: "auth.signIn", actorName: "sam", outcome: "success" } });
    expect(event).not.toBeNull();
  });

  it("refuses a wrong password or unknown user the same way and audits it", async () => {
    await t.createUserRow("wendy", "viewer", "wendy's long password");
    expect(await codeOf(t.anonymous.auth.signIn({ username: "wendy", password: "wrong password!" }))).toBe("UNAUTHORIZED");
    expect(await codeOf(t.anonymous.auth.signIn({ username: "ghost", password: "wrong password!" }))).toBe("UNAUTHORIZED");
    const denied = await t.db.auditEvent.findMany({ where: { action: "auth.signIn", outcome: "denied" } });
    expect(denied.map((d) => d.actorName)).toEqual(expect.arrayContaining(["wendy", "ghost"]));
    expect(JSON.stringify(denied)).not.toContain("wrong password!");
  });

  it("refuses a disabled user", async () => {
    const u = await t.createUserRow("dora", "viewer", "dora's long password");
    await t.db.user.update({ where: { id: u.id }, data: { disabled: true } });
    expect(await codeOf(t.anonymous.auth.signIn({ username: "dora", password: "dora's long password" }))).toBe("UNAUTHORIZED");
  });

  it("expires sessions and extends a live one past half its lifetime", async () => {
    await t.createUserRow("eve", "viewer", "eve's long password");
    await t.anonymous.auth.signIn({ username: "eve", password: "eve's long password" });
    const token = tokenFrom(t.cookies.at(-1)!);
    const { createHash } = await import("node:crypto");
    const id = createHash("sha256").update(token).digest("hex");
    await t.db.session.update({ where: { id }, data: { expiresAt: new Date(Date.now() + 60_000) } });
    const extended = await validateSessionToken(t.db, token, t.deps.sessionPolicy);
    expect(extended!.expiresAt.getTime()).toBeGreaterThan(Date.now() + 3000_000);
    await t.db.session.update({ where: { id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await validateSessionToken(t.db, token, t.deps.sessionPolicy)).toBeNull();
    expect(await t.db.session.count({ where: { id } })).toBe(0);
  });

  it("signs out by deleting the session and clearing the cookie", async () => {
    await t.createUserRow("otto", "viewer", "otto's long password");
    await t.anonymous.auth.signIn({ username: "otto", password: "otto's long password" });
    const token = tokenFrom(t.cookies.at(-1)!);
    const session = await validateSessionToken(t.db, token, t.deps.sessionPolicy);
    await t.caller(session).auth.signOut();
    expect(t.cookies.at(-1)).toMatch(/Max-Age=0/);
    expect(await validateSessionToken(t.db, token, t.deps.sessionPolicy)).toBeNull();
    expect(await codeOf(t.anonymous.auth.signOut())).toBe("UNAUTHORIZED");
  });

  it("changes the own password only with the current one", async () => {
    const u = await t.createUserRow("pat", "viewer", "pat's long password");
    const caller = t.caller(t.sessionOf(u));
    expect(await codeOf(caller.auth.changePassword({ currentPassword: "nope", newPassword: "a brand new password" }))).toBe("BAD_REQUEST");
    await caller.auth.changePassword({ currentPassword: "pat's long password", newPassword: "a brand new password" });
    expect(await codeOf(t.anonymous.auth.signIn({ username: "pat", password: "a brand new password" }))).toBe("OK");
    expect(await codeOf(t.anonymous.auth.signIn({ username: "pat", password: "pat's long password" }))).toBe("UNAUTHORIZED");
  });

  it("reports the signed-in user", async () => {
    expect(await t.anonymous.auth.me()).toBeNull();
    const { caller } = await t.callerAs("viewer", "meg");
    expect(await caller.auth.me()).toMatchObject({ username: "meg", role: "viewer" });
  });
});
