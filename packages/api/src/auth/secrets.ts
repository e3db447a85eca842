import { createHash, randomBytes } from "node:crypto";

/** Join tokens (`syj_…`), host credentials (`syh_…`) and API tokens (`syt_…`): 256 random bits, shown once, stored as SHA-256. */
export type SecretKind = "join" | "host" | "token";

const PREFIX: Record<SecretKind, string> = { join: "syj_", host: "syh_", token: "syt_" };
const SHAPE: Record<SecretKind, RegExp> = { join: /^syj_[A-Za-z0-9_-]{43}$/, host: /^syh_[A-Za-z0-9_-]{43}$/, token: /^syt_[A-Za-z0-9_-]{43}$/ };

export function newSecret(kind: SecretKind): { secret: string; hash: string } {
  const secret = `${PREFIX[kind]}${randomBytes(32).toString("base64url")}`;
  return { secret, hash: hashSecret(secret) };
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Cheap shape check before any database lookup. */
export function looksLike(kind: SecretKind, secret: string): boolean {
  return SHAPE[kind].test(secret);
}
