import { NETWORK_NAME_MAX_LENGTH } from "../names";
import { FieldReader, IssueCollector, type JsonObject, SAFE_NAME_RE, got, isObject, show } from "./check";
import { validateIpamConfig } from "./ipam";
import { validateKnownPlugin } from "./plugins";
import { Conflist, type ConfigResult, type IssuePath } from "./types";
import {
  SUPPORTED_VERSIONS_TEXT,
  effectiveCniVersion,
  isSemver,
  isSupportedCniVersion,
} from "./versions";

export const DEFAULT_MAX_DEPTH = 32;
export { NETWORK_NAME_MAX_LENGTH };
export const PLUGIN_TYPE_MAX_LENGTH = 64;
export const NETWORK_NAME_RE = SAFE_NAME_RE;

/** Keys a runtime fills in at execution time; a stored config must not carry them. */
export const RESERVED_KEYS = ["runtimeConfig", "args", "prevResult"] as const;
export const RESERVED_KEY_PREFIX = "cni.dev/";

const KNOWN_TOP_LEVEL_KEYS = new Set([
  "cniVersion",
  "cniVersions",
  "name",
  "disableCheck",
  "disableGC",
  "loadOnlyInlinedPlugins",
  "plugins",
]);

// Newlines, NUL and other control characters (tab excepted) have no place in a network
// config and are how values escape into rendered rules and argv (HARDENING item 6).
const CONTROL_RE = /[\u0000-\u0008\u000a-\u001f\u007f\u2028\u2029]/;

function describeControl(text: string): string {
  const ch = CONTROL_RE.exec(text)?.[0] ?? "";
  const code = `U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
  const name = ch === "\n" || ch === "\r" || ch === "\u2028" || ch === "\u2029" ? "a line break" : ch === "\0" ? "a NUL byte" : "a control character";
  return `${name} (${code})`;
}

function fieldName(path: IssuePath): string {
  for (let i = path.length - 1; i >= 0; i--) {
    const segment = path[i];
    if (typeof segment === "string") return segment;
  }
  return "value";
}

export interface ValidateOptions {
  maxDepth?: number;
}

/** Refuses unsafe strings and keys anywhere in the value, and nesting deeper than maxDepth. */
function scanValue(issues: IssueCollector, root: unknown, maxDepth: number): void {
  const stack: { value: unknown; path: IssuePath; depth: number }[] = [{ value: root, path: [], depth: 0 }];
  let depthReported = false;
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === "string") {
      if (CONTROL_RE.test(value)) {
        issues.error(path, `${fieldName(path)} contains ${describeControl(value)}: strings in a network config must be a single line without control characters`);
      }
      continue;
    }
    if (typeof value !== "object" || value === null) continue;
    if (depth >= maxDepth) {
      if (!depthReported) issues.error(path, `configuration nests deeper than ${maxDepth} levels at ${fieldName(path)}: flatten it`);
      depthReported = true;
      continue;
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: [...path, i], depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(value);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      if (CONTROL_RE.test(key)) {
        issues.error([...path, key], `key ${JSON.stringify(key)} contains ${describeControl(key)}: keys must be a single line without control characters`);
      } else if (key === "__proto__") {
        issues.error([...path, key], 'key "__proto__" is not allowed in a network config');
      }
      stack.push({ value: (value as JsonObject)[key], path: [...path, key], depth: depth + 1 });
    }
  }
}

function checkReservedKeys(issues: IssueCollector, obj: JsonObject, path: IssuePath, where: string): void {
  for (const key of Object.keys(obj)) {
    if ((RESERVED_KEYS as readonly string[]).includes(key) || key.startsWith(RESERVED_KEY_PREFIX)) {
      issues.error([...path, key], `${key} is reserved for the runtime and not allowed in a stored ${where}: remove it`);
    }
  }
}

/** Why a plugin or IPAM `type` is unsafe, or undefined when it is a bare executable name. */
export function pluginTypeProblem(type: string): string | undefined {
  if (type.length === 0) return "must not be empty";
  if (type.length > PLUGIN_TYPE_MAX_LENGTH) return `must be at most ${PLUGIN_TYPE_MAX_LENGTH} characters`;
  if (type.includes("/") || type.includes("\\") || type.includes("..") || !SAFE_NAME_RE.test(type)) {
    return 'must be a bare plugin name (letters, digits, "_", "." or "-", starting with a letter or digit) with no "/", "\\" or ".."';
  }
  return undefined;
}

function checkType(issues: IssueCollector, obj: JsonObject, path: IssuePath, label: string, example: string): string | undefined {
  const typePath = [...path, "type"];
  if (!Object.hasOwn(obj, "type")) {
    issues.error(typePath, `${label} is required: the name of the plugin executable, like "${example}"`);
    return undefined;
  }
  const type = obj.type;
  if (typeof type !== "string") {
    issues.error(typePath, `${label} must be a string naming the plugin executable, ${got(type)}`);
    return undefined;
  }
  const problem = pluginTypeProblem(type);
  if (problem) {
    issues.error(typePath, `${label} ${show(type)} is invalid: ${problem}`);
    return undefined;
  }
  return type;
}

function checkDns(issues: IssueCollector, plugin: JsonObject, path: IssuePath): void {
  const reader = new FieldReader(issues, plugin, path);
  const dns = reader.object("dns");
  if (!dns) return;
  const d = new FieldReader(issues, dns, reader.at("dns"));
  d.stringArray("nameservers");
  d.string("domain");
  d.stringArray("search");
  d.stringArray("options");
}

function validatePlugin(
  issues: IssueCollector,
  plugin: unknown,
  index: number,
  conflist: { name: unknown; cniVersion: unknown },
): void {
  const path: IssuePath = ["plugins", index];
  if (!isObject(plugin)) {
    issues.error(path, `plugins[${index}] must be an object with a "type", ${got(plugin)}`);
    return;
  }
  checkReservedKeys(issues, plugin, path, "plugin configuration");
  const type = checkType(issues, plugin, path, "type", "bridge");
  for (const key of ["name", "cniVersion"] as const) {
    if (Object.hasOwn(plugin, key) && plugin[key] !== conflist[key]) {
      issues.warn([...path, key], `${key} ${show(plugin[key])} in a plugin is replaced by the conflist's ${key} ${show(conflist[key])} when the plugin runs`);
    }
  }
  const reader = new FieldReader(issues, plugin, path);
  const capabilities = reader.object("capabilities");
  if (capabilities) {
    for (const [key, value] of Object.entries(capabilities)) {
      if (typeof value !== "boolean") {
        issues.error([...path, "capabilities", key], `capability ${JSON.stringify(key)} must be true or false, ${got(value)}`);
      }
    }
  }
  const ipam = reader.object("ipam");
  let hasIpam = false;
  if (ipam) {
    checkReservedKeys(issues, ipam, [...path, "ipam"], "ipam configuration");
    // `{}` is documented for bridge and macvlan as "no addresses"; any other content needs a type.
    if (Object.keys(ipam).length > 0) {
      hasIpam = true;
      checkType(issues, ipam, [...path, "ipam"], "ipam.type", "host-local");
      validateIpamConfig(issues, ipam, [...path, "ipam"], typeof conflist.cniVersion === "string" ? conflist.cniVersion : undefined);
    }
  }
  checkDns(issues, plugin, path);
  if (type) validateKnownPlugin({ issues, plugin, path, index, hasIpam }, type);
}

