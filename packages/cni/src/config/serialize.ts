import { CNI_ERROR_CODES, CniError } from "../errors";
import type { Conflist } from "./types";
import { NETWORK_NAME_MAX_LENGTH, NETWORK_NAME_RE } from "./validate";

export const DEFAULT_CONFLIST_PRIORITY = 10;

/**
 * The file name for /etc/cni/net.d, `<priority>-<name>.conflist` (e.g. `10-web.conflist`);
 * runtimes load files in lexical order, so the two-digit priority orders networks.
 */
export function conflistFileName(conflist: Pick<Conflist, "name">, index: number = DEFAULT_CONFLIST_PRIORITY): string {
  if (!Number.isInteger(index) || index < 0 || index > 99) {
    throw new CniError(CNI_ERROR_CODES.invalidNetworkConfig, "invalid conflist priority", `priority ${index} must be an integer from 0 to 99`);
  }
  const { name } = conflist;
  if (typeof name !== "string" || name.length > NETWORK_NAME_MAX_LENGTH || !NETWORK_NAME_RE.test(name)) {
    throw new CniError(CNI_ERROR_CODES.invalidNetworkConfig, "invalid network name", `name ${JSON.stringify(name)} cannot be a file name`);
  }
  return `${String(index).padStart(2, "0")}-${name}.conflist`;
}

/**
 * Whether a config's text is a single-plugin .conf (a JSON object without `plugins`): it belongs in
 * a `.conf` file, since libcni reads a `.conflist` file as a list only.
 */
export function isSingleConfText(text: string): boolean {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value) && !Object.hasOwn(value, "plugins");
  } catch {
    return false;
  }
}

/** Stable text for a conflist: 2-space indented JSON in the given key order, with a trailing newline. */
export function serializeConflist(conflist: Conflist): string {
  return `${JSON.stringify(conflist, null, 2)}\n`;
}
