import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { version as VERSION } from "../package.json";
import { resolveSettings, type Settings } from "./config";
import type { Ctx } from "./context";
import { CliError, EXIT } from "./exit";
import { colorsFor, type OutputFormat } from "./format";

/**
 * `switchyard`: the console from a terminal or a CI job (issue 13 §2). Commands are loaded when
 * they run (each module and the tRPC client are evaluated on first use), so `--help` and
 * `--version` start as fast as the bundle loads.
 *
 * Exit codes: 0 done, 1 failed, 2 wrong usage, 3 refused by the console, 4 the diff is not empty (--exit-code).
 */

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
}

const processIo: Io = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  env: process.env,
};

const parseFormat = (v: string): OutputFormat => {
  if (v === "table" || v === "json") return v;
  throw new InvalidArgumentError('use "table" or "json"');
};
const parseCount = (max: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`a whole number from 1 to ${max}`);
  return n;
};

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command("switchyard");

  function makeCtx(cmd: Command): Ctx {
    const g = cmd.optsWithGlobals<{ url?: string; token?: string; output: OutputFormat; verbose?: boolean }>();
    let settings: Settings | undefined;
    const verbose = !!g.verbose;
    const ctx: Ctx = {
      format: g.output,
      flags: { url: g.url, token: g.token },
      verbose,
      env: io.env,
      out: io.stdout,
      err: io.stderr,
      note: (t) => verbose && io.stderr(`${t}\n`),
      c: colorsFor(io === processIo ? process.stdout : {}, io.env),
      settings: () => (settings ??= resolveSettings({ url: g.url, token: g.token }, io.env)),
      client: async (opts) => {
        const s = ctx.settings();
        ctx.note(`console ${s.url} (from ${s.urlFrom}), token from ${s.tokenFrom}`);
        const { createConsoleClient } = await import("./client");
        return createConsoleClient(s, { note: (t) => io.stderr(`switchyard: ${t}\n`), trace: verbose ? (t) => io.stderr(`${t}\n`) : undefined, postQueries: opts?.postQueries });
      },
    };
    return ctx;
  }

  /** The command's action: load its module, run it, map what it throws to an exit code. */
  function run<A extends unknown[]>(load: () => Promise<(ctx: Ctx, ...args: A) => Promise<number>>) {
    return async (...args: unknown[]) => {
      const cmd = args.at(-1) as Command;
      const ctx = makeCtx(cmd);
      try {
        const fn = await load();
        exitCode = await fn(ctx, ...(args.slice(0, -1) as A));
      } catch (error) {
        const { toCliError } = await import("./client");
        const e = toCliError(error);
        io.stderr(`switchyard: ${e.message}\n`);
        for (const d of e.details) io.stderr(`  ${d}\n`);
        if (e.exitCode === EXIT.failed && !(error instanceof CliError) && !((error as { cause?: unknown }).cause instanceof CliError) && ctx.verbose && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
        exitCode = e.exitCode;
      }
    };
  }

  program
    .description("Switchyard from a terminal or CI: networks, attachments, hosts, IPAM, services, and files in git (apply, diff, export)")
    .version(VERSION, "-V, --version", "print the version")
    .option("--url <url>", "the console's URL (else $SWITCHYARD_URL, else the config file)")
    .option("--token <token>", "an API token, syt_... (else $SWITCHYARD_TOKEN, else the config file; flags show in `ps`: prefer those)")
    .addOption(new Option("-o, --output <format>", "table (for people) or json (for scripts)").argParser(parseFormat).default("table"))
    .option("-v, --verbose", "say more on stderr (where settings came from, files ignored, unchanged items)")
    .helpCommand(false)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .addHelpText(
      "after",
      `
Exit codes: 0 done, 1 failed, 2 wrong usage, 3 refused by the console (401/403), 4 the diff is not empty (--exit-code).
Config file: $XDG_CONFIG_HOME/switchyard/config.json or ~/.config/switchyard/config.json ({"url", "token"}, mode 0600; \`switchyard login\` writes it).`,
    );

  program
    .command("login")
    .description("save the console's URL (--url, required) and an API token (read from stdin, never from the command line) in the config file, mode 0600")
    .option("--no-verify", "save without asking the console whether the token works")
    .action(run(async () => (await import("./commands/login")).login));

  const networks = program.command("networks").description("networks (CNI conflists)").helpCommand(false);
  networks
    .command("list", { isDefault: true })
    .description("list networks")
    .option("-q, --search <text>", "only networks whose name or config contains this")
    .option("--limit <n>", "at most this many", parseCount(100_000))
    .action(run(async () => (await import("./commands/lists")).networksList));
  networks
    .command("get")
    .description("one network: its latest revision and its conflist")
    .argument("<name>", "the network's name")
    .action(run(async () => (await import("./commands/lists")).networksGet));

  program
    .command("attachments")
    .description("list attachments (containers on networks)")
    .option("--network <name>", "only this network's")
    .option("--host <name>", "only this host's")
    .option("--state <states>", "comma-separated: pending, applying, ready, failed, detaching, detached (default: all but failed and detached)")
    .option("-q, --search <text>", "container id, interface, target or network containing this")
    .option("--limit <n>", "at most this many", parseCount(100_000))
    .action(run(async () => (await import("./commands/lists")).attachmentsList));

  program
    .command("hosts")
    .description("list hosts (enrolled agents)")
    .option("-q, --search <text>", "name or agent version containing this")
    .option("--limit <n>", "at most this many", parseCount(100_000))
    .action(run(async () => (await import("./commands/lists")).hostsList));

  const ipam = program.command("ipam").description("addresses: use per network, who holds an address, leaks and their release").helpCommand(false);
  ipam
    .command("show")
    .description("a network's address use per subnet and per host")
    .argument("<network>", "the network's name")
    .action(run(async () => (await import("./commands/ipam")).ipamShow));
  ipam
    .command("who-has")
    .description("who holds an address now, in every network (or who held it at a time)")
    .argument("<address>", "an IPv4 or IPv6 address")
    .option("--at <time>", "a past time (ISO 8601, e.g. 2026-12-01T10:00:00Z)")
    .action(run(async () => (await import("./commands/ipam")).ipamWhoHas));
  ipam
    .command("leaks")
    .description("a network's leases that no live attachment holds, each with its evidence")
    .argument("<network>", "the network's name")
    .option("--all", "also leases judged live or another runtime's")
    .action(run(async () => (await import("./commands/ipam")).ipamLeaks));
  ipam
    .command("release")
    .description("release leaked addresses of one host: shows the dry run, then releases after a prompt or with --yes")
    .argument("<network>", "the network's name")
    .argument("<addresses...>", "the leaked addresses")
    .requiredOption("--host <name>", "the host holding them")
    .option("-y, --yes", "release without asking")
    .option("--dry-run", "only show what would be done")
    .action(run(async () => (await import("./commands/ipam")).ipamRelease));

  const services = program.command("services").description("services (a VIP and ports in front of an endpoint pool)").helpCommand(false);
  services
    .command("list", { isDefault: true })
    .description("list services")
    .action(run(async () => (await import("./commands/services")).servicesList));
  services
    .command("get")
    .description("one service: its ports, members (weight, state, health) and hosts")
    .argument("<name>", "the service's name")
    .action(run(async () => (await import("./commands/services")).servicesGet));
  services
    .command("set-weight")
    .description("set a member's weight (0-1000): a new revision of the service")
    .argument("<name>", "the service's name")
    .argument("<member>", "ADDRESS, ADDRESS:PORT ([v6]:PORT), or for a selector member its attachment or container id")
    .argument("<weight>", "0-1000")
    .action(run(async () => (await import("./commands/services")).servicesSetWeight));
  services
    .command("drain")
    .description("drain a member: it keeps its open connections and gets no new ones (--undo: active again)")
    .argument("<name>", "the service's name")
    .argument("<member>", "ADDRESS, ADDRESS:PORT ([v6]:PORT), or for a selector member its attachment or container id")
    .option("--undo", "set the member active again")
    .action(run(async () => (await import("./commands/services")).servicesDrain));

  const fileOptions = (cmd: Command) =>
    cmd
      .requiredOption("-f, --filename <path>", "a directory of network and service files, or one file (may be repeated)", (v: string, prev: string[] = []) => [...prev, v])
      .option("--prune", "also delete networks and services that have no file")
      .option("--exit-code", "exit 4 when the diff is not empty");
  fileOptions(
    program
      .command("apply")
      .description("make the console match the files: shows the diff, then applies after a prompt or with --yes (deletes only with --prune)")
      .option("-y, --yes", "apply without asking")
      .option("--dry-run", "only show the diff (as `switchyard diff`)"),
  )
    .addHelpText(
      "after",
      `
Files: top-level *.conflist, *.conf and *.json are networks (named as /etc/cni/net.d names them, 10-lab.conflist);
services/<name>.json are services; anything else (README.md, .git/) is ignored. Each file at most 1 MiB, at most 500.
With --exit-code: exit 4 when there were changes (after applying them, or only showing them with --dry-run).`,
    )
    .action(run(async () => (await import("./commands/apply")).apply));
  fileOptions(program.command("diff").description("show what `switchyard apply` would change; nothing is applied")).action(run(async () => (await import("./commands/apply")).diff));

  program
    .command("export")
    .description("write the console's networks and services as files into DIR (what `apply -f DIR` reads); other files stay")
    .argument("<dir>", "the directory (made when missing)")
    .action(run(async () => (await import("./commands/apply")).exportFiles));

  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return EXIT.ok;
      // commander printed the problem (unknown command or option, a missing argument) already
      return EXIT.usage;
    }
    throw error;
  }
  return exitCode;
}