function readFlag(issues: IssueCollector, obj: JsonObject, key: string, normalized: JsonObject): void {
  if (!Object.hasOwn(obj, key)) return;
  const value = obj[key];
  if (typeof value === "boolean") return;
  // libcni also reads "true"/"false" strings (any case); store them as booleans.
  if (typeof value === "string" && ["true", "false"].includes(value.toLowerCase())) {
    normalized[key] = value.toLowerCase() === "true";
    issues.warn([key], `${key} ${show(value)} is a string: stored as the boolean ${value.toLowerCase()}`);
    return;
  }
  issues.error([key], `${key} must be true or false, ${got(value)}`);
}

function checkVersions(issues: IssueCollector, obj: JsonObject): void {
  const versions = obj.cniVersions;
  let listHasSupported = false;
  if (Object.hasOwn(obj, "cniVersions")) {
    if (!Array.isArray(versions) || versions.length === 0) {
      issues.error(["cniVersions"], `cniVersions must be a non-empty array of version strings like ["1.0.0", "1.1.0"], ${got(versions)}`);
    } else {
      let wellFormed = true;
      versions.forEach((v, i) => {
        if (typeof v !== "string" || !isSemver(v)) {
          wellFormed = false;
          issues.error(["cniVersions", i], `cniVersions[${i}] must be a version string like "1.1.0", ${got(v)}`);
        }
      });
      if (wellFormed) {
        const unsupported = (versions as string[]).filter((v) => !isSupportedCniVersion(v));
        listHasSupported = unsupported.length < versions.length;
        if (!listHasSupported) {
          issues.error(["cniVersions"], `cniVersions ${show(versions)} lists no supported version: this runtime supports ${SUPPORTED_VERSIONS_TEXT}`);
        } else if (unsupported.length > 0) {
          issues.warn(["cniVersions"], `cniVersions entries ${show(unsupported)} are not supported and will be ignored`);
        }
      }
    }
  }
  if (!Object.hasOwn(obj, "cniVersion")) {
    issues.error(["cniVersion"], `cniVersion is required: one of ${SUPPORTED_VERSIONS_TEXT}`);
    return;
  }
  const version = obj.cniVersion;
  if (typeof version !== "string") {
    issues.error(["cniVersion"], `cniVersion must be a version string (one of ${SUPPORTED_VERSIONS_TEXT}), ${got(version)}`);
  } else if (!isSupportedCniVersion(version)) {
    if (listHasSupported && isSemver(version)) {
      const chosen = effectiveCniVersion({ cniVersion: version, cniVersions: versions as string[] });
      issues.warn(["cniVersion"], `cniVersion "${version}" is not supported: "${chosen}" from cniVersions will be used`);
    } else {
      issues.error(["cniVersion"], `cniVersion ${show(version)} is not supported: must be one of ${SUPPORTED_VERSIONS_TEXT}`);
    }
  }
}

