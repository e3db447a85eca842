import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";

/** A file the console hands to new hosts, read once and kept with its checksum while it is unchanged on disk. */
export interface DownloadFile {
  name: string;
  bytes: Buffer;
  sha256: string;
  contentType: string;
}

/** The only names /downloads/ serves: nothing else of the directory is reachable. */
export const DOWNLOAD_NAMES = {
  "switchyard-agent.mjs": "text/javascript; charset=utf-8",
  "switchyard-agent.service": "text/plain; charset=utf-8",
} as const;
export type DownloadName = keyof typeof DOWNLOAD_NAMES;

export function isDownloadName(name: string): name is DownloadName {
  return Object.hasOwn(DOWNLOAD_NAMES, name);
}

const cache = new Map<string, { mtimeMs: number; size: number; file: DownloadFile }>();

/**
 * Reads `name` from the agent's build directory (found at start, re-read when it changes: a rebuilt
 * agent is served without restarting the console). Undefined when it is not there (agent not built).
 */
export async function readDownload(distDir: string, name: DownloadName): Promise<DownloadFile | undefined> {
  const file = path.resolve(distDir, name);
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read ${file}: ${(error as Error).message}`);
  }
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === info.mtimeMs && hit.size === info.size) return hit.file;
  const bytes = await readFile(file);
  const entry = { name, bytes, sha256: createHash("sha256").update(bytes).digest("hex"), contentType: DOWNLOAD_NAMES[name] };
  cache.set(file, { mtimeMs: info.mtimeMs, size: info.size, file: entry });
  return entry;
}
