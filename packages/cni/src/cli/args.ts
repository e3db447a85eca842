/**
 * argv → what to do, with commander 14's rules and messages as this CLI used them (the program
 * level, then the verb's options left to right, then help, unknown options, argument count), so
 * that every invocation reads as before without loading commander at each start.
 *
 * Options may come before, between or after the positional arguments; `--opt=value` and `-ivalue`
 * work; `--` ends the options. `-h`/`--help` anywhere among the options shows the help.
 */
import { suggestSimilar } from "./help";
import { type CliOptions, HELP_OPTION, InvalidOptionValue, type OptionSpec, VERBS, type Verb, type VerbSpec, describeOption } from "./spec";

export type ParsedArgv =
  /** Show the help of the program (verb undefined) or of a verb, on stdout; exit 0. */
  | { kind: "help"; verb?: VerbSpec }
  /**
   * A wrong invocation; exit 2. `message` is commander's ("unknown option '--x'"); `helpOf` is the
   * command whose help follows it on stderr; `message` undefined: only that help (commander's
   * help-as-error, no "error:" line).
   */
  | { kind: "usage"; message?: string; helpOf?: VerbSpec }
  | { kind: "run"; verb: Verb; net: string; netns?: string; options: CliOptions };

const isOptionLike = (arg: string) => arg.length > 1 && arg[0] === "-";
const isNegativeNumber = (arg: string) => /^-(\d+|\d*\.\d+)(e[+-]?\d+)?$/.test(arg);
const isHelpFlag = (arg: string) => arg === "-h" || arg === "--help";

/** The program level: no options of its own; the first option-like argument and all after it go to the verb. */
export function parseArgv(argv: readonly string[]): ParsedArgv {
  const operands: string[] = [];
  const rest: string[] = [];
  let dest = operands;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      if (dest === rest) dest.push(arg);
      dest.push(...argv.slice(i + 1));
      break;
    }
    if (dest === operands && isOptionLike(arg)) dest = rest;
    dest.push(arg);
  }
  const [first, ...others] = operands;
  const verb = VERBS.find((v) => v.name === first);
  if (verb) return parseVerb(verb, others, rest);
  if (first === "help") {
    if (others[0] === undefined) return { kind: "help" };
    const target = VERBS.find((v) => v.name === others[0]);
    // commander: help for an unknown command is the program's help, as an error.
    return target ? { kind: "help", verb: target } : { kind: "usage" };
  }
  if (operands.length + rest.length === 0) return { kind: "usage" };
  if (rest.some(isHelpFlag)) return { kind: "help" };
  if (first !== undefined) {
    return { kind: "usage", message: `unknown command '${first}'${suggestSimilar(first, [...VERBS.map((v) => v.name), "help"])}` };
  }
  return { kind: "usage", message: unknownOption(rest[0]!, ["--help"]) };
}

function unknownOption(flag: string, longFlags: string[]): string {
  return `unknown option '${flag}'${flag.startsWith("--") ? suggestSimilar(flag, longFlags) : ""}`;
}

class UsageProblem extends Error {}

/** A verb's own arguments: its options left to right, then help, unknown options and the count of operands. */
function parseVerb(verb: VerbSpec, operands: string[], args: string[]): ParsedArgv {
  const specs = verb.options.map((spec) => ({ spec, ...describeOption(spec) }));
  const find = (flag: string) => specs.find((o) => o.long === flag || o.short === flag);
  const options: Record<string, unknown> = {};
  for (const o of specs) if (o.spec.initial !== undefined) options[o.key] = o.spec.initial;
  const set = (o: (typeof specs)[number], value: string | undefined) => {
    if (!o.takesValue) {
      options[o.key] = true;
      return;
    }
    if (value === undefined) throw new UsageProblem(`option '${o.spec.flags}' argument missing`);
    options[o.key] = parseValue(o.spec, value, options[o.key]);
  };

  const unknown: string[] = [];
  let dest = operands;
  try {
    let group: string | undefined; // the rest of "-abc" after a flag that takes no value
    for (let i = 0; i < args.length || group !== undefined; ) {
      const arg = group ?? args[i++]!;
      group = undefined;
      if (arg === "--") {
        if (dest === unknown) dest.push(arg);
        dest.push(...args.slice(i));
        break;
      }
      const exact = isOptionLike(arg) ? find(arg) : undefined;
      if (exact) {
        set(exact, exact.takesValue ? args[i++] : undefined);
        continue;
      }
      if (arg.length > 2 && arg[0] === "-" && arg[1] !== "-") {
        const short = find(`-${arg[1]}`);
        if (short) {
          if (short.takesValue) set(short, arg.slice(2));
          else {
            set(short, undefined);
            group = `-${arg.slice(2)}`;
          }
          continue;
        }
      }
      if (/^--[^=]+=/.test(arg)) {
        const long = find(arg.slice(0, arg.indexOf("=")));
        if (long?.takesValue) {
          set(long, arg.slice(arg.indexOf("=") + 1));
          continue;
        }
      }
      if (dest === operands && isOptionLike(arg) && !isNegativeNumber(arg)) dest = unknown;
      dest.push(arg);
    }
  } catch (error) {
    if (error instanceof UsageProblem) return { kind: "usage", message: error.message, helpOf: verb };
    throw error;
  }

  if (unknown.some(isHelpFlag)) return { kind: "help", verb };
  if (unknown.length > 0) {
    const longFlags = [...specs.map((o) => o.long), describeOption(HELP_OPTION).long];
    return { kind: "usage", message: unknownOption(unknown[0]!, longFlags), helpOf: verb };
  }
  const missing = verb.args.findIndex((a, index) => a.startsWith("<") && operands[index] === undefined);
  if (missing >= 0) return { kind: "usage", message: `missing required argument '${verb.args[missing]!.slice(1, -1)}'`, helpOf: verb };
  if (operands.length > verb.args.length) {
    const n = verb.args.length;
    return { kind: "usage", message: `too many arguments for '${verb.name}'. Expected ${n} argument${n === 1 ? "" : "s"} but got ${operands.length}.`, helpOf: verb };
  }
  const [net, netns] = operands as [string, string | undefined];
  return { kind: "run", verb: verb.name, net, ...(netns === undefined ? {} : { netns }), options: options as unknown as CliOptions };
}

function parseValue(spec: OptionSpec, text: string, previous: unknown): unknown {
  if (!spec.parse) return text;
  try {
    return spec.parse(text, previous);
  } catch (error) {
    if (error instanceof InvalidOptionValue) throw new UsageProblem(`option '${spec.flags}' argument '${text}' is invalid. ${error.message}`);
    throw error;
  }
}
