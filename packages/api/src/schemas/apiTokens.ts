import { ServiceName } from "@switchyard/dataplane/desired";
import { z } from "zod";

/**
 * API tokens (issue 12 needs the registrar kind; the team issue adds general ones). Pure zod, so
 * the console's forms check with the same rules the API does.
 */
export const ApiTokenScope = z.enum(["registrar"]);
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
  /** Services a registrar token may register into, by name; empty for every service. */
  services: z.array(ServiceName).max(64).default([]),
  /** Lifetime in days; null (never expires) is for admins only. */
  expiresInDays: z.number().int().min(1).max(3650).nullable().default(API_TOKEN_DEFAULT_DAYS),
});
export type CreateApiTokenInput = z.infer<typeof CreateApiTokenInput>;

export const RevokeApiTokenInput = z.object({ id: z.string().min(1).max(64) });
