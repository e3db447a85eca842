import { z } from "zod";

/**
 * The roles, declared once for the console's inputs, its authorization and its pages (the
 * Prisma enum must hold the same values: roles.test.ts checks it). Pure zod, so the browser
 * imports it too (`@switchyard/api/roles`).
 */
export const Role = z.enum(["viewer", "operator", "admin"]);
export type Role = z.infer<typeof Role>;

/** Each role can do what the roles below it can. */
export const ROLE_RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };

export function hasRole(role: Role, atLeast: Role): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[atLeast];
}
