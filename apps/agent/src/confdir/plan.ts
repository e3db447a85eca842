import { isSingleConfText } from "@switchyard/cni/config";
import { createTwoFilesPatch } from "diff";

/**
 * What the agent should do in a host's CNI conf dir (issue 16 §1–2), decided from what is there,
 * what the agent wrote before (its manifest) and what the console wants deployed. Pure: the I/O is
 * deploy.ts's. The one rule every branch keeps: a file the manifest does not list is never
 * written over or removed — the agent creates its own files only where no file is.
 */

/** The file a deployed network gets: sorts before the runtimes' defaults (podman's 87-), and shows its origin. */
export const MANAGED_FILE_PREFIX = "50-switchyard-";

/** `50-switchyard-<name>.conflist`, or `.conf` for a single-plugin config (named as the console exports it). */
export const managedFileName = (network: string, conflist?: string): string => `${MANAGED_FILE_PREFIX}${network}${conflist !== undefined && isSingleConfText(conflist) ? ".conf" : ".conflist"}`;

/** restore: a managed file edited or deleted by hand is written back. warn: it is left, and reported. */
export type DriftPolicy = "restore" | "warn";

export interface DeployWant {
  network: string;
  /** The console's revision of the network these bytes render. */
  revision: number;
  /** The host's rendered conflist, written byte for byte. */
  conflist: string;
  drift: DriftPolicy;
}

/** What the agent wrote to one file, as its manifest keeps it. */
export interface ManifestEntry {
  network: string;
  revision: number;
  /** The bytes last written; null when a first write was recorded but may not have happened (a crash). */
  content: string | null;
  /** A write recorded before it was made: after a crash the file may hold these bytes instead. */
  pending?: { revision: number; content: string };
  drift: DriftPolicy;
}
/** Keyed by file name (within the conf dir). */
export type Manifest = Record<string, ManifestEntry>;

/** The conf dir as read: each config file's bytes, and the network name it defines (undefined: none readable). */
export interface ConfDirFile {
  content: string;
  network: string | undefined;
}

export type PlannedAction =
  /** Nothing to do: the file holds this revision's bytes. */
  | { kind: "keep"; network: string; file: string; revision: number }
  | { kind: "create"; network: string; file: string; revision: number; content: string; drift: DriftPolicy }
  | { kind: "update"; network: string; file: string; revision: number; fromRevision: number; content: string; drift: DriftPolicy; diff: string }
  /** A managed file changed or deleted by hand, written back (restore policy). */
  | { kind: "restore"; network: string; file: string; revision: number; change: DriftChange; content: string; drift: DriftPolicy; diff: string }
  /** A managed file changed or deleted by hand, left as it is (warn policy). */
  | { kind: "drifted"; network: string; file: string; revision: number; change: DriftChange; diff: string }
  /** Files the agent did not write that define this network, or hold the managed file's name: nothing is written. */
  | { kind: "conflict"; network: string; file: string; revision: number; with: string[] }
  /** A network that left the host: its unchanged (or restore-policy) file removed. */
  | { kind: "remove"; network: string; file: string; revision: number }
  /** A network that left the host, whose file was edited by hand under the warn policy: left, and reported. */
  | { kind: "left"; network: string; file: string; revision: number; diff: string };

export type DriftChange = "edited" | "deleted";

/** Each diff is cut to this (a 1 MiB file replaced by hand must not make every report huge). */
export const DIFF_MAX_CHARS = 16 * 1024;

function diffOf(file: string, before: string, beforeLabel: string, after: string, afterLabel: string): string {
  const patch = createTwoFilesPatch(file, file, before, after, beforeLabel, afterLabel);
  return patch.length <= DIFF_MAX_CHARS ? patch : `${patch.slice(0, DIFF_MAX_CHARS)}\n… (diff cut at ${DIFF_MAX_CHARS} characters)\n`;
}

/** Whether `content` is one of the byte sequences the agent wrote (or was about to write) to this file. */
function isOurs(entry: ManifestEntry, content: string): boolean {
  return content === entry.content || content === entry.pending?.content;
}

/** The bytes the file is meant to hold, by the manifest: the pending write if it may have happened. */
function lastWritten(entry: ManifestEntry): string | null {
  return entry.content ?? entry.pending?.content ?? null;
}

export function planConfDir(input: { manifest: Manifest; files: ReadonlyMap<string, ConfDirFile>; wants: readonly DeployWant[] }): PlannedAction[] {
  const { manifest, files, wants } = input;
  const actions: PlannedAction[] = [];
  const wanted = new Set<string>();
  for (const want of wants) {
    const file = managedFileName(want.network, want.conflist);
    wanted.add(file);
    const entry = manifest[file];
    const current = files.get(file);
    const base = { network: want.network, file, revision: want.revision };
    // Files the agent did not write that define the same network: two definitions, whichever sorts
    // first wins for every runtime. Shown, never overwritten, and the agent's own is not written.
    const others = [...files].filter(([name, f]) => name !== file && f.network === want.network && !manifest[name]).map(([name]) => name);
    if (!entry && current) others.unshift(file);
    if (others.length > 0) {
      actions.push({ kind: "conflict", ...base, with: others.sort() });
      continue;
    }
    if (!entry) {
      actions.push({ kind: "create", ...base, content: want.conflist, drift: want.drift });
      continue;
    }
    const written = lastWritten(entry);
    if (current && isOurs(entry, current.content)) {
      if (current.content === want.conflist) actions.push({ kind: "keep", ...base });
      else actions.push({ kind: "update", ...base, fromRevision: entry.revision, content: want.conflist, drift: want.drift, diff: diffOf(file, current.content, `revision ${entry.revision}`, want.conflist, `revision ${want.revision}`) });
      continue;
    }
    if (!current && entry.content === null) {
      // A first write recorded, then a crash before the file existed: create it now.
      actions.push({ kind: "create", ...base, content: want.conflist, drift: want.drift });
      continue;
    }
    const change: DriftChange = current ? "edited" : "deleted";
    const diff = diffOf(file, written ?? "", `as deployed (revision ${entry.revision})`, current?.content ?? "", current ? "on the host" : "on the host (deleted)");
    if (want.drift === "restore") actions.push({ kind: "restore", ...base, change, content: want.conflist, drift: want.drift, diff });
    else actions.push({ kind: "drifted", ...base, revision: entry.revision, change, diff });
  }
  for (const [file, entry] of Object.entries(manifest)) {
    if (wanted.has(file)) continue;
    const current = files.get(file);
    const base = { network: entry.network, file, revision: entry.revision };
    if (!current || isOurs(entry, current.content) || entry.drift === "restore") actions.push({ kind: "remove", ...base });
    else actions.push({ kind: "left", ...base, diff: diffOf(file, lastWritten(entry) ?? "", `as deployed (revision ${entry.revision})`, current.content, "on the host") });
  }
  return actions;
}
