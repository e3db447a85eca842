/** How the CLI prints: results and errors, as text or (with --json) one JSON object on stdout. */
import { CniError } from "../errors";
import { EXIT } from "./spec";
import { UsageError } from "./usage-error";

export interface CliOutput {
  wantsJson: boolean;
  /** A line on stdout. */
  print(s: string): void;
  /** A value as indented JSON on stdout. */
  json(value: unknown): void;
  /** Text on stderr. */
  warn(s: string): void;
}

export interface Streams {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** `io`'s streams are read at each write: process.stdout and process.stderr are made on first use. */
export function createOutput(wantsJson: boolean, io: Streams): CliOutput {
  const print = (s: string) => void io.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
  return { wantsJson, print, json: (value) => print(JSON.stringify(value, null, 2)), warn: (s) => void io.stderr.write(s) };
}

/** Prints a verb's failure; returns its exit code (2 for a usage error, else 1). */
export function reportError(out: CliOutput, verb: string, err: unknown, context: Record<string, unknown> = {}): number {
  const usage = err instanceof UsageError;
  const cniErr = err instanceof CniError ? err : new CniError(5, err instanceof Error ? err.message : String(err), "", { cause: err });
  if (out.wantsJson) {
    out.json({
      ok: false,
      verb,
      ...context,
      error: {
        ...cniErr.toJSON(),
        ...(cniErr.reason ? { reason: cniErr.reason } : {}),
        ...(cniErr.plugin ? { plugin: cniErr.plugin } : {}),
        ...(cniErr.file ? { file: cniErr.file } : {}),
        ...(cniErr.stderr ? { stderr: cniErr.stderr } : {}),
        ...(cniErr.errors?.length ? { errors: cniErr.errors.map((e) => e.toJSON()) } : {}),
      },
    });
  } else {
    out.warn(`switchyard-cni ${verb}: ${cniErr.message} (CNI error ${cniErr.code})\n`);
    for (const sub of cniErr.errors ?? []) out.warn(`  - ${sub.message} (CNI error ${sub.code})\n`);
    if (cniErr.stderr?.trim()) out.warn(`plugin stderr:\n${cniErr.stderr.trimEnd()}\n`);
  }
  return usage ? EXIT.usage : EXIT.failed;
}
