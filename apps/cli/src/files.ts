import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { CliError, EXIT } from "./exit";

/**
 * The team's files, as `switchyard apply -f` reads them and `switchyard export` writes them: a
 * network per top-level `*.conflist`, `*.conf` or `*.json` (named as /etc/cni/net.d names them,
 * `10-lab.conflist`), a service per `services/<name>.json`. Anything else (README.md, .git/) is
 * not ours and is left alone.
 */
export interface TeamFile {
  /** Relative, with "/" (`10-lab.conflist`, `services/web.json`). */
  path: string;
  text: string;
}

/** The console's limits (files.plan's input): checked here first, so nothing too large is sent. */
export const FILE_MAX_BYTES = 1024 * 1024;
export const FILES_MAX = 500;
export const PATH_MAX = 255;

export type FileKind = "network" | "service";

const NETWORK_FILE = /^[^/\\]+\.(conflist|conf|json)$/;
const SERVICE_FILE = /^services\/[^/\\]+\.json$/;

/** What a relative path holds, or null when it is not a team file. */
export function fileKind(path: string): FileKind | null {
  const base = path.split("/").pop() ?? "";
  if (base.startsWith(".")) return null;
  if (SERVICE_FILE.test(path)) return "service";
  if (NETWORK_FILE.test(path)) return "network";
  return null;
}

export interface ReadResult {
  files: TeamFile[];
  /** Paths seen and not read (not team files), for -v. */
  ignored: string[];
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/**
 * Reads one file, refusing it before reading when it is over FILE_MAX_BYTES (stat of the open
 * descriptor, so the size checked is the size read) and when it is not UTF-8.
 */
function readTeamFile(abs: string, shown: string): TeamFile | string {
  const fd = openSync(abs, "r");
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return `${shown}: not a regular file`;
    if (st.size > FILE_MAX_BYTES) return `${shown}: ${mib(st.size)} is over the limit of ${mib(FILE_MAX_BYTES)} for a network or service file`;
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    try {
      return { path: "", text: new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(0, off)) };
    } catch {
      return `${shown}: not UTF-8 text`;
    }
  } finally {
    closeSync(fd);
  }
}

/** The team files of a directory (by name, nothing read) and the entries that are not. */
export function scanTeamDir(dir: string): { entries: { rel: string; abs: string }[]; ignored: string[] } {
  const entries: { rel: string; abs: string }[] = [];
  const ignored: string[] = [];
  const isDir = (p: string) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  for (const name of readdirSync(dir).sort()) {
    const abs = join(dir, name);
    if (name === "services" && isDir(abs)) {
      for (const sub of readdirSync(abs).sort()) {
        const rel = `services/${sub}`;
        if (fileKind(rel) === "service" && !isDir(join(abs, sub))) entries.push({ rel, abs: join(abs, sub) });
        else ignored.push(join(abs, sub));
      }
    } else if (fileKind(name) === "network" && !isDir(abs)) {
      entries.push({ rel: name, abs });
    } else {
      ignored.push(isDir(abs) ? `${abs}/` : abs);
    }
  }
  return { entries, ignored };
}

/**
 * The team files of `targets` (directories or single files): a directory's top-level network
 * files and its services/*.json; a single file by its own name (a file inside a directory named
 * `services` is a service). Every problem (too large, unreadable, two targets giving one path, too
 * many files) is collected and thrown together (exit 1): nothing is sent when any file is wrong.
 */
