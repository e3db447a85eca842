import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic as writeFileDurable } from "@switchyard/cni";
import { readJsonFile } from "./files";

/** The host credential, kept 0600 in the data dir (written durably: losing it would lock the host out). */
export const StoredCredential = z.object({
  consoleUrl: z.string(),
  hostId: z.string(),
  hostName: z.string(),
  credential: z.string().regex(/^syh_[A-Za-z0-9_-]{43}$/),
  credentialExpiresAt: z.coerce.date(),
});
export type StoredCredential = z.infer<typeof StoredCredential>;

export function credentialFile(dataDir: string): string {
  return join(dataDir, "credential.json");
}

export function loadCredential(dataDir: string): StoredCredential | undefined {
  const value = readJsonFile(credentialFile(dataDir));
  if (value === undefined) return undefined;
  const parsed = StoredCredential.safeParse(value);
  if (!parsed.success) throw new Error(`${credentialFile(dataDir)} is not a valid credential file: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export function saveCredential(dataDir: string, cred: StoredCredential): Promise<void> {
  return writeFileDurable(credentialFile(dataDir), `${JSON.stringify(cred, null, 2)}\n`, { mode: 0o600, syncDir: true });
}

/**
 * The enrolment key: a random secret sent with the join token, kept (0600, durably) from before the
 * first try until the credential is stored. Asking again with the same token and key after a lost
 * answer, even from a restarted agent, gets a credential instead of "token used".
 */
export async function enrolmentKey(dataDir: string): Promise<string> {
  const file = join(dataDir, "enrolment-key");
  try {
    const kept = readFileSync(file, "utf8").trim();
    if (/^[A-Za-z0-9_-]{43}$/.test(kept)) return kept;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = randomBytes(32).toString("base64url");
  await writeFileDurable(file, `${key}\n`, { mode: 0o600, syncDir: true });
  return key;
}

/** Drops the enrolment key once the credential is stored: it is worth nothing after. */
export function forgetEnrolmentKey(dataDir: string): void {
  rmSync(join(dataDir, "enrolment-key"), { force: true });
}
