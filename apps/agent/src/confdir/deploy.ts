import { closeSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { extname, join } from "node:path";
import { CONF_EXTENSIONS, FileError, describeFsError, loadNetworkList, writeFileAtomic } from "@switchyard/cni";
import { NETWORK_NAME_MAX_LENGTH, SAFE_NAME_RE, SAFE_NAME_RULE } from "@switchyard/cni/names";
import { z } from "zod";
import { readJournalFile } from "../files";
import type { Logger } from "../log";
import { type ConfDirFile, type DeployWant, type Manifest, type PlannedAction, planConfDir } from "./plan";

/**
 * Networks deployed to a host's CNI conf dir (issue 16 §1–2): the console's rendered conflist for
 * each network placed on the host, written byte for byte under `50-switchyard-<name>.conflist`,
 * where containerd, nerdctl and podman read their networks. The agent keeps a manifest of what it
 * wrote (`<data dir>/confdir.json`); a file the manifest does not list is never written over or
 * removed, and a file that defines a deployed network's name without being the agent's is a
 * conflict: shown, and the agent's own is not written beside it.
 *
 * Each write is recorded in the manifest (fsynced) before it is made and again after, so that a
 * crash between leaves a file the manifest still calls the agent's. New files are created with
 * link(2), which fails rather than replace a file that appeared meanwhile.
 */

/** A conflist the agent takes from the console: what a runtime reads in its conf dir. */
export const CONFLIST_MAX_BYTES = 256 * 1024;
/** Conf dir files above this are not read (a runtime's conf dir holds small JSON files). */
const READ_MAX_BYTES = 1024 * 1024;
export const MANIFEST_FILE = "confdir.json";

/** The agent re-checks what the console sends: a safe file name part, a conflist that loads and names this network. */
export const DeployWantSchema = z
  .object({
    network: z.string().min(1).max(NETWORK_NAME_MAX_LENGTH).regex(SAFE_NAME_RE, SAFE_NAME_RULE),
    revision: z.number().int().min(0),
    conflist: z.string().min(1).max(CONFLIST_MAX_BYTES),
    drift: z.enum(["restore", "warn"]),
  })
  .superRefine((want, ctx) => {
    try {
      const list = loadNetworkList(want.conflist, { source: `network ${want.network} revision ${want.revision}` });
      if (list.name !== want.network) ctx.addIssue({ code: "custom", path: ["conflist"], message: `names network "${list.name}", not "${want.network}"` });
    } catch (error) {
      ctx.addIssue({ code: "custom", path: ["conflist"], message: (error as Error).message });
    }
  });

const ManifestSchema = z.record(
  z.string(),
  z.object({
    network: z.string(),
    revision: z.number().int().min(0),
    content: z.string().nullable(),
    pending: z.object({ revision: z.number().int().min(0), content: z.string() }).optional(),
    drift: z.enum(["restore", "warn"]),
  }),
);

/** One action as carried out: `error` when it could not be. */
export type ConfDirAction = PlannedAction & { error?: string };

export interface ConfDirReport {
  confDir: string;
  actions: ConfDirAction[];
  /** Nothing was looked at or done: the conf dir or the manifest could not be read. */
  error?: string;
}

export interface ConfDirDeployer {
  /** What apply() would do now, without doing it: the rollout's plan, and drift as it stands. */
  plan(wants: readonly DeployWant[]): Promise<ConfDirReport>;
  /** Makes the conf dir hold `wants` (every network deployed to this host) as far as the rules allow. */
  apply(wants: readonly DeployWant[]): Promise<ConfDirReport>;
}

/** The name a conflist defines, read leniently (libcni's consumers read more than the strict loader takes). */
function definedNetwork(content: string): string | undefined {
  try {
    const value = JSON.parse(content) as unknown;
    return value && typeof value === "object" && typeof (value as { name?: unknown }).name === "string" ? (value as { name: string }).name : undefined;
  } catch {
    return undefined;
  }
}

function readConfDir(confDir: string): Map<string, ConfDirFile> {
  const files = new Map<string, ConfDirFile>();
  let names: string[];
  try {
    names = readdirSync(confDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return files;
    throw new Error(`conf dir ${confDir} cannot be read: ${describeFsError(error)}`, { cause: error });
  }
  for (const name of names) {
    if (!(CONF_EXTENSIONS as readonly string[]).includes(extname(name))) continue;
    const file = join(confDir, name);
    try {
      // lstat: a symlink is not read through (a managed name pointed at another file must not send that file's text to the console as a diff).
      const info = lstatSync(file);
      if (!info.isFile() || info.size > READ_MAX_BYTES) continue;
      const content = readFileSync(file, "utf8");
      files.set(name, { content, network: definedNetwork(content) });
    } catch {
      // Gone between readdir and read, or unreadable: not a file anyone loads.
    }
  }
  return files;
}

/** An errno that says the conf dir cannot be written, as the operator should read it. */
function writeError(confDir: string, error: unknown): string {
  // writeFileAtomic's FileError names the file; the operator needs the dir and the errno.
  const cause = error instanceof FileError ? error.cause : error;
  const code = (cause as NodeJS.ErrnoException).code;
  const reason = describeFsError(cause);
  if (code === "EROFS" || code === "EACCES" || code === "EPERM") return `conf dir ${confDir} is not writable (${reason}): the network is not deployed on this host`;
  return `conf dir ${confDir}: ${reason}`;
}

/** Creates `file` with `content` unless a file of that name exists (then EEXIST): temp file, fsync, link, unlink. */
function createExclusive(file: string, content: string): void {
  const temp = `${file}.${process.pid.toString(16)}.tmp`;
  rmSync(temp, { force: true });
  const fd = openSync(temp, "wx", 0o644);
  try {
    writeFileSync(fd, content, "utf8");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, file);
  } finally {
    rmSync(temp, { force: true });
  }
}

function readIfFile(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function createConfDirDeployer(options: { confDir: string; dataDir: string; log: Logger }): ConfDirDeployer {
  const { confDir, dataDir, log } = options;
  const manifestFile = join(dataDir, MANIFEST_FILE);
  let queue: Promise<unknown> = Promise.resolve();

  function readManifest(): Manifest {
    const read = readJournalFile(manifestFile);
    if ("unreadable" in read) throw new Error(`${manifestFile} is unreadable (${read.unreadable}): the agent changes nothing in ${confDir} until it is fixed`);
    if (read.value === undefined) return {};
    const parsed = ManifestSchema.safeParse(read.value);
    if (!parsed.success) throw new Error(`${manifestFile} is not a manifest the agent wrote (${parsed.error.issues[0]?.message}): the agent changes nothing in ${confDir} until it is fixed`);
    return parsed.data;
  }

  const saveManifest = (manifest: Manifest) => writeFileAtomic(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`, { fsync: true, syncDir: true });

  /** wants validated, the conf dir and the manifest read, the plan made; or why not. */
  function prepare(wants: readonly DeployWant[]): { manifest: Manifest; actions: PlannedAction[] } | { error: string } {
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const want of wants) {
      const checked = DeployWantSchema.safeParse(want);
      if (!checked.success) problems.push(`network ${String(want?.network)}: ${checked.error.issues.map((i) => `${i.path.join(".") || "want"}: ${i.message}`).join("; ")}`);
      else if (seen.has(want.network)) problems.push(`network ${want.network}: deployed twice`);
      seen.add(want.network);
    }
    if (problems.length > 0) return { error: `refused, nothing changed: ${problems.join("; ")}` };
    try {
      const manifest = readManifest();
      // Nothing placed here and nothing written before: the conf dir is not read (most hosts, every check).
      if (wants.length === 0 && Object.keys(manifest).length === 0) return { manifest, actions: [] };
      return { manifest, actions: planConfDir({ manifest, files: readConfDir(confDir), wants }) };
    } catch (error) {
      return { error: (error as Error).message };
    }
  }

  async function carryOut(manifest: Manifest, action: PlannedAction): Promise<void> {
    const path = join(confDir, action.file);
    switch (action.kind) {
      case "keep":
      case "conflict":
      case "drifted":
      case "left":
        return;
      case "create":
      case "update":
      case "restore": {
        const before = manifest[action.file];
        manifest[action.file] = {
          network: action.network,
          revision: before?.revision ?? action.revision,
          content: before?.content ?? null,
          pending: { revision: action.revision, content: action.content },
          drift: action.drift,
        };
        await saveManifest(manifest);
        try {
          mkdirSync(confDir, { recursive: true, mode: 0o755 });
          // A first write never replaces a file; later ones replace only the agent's own (or, restoring, its drifted one).
          if (action.kind === "create" && !before) {
            createExclusive(path, action.content);
            syncDir(confDir);
          } else await writeFileAtomic(path, action.content, { mode: 0o644, fsync: true, syncDir: true });
        } catch (error) {
          // Written after all (a directory sync failed): the pending record keeps the file the agent's.
          if (readIfFile(path) === action.content) throw error;
          // Not written: the manifest goes back to what it said (a failed deploy changes nothing).
          if (before) manifest[action.file] = before;
          else delete manifest[action.file];
          await saveManifest(manifest).catch(() => undefined);
          throw error;
        }
        manifest[action.file] = { network: action.network, revision: action.revision, content: action.content, drift: action.drift };
        await saveManifest(manifest);
        return;
      }
      case "remove":
        try {
          unlinkSync(path);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        }
        delete manifest[action.file];
        await saveManifest(manifest);
        return;
    }
  }

  async function apply(wants: readonly DeployWant[]): Promise<ConfDirReport> {
    const prepared = prepare(wants);
    if ("error" in prepared) {
      log.error("conf dir not deployed", { confDir, error: prepared.error });
      return { confDir, actions: [], error: prepared.error };
    }
    const actions: ConfDirAction[] = [];
    for (const action of prepared.actions) {
      try {
        await carryOut(prepared.manifest, action);
        actions.push(action);
        if (action.kind === "conflict") log.warn("network not deployed: another file defines it", { network: action.network, file: action.file, with: action.with });
        else if (action.kind === "drifted" || action.kind === "left") log.warn("deployed network file changed by hand; left as it is", { network: action.network, file: action.file });
        else if (action.kind !== "keep") log.info(`network file ${action.kind === "remove" ? "removed" : `${action.kind}d`}`, { network: action.network, file: action.file, revision: action.revision });
      } catch (error) {
        const message = writeError(confDir, error);
        log.error("network file not written", { network: action.network, file: action.file, error: message });
        actions.push({ ...action, error: message });
      }
    }
    return { confDir, actions };
  }

  /** One at a time: each plan reads what the last apply left. */
  function serial<T>(run: () => Promise<T>): Promise<T> {
    const next = queue.then(run, run);
    queue = next.catch(() => undefined);
    return next;
  }

  return {
    plan: (wants) =>
      serial(async () => {
        const prepared = prepare(wants);
        return "error" in prepared ? { confDir, actions: [], error: prepared.error } : { confDir, actions: prepared.actions };
      }),
    apply: (wants) => serial(() => apply(wants)),
  };
}
