/**
 * `switchyard-cni`: cnitool's verbs and environment on top of this package's runtime, plus `--json`.
 *
 *   switchyard-cni add|check|del <net> <netns>
 *   switchyard-cni status|gc|version <net> [netns]
 *
 * Environment (as cnitool): NETCONFPATH, CNI_PATH, CNI_IFNAME, CAP_ARGS, CNI_ARGS.
 *
 * This module is what every start evaluates, so it stays small: the argv grammar, the help and the
 * usage errors come from cli/spec.ts, cli/args.ts and cli/help.ts (no imports beyond those), and
 * the verbs (cli/verbs.ts, with the runtime, the config validation and node:crypto) are imported
 * only when one runs. test/cli-start.int.test.ts holds that line.
 */
import type { CniRuntime, CniRuntimeOptions } from "./runtime";
import { parseArgv } from "./cli/args";
import { formatProgramHelp, formatVerbHelp, helpWidth } from "./cli/help";
import { createOutput } from "./cli/report";
import { EXIT } from "./cli/spec";

export { DEFAULT_CACHE_DIR, DEFAULT_CNI_PATH, DEFAULT_NETCONFPATH, EXIT } from "./cli/spec";
export { createFdStream } from "./cli/stdio";

/** Where the help goes; its width follows the terminal's when the stream says it is one. */
interface OutStream {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number | undefined;
}

export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  stdout: OutStream;
  stderr: OutStream;
  /** Overridable for tests; defaults to `createCniRuntime`. */
  createRuntime?: (opts: CniRuntimeOptions) => CniRuntime;
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const wantsJson = argv.includes("--json");
  const parsed = parseArgv(argv);
  switch (parsed.kind) {
    case "help": {
      const width = helpWidth(io.stdout);
      io.stdout.write(parsed.verb ? formatVerbHelp(parsed.verb, width) : formatProgramHelp(width));
      return EXIT.ok;
    }
    case "usage": {
      if (wantsJson) {
        // commander's help-as-error carried this placeholder as its message.
        const msg = parsed.message ?? "(outputHelp)";
        createOutput(true, io).json({ ok: false, verb: argv[0] ?? "", error: { code: 4, msg } });
      } else {
        const width = helpWidth(io.stderr);
        const help = parsed.helpOf ? formatVerbHelp(parsed.helpOf, width) : formatProgramHelp(width);
        io.stderr.write(parsed.message === undefined ? help : `error: ${parsed.message}\n\n${help}`);
      }
      return EXIT.usage;
    }
    case "run": {
      const { runVerb } = await import("./cli/verbs");
      const { kind: _kind, ...call } = parsed;
      return runVerb(call, io, createOutput(wantsJson, io));
    }
  }
}
