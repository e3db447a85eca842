import { CNI_ERROR_CODES, CniError } from "../errors";

/**
 * Variables of the caller's environment a plugin may see; everything else is withheld (libcni
 * passes the whole environment). XDG_RUNTIME_DIR and DBUS_SYSTEM_BUS_ADDRESS say where state
 * lives: containers/dnsname keeps its files under $XDG_RUNTIME_DIR, the firewall plugin's
 * firewalld backend reaches the bus at $DBUS_SYSTEM_BUS_ADDRESS; without them a plugin would work
 * on other state than libcni callers on the same host. More names: the runtime's `passEnv`.
 */
export const PLUGIN_ENV_ALLOW_LIST = ["PATH", "LANG", "LC_ALL", "TZ", "XDG_RUNTIME_DIR", "DBUS_SYSTEM_BUS_ADDRESS"] as const;

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Checks `passEnv` names: environment variable names, and none of the CNI_ variables the runtime sets itself. */
export function validatePassEnv(names: readonly unknown[]): string[] {
  return names.map((name) => {
    if (typeof name !== "string" || !ENV_NAME_RE.test(name)) {
      throw new CniError(CNI_ERROR_CODES.invalidEnvironment, "invalid passEnv name", `${JSON.stringify(name)} is not an environment variable name (letters, digits and "_", not starting with a digit)`, {
        reason: "invalidArgument",
      });
    }
    if (name.startsWith("CNI_")) {
      throw new CniError(CNI_ERROR_CODES.invalidEnvironment, "invalid passEnv name", `${name}: the CNI_ variables are set by the runtime for each call, not passed from its environment`, {
        reason: "invalidArgument",
      });
    }
    return name;
  });
}
export const DEFAULT_PLUGIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export type CniVerb = "ADD" | "CHECK" | "DEL" | "GC" | "STATUS" | "VERSION";

export interface PluginEnvInput {
  verb: CniVerb;
  pluginDirs: readonly string[];
  containerId?: string;
  netns?: string;
  ifName?: string;
  args?: readonly (readonly [string, string])[];
  /** Defaults to process.env; only PLUGIN_ENV_ALLOW_LIST and `passEnv` are read from it. */
  baseEnv?: Record<string, string | undefined>;
  /** More variable names to pass from `baseEnv` (validated with validatePassEnv). */
  passEnv?: readonly string[];
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
  for (const key of [...PLUGIN_ENV_ALLOW_LIST, ...(input.passEnv ?? [])]) {
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
