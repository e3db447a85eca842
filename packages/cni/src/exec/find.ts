import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { pluginTypeProblem } from "../config/validate";
import { CNI_ERROR_CODES, CniError } from "../errors";

/** Refuses a plugin type that is not a bare executable name, before anything runs (CVE-2021-20206). */
export function assertPluginType(type: unknown, field = "type"): asserts type is string {
  const problem = typeof type === "string" ? pluginTypeProblem(type) : "must be a string";
  if (problem) {
    throw new CniError(CNI_ERROR_CODES.invalidNetworkConfig, `invalid plugin ${field}`, `${field} ${JSON.stringify(type)} ${problem}`, {
      reason: "invalidPluginType",
      plugin: typeof type === "string" ? type : undefined,
    });
  }
}

const IS_ROOT = process.getuid?.() === 0;

function isExecutableFile(path: string): boolean {
  try {
    // stat follows symlinks, as libcni's FindInPath does: distributions link plugins into place.
    // Synchronous: two local metadata calls cost less than a thread-pool round trip.
    const info = statSync(path, { throwIfNoEntry: false });
    if (!info?.isFile() || (info.mode & 0o111) === 0) return false;
    // For root any execute bit will do (execve's rule); others ask the kernel.
    if (!IS_ROOT) accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The path of plugin `type` in the first of `dirs` holding a regular executable file of
 * that name; relative directories are ignored so the lookup does not depend on the cwd.
 */
export async function findPlugin(type: unknown, dirs: readonly string[], field = "type"): Promise<string> {
  assertPluginType(type, field);
  for (const dir of dirs) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, type);
    if (isExecutableFile(candidate)) return candidate;
  }
  // libcni's wording; code 50 because the plugin "cannot service requests" on this host.
  throw new CniError(CNI_ERROR_CODES.pluginNotAvailable, `failed to find plugin "${type}" in path [${dirs.join(" ")}]`, "", {
    reason: "pluginNotFound",
    plugin: type,
  });
}
