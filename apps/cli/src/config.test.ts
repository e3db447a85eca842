import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configPath, normalizeUrl, readConfigFile, resolveSettings, writeConfigFile } from "./config";
import { CliError } from "./exit";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-cli-config-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const exitOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof CliError) return { code: e.exitCode, message: e.message };
    throw e;
  }
  return null;
};

describe("the config file", () => {
  it("lives under XDG_CONFIG_HOME, else ~/.config", () => {
    expect(configPath({ XDG_CONFIG_HOME: "/x/cfg", HOME: "/home/a" })).toBe("/x/cfg/switchyard/config.json");
    expect(configPath({ HOME: "/home/a" })).toBe("/home/a/.config/switchyard/config.json");
    expect(configPath({ XDG_CONFIG_HOME: "relative", HOME: "/home/a" })).toBe("/home/a/.config/switchyard/config.json");
  });

  it("is written 0600 in a 0700 directory, and read back", () => {
    const path = join(dir, "switchyard", "config.json");
    writeConfigFile(path, { url: "http://127.0.0.1:3000", token: "syt_abc" });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "switchyard")).mode & 0o777).toBe(0o700);
    expect(readConfigFile(path)).toEqual({ url: "http://127.0.0.1:3000", token: "syt_abc" });
    // written again over an open one: 0600 again
    chmodSync(path, 0o644);
    writeConfigFile(path, { url: "http://127.0.0.1:3001", token: "syt_def" });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, "utf8")).token).toBe("syt_def");
  });

  it("is refused (exit 2) when group or others may read it, and when it is not JSON of strings", () => {
    const path = join(dir, "config.json");
    writeFileSync(path, JSON.stringify({ url: "http://x", token: "syt_a" }));
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(path, mode);
      expect(exitOf(() => readConfigFile(path))).toEqual({ code: 2, message: expect.stringContaining(`has mode 0${mode.toString(8)}: group or others could read the token`) });
    }
    chmodSync(path, 0o400);
    expect(readConfigFile(path)).toEqual({ url: "http://x", token: "syt_a" });
    chmodSync(path, 0o600);
    writeFileSync(path, "{ nope");
    expect(exitOf(() => readConfigFile(path))?.message).toContain("is not valid JSON");
    writeFileSync(path, JSON.stringify({ token: 42 }));
    expect(exitOf(() => readConfigFile(path))?.message).toContain('"token" must be a string');
    expect(readConfigFile(join(dir, "missing.json"))).toBeNull();
  });
});

describe("settings", () => {
  it("take the flag, then the environment, then the file; the file is not read when both are given", () => {
    mkdirSync(join(dir, "switchyard"));
    const path = join(dir, "switchyard", "config.json");
    writeFileSync(path, JSON.stringify({ url: "http://file:1", token: "syt_file" }), { mode: 0o600 });
    const env = { XDG_CONFIG_HOME: dir, SWITCHYARD_URL: "http://env:2", SWITCHYARD_TOKEN: "syt_env" };
    expect(resolveSettings({ url: "http://flag:3/", token: "syt_flag" }, env)).toMatchObject({ url: "http://flag:3", token: "syt_flag", urlFrom: "--url", tokenFrom: "--token" });
    expect(resolveSettings({}, env)).toMatchObject({ url: "http://env:2", token: "syt_env" });
    expect(resolveSettings({}, { XDG_CONFIG_HOME: dir, SWITCHYARD_URL: "http://env:2" })).toMatchObject({ url: "http://env:2", token: "syt_file", tokenFrom: path });
    chmodSync(path, 0o644);
    expect(resolveSettings({}, env).token).toBe("syt_env");
    expect(exitOf(() => resolveSettings({}, { XDG_CONFIG_HOME: dir }))?.code).toBe(2);
    expect(exitOf(() => resolveSettings({}, { XDG_CONFIG_HOME: join(dir, "none") }))?.message).toContain("no console URL");
    expect(exitOf(() => resolveSettings({ url: "http://a" }, { XDG_CONFIG_HOME: join(dir, "none") }))?.message).toContain("no API token");
    expect(exitOf(() => resolveSettings({ url: "http://a", token: "two words" }, {}))?.code).toBe(2);
  });

  it("check the URL: http(s), no credentials, no query", () => {
    expect(normalizeUrl("https://console.example:3000//", "--url")).toBe("https://console.example:3000");
    expect(normalizeUrl("http://10.0.0.1:3000/switchyard/", "--url")).toBe("http://10.0.0.1:3000/switchyard");
    expect(exitOf(() => normalizeUrl("console:3000", "--url"))?.message).toContain("must start with http:// or https://");
    expect(exitOf(() => normalizeUrl("https://u:p@c", "--url"))?.message).toContain("must not carry a user or password");
    expect(exitOf(() => normalizeUrl("not a url", "--url"))?.code).toBe(2);
  });
});
