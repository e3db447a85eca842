import { CNI_ERROR_CODES, CniError } from "../errors";

/** Variables of the caller's environment a plugin may see; everything else is withheld. */
export const PLUGIN_ENV_ALLOW_LIST = ["PATH", "LANG", "LC_ALL", "TZ"] as const;
export const DEFAULT_PLUGIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export type CniVerb = "ADD" | "CHECK" | "DEL" | "GC" | "STATUS" | "VERSION";

export interface PluginEnvInput {
  verb: CniVerb;
  pluginDirs: readonly string[];
  containerId?: string;
  netns?: string;
  ifName?: string;
  args?: readonly (readonly [string, string])[];
  /** Defaults to process.env; only PLUGIN_ENV_ALLOW_LIST is read from it. */
  baseEnv?: Record<string, string | undefined>;
}

const ARG_KEY_RE = /^[A-Za-z0-9_.\-]+$/;
// ";" and "=" are CNI_ARGS separators; control characters would let a value escape into argv or logs.
const ARG_VALUE_BAD_RE = /[;=\u0000-\u001f\u007f]/;

/** CNI_ARGS as "K1=V1;K2=V2", refusing pairs that would change its meaning. */
export function formatCniArgs(args: readonly (readonly [string, string])[] = []): string {
  return args
    .map(([key, value]) => {
      if (typeof key !== "string" || !ARG_KEY_RE.test(key)) {
        throw new CniError(CNI_ERROR_CODES.invalidEnvironment, "invalid CNI_ARGS key", `key ${JSON.stringify(key)} must be letters, digits, "_", "." or "-"`, { reason: "invalidArgument" });
      }
      if (typeof value !== "string" || ARG_VALUE_BAD_RE.test(value)) {
        throw new CniError(CNI_ERROR_CODES.invalidEnvironment, "invalid CNI_ARGS value", `value of ${key} ${JSON.stringify(value)} must not contain ";", "=" or control characters`, { reason: "invalidArgument" });
      }
      return `${key}=${value}`;
    })
    .join(";");
}

/**
 * The environment of one plugin execution: the six CNI_ variables (empty when the verb has
 * none, as libcni sets them) plus the allow-listed ones — never the caller's whole environment.
 */
export function buildPluginEnv(input: PluginEnvInput): Record<string, string> {
  const base = input.baseEnv ?? process.env;
  const env: Record<string, string> = {};
  for (const key of PLUGIN_ENV_ALLOW_LIST) {
    const value = base[key];
    if (value !== undefined) env[key] = value;
  }
  env.PATH ??= DEFAULT_PLUGIN_PATH;
  env.CNI_COMMAND = input.verb;
  env.CNI_CONTAINERID = input.containerId ?? "";
  env.CNI_NETNS = input.netns ?? "";
  env.CNI_IFNAME = input.ifName ?? "";
  env.CNI_ARGS = formatCniArgs(input.args);
  env.CNI_PATH = input.pluginDirs.join(":");
  return env;
}
