/**
 * The CNI name rules, declared once. This module has no imports and touches no Node API, so the
 * console's schemas (shared with the browser) and the agent build their zod schemas from it
 * (`@switchyard/cni/names`), and the runtime checks (config/check.ts, netns/) use it too.
 */

/**
 * A bare name safe to use as a file name and in argv: letters, digits, "_", ".", "-", starting
 * with a letter or digit, so no "/", "..", whitespace or leading "-". libcni's rule for container
 * ids and network names; for interface names it is stricter than libcni.
 */
export const SAFE_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const SAFE_NAME_RULE = 'must start with a letter or digit and contain only letters, digits, "_", "." or "-"';

/** A network's name: a file name part of the cache and lease files, so kept well under 255 bytes. */
export const NETWORK_NAME_MAX_LENGTH = 128;

/** libcni's limit on a container id. */
export const CONTAINER_ID_MAX_LENGTH = 255;

/** The kernel's IFNAMSIZ less the NUL. */
export const IFNAME_MAX_BYTES = 15;
export const IFNAME_RULE = `must be 1–${IFNAME_MAX_BYTES} characters of letters, digits, "_", "." or "-", starting with a letter or digit`;

/** A network namespace's name (a file in the netns dir, e.g. `ip netns` ones); kept short for logs and argv. */
export const NETNS_NAME_MAX_LENGTH = 64;

/** Why `value` is not a safe name of at most `max` characters, or undefined when it is one. */
export function safeNameProblem(value: string, max: number): string | undefined {
  if (value.length === 0) return "must not be empty";
  if (value.length > max) return `is ${value.length} characters: at most ${max}`;
  return SAFE_NAME_RE.test(value) ? undefined : SAFE_NAME_RULE;
}

/** Why `value` is not an interface name, or undefined when it is one ("." and ".." are not). */
export function ifNameProblem(value: string): string | undefined {
  if (value.length === 0 || value.length > IFNAME_MAX_BYTES || !SAFE_NAME_RE.test(value) || value === "." || value === "..") {
    return IFNAME_RULE;
  }
  return undefined;
}
