import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "../testing";

let t: ApiTest;
beforeAll(async () => {
  t = await setupApiTest();
});
afterAll(() => t?.close());

describe("audit.list", () => {
  it("lists newest first, filters by actor, action, target and time, and paginates", async () => {
    const op = await t.callerAs("operator", "auditor-op");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const n = await op.caller.networks.create({ text: BRIDGE_CONFLIST(`audit-${i}`, `10.90.${i}.0/24`, `10.90.${i}.1`), comment: "" });
      ids.push(n.id);
    }
    const viewer = await t.callerAs("viewer");
    const page1 = await viewer.caller.audit.list({ actor: "auditor-op", limit: 2 });
    expect(page1.items.map((e) => e.targetId)).toEqual([ids[4], ids[3]]);
    expect(page1.nextCursor).not.toBeNull();
    const page2 = await viewer.caller.audit.list({ actor: "auditor-op", limit: 2, cursor: page1.nextCursor! });
    expect(page2.items.map((e) => e.targetId)).toEqual([ids[2], ids[1]]);
    const page3 = await viewer.caller.audit.list({ actor: "auditor-op", limit: 2, cursor: page2.nextCursor! });
    expect(page3.items.map((e) => e.targetId)).toEqual([ids[0]]);
    expect(page3.nextCursor).toBeNull();

    expect((await viewer.caller.audit.list({ targetId: ids[2], limit: 50 })).items).toHaveLength(1);
    expect((await viewer.caller.audit.list({ action: "networks.", actor: "auditor-op", limit: 50 })).items).toHaveLength(5);
    expect((await viewer.caller.audit.list({ action: "users.", actor: "auditor-op", limit: 50 })).items).toHaveLength(0);
    const future = new Date(Date.now() + 3600_000);
    expect((await viewer.caller.audit.list({ from: future, limit: 50 })).items).toHaveLength(0);
    expect((await viewer.caller.audit.list({ to: future, actor: "auditor-op", limit: 50 })).items).toHaveLength(5);
  });

  it("requires a session", async () => {
    const err = await t.anonymous.audit.list({ limit: 10 }).catch((e: unknown) => e);
    expect((err as TRPCError).code).toBe("UNAUTHORIZED");
  });
});
