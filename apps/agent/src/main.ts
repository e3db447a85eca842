import { hostname } from "node:os";
import { CommanderError } from "commander";
import { ZodError } from "zod";
import { CredentialRefused, createAgent } from "./agent";
import { parseConfig } from "./config";
import { createLogger } from "./log";

/** Exit codes: 0 stopped cleanly; 2 bad configuration; 3 the console refused the credential; 1 anything else; 128+n on signal n. */
export async function main(argv: string[]): Promise<number> {
  const log = createLogger((process.env.SWITCHYARD_LOG_LEVEL as "debug" | "info" | undefined) ?? "info");
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
