/**
 * `switchyard-cni`: cnitool's verbs and environment on top of this package's runtime, plus `--json`.
 *
 *   switchyard-cni add|check|del <net> <netns>
 *   switchyard-cni status|gc|version <net> [netns]
 *
 * Environment (as cnitool): NETCONFPATH, CNI_PATH, CNI_IFNAME, CAP_ARGS, CNI_ARGS.
 */
import { createHash } from "node:crypto";
import { resolve as resolvePath } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { CniError, createCniRuntime, describeFsError, loadConfDir, validatePassEnv } from "./index";
import type { CniRuntime, CniRuntimeOptions, ConfigSource, NetworkConfigList, RuntimeConf } from "./index";

export const DEFAULT_NETCONFPATH = "/etc/cni/net.d";
export const DEFAULT_CNI_PATH = ["/opt/cni/bin", "/usr/lib/cni"];
export const DEFAULT_CACHE_DIR = "/var/lib/cni";

/** Exit codes: 0 done; 1 the CNI operation failed (see the CNI error code); 2 the invocation was wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** Overridable for tests; defaults to `createCniRuntime`. */
  createRuntime?: (opts: CniRuntimeOptions) => CniRuntime;
}

type Verb = "add" | "check" | "del" | "status" | "gc" | "version";

interface CommonOptions {
  json?: boolean;
  ifname?: string;
  cacheDir: string;
  timeout?: number;
  containerId?: string;
  configSource?: ConfigSource;
  passEnv: string[];
}
interface GcOptions extends CommonOptions {
  valid: string[];
  drain?: boolean;
}

/** del and gc: which configuration DEL runs with (issue 17: the way out of a cached config that cannot work). */
const configSourceOption = () =>
  new Option("--config-source <source>", "DEL with the config ADD ran (cached; the given one if that fails) or only the given one (libcni's)").choices(["cached", "given"]).default("cached");

/** An error in how the CLI was invoked (exit 2), carrying the CNI code closest to it. */
class UsageError extends CniError {}

/** cnitool's container id: "cnitool-" + the first 10 bytes of sha512(absolute netns path), in hex. */
export function containerIdForNetns(netnsPath: string): string {
  const digest = createHash("sha512").update(resolvePath(netnsPath)).digest("hex");
  return `cnitool-${digest.slice(0, 20)}`;
}

/** CNI_ARGS as cnitool parses it: `K=V;K2=V2`, every pair exactly one `=` with both sides non-empty. */
export function parseCniArgs(value: string): [string, string][] {
  return value.split(";").map((pair) => {
    const kv = pair.split("=");
    if (kv.length !== 2 || !kv[0] || !kv[1]) {
      throw new UsageError(4, `invalid CNI_ARGS pair ${JSON.stringify(pair)}`, 'expected "KEY=VALUE" pairs separated by ";"');
    }
    return [kv[0], kv[1]];
  });
}

/** CAP_ARGS: a JSON object of capability args (portMappings, ipRanges, bandwidth, …). */
export function parseCapArgs(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new UsageError(4, "CAP_ARGS is not valid JSON", err instanceof Error ? err.message : String(err));
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(4, "CAP_ARGS must be a JSON object", `got ${Array.isArray(parsed) ? "an array" : typeof parsed}`);
  }
  return parsed as Record<string, unknown>;
}

/** CNI_PATH split like Go's filepath.SplitList; empty entries dropped; unset → the usual two directories. */
export function parseCniPath(value: string | undefined): string[] {
  const dirs = (value ?? "").split(":").filter((d) => d.length > 0);
  return dirs.length > 0 ? dirs : DEFAULT_CNI_PATH;
}

