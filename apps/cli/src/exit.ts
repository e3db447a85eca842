/** Exit codes CI can branch on (issue 13 §2). */
export const EXIT = {
  /** Done (also: nothing to change). */
  ok: 0,
  /** Failed: the console said no for a reason other than permissions, invalid files, network trouble. */
  failed: 1,
  /** Wrong usage: unknown command or flag, a missing argument, no URL or token, an unsafe config file. */
  usage: 2,
  /** Refused: the console does not accept the token, or the token may not do this (401/403). */
  refused: 3,
  /** `--exit-code`: the diff is not empty. */
  diff: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error that ends the command with `exitCode`; `message` (and each detail line) goes to stderr. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = "CliError";
  }
}

export const usageError = (message: string) => new CliError(EXIT.usage, message);
