/** cnitool's environment and container id, read for a verb that runs (loaded with the runtime, not at start). */
import { resolve as resolvePath } from "node:path";
import { sha512Hex } from "./sha512";
import { DEFAULT_CNI_PATH } from "./spec";
import { UsageError } from "./usage-error";

/** cnitool's container id: "cnitool-" + the first 10 bytes of sha512(absolute netns path), in hex. */
export function containerIdForNetns(netnsPath: string): string {
  return `cnitool-${sha512Hex(resolvePath(netnsPath)).slice(0, 20)}`;
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
