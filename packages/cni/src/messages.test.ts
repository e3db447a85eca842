import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "./cli";
import { CniError } from "./errors";
import { loadConfDir, loadNetworkListFile } from "./load";

// Issue 10, item 18: an error names what failed once — no "<file>: <file>: <message>: <field>: <message>".
describe("error messages say each thing once", () => {
  const badSubnet = JSON.stringify({
    cniVersion: "1.0.0",
    name: "bad",
    plugins: [{ type: "bridge", ipam: { type: "host-local", ranges: [[{ subnet: "10.0.0.0/33" }]] } }],
  });
  const subnetIssue = 'plugins[0].ipam.ranges[0][0].subnet: subnet "10.0.0.0/33" has an invalid prefix length "33": expected a decimal number 0–32 for IPv4';

  it("a bad conf file: <file>: <field>: <message>, from the loader and through the CLI", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-conf-"));
    const file = join(dir, "10-bad.conflist");
    writeFileSync(file, badSubnet);
    const { errors } = await loadConfDir(dir);
    expect(errors.map((e) => e.error.message)).toEqual([`${file}: ${subnetIssue}`]);

    let stderr = "";
    const code = await main(["add", "bad", "/run/netns/x"], { env: { NETCONFPATH: dir, CNI_PATH: dir }, stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } });
    expect(code).toBe(2);
    expect(stderr).toBe(`switchyard-cni add: no network named "bad" in ${dir}: no valid network found; unreadable: ${file}: ${subnetIssue} (CNI error 7)\n`);
  });

  it("an unreadable conf file or dir: the path once, then what the system said", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-conf-"));
    const missing = join(dir, "nope.conflist");
    const error = (await loadNetworkListFile(missing).catch((e: unknown) => e)) as CniError;
    expect(error.message).toBe(`${missing}: cannot read network configuration: ENOENT: no such file or directory, stat`);

    let stderr = "";
    await main(["add", "n", "/run/netns/x"], { env: { NETCONFPATH: missing }, stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } });
    expect(stderr).toBe(`switchyard-cni add: cannot read NETCONFPATH ${missing}: ENOENT: no such file or directory, scandir (CNI error 5)\n`);
  });
});