const ENV_HELP = `
Environment (as cnitool):
  NETCONFPATH  directory of .conf/.conflist/.json files (default ${DEFAULT_NETCONFPATH})
  CNI_PATH     plugin directories, ":"-separated (default ${DEFAULT_CNI_PATH.join(":")})
  CNI_IFNAME   interface name inside the namespace (default eth0; --ifname wins)
  CAP_ARGS     capability args as a JSON object, e.g. '{"portMappings":[…]}'
  CNI_ARGS     "K=V;K2=V2" pairs passed to the plugins

The container id is cnitool's: "cnitool-" + hex of the first 10 bytes of sha512(absolute netns path).

Exit status: 0 done; 1 the operation failed (with --json, error.code is the CNI error code);
2 the invocation was wrong (unknown verb or option, bad CAP_ARGS/CNI_ARGS, unknown network).`;

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const wantsJson = argv.includes("--json");
  let exitCode: number = EXIT.ok;
  const print = (s: string) => io.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
  const json = (value: unknown) => print(JSON.stringify(value, null, 2));

  const reportError = (verb: string, err: unknown, context: Record<string, unknown> = {}): number => {
    const usage = err instanceof UsageError;
    const cniErr =
      err instanceof CniError ? err : new CniError(5, err instanceof Error ? err.message : String(err), "", { cause: err });
    if (wantsJson) {
      json({
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
      io.stderr.write(`switchyard-cni ${verb}: ${cniErr.message} (CNI error ${cniErr.code})\n`);
      for (const sub of cniErr.errors ?? []) io.stderr.write(`  - ${sub.message} (CNI error ${sub.code})\n`);
      if (cniErr.stderr?.trim()) io.stderr.write(`plugin stderr:\n${cniErr.stderr.trimEnd()}\n`);
    }
    return usage ? EXIT.usage : EXIT.failed;
  };

  const program = new Command("switchyard-cni")
    .description("Add, check, remove, garbage-collect or get the status of CNI attachments (cnitool-compatible).")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => (wantsJson ? undefined : io.stderr.write(s)),
    })
    .addHelpText("after", ENV_HELP)
    .showHelpAfterError(!wantsJson);

  const withCommon = (cmd: Command) =>
    cmd
      .option("--json", "print one JSON object on stdout (with the CNI error code on failure)")
      .option("-i, --ifname <name>", "interface name (defaults to CNI_IFNAME or eth0)")
      .option("--cache-dir <dir>", "result cache directory (libcni's)", DEFAULT_CACHE_DIR)
      .addOption(new Option("--timeout <ms>", "per-plugin timeout in milliseconds").argParser(parsePositiveInt))
      .option("--container-id <id>", "override the container id derived from the netns path")
      .option("--pass-env <name>", "also pass this variable of the environment to the plugins (repeatable; beyond PATH, LANG, LC_ALL, TZ, XDG_RUNTIME_DIR, DBUS_SYSTEM_BUS_ADDRESS)", collect, [])
      .addHelpText("after", ENV_HELP);

  /** Everything a verb needs, from argv and the environment; throws UsageError on bad input. */
  const prepare = async (netName: string, netnsArg: string | undefined, opts: CommonOptions) => {
    const confDir = io.env.NETCONFPATH || DEFAULT_NETCONFPATH;
    const capabilityArgs = io.env.CAP_ARGS ? parseCapArgs(io.env.CAP_ARGS) : undefined;
    const args = io.env.CNI_ARGS ? parseCniArgs(io.env.CNI_ARGS) : undefined;
    const ifName = opts.ifname || io.env.CNI_IFNAME || "eth0";
    const net = await findNetwork(confDir, netName);
    const netns = netnsArg === undefined ? "" : resolvePath(netnsArg);
    const rt: RuntimeConf = {
      containerId: opts.containerId ?? (netns ? containerIdForNetns(netns) : ""),
      netns,
      ifName,
      ...(args ? { args } : {}),
      ...(capabilityArgs ? { capabilityArgs } : {}),
    };
    let passEnv: string[];
    try {
      passEnv = validatePassEnv(opts.passEnv);
    } catch (err) {
      throw new UsageError(4, (err as CniError).msg, (err as CniError).details);
    }
    const runtime = (io.createRuntime ?? createCniRuntime)({
      pluginDirs: parseCniPath(io.env.CNI_PATH),
      cacheDir: opts.cacheDir,
      baseEnv: io.env,
      ...(passEnv.length > 0 ? { passEnv } : {}),
      // Problems that did not stop the operation (a fallback to the given config, a corrupt cache file).
      onWarning: (w) => io.stderr.write(`switchyard-cni: warning: ${w.message} (CNI error ${w.code})\n`),
      ...(opts.timeout ? { timeoutMs: opts.timeout } : {}),
    });
    return { net, rt, runtime };
  };

  const attachmentVerb = (verb: "add" | "check" | "del", summary: string) =>
    withCommon(verb === "del" ? program.command(`${verb} <net> <netns>`).description(summary).addOption(configSourceOption()) : program.command(`${verb} <net> <netns>`).description(summary)).action(
      async (netName: string, netnsArg: string, opts: CommonOptions) => {
        let context: Record<string, unknown> = { network: netName };
        try {
          const { net, rt, runtime } = await prepare(netName, netnsArg, opts);
          context = { network: net.name, netns: rt.netns, containerId: rt.containerId, ifName: rt.ifName };
          if (verb === "add") {
            const result = await runtime.addNetworkList(net, rt);
            if (wantsJson) json({ ok: true, verb, ...context, result });
            else json(result);
          } else {
            if (verb === "check") await runtime.checkNetworkList(net, rt);
            else await runtime.delNetworkList(net, rt, opts.configSource ? { configSource: opts.configSource } : {});
            if (wantsJson) json({ ok: true, verb, ...context });
          }
        } catch (err) {
          exitCode = reportError(verb, err, context);
        }
      },
    );

  attachmentVerb("add", "attach the namespace to the network (ADD each plugin in order; result on stdout)");
  attachmentVerb("check", "check the attachment against the cached result (CHECK, cniVersion ≥ 0.4.0)");
  attachmentVerb("del", "detach (DEL each plugin in reverse order, with the cached config; idempotent)");

  withCommon(program.command("status <net> [netns]").description("ask every plugin of the network whether it is ready (STATUS, ≥ 1.1.0)")).action(
    async (netName: string, netnsArg: string | undefined, opts: CommonOptions) => {
      try {
        const { net, runtime } = await prepare(netName, netnsArg, opts);
        await runtime.getStatusNetworkList(net);
        if (wantsJson) json({ ok: true, verb: "status", network: net.name });
      } catch (err) {
        exitCode = reportError("status", err, { network: netName });
      }
    },
  );

  withCommon(
    program
      .command("gc <net> [netns]")
      .description("garbage-collect the network's attachments that are not valid (GC, ≥ 1.1.0)")
      .option("--valid <id[:ifname]>", "a valid attachment (repeatable; ifname defaults to CNI_IFNAME or eth0)", collect, [])
      .option("--drain", "no attachment is valid: collect every attachment of the network (cnitool's behaviour)")
      .addOption(configSourceOption()),
  ).action(async (netName: string, netnsArg: string | undefined, opts: GcOptions) => {
    try {
      if (opts.valid.length === 0 && !opts.drain) {
        throw new UsageError(
          4,
          "gc needs the valid attachments",
          "pass --valid <containerId[:ifname]> for each attachment to keep, or --drain to collect them all",
        );
      }
      if (opts.valid.length > 0 && opts.drain) throw new UsageError(4, "gc: --valid and --drain exclude each other");
      const { net, runtime, rt } = await prepare(netName, netnsArg, opts);
      const validAttachments = opts.valid.map((v) => {
        const [containerId = "", ifName = rt.ifName] = v.split(":");
        return { containerId, ifName };
      });
      await runtime.gcNetworkList(net, { validAttachments, ...(opts.configSource ? { configSource: opts.configSource } : {}) });
      if (wantsJson) json({ ok: true, verb: "gc", network: net.name, validAttachments });
    } catch (err) {
      exitCode = reportError("gc", err, { network: netName });
    }
  });

  withCommon(program.command("version <net> [netns]").description("each plugin's VERSION, and whether the network's cniVersion is supported")).action(
    async (netName: string, netnsArg: string | undefined, opts: CommonOptions) => {
      const context: Record<string, unknown> = { network: netName };
      try {
        const { net, runtime } = await prepare(netName, netnsArg, opts);
        context.cniVersion = net.cniVersion;
        const types = uniquePluginTypes(net);
        const plugins = [];
        for (const type of types) plugins.push({ type, ...(await runtime.getVersionInfo(type)) });
        context.plugins = plugins;
        const { capabilities } = await runtime.validateNetworkList(net);
        if (wantsJson) json({ ok: true, verb: "version", ...context, capabilities });
        else {
          print(`network ${net.name}: cniVersion ${net.cniVersion}`);
          for (const p of plugins) print(`  ${p.type}: ${p.cniVersion} (supports ${p.supportedVersions.join(", ")})`);
          if (capabilities.length) print(`  capabilities: ${capabilities.join(", ")}`);
        }
      } catch (err) {
        exitCode = reportError("version", err, context);
      }
    },
  );

  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return EXIT.usage;
  }
  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.exitCode === 0) return EXIT.ok;
      if (wantsJson) json({ ok: false, verb: argv[0] ?? "", error: { code: 4, msg: err.message.replace(/^error: /, "") } });
      return EXIT.usage;
    }
    throw err;
  }
  return exitCode;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer (milliseconds)");
  return n;
}

