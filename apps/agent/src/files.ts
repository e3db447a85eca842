import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";

export function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as unknown;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * temp file, fsync, rename, off the event loop: after a crash of the agent (or of the host) the
 * file is the old one or the whole new one. With `syncDir` the directory is fsynced too, so the
 * rename itself survives a power loss: for the credential, whose loss would lock the host out.
 * The journal's files go without it: an intent or report missing after a reboot is re-derived (the
 * console re-issues the unfinished operation, reconcile DELs what the reboot left), and it saves a
 * second journal commit on every operation.
 */
export async function writeFileDurable(file: string, data: string, options: { mode?: number; syncDir?: boolean } = {}): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temp, "wx", options.mode ?? 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, file);
  if (options.syncDir) {
    const dirHandle = await open(dir, "r");
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }
}
