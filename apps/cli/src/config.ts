import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, fsyncSync, chmodSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { CliError, EXIT, usageError } from "./exit";

/**
 * Where the CLI finds its console and token: `--url`/`--token`, else SWITCHYARD_URL/SWITCHYARD_TOKEN,
 * else the config file (`$XDG_CONFIG_HOME/switchyard/config.json`, `~/.config/switchyard/config.json`),
 * which `switchyard login` writes with mode 0600 and which is refused when group or others may read it.
 */
export interface ConfigFile {
  url?: string;
  token?: string;
}

export interface Settings {
  url: string;
  token: string;
  /** Where each came from, for -v. */
  urlFrom: string;
  tokenFrom: string;
}

export type Env = Record<string, string | undefined>;

export function configPath(env: Env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith("/") ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), ".config");
  return join(base, "switchyard", "config.json");
}

const modeText = (mode: number) => `0${(mode & 0o777).toString(8).padStart(3, "0")}`;

/**
 * The config file, or null when there is none. Refused (exit 2) when it is open to group or
 * others, or owned by another user, as ssh refuses a private key: the token in it is a password.
 */
export function readConfigFile(path: string): ConfigFile | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new CliError(EXIT.usage, `cannot read the config file ${path}: ${(error as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw usageError(`the config file ${path} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      throw usageError(`the config file ${path} has mode ${modeText(st.mode)}: group or others could read the token in it. Run \`chmod 600 ${path}\` (or \`switchyard login\` again)`);
    }
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) throw usageError(`the config file ${path} belongs to uid ${st.uid}, not to you (uid ${uid}): refusing to use its token`);
    const text = readFileSync(fd, "utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw usageError(`the config file ${path} is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw usageError(`the config file ${path} must hold a JSON object like {"url": "https://console:3000", "token": "syt_..."}`);
    const { url, token } = parsed as Record<string, unknown>;
    if (url !== undefined && typeof url !== "string") throw usageError(`the config file ${path}: "url" must be a string`);
    if (token !== undefined && typeof token !== "string") throw usageError(`the config file ${path}: "token" must be a string`);
    return { url, token };
  } finally {
    closeSync(fd);
  }
}

/** The console's base URL, checked: http(s), no credentials, no query; trailing slashes dropped. */
export function normalizeUrl(text: string, from: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`the console URL ${JSON.stringify(text)} (${from}) is not a URL: give one like https://console.example:3000`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw usageError(`the console URL ${JSON.stringify(text)} (${from}) must start with http:// or https://`);
  if (url.username || url.password) throw usageError(`the console URL (${from}) must not carry a user or password: the token is the credential`);
  if (url.search || url.hash) throw usageError(`the console URL ${JSON.stringify(text)} (${from}) must not have a query or fragment`);
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/** A token as sent in `Authorization: Bearer`: one word of visible ASCII. */
export function checkToken(token: string, from: string): string {
  const t = token.trim();
  if (!/^[\x21-\x7e]{1,200}$/.test(t)) throw usageError(`the token (${from}) is not a token: expected one word like syt_..., without spaces`);
  return t;
}

/**
 * URL and token by precedence flag > environment > config file. The file is read only when the
 * flags and environment leave something out (so a 0644 file does not stop `--url … --token …`).
 */
export function resolveSettings(flags: { url?: string; token?: string }, env: Env): Settings {
  let url = flags.url ? { value: flags.url, from: "--url" } : env.SWITCHYARD_URL ? { value: env.SWITCHYARD_URL, from: "SWITCHYARD_URL" } : null;
  let token = flags.token ? { value: flags.token, from: "--token" } : env.SWITCHYARD_TOKEN ? { value: env.SWITCHYARD_TOKEN, from: "SWITCHYARD_TOKEN" } : null;
  if (!url || !token) {
    const path = configPath(env);
    const file = readConfigFile(path);
    if (file) {
      url ??= file.url ? { value: file.url, from: path } : null;
      token ??= file.token ? { value: file.token, from: path } : null;
    }
  }
  if (!url) throw usageError("no console URL: pass --url, set SWITCHYARD_URL, or run `switchyard login --url URL`");
  if (!token) throw usageError("no API token: pass --token, set SWITCHYARD_TOKEN, or run `switchyard login --url URL` (make a token under Account → API tokens)");
  return { url: normalizeUrl(url.value, url.from), token: checkToken(token.value, token.from), urlFrom: url.from, tokenFrom: token.from };
}

/** Writes the config file with mode 0600 (its directory 0700), atomically: temp file, fsync, rename. */
export function writeConfigFile(path: string, config: ConfigFile): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.config.json.${process.pid}.tmp`);
  const fd = openSync(temp, "w", 0o600);
  try {
    // The mode given to open is only for a new file; a leftover temp file keeps its own.
    chmodSync(temp, 0o600);
    writeSync(fd, `${JSON.stringify(config, null, 2)}\n`);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temp, path);
}
