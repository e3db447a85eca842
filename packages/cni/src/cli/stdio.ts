/**
 * stdout and stderr of the built command, written with fs.writeSync on the file descriptor.
 *
 * process.stdout is a stream: on a pipe (how a runtime or a script reads the command) it is a
 * net.Socket, whose first use loads net and the stream modules, ~10 ms of CPU at every start on a
 * 2-core VM (bench/README.md). The CLI prints a few lines, once, and exits: a synchronous write
 * is what process.stdout does on Linux anyway, without the stream. Only a terminal's width needs
 * the stream (tty.WriteStream): it is asked only when the descriptor is a character device (a
 * terminal, or /dev/null), never for a pipe or a file.
 */
import { fstatSync, writeSync } from "node:fs";

export interface FdStream {
  write(s: string): void;
  readonly isTTY: boolean;
  /** The terminal's width, or undefined when the descriptor is not a terminal. */
  readonly columns: number | undefined;
}

/** A non-blocking descriptor that is full (EAGAIN) is retried after this pause. */
const FULL_PIPE_PAUSE_MS = 1;

export function createFdStream(fd: 1 | 2): FdStream {
  const stream = () => (fd === 1 ? process.stdout : process.stderr);
  let tty: boolean | undefined;
  const isTTY = () => (tty ??= isCharacterDevice(fd) && stream().isTTY === true);
  return {
    write: (s) => writeAll(fd, Buffer.from(s)),
    get isTTY() {
      return isTTY();
    },
    get columns() {
      if (!isTTY()) return undefined;
      return stream().columns;
    },
  };
}

function isCharacterDevice(fd: number): boolean {
  try {
    return fstatSync(fd).isCharacterDevice();
  } catch {
    return false;
  }
}

/** Writes all of `bytes`; a reader that went away (EPIPE) ends the output silently, as a closed pipe does for cat. */
function writeAll(fd: number, bytes: Buffer): void {
  let pause: Int32Array | undefined;
  for (let done = 0; done < bytes.length; ) {
    try {
      done += writeSync(fd, bytes, done);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EPIPE") return;
      if (code !== "EAGAIN") throw error;
      // The parent handed us a non-blocking pipe that is full: wait for its reader, without spinning.
      pause ??= new Int32Array(new SharedArrayBuffer(4));
      Atomics.wait(pause, 0, 0, FULL_PIPE_PAUSE_MS);
    }
  }
}
