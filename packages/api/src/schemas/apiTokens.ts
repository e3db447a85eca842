import { ServiceName } from "@switchyard/dataplane/desired";
import { z } from "zod";

/**
 * API tokens (issue 12 needs the registrar kind; the team issue adds general ones). Pure zod, so
 * the console's forms check with the same rules the API does.
 */
export const ApiTokenScope = z.enum(["registrar", "general"]);
export type ApiTokenScope = z.infer<typeof ApiTokenScope>;

/** Days a token lives unless its creator says otherwise. */
export const API_TOKEN_DEFAULT_DAYS = 90;

export const CreateApiTokenInput = z.object({
  name: z
    .string()
    .min(1, "name the token after what uses it")
    .max(64)
    .regex(/^[A-Za-z0-9][A-Za-z0-9 ._:-]*$/, "letters, digits, spaces and . _ : - only, starting with a letter or digit"),
  scope: ApiTokenScope,
  /** A general token's role: at most its creator's. Registrar tokens have none. */
  role: z.enum(["viewer", "operator", "admin"]).optional(),
  /** A general token that may only read. */
  readOnly: z.boolean().default(false),
  /**
   * Services a registrar token may register into, by name (empty: every service). For a general
   * token, with `networks`, the only objects it may touch (both empty: no limit).
   */
  services: z.array(ServiceName).max(64).default([]),
  /** Networks a general token may touch, by name (see `services`). */
  networks: z.array(z.string().min(1).max(200)).max(64).default([]),
  /** Lifetime in days; null (never expires) is for admins only. */
  expiresInDays: z.number().int().min(1).max(3650).nullable().default(API_TOKEN_DEFAULT_DAYS),
});
export type CreateApiTokenInput = z.infer<typeof CreateApiTokenInput>;

/** A general token needs a role; a registrar token has none and is never read-only. */
export const CreateApiTokenRequest = CreateApiTokenInput.superRefine((v, ctx) => {
  if (v.scope === "general" && v.role === undefined) ctx.addIssue({ code: "custom", path: ["role"], message: "a general token needs a role (viewer, operator or admin), at most yours" });
  if (v.scope === "registrar" && v.role !== undefined) ctx.addIssue({ code: "custom", path: ["role"], message: "a registrar token has no role: it may only register members" });
  if (v.scope === "registrar" && v.readOnly) ctx.addIssue({ code: "custom", path: ["readOnly"], message: "a registrar token registers: it cannot be read-only" });
  if (v.scope === "registrar" && v.networks.length > 0) ctx.addIssue({ code: "custom", path: ["networks"], message: "a registrar token touches no network: limit it to services" });
});

export const RevokeApiTokenInput = z.object({ id: z.string().min(1).max(64) });
