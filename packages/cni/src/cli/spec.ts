/**
 * What `switchyard-cni` accepts: its verbs, their arguments and options, as data. The argv parser
 * (args.ts) and the help (help.ts) are both read from here, so a new flag is one entry in a table
 * below (and a field in CliOptions). No imports: this module is evaluated at every start.
 */

export const DEFAULT_NETCONFPATH = "/etc/cni/net.d";
export const DEFAULT_CNI_PATH = ["/opt/cni/bin", "/usr/lib/cni"];
export const DEFAULT_CACHE_DIR = "/var/lib/cni";

/** Exit codes: 0 done; 1 the CNI operation failed (see the CNI error code); 2 the invocation was wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export type Verb = "add" | "check" | "del" | "status" | "gc" | "version";

/** Every option's value after parsing, keyed by the camelCase of its long name (commander's convention). */
export interface CliOptions {
  json?: boolean;
  ifname?: string;
  cacheDir: string;
  timeout?: number;
  containerId?: string;
  /** Extra variables of the environment passed to the plugins (the runtime's passEnv). */
  passEnv: string[];
  /** del and gc: which configuration DEL runs with (issue 17: the way out of a cached config that cannot work). */
  configSource?: "cached" | "given";
  /** gc only */
  valid?: string[];
  /** gc only */
  drain?: boolean;
}

/** A bad option value: the parser reports "option '<flags>' argument '<value>' is invalid. <message>". */
export class InvalidOptionValue extends Error {}

export interface OptionSpec {
  /** As commander writes them: "-i, --ifname <name>", "--json". A `<value>` makes the option take one. */
  flags: string;
  description: string;
  /** The value before any occurrence (shown in the help as `(default: …)`). */
  initial?: string | string[];
  /** Turns the text into the option's value; throws InvalidOptionValue. Default: the text itself. */
  parse?: (text: string, previous: unknown) => unknown;
}

export interface VerbSpec {
  name: Verb;
  /** Positional arguments: `<required>` then `[optional]`. */
  args: readonly string[];
  description: string;
  options: readonly OptionSpec[];
}

function parsePositiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidOptionValue("expected a positive integer (milliseconds)");
  return n;
}

/** Options every verb takes, after its own. */
const COMMON_OPTIONS: readonly OptionSpec[] = [
  { flags: "--json", description: "print one JSON object on stdout (with the CNI error code on failure)" },
  { flags: "-i, --ifname <name>", description: "interface name (defaults to CNI_IFNAME or eth0)" },
  { flags: "--cache-dir <dir>", description: "result cache directory (libcni's)", initial: DEFAULT_CACHE_DIR },
  { flags: "--timeout <ms>", description: "per-plugin timeout in milliseconds", parse: parsePositiveInt },
  { flags: "--container-id <id>", description: "override the container id derived from the netns path" },
  {
    flags: "--pass-env <name>",
    description: "also pass this variable of the environment to the plugins (repeatable; beyond PATH, LANG, LC_ALL, TZ, XDG_RUNTIME_DIR, DBUS_SYSTEM_BUS_ADDRESS)",
    initial: [],
    parse: (text, previous) => [...(previous as string[]), text],
  },
];

const CONFIG_SOURCES = ["cached", "given"] as const;

/** del and gc: the config DEL runs with. */
const CONFIG_SOURCE_OPTION: OptionSpec = {
  flags: "--config-source <source>",
  description: "DEL with the config ADD ran (cached; the given one if that cannot work) or only the given one (libcni's)",
  initial: "cached",
  parse: (text) => {
    if (!(CONFIG_SOURCES as readonly string[]).includes(text)) throw new InvalidOptionValue(`Allowed choices are ${CONFIG_SOURCES.join(", ")}.`);
    return text;
  },
};

const GC_OPTIONS: readonly OptionSpec[] = [
  {
    flags: "--valid <id[:ifname]>",
    description: "a valid attachment (repeatable; ifname defaults to CNI_IFNAME or eth0)",
    initial: [],
    parse: (text, previous) => [...(previous as string[]), text],
  },
  { flags: "--drain", description: "no attachment is valid: collect every attachment of the network (cnitool's behaviour)" },
  CONFIG_SOURCE_OPTION,
];

const verb = (name: Verb, args: string, description: string, own: readonly OptionSpec[] = []): VerbSpec => ({
  name,
  args: args.split(" "),
  description,
  options: [...own, ...COMMON_OPTIONS],
});

/** In the order the help lists them. */
export const VERBS: readonly VerbSpec[] = [
  verb("add", "<net> <netns>", "attach the namespace to the network (ADD each plugin in order; result on stdout)"),
  verb("check", "<net> <netns>", "check the attachment against the cached result (CHECK, cniVersion ≥ 0.4.0)"),
  verb("del", "<net> <netns>", "detach (DEL each plugin in reverse order, with the cached config; idempotent)", [CONFIG_SOURCE_OPTION]),
  verb("status", "<net> [netns]", "ask every plugin of the network whether it is ready (STATUS, ≥ 1.1.0)"),
  verb("gc", "<net> [netns]", "garbage-collect the network's attachments that are not valid (GC, ≥ 1.1.0)", GC_OPTIONS),
  verb("version", "<net> [netns]", "each plugin's VERSION, and whether the network's cniVersion is supported"),
];

export const PROGRAM = {
  name: "switchyard-cni",
  description: "Add, check, remove, garbage-collect or get the status of CNI attachments (cnitool-compatible).",
};

export const HELP_OPTION: OptionSpec = { flags: "-h, --help", description: "display help for command" };

export const ENV_HELP = `
Environment (as cnitool):
  NETCONFPATH  directory of .conf/.conflist/.json files (default ${DEFAULT_NETCONFPATH})
  CNI_PATH     plugin directories, ":"-separated (default ${DEFAULT_CNI_PATH.join(":")})
  CNI_IFNAME   interface name inside the namespace (default eth0; --ifname wins)
  CAP_ARGS     capability args as a JSON object, e.g. '{"portMappings":[…]}'
  CNI_ARGS     "K=V;K2=V2" pairs passed to the plugins

The container id is cnitool's: "cnitool-" + hex of the first 10 bytes of sha512(absolute netns path).

Exit status: 0 done; 1 the operation failed (with --json, error.code is the CNI error code);
2 the invocation was wrong (unknown verb or option, bad CAP_ARGS/CNI_ARGS, unknown network).`;

/** The parts of an option's flags: "-i, --ifname <name>" → short "-i", long "--ifname", key "ifname", takes a value. */
export function describeOption(option: OptionSpec): { short?: string; long: string; key: keyof CliOptions; takesValue: boolean } {
  const names = option.flags.split(/[ ,]+/).filter((part) => part.startsWith("-"));
  const long = names.find((n) => n.startsWith("--"))!;
  const short = names.find((n) => !n.startsWith("--"));
  const key = long.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof CliOptions;
  return { ...(short ? { short } : {}), long, key, takesValue: /[<[]/.test(option.flags) };
}
