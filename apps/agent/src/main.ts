import { hostname } from "node:os";
import { CommanderError } from "commander";
import { ZodError } from "zod";
import { CredentialRefused, createAgent } from "./agent";
import { parseConfig, parseUninstallConfig } from "./config";
import { createLogger } from "./log";
import { describeUninstall, uninstallServices } from "./services/uninstall";

/** Exit codes: 0 stopped cleanly; 2 bad configuration; 3 the console refused the credential; 1 anything else; 128+n on signal n. */
export async function main(argv: string[]): Promise<number> {
  const log = createLogger((process.env.SWITCHYARD_LOG_LEVEL as "debug" | "info" | undefined) ?? "info");
  if (argv[0] === "uninstall") return uninstall(argv.slice(1), log);
  if (argv[0] === "proxy") return proxy(argv.slice(1));
  let config;
  try {
    config = parseConfig(argv, process.env, hostname());
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof ZodError) {
      for (const issue of error.issues) log.error("invalid configuration", { option: issue.path.join("."), problem: issue.message });
      return 2;
    }
    throw error;
  }
  if (process.getuid?.() !== 0) log.warn("not running as root: CNI plugins need CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_NET_RAW");

  const agent = createAgent(config, log);
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = signal;
    log.info("stopping", { signal });
    void agent.stop();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    await agent.run();
  } catch (error) {
    if (error instanceof CredentialRefused) return 3;
    log.error("agent failed", { error: (error as Error).message });
    return 1;
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
  if (signalled) return 128 + (signalled === "SIGINT" ? 2 : 15);
  return 0;
}

/**
 * `switchyard-agent proxy [--config FILE] [--workers N] [--grace-ms MS]`: the userspace proxy
 * (issue 14), which the agent starts as its own process from this same file (one file to ship;
 * the proxy's code is loaded only here). It never returns: the proxy exits itself when stopped,
 * or when the agent that started it goes.
 */
async function proxy(argv: string[]): Promise<number> {
  const { main: runProxy } = await import("@switchyard/dataplane/proxy/process");
  await runProxy(argv);
  return new Promise<number>(() => undefined);
}

/**
 * `switchyard-agent uninstall [--services host|netns:<name>]`: removes the services data plane
 * (tables, routes, sink) and prints each thing removed. Exit codes: 0 done (also when there was
 * nothing to remove); 2 bad arguments; 1 something could not be removed (named on stderr).
 */
async function uninstall(argv: string[], log: ReturnType<typeof createLogger>): Promise<number> {
  let config;
  try {
    config = parseUninstallConfig(argv);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof ZodError) {
      for (const issue of error.issues) log.error("invalid uninstall arguments", { arguments: argv.join(" "), option: issue.path.join("."), problem: issue.message });
      return 2;
    }
    throw error;
  }
  const netns = config.services.mode === "netns" ? config.services.netns : undefined;
  const where = netns === undefined ? "this host" : `netns ${netns}`;
  try {
    const result = await uninstallServices({ netns });
    for (const line of describeUninstall(result, where)) process.stdout.write(`${line}\n`);
    return 0;
  } catch (error) {
    log.error("uninstall failed: what was listed above is removed, the rest is as it was", { where, error: (error as Error).message });
    return 1;
  }
}
