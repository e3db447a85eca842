import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createPluginDir } from "../../test/fixtures/harness";
import { main } from "../cli";

describe("switchyard-cni version", () => {
  const dirs: { cleanup(): void }[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

  it("runs each plugin's VERSION once, and still checks the network's cniVersion against it", async () => {
    const plugins = createPluginDir();
    dirs.push(plugins);
    const answer = { cniVersion: "1.0.0", supportedVersions: ["0.4.0", "1.0.0"] };
    plugins.install("main", { VERSION: { result: answer } });
    plugins.install("ipam1", { VERSION: { result: answer } });
    const confDir = mkdtempSync(join(tmpdir(), "cni-conf-"));
    const conflist = (cniVersion: string) => JSON.stringify({ cniVersion, name: "testnet", plugins: [{ type: "main", ipam: { type: "ipam1" } }] });
    writeFileSync(join(confDir, "10-testnet.conflist"), conflist("1.0.0"));
    let stdout = "";
    const io = { env: { NETCONFPATH: confDir, CNI_PATH: plugins.dir }, stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => true } };

    expect(await main(["version", "testnet", "--json", "--cache-dir", join(confDir, "cache")], io)).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, plugins: [{ type: "main", ...answer }, { type: "ipam1", ...answer }] });
    expect(plugins.calls("main").map((c) => c.command)).toEqual(["VERSION"]);
    expect(plugins.calls("ipam1").map((c) => c.command)).toEqual(["VERSION"]);

    // The remembered answer is the plugin's: a cniVersion it does not list fails as before.
    writeFileSync(join(confDir, "10-testnet.conflist"), conflist("0.3.1"));
    stdout = "";
    expect(await main(["version", "testnet", "--json", "--cache-dir", join(confDir, "cache")], io)).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({ ok: false, error: { code: 1, msg: 'plugin type="main" does not support config version "0.3.1"' } });
  });

  it("asks the plugins for their VERSION at once, and reports a failure for the first plugin in the network's order", async () => {
    const plugins = createPluginDir();
    dirs.push(plugins);
    const answer = { cniVersion: "1.0.0", supportedVersions: ["1.0.0"] };
    const SLOW_MS = 2000;
    plugins.install("main", { VERSION: { sleepMs: SLOW_MS, result: answer } });
    plugins.install("ipam1", { VERSION: { sleepMs: SLOW_MS, result: answer } });
    const confDir = mkdtempSync(join(tmpdir(), "cni-conf-"));
    writeFileSync(join(confDir, "10-testnet.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "testnet", plugins: [{ type: "main", ipam: { type: "ipam1" } }] }));
    let stdout = "";
    const io = { env: { NETCONFPATH: confDir, CNI_PATH: plugins.dir }, stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => true } };
    const args = ["version", "testnet", "--json", "--cache-dir", join(confDir, "cache")];

    expect(await main(args, io)).toBe(0);
    // The output keeps the network's order, whichever answered first.
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, plugins: [{ type: "main", ...answer }, { type: "ipam1", ...answer }] });
    const [mainCall] = plugins.calls("main");
    const [ipamCall] = plugins.calls("ipam1");
    // One after the other, the second would start after the first's sleep.
    expect(Math.abs(ipamCall!.at - mainCall!.at)).toBeLessThan(SLOW_MS);

    // Both fail, the second one first: the error is the first plugin's, as when they ran in order.
    plugins.script("main", { VERSION: { sleepMs: 500, error: { code: 11, msg: "main is broken" } } });
    plugins.script("ipam1", { VERSION: { error: { code: 12, msg: "ipam1 is broken" } } });
    stdout = "";
    expect(await main(args, io)).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({ ok: false, verb: "version", error: { code: 11, msg: "main is broken" } });
  });
});
