import { CliError, EXIT } from "./exit";

/** Whether the CLI may ask a person: both stdin and stderr (where the question goes) are terminals. */
export const canPrompt = () => !!process.stdin.isTTY && !!process.stderr.isTTY;

/** Reads one line from stdin (a terminal): the question on stderr. Hidden input echoes nothing. */
export function readLine(question: string, opts: { hidden?: boolean } = {}): Promise<string> {
  process.stderr.write(question);
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let line = "";
    const raw = !!opts.hidden && stdin.isTTY;
    if (raw) stdin.setRawMode(true);
    stdin.setEncoding("utf8");
    const done = (err?: Error) => {
      stdin.off("data", onData);
      stdin.off("end", onEnd);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      if (opts.hidden) process.stderr.write("\n");
      if (err) reject(err);
      else resolve(line);
    };
    const onEnd = () => done();
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new CliError(EXIT.failed, "interrupted"));
        if (ch === "\u0004") return done();
        if (ch === "\u007f" || ch === "\b") line = line.slice(0, -1);
        else line += ch;
      }
    };
    stdin.on("data", onData);
    stdin.on("end", onEnd);
    stdin.resume();
  });
}

/** All of stdin (a pipe or file), at most `max` bytes. */
export async function readStdin(max = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > max) throw new CliError(EXIT.usage, `stdin holds more than ${max} bytes: expected one token`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * "Apply 3 changes? [y/N]" on a terminal; without one, `--yes` is required (exit 2 saying so).
 * Returns whether to go on.
 */
export async function confirm(question: string, opts: { yes: boolean; flagHint: string }): Promise<boolean> {
  if (opts.yes) return true;
  if (!canPrompt()) throw new CliError(EXIT.usage, `not applied: stdin is not a terminal to confirm on; pass --yes to ${opts.flagHint}`);
  const answer = (await readLine(`${question} [y/N] `)).trim().toLowerCase();
  return answer === "y" || answer === "yes";
}
