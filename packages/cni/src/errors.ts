import type { ConfigIssue } from "./config/types";

/** Error codes defined by the CNI specification (1.0 section 2, 1.1 adds 50 and 51). */
export const CNI_ERROR_CODES = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidNetworkConfig: 7,
  tryAgainLater: 11,
  pluginNotAvailable: 50,
  limitedConnectivity: 51,
} as const;
export type CniErrorName = keyof typeof CNI_ERROR_CODES;
/** Spec codes, plus plugin-specific codes of 100 and above. */
export type CniErrorCode = (typeof CNI_ERROR_CODES)[CniErrorName] | number;

/**
 * Why the runtime itself (not a plugin) raised an error. The spec's numeric code stays the
 * nearest spec code; the reason tells runtime-side failures apart for callers and tests.
 */
export const CNI_ERROR_REASONS = [
  "plugin", // the plugin answered with an error object
  "pluginFailed", // the plugin exited non-zero without a readable error object
  "pluginNotFound",
  "invalidPluginType",
  "invalidArgument", // container id, network name, ifname, CNI_ARGS
  "invalidNetns",
  "timeout",
  "badResult", // the plugin's output is not a valid result
  "cacheCorrupt",
  "notSupported", // the verb needs a newer cniVersion
  "noCachedResult",
  "alreadyAttached", // ADD for an attachment that has not been DELeted
  "ifnameInUse", // ADD of an interface name another attachment holds in that namespace
  "lockTimeout", // another process held the attachment or the cache directory too long
  "multiple", // several plugins failed (DEL, CHECK, GC); see `errors`
  "cachedConfigFailed", // warning: DEL with the cached config failed, the given config's succeeded
  "pluginsSkipped", // warning: DEL with another config than ADD ran left plugins of ADD's out
] as const;
export type CniErrorReason = (typeof CNI_ERROR_REASONS)[number];

export interface CniErrorOptions {
  reason?: CniErrorReason;
  /** Plugin type whose execution failed. */
  plugin?: string;
  /** The plugin's stderr, kept for diagnostics. */
  stderr?: string;
  /** File the error is about (a cache file, a config file). */
  file?: string;
  /** The individual failures behind a "multiple" error. */
  errors?: CniError[];
  cause?: unknown;
}

/** The error type of this package; `toJSON()` gives the spec's error object. */
export class CniError extends Error {
  readonly code: CniErrorCode;
  readonly msg: string;
  readonly details: string;
  readonly reason?: CniErrorReason;
  readonly plugin?: string;
  readonly stderr?: string;
  readonly file?: string;
  readonly errors?: CniError[];

  constructor(code: CniErrorCode, msg: string, details = "", options: CniErrorOptions = {}) {
    super(details ? `${msg}: ${details}` : msg, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CniError";
    this.code = code;
    this.msg = msg;
    this.details = details;
    if (options.reason !== undefined) this.reason = options.reason;
    if (options.plugin !== undefined) this.plugin = options.plugin;
    if (options.stderr !== undefined) this.stderr = options.stderr;
    if (options.file !== undefined) this.file = options.file;
    if (options.errors !== undefined) this.errors = options.errors;
  }

  /**
   * An "invalid network config" (7) error: the first issue with its field as `msg`
   * ("plugins[0].type: type \"\" is invalid: …"), the others, if any, in `details`.
   */
  static fromConfigIssues(issues: readonly ConfigIssue[]): CniError {
    const [first, ...rest] = issues.filter((issue) => issue.severity === "error").map((issue) => `${formatIssuePath(issue.path)}: ${issue.message}`);
    return new CniError(CNI_ERROR_CODES.invalidNetworkConfig, first ?? "invalid network configuration", rest.length ? `${rest.length} more: ${rest.join("; ")}` : "");
  }

  toJSON(): { code: CniErrorCode; msg: string; details?: string } {
    return this.details ? { code: this.code, msg: this.msg, details: this.details } : { code: this.code, msg: this.msg };
  }
}

/** `["plugins", 0, "ipam"]` → `plugins[0].ipam` (for logs and summaries; "(root)" when empty). */
export function formatIssuePath(path: readonly (string | number)[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out || "(root)";
}
