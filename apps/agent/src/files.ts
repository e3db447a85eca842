import { readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

// Atomic, durable writes: writeFileAtomic of @switchyard/cni (one writer for the agent and the CNI cache).

export function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as unknown;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * readJsonFile for the journals (intents, queued reports), whose readers must report a bad file and
 * go on: a record that is not JSON (cut short by a power loss: a report is queued without an
 * fsync; edited by hand) comes back as `unreadable` with the reason, never as a throw. A throw
 * there stopped the agent at every start (HARDENING 23).
 */
export function readJournalFile(file: string): { value: unknown } | { unreadable: string } {
  try {
    return { value: readJsonFile(file) };
  } catch (error) {
    return { unreadable: (error as Error).message };
  }
}

/** writeFileAtomic's temp name: `.<pid hex>-<counter hex>.tmp`. */
const TEMP_FILE = /^\.[0-9a-f]+-[0-9a-f]+\.tmp$/;

/**
 * Removes the temp files of atomic writes a killed agent left behind in its data dir (the dir
 * itself, `intents/`, `reports/`): a SIGKILL between a write and its rename leaves one, which nothing
 * reads (only `*.json` are) and nothing else removes, so they piled up with every unlucky kill
 * (the fault run, issue 15 §6). Call it at start, before this process writes there: one agent owns
 * a data dir. Returns the paths removed.
 */
export function removeWriteLeftovers(dataDir: string): string[] {
  const removed: string[] = [];
  for (const dir of [dataDir, join(dataDir, "intents"), join(dataDir, "reports")]) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!TEMP_FILE.test(name)) continue;
      rmSync(join(dir, name), { force: true });
      removed.push(join(dir, name));
    }
  }
  return removed;
}
