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
  stderr: { write(s: string): unknown };
}

export function createOutput(wantsJson: boolean, stdout: { write(s: string): unknown }, stderr: { write(s: string): unknown }): CliOutput {
  const print = (s: string) => void stdout.write(s.endsWith("\n") ? s : `${s}\n`);
  return { wantsJson, print, json: (value) => print(JSON.stringify(value, null, 2)), stderr };
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
    out.stderr.write(`switchyard-cni ${verb}: ${cniErr.message} (CNI error ${cniErr.code})\n`);
    for (const sub of cniErr.errors ?? []) out.stderr.write(`  - ${sub.message} (CNI error ${sub.code})\n`);
    if (cniErr.stderr?.trim()) out.stderr.write(`plugin stderr:\n${cniErr.stderr.trimEnd()}\n`);
  }
  return usage ? EXIT.usage : EXIT.failed;
}