export function readTeamFiles(targets: string[]): ReadResult {
  const problems: string[] = [];
  const ignored: string[] = [];
  const byPath = new Map<string, { file: TeamFile; from: string }>();
  const add = (rel: string, abs: string, shown: string) => {
    if (rel.length > PATH_MAX) return void problems.push(`${shown}: the path is longer than ${PATH_MAX} characters`);
    let read: TeamFile | string;
    try {
      read = readTeamFile(abs, shown);
    } catch (error) {
      return void problems.push(`${shown}: ${(error as Error).message}`);
    }
    if (typeof read === "string") return void problems.push(read);
    const seen = byPath.get(rel);
    if (seen) return void problems.push(`${shown}: ${seen.from} is read as ${rel} too: give each file once`);
    byPath.set(rel, { file: { path: rel, text: read.text }, from: shown });
  };
  for (const target of targets) {
    let st;
    try {
      st = statSync(target);
    } catch (error) {
      problems.push(`${target}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (error as Error).message}`);
      continue;
    }
    if (st.isDirectory()) {
      const scanned = scanTeamDir(target);
      ignored.push(...scanned.ignored);
      for (const e of scanned.entries) add(e.rel, e.abs, e.abs);
    } else {
      const name = basename(target);
      const inServices = basename(dirname(resolve(target))) === "services";
      const rel = inServices && fileKind(`services/${name}`) === "service" ? `services/${name}` : name;
      if (fileKind(rel) === null) problems.push(`${target}: not a network file (*.conflist, *.conf, *.json) nor a service file (services/*.json)`);
      else add(rel, target, target);
    }
  }
  if (byPath.size > FILES_MAX) problems.push(`${byPath.size} files: at most ${FILES_MAX} are applied at once`);
  if (problems.length > 0) throw new CliError(EXIT.failed, `nothing was sent: ${problems.length === 1 ? "a file is" : `${problems.length} files are`} not usable`, problems);
  return { files: [...byPath.values()].map((v) => v.file).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), ignored };
}

/** Whether an exported path is one the CLI may write: a team file name, nothing above or beside DIR. */
export function isSafeExportPath(path: string): boolean {
  if (path.length === 0 || path.length > PATH_MAX || path.includes("\\") || path.includes("\0")) return false;
  const parts = path.split("/");
  if (parts.some((p) => p === "" || p === "." || p === "..")) return false;
  return fileKind(path) !== null;
}

export interface ExportOutcome {
  written: string[];
  unchanged: string[];
  /** Team files in DIR that the console did not export (left as they are). */
  notFromConsole: string[];
}

/**
 * Writes the exported files into `dir` (made, with dir/services), each atomically (a temp file in
 * the same directory, then rename); a file whose bytes are already the same is not touched. Other
 * files in `dir` stay. A path the console sends that is not a team file name is refused (exit 1)
 * before anything is written.
 */
export function writeExport(dir: string, files: TeamFile[]): ExportOutcome {
  const bad = files.filter((f) => !isSafeExportPath(f.path));
  if (bad.length > 0) throw new CliError(EXIT.failed, "the console sent file names the CLI will not write (nothing was written)", bad.map((f) => JSON.stringify(f.path)));
  mkdirSync(join(dir, "services"), { recursive: true });
  const out: ExportOutcome = { written: [], unchanged: [], notFromConsole: [] };
  for (const f of files) {
    const target = join(dir, ...f.path.split("/"));
    const bytes = Buffer.from(f.text, "utf8");
    let current: Buffer | null = null;
    try {
      current = readFileSync(target);
    } catch {
      current = null;
    }
    if (current && current.equals(bytes)) {
      out.unchanged.push(f.path);
      continue;
    }
    const temp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
    try {
      writeFileSync(temp, bytes, { mode: 0o644 });
      renameSync(temp, target);
    } catch (error) {
      rmSync(temp, { force: true });
      throw new CliError(EXIT.failed, `cannot write ${target}: ${(error as Error).message}`);
    }
    out.written.push(f.path);
  }
  const exported = new Set(files.map((f) => f.path));
  out.notFromConsole = scanTeamDir(dir).entries.map((e) => e.rel).filter((p) => !exported.has(p));
  return out;
}

/** A path relative to the working directory when that is shorter (for messages). */
export const shortPath = (p: string) => {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith(`..${sep}`) && r.length < p.length ? r : p;
};
