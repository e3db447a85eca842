import { z } from "zod";

/** Shared with the UI: the one definition of each input. */
export const Id = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, "must be an id");
export const Role = z.enum(["viewer", "operator", "admin"]);
export const Username = z
  .string()
  .min(2)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, "use lowercase letters, digits, '.', '_' or '-', starting with a letter or digit");
export const Password = z.string().min(12, "must be at least 12 characters").max(256);
/** A conflist (or single .conf) as text; 1 MiB is far above any real config. */
export const ConfigText = z.string().max(1024 * 1024, "config is larger than 1 MiB");
export const Comment = z.string().max(500).default("");

export const SignInInput = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) });
export type SignInInput = z.infer<typeof SignInInput>;

export const CreateUserInput = z.object({
  username: Username,
  displayName: z.string().max(100).default(""),
  password: Password,
  role: Role,
});
export type CreateUserInput = z.infer<typeof CreateUserInput>;

export const CreateNetworkInput = z.object({ text: ConfigText, comment: Comment });
export const UpdateNetworkInput = z.object({
  id: Id,
  text: ConfigText,
  comment: Comment,
  expectedRevision: z.number().int().positive(),
});
export const RollbackNetworkInput = z.object({
  id: Id,
  toRevision: z.number().int().positive(),
  expectedRevision: z.number().int().positive(),
});
export const DeleteNetworkInput = z.object({ id: Id, confirmName: z.string().max(200) });
export const ImportNetworksInput = z.object({
  files: z
    .array(z.object({ fileName: z.string().min(1).max(255), text: ConfigText }))
    .min(1)
    .max(200),
});

export const AuditListInput = z.object({
  actor: z.string().max(64).optional(),
  action: z.string().max(64).optional(),
  targetType: z.string().max(32).optional(),
  targetId: z.string().max(64).optional(),
  outcome: z.enum(["success", "denied", "error"]).optional(),
  from: z.date().optional(),
  to: z.date().optional(),
  cursor: z.number().int().positive().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