function checkName(issues: IssueCollector, obj: JsonObject): void {
  if (!Object.hasOwn(obj, "name")) {
    issues.error(["name"], 'name is required: the network name, like "team-a-web"');
    return;
  }
  const name = obj.name;
  if (typeof name !== "string") {
    issues.error(["name"], `name must be a string, ${got(name)}`);
  } else if (name.length > NETWORK_NAME_MAX_LENGTH || !NETWORK_NAME_RE.test(name)) {
    issues.error(
      ["name"],
      `name ${show(name)} is invalid: must be 1–${NETWORK_NAME_MAX_LENGTH} characters of letters, digits, "_", "." or "-", starting with a letter or digit`,
    );
  }
}

/**
 * Validates a network configuration list against the CNI 1.0/1.1 rules and the documented
 * options of the reference plugins. The returned conflist keeps the input's key order.
 */
export function validateConflist(value: unknown, options: ValidateOptions = {}): ConfigResult {
  const issues = new IssueCollector();
  const done = (): ConfigResult => ({ ok: false, errors: issues.errors, warnings: issues.warnings });
  if (!isObject(value)) {
    issues.error([], `a network configuration must be a JSON object, ${got(value)}`);
    return done();
  }
  scanValue(issues, value, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  if (issues.errors.length > 0) return done();

  const normalized: JsonObject = { ...value };
  checkReservedKeys(issues, value, [], "network configuration");
  checkName(issues, value);
  checkVersions(issues, value);
  readFlag(issues, value, "disableCheck", normalized);
  readFlag(issues, value, "disableGC", normalized);
  new FieldReader(issues, value, []).boolean("loadOnlyInlinedPlugins");
  for (const key of Object.keys(value)) {
    if (!KNOWN_TOP_LEVEL_KEYS.has(key) && !issues.errors.some((e) => e.path.length === 1 && e.path[0] === key)) {
      issues.warn([key], `top-level key ${JSON.stringify(key)} is not part of a CNI conflist and is ignored by runtimes`);
    }
  }

  if (!Object.hasOwn(value, "plugins")) {
    const hint = Object.hasOwn(value, "type") ? ' (a single-plugin .conf is accepted by parseNetworkConfig, which wraps it)' : "";
    issues.error(["plugins"], `plugins is required: a non-empty array of plugin configurations${hint}`);
  } else if (!Array.isArray(value.plugins) || value.plugins.length === 0) {
    issues.error(["plugins"], `plugins must be a non-empty array of plugin configurations, ${got(value.plugins)}`);
  } else {
    value.plugins.forEach((plugin, index) => validatePlugin(issues, plugin, index, { name: value.name, cniVersion: value.cniVersion }));
  }

  if (issues.errors.length > 0) return done();
  // Every rule above is stricter than the schema; this only proves the type to the compiler.
  const typed = Conflist.safeParse(normalized);
  if (!typed.success) {
    for (const issue of typed.error.issues) issues.error(issue.path.map((p) => (typeof p === "symbol" ? String(p) : p)), issue.message);
    return done();
  }
  // Keep the caller's key order (zod would move known keys first).
  return { ok: true, conflist: normalized as Conflist, warnings: issues.warnings };
}
