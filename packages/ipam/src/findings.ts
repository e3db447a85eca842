/** What the host-local store reader reports about an entry it could not take as a plain lease (see hostLocalStore.ts). Pure, so schemas and the UI can import it. */
export const LEASE_FINDING_KINDS = [
  "invalid-network-name",
  "data-dir-invalid",
  "data-dir-symlink",
  "not-a-directory",
  "unreadable",
  "symlink",
  "directory",
  "not-regular-file",
  "too-large",
  "binary-content",
  "empty",
  "malformed",
  "invalid-container-id",
  "not-an-address",
  "non-canonical-name",
  "outside-ranges",
  "truncated",
] as const;
export type LeaseFindingKind = (typeof LEASE_FINDING_KINDS)[number];