function uniquePluginTypes(net: NetworkConfigList): string[] {
  const types = new Set<string>();
  for (const p of net.plugins) {
    types.add(p.type);
    const ipam = p.config.ipam as { type?: unknown } | undefined;
    if (typeof ipam?.type === "string" && ipam.type) types.add(ipam.type);
  }
  return [...types];
}

/** libcni's lookup by name in a conf dir; a bad file is reported, and named, only when the network is not found. */
async function findNetwork(confDir: string, name: string): Promise<NetworkConfigList> {
  let loaded: Awaited<ReturnType<typeof loadConfDir>>;
  try {
    loaded = await loadConfDir(confDir);
  } catch (err) {
    throw new UsageError(5, `cannot read NETCONFPATH ${confDir}`, describeFsError(err));
  }
  const net = loaded.networks.find((n) => n.name === name);
  if (net) return net;
  // Each message names its file already.
  const bad = loaded.errors.map((e) => e.error.message).join("; ");
  throw new UsageError(
    7,
    `no network named ${JSON.stringify(name)} in ${confDir}`,
    [
      loaded.networks.length ? `found: ${loaded.networks.map((n) => n.name).join(", ")}` : "no valid network found",
      bad ? `unreadable: ${bad}` : "",
    ]
      .filter(Boolean)
      .join("; "),
  );
}
