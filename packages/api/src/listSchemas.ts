import { z } from "zod";
import { Id } from "./schemas";

/**
 * The inputs of the paged lists (networks, hosts, attachments, audit). Every list pages by keyset
 * (the sort column, then the id): a page costs the same at row 50 as at row 50,000, and a row
 * added meanwhile never shifts the next page.
 */

export const SortDir = z.enum(["asc", "desc"]);
export type SortDir = z.infer<typeof SortDir>;
/** Matched as a case-insensitive substring; `%` and `_` are literal. */
export const ListSearch = z.string().trim().max(100, "search text is longer than 100 characters");
/** Opaque: the previous page's `nextCursor`, as it came. */
export const ListCursor = z.string().max(600).regex(/^[A-Za-z0-9_-]+$/, "must be a nextCursor returned by this list");
export const ListLimit = z.number().int().min(1).max(200).default(50);

/**
 * An object input that may also be left out (`list()`, or `null` as in `?input={"json":null}`),
 * meaning the object's defaults. Typed as optional only: tRPC offers infinite queries for inputs
 * of type `{ cursor?: … } | undefined`, not `| null`.
 */
function optionalInput<T extends z.ZodObject>(schema: T) {
  return schema.nullish().transform((v): z.output<T> => v ?? schema.parse({})) as unknown as z.ZodType<z.output<T>, z.input<T> | undefined>;
}

/** Search, sort, direction and the keyset cursor: what every paged list takes. */
function pagedQuery<S extends z.ZodEnum>(sort: S, defaultSort: z.output<S>, defaultDir: SortDir) {
  return z.object({
    q: ListSearch.optional(),
    sort: sort.default(defaultSort as never) as z.ZodDefault<S>,
    dir: SortDir.default(defaultDir),
    cursor: ListCursor.optional(),
    limit: ListLimit,
  });
}

export const NetworkSort = z.enum(["name", "updatedAt", "createdAt"]);
export const NetworkListQuery = pagedQuery(NetworkSort, "name", "asc");
export type NetworkListQuery = z.infer<typeof NetworkListQuery>;
export const NetworkListInput = optionalInput(NetworkListQuery);

export const HostSort = z.enum(["name", "lastSeenAt", "enrolledAt"]);
export const HostListQuery = pagedQuery(HostSort, "name", "asc");
export type HostListQuery = z.infer<typeof HostListQuery>;
export const HostListInput = optionalInput(HostListQuery);

export const AttachmentStateName = z.enum(["pending", "applying", "ready", "failed", "detaching", "detached"]);
export type AttachmentStateName = z.infer<typeof AttachmentStateName>;
/** What the list shows unless asked: attachments that are, or are becoming, ready, or going away. */
export const DEFAULT_ATTACHMENT_STATES: AttachmentStateName[] = ["pending", "applying", "ready", "detaching"];
export const AttachmentSort = z.enum(["createdAt", "updatedAt", "containerId", "networkName", "hostName", "state"]);
export const AttachmentListQuery = pagedQuery(AttachmentSort, "createdAt", "desc").extend({
  hostId: Id.optional(),
  networkId: Id.optional(),
  states: z.array(AttachmentStateName).min(1).max(6).default(DEFAULT_ATTACHMENT_STATES),
});
export type AttachmentListQuery = z.infer<typeof AttachmentListQuery>;
export const AttachmentListInput = optionalInput(AttachmentListQuery);

/** Purge detached attachments by hand: the given ones, or (no ids) every detached one, oldest first. */
export const PurgeAttachmentsInput = z.object({
  ids: z.array(Id).min(1).max(500).optional(),
});
export type PurgeAttachmentsInput = z.infer<typeof PurgeAttachmentsInput>;

export const AuditListInput = z.object({
  /** Target name or id, or actor. */
  q: ListSearch.optional(),
  actor: z.string().max(64).optional(),
  action: z.string().max(64).optional(),
  targetType: z.string().max(32).optional(),
  targetId: z.string().max(64).optional(),
  outcome: z.enum(["success", "denied", "error"]).optional(),
  from: z.date().optional(),
  to: z.date().optional(),
  /** desc: newest first. */
  dir: SortDir.default("desc"),
  /** The id of the last event of the previous page. */
  cursor: z.number().int().positive().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export type AuditListInput = z.infer<typeof AuditListInput>;
