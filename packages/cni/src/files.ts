import { closeSync, fsync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const fsyncAsync = promisify(fsync);
// Temp names unique per process and call; O_EXCL refuses a leftover of a dead process's same pid.
let tempCounter = 0;

/**
 * What went wrong in a failed file-system call, without the path Node appends ("ENOSPC: no space
 * left on device, write", "EACCES: permission denied, open"): the caller names the file once.
 */
export function describeFsError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/ '[^']*'(?: -> '[^']*')?$/, "");
}

/** A file-system failure on `file`: "<file>: <code>: <what>, <syscall>", errno code kept. */
export class FileError extends Error {
  readonly file: string;
  readonly code: string | undefined;

  constructor(file: string, cause: unknown) {
    super(`${file}: ${describeFsError(cause)}`, { cause });
    this.name = "FileError";
    this.file = file;
    this.code = (cause as NodeJS.ErrnoException | undefined)?.code;
  }
}

export interface WriteFileAtomicOptions {
  /** Default 0o600. */
  mode?: number;
  /**
   * fsync the file before the rename (default true): after a host crash it is the old file or the
   * whole new one, never empty. false: atomic for readers and across a crash of the process only
   * (as Go libcni's result cache, which does not fsync at all).
   */
  fsync?: boolean;
  /** Also fsync the directory after the rename, so the rename itself survives a power loss. */
  syncDir?: boolean;
}

/**
 * Writes `data` to `file` atomically: a temp file in the same directory, then rename, so a reader
 * sees the old file or the whole new one. Durability is the caller's choice (`fsync`, `syncDir`).
 * Only the flushes wait on the disk, off the event loop; the other calls are local metadata
 * updates made synchronously, a few microseconds each (bench/README.md). Failures are FileErrors
 * naming `file`. A crash can leave a `.<hex>.tmp` file in the directory; whoever owns it sweeps them.
 */
export async function writeFileAtomic(file: string, data: string, options: WriteFileAtomicOptions = {}): Promise<void> {
  const dir = dirname(file);
  const mode = options.mode ?? 0o600;
  let temp = "";
  let fd: number | undefined;
  try {
    for (let tries = 0; fd === undefined; tries++) {
      temp = join(dir, `.${process.pid.toString(16)}-${(tempCounter++).toString(16)}.tmp`);
      try {
        fd = openSync(temp, "wx", mode);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOENT" && tries === 0) mkdirSync(dir, { recursive: true, mode: 0o700 });
        // EEXIST: a crashed process of the same pid left this name; take the next one.
        else if (code !== "EEXIST" || tries > 8) throw error;
      }
    }
  } catch (error) {
    throw new FileError(file, error);
  }
  try {
    writeFileSync(fd, data, "utf8");
    if (options.fsync ?? true) await fsyncAsync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw new FileError(file, error);
  }
  try {
    closeSync(fd);
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw new FileError(file, error);
  }
  if (options.syncDir) {
    try {
      const dirFd = openSync(dir, "r");
      try {
        await fsyncAsync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch (error) {
      throw new FileError(dir, error);
    }
  }
}
