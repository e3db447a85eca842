import type { ConsoleClient } from "./client";
import type { Settings } from "./config";
import type { Colors, OutputFormat } from "./format";

/** What every command gets: its output, the global flags, and the console client (made on first use). */
export interface Ctx {
  format: OutputFormat;
  /** The global --url and --token as given (login takes its URL from --url). */
  flags: { url?: string; token?: string };
  verbose: boolean;
  env: Record<string, string | undefined>;
  /** stdout */
  out(text: string): void;
  /** stderr */
  err(text: string): void;
  /** stderr, only with -v */
  note(text: string): void;
  /** Colours for stdout (none unless it is a terminal). */
  c: Colors;
  settings(): Settings;
  client(opts?: { postQueries?: readonly string[] }): Promise<ConsoleClient>;
}
