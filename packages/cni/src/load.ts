import { readFileSync, readdirSync, statSync } from "node:fs";
import { readFile, readdir, stat } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { isObject } from "./config/check";
import { DEFAULT_MAX_BYTES, parseNetworkConfig } from "./config/parse";
import { validateConflist } from "./config/validate";
import { effectiveCniVersion } from "./config/versions";
import type { ConfigIssue } from "./config/types";
import { CNI_ERROR_CODES, CniError } from "./errors";
import { describeFsError } from "./files";

/** A loaded network configuration list, as libcni's NetworkConfigList. */
export interface NetworkConfigList {
  name: string;
  /** After cniVersions negotiation: the highest version both the list and this runtime support. */
  cniVersion: string;
  disableCheck: boolean;
  disableGC: boolean;
  loadOnlyInlinedPlugins: boolean;
  plugins: { type: string; config: Record<string, unknown> }[];
  /** The raw conflist bytes (what libcni caches, base64, as "config"). */
  bytes: Uint8Array;
  source?: string;
  /**
   * When plugins came from `<confDir>/<name>/*.conf`: those files, and the list as it runs (the
   * conflist with every plugin inlined and loadOnlyInlinedPlugins set), which is what the result
   * cache holds so DEL, CHECK and GC run the same plugins as ADD.
   */
  pluginFiles?: string[];
  mergedBytes?: Uint8Array;
}

/** The config bytes a cache entry holds: what ADD ran (libcni caches the file's bytes, which miss `<name>/*.conf` plugins). */
export function cachedConfigBytes(net: NetworkConfigList): Uint8Array {
  return net.mergedBytes ?? net.bytes;
}

export interface LoadOptions {
  /** File the text came from; named in errors. */
  source?: string;
  /** Directory holding `<name>/*.conf` plugin files (CNI 1.1), unless loadOnlyInlinedPlugins. */
  confDir?: string;
}

export const CONF_EXTENSIONS = [".conf", ".conflist", ".json"] as const;

function configError(source: string | undefined, issues: readonly ConfigIssue[]): CniError {
  const base = CniError.fromConfigIssues(issues);
  if (!source) return base;
  return new CniError(base.code, `${source}: ${base.msg}`, base.details, { file: source });
}

/** `<confDir>/<name>/*.conf` in file-name order: plugins a 1.1 list may keep beside it. */
function readPluginDir(confDir: string, name: string): { plugins: Record<string, unknown>[]; files: string[] } {
  const dir = join(confDir, name);
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) return { plugins: [], files: [] };
    names = readdirSync(dir).filter((n) => n.endsWith(".conf")).sort();
  } catch {
    return { plugins: [], files: [] };
  }
  const plugins: Record<string, unknown>[] = [];
  const files: string[] = [];
  for (const n of names) {
    const file = join(dir, n);
    if (statSync(file).size > DEFAULT_MAX_BYTES) throw new CniError(CNI_ERROR_CODES.invalidNetworkConfig, `${file}: file is over ${DEFAULT_MAX_BYTES} bytes`, "", { file });
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(file, "utf8"));
    } catch (error) {
      throw new CniError(CNI_ERROR_CODES.invalidNetworkConfig, `${file}: malformed JSON`, (error as Error).message, { file });
    }
    if (!isObject(value)) throw new CniError(CNI_ERROR_CODES.invalidNetworkConfig, `${file}: a plugin configuration must be a JSON object`, "", { file });
    // The list's name and cniVersion apply; the file's own are dropped (as libcni does).
    const { name: _n, cniVersion: _v, ...plugin } = value;
    plugins.push(plugin);
    files.push(file);
  }
  return { plugins, files };
}

function toList(conflist: Record<string, unknown>, bytes: Uint8Array, source: string | undefined): NetworkConfigList {
  const cniVersion = effectiveCniVersion(conflist as { cniVersion: string; cniVersions?: string[] });
  if (!cniVersion) {
    throw new CniError(CNI_ERROR_CODES.incompatibleVersion, `${source ? `${source}: ` : ""}no supported cniVersion`, `cniVersion ${JSON.stringify(conflist.cniVersion)}`, { file: source });
  }
  const list: NetworkConfigList = {
    name: conflist.name as string,
    cniVersion,
    disableCheck: conflist.disableCheck === true,
    disableGC: conflist.disableGC === true,
    loadOnlyInlinedPlugins: conflist.loadOnlyInlinedPlugins === true,
    plugins: (conflist.plugins as Record<string, unknown>[]).map((config) => ({ type: config.type as string, config })),
    bytes,
  };
  if (source !== undefined) list.source = source;
  return list;
}

/**
 * Loads a conflist (or a single-plugin .conf, wrapped) from text, validated by the config
 * module; errors name the source and the field. With `confDir` and without
 * loadOnlyInlinedPlugins, plugins from `<confDir>/<name>/*.conf` follow the inlined ones.
 */
