import { describe, expect, it } from "vitest";
import { parseConfig } from "./config";

// Issue 17 item 4: the plugins' environment allow-list gets an agent setting.
const parse = (argv: string[], env: Record<string, string> = {}) => parseConfig(["--console-url", "http://127.0.0.1:3000", ...argv], env, "h");

describe("--plugin-env", () => {
  it("is empty unless given (the runtime's allow-list alone)", () => {
    expect(parse([]).pluginEnv).toEqual([]);
  });

  it("takes comma-separated names from the flag or SWITCHYARD_PLUGIN_ENV, the flag winning", () => {
    expect(parse(["--plugin-env", "HTTPS_PROXY, NO_PROXY,,"]).pluginEnv).toEqual(["HTTPS_PROXY", "NO_PROXY"]);
    expect(parse([], { SWITCHYARD_PLUGIN_ENV: "DNSNAME_DIR" }).pluginEnv).toEqual(["DNSNAME_DIR"]);
    expect(parse(["--plugin-env", "A"], { SWITCHYARD_PLUGIN_ENV: "B" }).pluginEnv).toEqual(["A"]);
  });

  it.each([
    ["CNI_PATH", "CNI_ variables are set by the runtime, not passed through"],
    ["HTTP-PROXY", "must be an environment variable name (letters, digits, _)"],
    ["1X", "must be an environment variable name (letters, digits, _)"],
  ])("refuses %j, saying why", (name, message) => {
    expect(() => parse(["--plugin-env", `OK,${name}`])).toThrow(message);
  });
});
