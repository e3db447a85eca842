import { Role as PrismaRole } from "@switchyard/db";
import { describe, expect, it } from "vitest";
import { ROLE_RANK, Role, hasRole } from "./roles";

describe("the roles", () => {
  it("are the Prisma enum's values, in rank order", () => {
    expect([...Role.options].sort()).toEqual(Object.values(PrismaRole).sort());
    expect(Object.keys(ROLE_RANK).sort()).toEqual([...Role.options].sort());
    expect([...Role.options].sort((a, b) => ROLE_RANK[a] - ROLE_RANK[b])).toEqual(["viewer", "operator", "admin"]);
  });

  it.each([
    ["viewer", "viewer", true],
    ["viewer", "operator", false],
    ["operator", "operator", true],
    ["operator", "admin", false],
    ["admin", "viewer", true],
    ["admin", "admin", true],
  ] as const)("%s has at least %s: %s", (role, atLeast, expected) => {
    expect(hasRole(role, atLeast)).toBe(expected);
  });

  it("refuses a role that is not one", () => {
    expect(Role.safeParse("root").success).toBe(false);
  });
});