export function loadNetworkList(text: string, options: LoadOptions = {}): NetworkConfigList {
  const bytes = new TextEncoder().encode(text);
  const parsed = parseNetworkConfig(text);
  let conflist: Record<string, unknown> | undefined = parsed.ok ? parsed.conflist : undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const wantsDir = options.confDir !== undefined && isObject(raw) && raw.loadOnlyInlinedPlugins !== true && typeof raw.name === "string" && !Object.hasOwn(raw, "type");
  let merged: { files: string[]; bytes: Uint8Array } | undefined;
  if (wantsDir && isObject(raw)) {
    const fromDir = readPluginDir(options.confDir!, raw.name as string);
    if (fromDir.plugins.length > 0) {
      const inlined = Array.isArray(raw.plugins) ? raw.plugins : [];
      const whole = { ...raw, plugins: [...inlined, ...fromDir.plugins] };
      const checked = validateConflist(whole);
      if (!checked.ok) throw configError(options.source, checked.errors);
      conflist = checked.conflist;
      merged = { files: fromDir.files, bytes: new TextEncoder().encode(JSON.stringify({ ...whole, loadOnlyInlinedPlugins: true })) };
    }
  }
  if (!conflist) {
    if (parsed.ok) throw new Error("unreachable");
    throw configError(options.source, parsed.errors);
  }
  const list = toList(conflist, bytes, options.source);
  if (merged) {
    list.pluginFiles = merged.files;
    list.mergedBytes = merged.bytes;
  }
  return list;
}

export async function loadNetworkListFile(file: string, options: Omit<LoadOptions, "source"> = {}): Promise<NetworkConfigList> {
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error("not a regular file");
    if (info.size > DEFAULT_MAX_BYTES) throw new Error(`file is ${info.size} bytes: the limit is ${DEFAULT_MAX_BYTES} bytes`);
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new CniError(CNI_ERROR_CODES.invalidNetworkConfig, `${file}: cannot read network configuration`, describeFsError(error), { file, cause: error });
  }
  return loadNetworkList(text, { ...options, source: file });
}

/**
 * Loads every .conf/.conflist/.json of `dir` in file-name order (the first network is the
 * default, as for libcni's consumers). A bad file is reported with its name and does not
 * hide the others; a network name seen in an earlier file is reported as a duplicate.
 */
export async function loadConfDir(dir: string): Promise<{ networks: NetworkConfigList[]; errors: { file: string; error: CniError }[] }> {
  const names = (await readdir(dir)).filter((n) => (CONF_EXTENSIONS as readonly string[]).includes(extname(n))).sort();
  const networks: NetworkConfigList[] = [];
  const errors: { file: string; error: CniError }[] = [];
  const seen = new Map<string, string>();
  for (const n of names) {
    const file = join(dir, n);
    try {
      const list = await loadNetworkListFile(file, { confDir: dir });
      const earlier = seen.get(list.name);
      if (earlier) {
        throw new CniError(CNI_ERROR_CODES.invalidNetworkConfig, `${file}: network "${list.name}" is already defined by ${basename(earlier)}`, "", { file });
      }
      seen.set(list.name, file);
      networks.push(list);
    } catch (error) {
      const cniError = error instanceof CniError ? error : new CniError(CNI_ERROR_CODES.ioFailure, `${file}: ${describeFsError(error)}`, "", { file, cause: error });
      errors.push({ file, error: cniError });
    }
  }
  return { networks, errors };
}

/**
 * A list rebuilt from cached bytes (DEL, CHECK, GC of what an earlier ADD ran, possibly
 * written by Go libcni). Lenient on purpose: teardown must not fail on a rule added since;
 * plugin types are still checked before anything runs.
 */
export function loadCachedNetworkList(bytes: Uint8Array): NetworkConfigList | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  const conflist: Record<string, unknown> =
    Object.hasOwn(value, "type") && !Object.hasOwn(value, "plugins") ? (({ cniVersion, name, ...rest }) => ({ cniVersion, name, plugins: [rest] }))(value) : value;
  if (typeof conflist.name !== "string" || !Array.isArray(conflist.plugins) || conflist.plugins.length === 0) return undefined;
  if (!conflist.plugins.every((p) => isObject(p) && typeof p.type === "string")) return undefined;
  if (typeof conflist.cniVersion !== "string") return undefined;
  const flag = (v: unknown) => v === true || (typeof v === "string" && v.toLowerCase() === "true");
  try {
    const list = toList(conflist, bytes, undefined);
    return { ...list, disableCheck: flag(conflist.disableCheck), disableGC: flag(conflist.disableGC) };
  } catch {
    return undefined;
  }
}
