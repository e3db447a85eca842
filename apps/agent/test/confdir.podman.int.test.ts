/**
 * A deployed network as another runtime reads it (issue 16): podman 4.3 with its CNI backend,
 * pointed at the agent's conf dir, lists the network the agent wrote, reads its bridge from the
 * file, and stops listing it once it is undeployed. podman keeps its state in a temp dir here.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConfDirDeployer } from "../src/confdir/deploy";
import type { Logger } from "../src/log";
import { tempDir } from "./fakes";
import { isRoot } from "./harness";

const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

describe.runIf(isRoot)("a deployed network, read by podman (CNI backend)", () => {
  let root: { path: string; remove(): void };
  let env: NodeJS.ProcessEnv;
  let confDir: string;
  beforeAll(() => {
    root = tempDir();
    confDir = join(root.path, "net.d");
    mkdirSync(confDir);
    // podman's network settings and storage, all under this test's dir.
    writeFileSync(join(root.path, "containers.conf"), `[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "${confDir}"\ncni_plugin_dirs = ["/usr/lib/cni"]\n`);
    writeFileSync(join(root.path, "storage.conf"), `[storage]\ndriver = "vfs"\ngraphroot = "${root.path}/storage"\nrunroot = "${root.path}/run"\n`);
    env = { ...process.env, CONTAINERS_CONF: join(root.path, "containers.conf"), CONTAINERS_STORAGE_CONF: join(root.path, "storage.conf") };
  });
  afterAll(() => root?.remove());

  const podman = (...args: string[]) => execFileSync("podman", args, { env, encoding: "utf8" });
  const listed = () => podman("network", "ls", "--format", "{{.Name}}").split("\n").filter(Boolean);

  it("lists the network the agent wrote, with the file's bridge, and not once it is undeployed", async () => {
    const name = "sytest-podman-lab";
    const conflist = `{\n  "cniVersion": "1.0.0",\n  "name": "${name}",\n  "plugins": [{ "type": "bridge", "bridge": "sypodman0", "ipam": { "type": "host-local", "subnet": "10.65.0.0/24" } }]\n}\n`;
    const deployer = createConfDirDeployer({ confDir, dataDir: join(root.path, "data"), log: quiet });
    expect(listed()).not.toContain(name);
    const report = await deployer.apply([{ network: name, revision: 1, conflist, drift: "restore" }]);
    expect(report.actions.map((a) => [a.kind, a.error])).toEqual([["create", undefined]]);
    expect(readFileSync(join(confDir, `50-switchyard-${name}.conflist`), "utf8")).toBe(conflist);

    expect(listed()).toContain(name);
    const [inspected] = JSON.parse(podman("network", "inspect", name)) as { name: string; driver: string; network_interface: string; ipam_options: { driver: string } }[];
    expect(inspected).toMatchObject({ name, driver: "bridge", network_interface: "sypodman0", ipam_options: { driver: "host-local" } });

    await deployer.apply([]);
    expect(listed()).not.toContain(name);
  });
});
