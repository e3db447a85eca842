import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "@playwright/test";
import { BASE_URL } from "../playwright.config";
import { mutate, query, requireRoot, signInElsewhere } from "./support";

test.describe.configure({ mode: "serial" });

// The browser drives a real agent on this host: it needs root (namespaces, CNI plugins).
// Not skipped otherwise: a suite that silently drops these tests would hide their failure.
requireRoot();

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const hex = randomBytes(3).toString("hex");
const hostName = `e2e-${hex}`;
const networkName = `e2e-net-${hex}`;
const bridge = `sye2e${hex}`;
const sandbox = `sytest-e2e-${hex}`;
const subnetThird = parseInt(hex.slice(0, 2), 16);
const dataDir = mkdtempSync(path.join(tmpdir(), "switchyard-e2e-agent-"));
/** The "second host"'s working directory: the agent is downloaded into it. */
const hostDir = mkdtempSync(path.join(tmpdir(), "switchyard-e2e-host-"));
let agent: ChildProcess | undefined;
writeFileSync(path.join(dataDir, "containers.conf"), `[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "${path.join(dataDir, "net.d")}"\ncni_plugin_dirs = ["/usr/lib/cni"]\n`);
writeFileSync(path.join(dataDir, "storage.conf"), `[storage]\ndriver = "vfs"\ngraphroot = "${dataDir}/storage"\nrunroot = "${dataDir}/run"\n`);
const podmanEnv = { ...process.env, CONTAINERS_CONF: path.join(dataDir, "containers.conf"), CONTAINERS_STORAGE_CONF: path.join(dataDir, "storage.conf") };
const container = `e2e-web-${hex}`;


test.afterAll(() => {
  try {
    execFileSync("podman", ["rm", "-f", "-t", "0", container], { env: podmanEnv, stdio: "ignore" });
  } catch {
    // never started
  }
  agent?.kill("SIGTERM");
  for (const args of [["netns", "del", sandbox], ["link", "del", bridge]]) {
    try {
      execFileSync("ip", args, { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(hostDir, { recursive: true, force: true });
  rmSync(`/var/lib/cni/networks/${networkName}`, { recursive: true, force: true });
});

test("an admin adds this host with a join token; the command as shown downloads the agent, checks it and enrols the host", async ({ page }) => {
  await page.goto("/hosts");
  const panel = page.getByRole("form", { name: "Create join token" });
  await panel.getByLabel("Note").fill(`e2e ${hostName}`);
  await panel.getByRole("button", { name: "Create join token" }).click();
  const token = (await page.getByTestId("join-token").textContent())!.trim();
  expect(token).toMatch(/^syj_/);
  const command = (await page.getByTestId("join-command").textContent())!;
  expect(command).toContain(`${BASE_URL}/downloads/switchyard-agent.mjs`);
  expect(command).toContain(`--console-url ${BASE_URL} --join-token ${token}`);
  // This console is on loopback and SWITCHYARD_PUBLIC_URL is unset: the panel says a second host cannot reach it.
  await expect(page.getByTestId("join-loopback-warning")).toContainText("SWITCHYARD_PUBLIC_URL");

  // The command as shown, on a "new host": an empty directory. Download and checksum run in bash
  // exactly as printed (a mismatch would stop the list); the last step (`sudo node …`, we are root
  // and there is no sudo here) is started with the flags that keep this test off the host's paths.
  const lines = command.split("\n");
  const download = lines.slice(0, -1).join("\n").replace(/&&\s*$/, "");
  execFileSync("bash", ["-c", download], { cwd: hostDir, stdio: "pipe" });
  const bundle = readFileSync(path.join(hostDir, "switchyard-agent.mjs"));
  expect(createHash("sha256").update(bundle).digest("hex")).toBe(readFileSync(path.join(root, "apps/agent/dist/switchyard-agent.mjs.sha256"), "utf8").split(" ")[0]);
  const run = lines.at(-1)!.trim().split(/\s+/);
  expect(run.slice(0, 3)).toEqual(["sudo", "node", "switchyard-agent.mjs"]);
  // The host's podman (CNI backend) reads the agent's conf dir and writes libcni's default cache,
  // which the agent reads as its own: the containers it starts are seen (its state in a temp dir).
  agent = spawn(process.execPath, [...run.slice(2), "--hostname", hostName,
    "--data-dir", path.join(dataDir, "agent"), "--cache-dir", "/var/lib/cni", "--conf-dir", path.join(dataDir, "net.d"), "--netns-dir", "/run/netns"], { cwd: hostDir, stdio: "ignore", env: podmanEnv }); // prettier-ignore

  // Live: the enrolment shows up without a reload.
  const row = page.getByTestId(`host-row-${hostName}`);
  await expect(row).toBeVisible({ timeout: 30_000 });
  await expect(row.getByTestId("host-liveness")).toHaveText(/online/i);
});

test("the downloads are public, name only their own files, and carry the checksum", async ({ playwright }) => {
  const anonymous = await playwright.request.newContext({ baseURL: BASE_URL });
  const info = (await (await anonymous.get("/downloads/agent.json")).json()) as { sha256: string; bytes: number; publicUrl: string | null };
  expect(info.publicUrl).toBeNull();
  const file = await anonymous.get("/downloads/switchyard-agent.mjs");
  expect(file.status()).toBe(200);
  const body = await file.body();
  expect(body.length).toBe(info.bytes);
  expect(createHash("sha256").update(body).digest("hex")).toBe(info.sha256);
  expect(file.headers()["repr-digest"]).toBe(`sha-256=:${Buffer.from(info.sha256, "hex").toString("base64")}:`);
  expect(await (await anonymous.get("/downloads/switchyard-agent.mjs.sha256")).text()).toBe(`${info.sha256}  switchyard-agent.mjs\n`);
  expect(await (await anonymous.get("/downloads/switchyard-agent.service")).text()).toContain("ExecStart=/usr/bin/env node --no-opt --no-sparkplug --max-semi-space-size=1 /opt/switchyard/switchyard-agent.mjs");
  for (const name of ["package.json", "..%2F..%2Fpackage.json", "switchyard-agent.mjs.map"]) {
    expect((await anonymous.get(`/downloads/${name}`)).status(), name).toBe(404);
  }
  await anonymous.dispose();
});

test("an operator's form attaches a sandbox; the job streams; the address is in the namespace; detach removes it", async ({ page }) => {
  const created = await mutate(page.request, "networks.create", {
    text: JSON.stringify({ cniVersion: "1.0.0", name: networkName, plugins: [{ type: "bridge", bridge, ipam: { type: "host-local", ranges: [[{ subnet: `10.232.${subnetThird}.0/24` }]] } }] }),
    comment: "e2e",
  });
  expect(created.status()).toBe(200);

  await page.goto("/attachments");
  await page.getByRole("button", { name: "New attachment" }).click();
  const form = page.getByRole("form", { name: "New attachment" });
  await form.getByLabel("Host", { exact: true }).selectOption({ label: `${hostName} (online)` });
  await form.getByLabel("Network", { exact: true }).selectOption({ label: `${networkName} (r1)` });
  await form.getByLabel("Sandbox name (optional)").fill(sandbox);
  await form.getByRole("button", { name: "Attach" }).click();

  // The job view: status, plugin output as it happens, then the result.
  await expect(page).toHaveURL(/\/operations\//);
  await expect(page.getByTestId("op-status")).toHaveText(/succeeded/i, { timeout: 30_000 });
  await expect(page.getByTestId("op-log")).toContainText("bridge ADD");
  await expect(page.getByTestId("op-log")).toContainText(`sandbox namespace ${sandbox}: created`);
  const addresses = page.getByTestId("op-addresses");
  await expect(addresses).toContainText(`10.232.${subnetThird}.`);
  const address = /10\.232\.\d+\.\d+\/24/.exec((await addresses.textContent()) ?? "")![0];
  const inside = JSON.parse(execFileSync("ip", ["-n", sandbox, "-j", "addr", "show", "eth0"], { encoding: "utf8" })) as { addr_info: { local: string; prefixlen: number }[] }[];
  expect(inside[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toContain(address);

  await page.goto("/attachments");
  const row = page.getByTestId(`attachment-row-${sandbox}`);
  await expect(row.getByTestId("attachment-state")).toHaveText(/ready/i);
  await row.getByRole("button", { name: /^Detach / }).click();
  await page.getByRole("dialog", { name: "Detach attachment" }).getByRole("button", { name: "Yes, detach" }).click();
  // Detached rows leave the default view (ready and in progress); shown on request, their addresses read as released.
  await expect(row).toHaveCount(0, { timeout: 30_000 });
  await page.getByRole("checkbox", { name: "detached" }).check();
  await expect(page).toHaveURL(/state=detached/);
  await expect(row.getByTestId("attachment-state")).toHaveText(/detached/i);
  await expect(row.getByTestId("attachment-addresses")).toContainText("released");
  const namespaces = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  expect(namespaces).not.toContain(sandbox);
});

test("an operator deploys the network to this host: the file lands in its conf dir and the page shows the revision per host", async ({ page }) => {
  const networks = await query<{ items: { id: string; name: string }[] }>(page.request, "networks.list", { q: networkName });
  const network = networks.items.find((n) => n.name === networkName)!;
  await page.goto(`/networks/${network.id}`);
  const panel = page.getByRole("region", { name: "Deployed to hosts" });
  await expect(panel.getByTestId("placement-summary")).toContainText("nowhere");
  await panel.getByRole("button", { name: "Change placement" }).click();
  const form = panel.getByRole("form", { name: "Placement" });
  await form.getByRole("radio", { name: "Hosts I pick" }).check();
  await form.getByRole("checkbox", { name: new RegExp(`^${hostName} `) }).check();
  await form.getByRole("button", { name: "Save placement" }).click();
  await expect(panel.getByTestId("placement-summary")).toContainText("1 host picked");

  // The agent writes the revision's text byte for byte; the row follows without a reload.
  const row = panel.getByTestId(`deployment-${hostName}`);
  await expect(row.getByTestId("deployment-state")).toHaveText("deployed", { timeout: 30_000 });
  await expect(row.getByTestId("deployed-revision")).toHaveText("r1");
  const file = path.join(dataDir, "net.d", `50-switchyard-${networkName}.conflist`);
  const revision1 = await query<{ text: string }>(page.request, "networks.get", { id: network.id });
  expect(readFileSync(file, "utf8")).toBe(revision1.text);

  // A new revision stays off the hosts until it is rolled out: its plan first, then host by host.
  const text2 = revision1.text.replace(`"bridge":"${bridge}"`, `"bridge":"${bridge}","mtu":1400`);
  expect((await mutate(page.request, "networks.update", { id: network.id, expectedRevision: 1, text: text2, comment: "mtu" })).status()).toBe(200);
  await expect(panel.getByTestId("rollout")).toContainText("Revision r2 is saved; the hosts hold r1.");
  expect(readFileSync(file, "utf8")).toBe(revision1.text);
  await panel.getByRole("button", { name: "Plan rollout" }).click();
  const plan = panel.getByRole("region", { name: "Rollout plan" });
  await expect(plan.getByRole("listitem")).toHaveText([`${hostName} (online, holds r1)`]);
  await expect(plan).toContainText('"mtu":1400');
  await plan.getByRole("button", { name: "Start rollout of r2" }).click();
  await expect(row.getByTestId("deployed-revision")).toHaveText("r2", { timeout: 30_000 });
  await expect(panel.getByTestId("placement-summary")).toContainText("r2 deployed, on 1 of 1 host");
  expect(readFileSync(file, "utf8")).toBe(text2);
  // The host's page says the same.
  await row.getByRole("link", { name: hostName }).click();
  const onHost = page.getByTestId(`host-deployment-${networkName}`);
  await expect(onHost.getByTestId("deployed-revision")).toHaveText("r2");
  await expect(onHost.getByTestId("deployment-state")).toHaveText("deployed");
  await expect(onHost).toContainText(`50-switchyard-${networkName}.conflist`);
  await page.goBack();

  // Placed nowhere: the agent removes its file, and the host leaves the table.
  await panel.getByRole("button", { name: "Change placement" }).click();
  await form.getByRole("radio", { name: /^Nowhere/ }).check();
  await form.getByRole("button", { name: "Save placement" }).click();
  await expect(row).toHaveCount(0, { timeout: 30_000 });
  expect(existsSync(file)).toBe(false);
});

test("a container podman starts on the deployed network appears on the network's page with its labels and address, and leaves when stopped", async ({ page }) => {
  const networks = await query<{ items: { id: string; name: string }[] }>(page.request, "networks.list", { q: networkName });
  const network = networks.items.find((n) => n.name === networkName)!;
  const hosts = await query<{ items: { id: string; name: string }[] }>(page.request, "hosts.list", { q: hostName });
  const hostId = hosts.items.find((h) => h.name === hostName)!.id;
  expect((await mutate(page.request, "networks.place", { networkId: network.id, mode: "hosts", hostIds: [hostId] })).status()).toBe(200);
  const file = path.join(dataDir, "net.d", `50-switchyard-${networkName}.conflist`);
  await expect.poll(() => existsSync(file), { timeout: 30_000 }).toBe(true);

  await page.goto(`/networks/${network.id}`);
  const panel = page.getByRole("region", { name: "Containers of other runtimes" });
  await expect(panel.getByTestId("observed-count")).toHaveText("0");
  // A root filesystem without a registry: busybox-static.
  const rootfs = path.join(dataDir, "rootfs");
  mkdirSync(path.join(rootfs, "bin"), { recursive: true });
  copyFileSync("/bin/busybox", path.join(rootfs, "bin", "busybox"));
  symlinkSync("busybox", path.join(rootfs, "bin", "sleep"));
  execFileSync("podman", ["--runtime", "runc", "--cgroup-manager=cgroupfs", "run", "-d", "--name", container, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
    "--label", "app=web", "--network", networkName, "--rootfs", rootfs, "/bin/sleep", "300"], { env: podmanEnv, stdio: "ignore" }); // prettier-ignore

  const row = panel.getByTestId(`observed-${container}`);
  await expect(row).toBeVisible({ timeout: 30_000 });
  await expect(panel.getByTestId("observed-count")).toHaveText("1");
  await expect(row).toContainText("podman");
  await expect(row.getByTestId("labels")).toHaveText("app=web");
  await expect(row).toContainText(`10.232.${subnetThird}.`);
  // Its address links to its lease on the map.
  await expect(row.getByRole("link", { name: new RegExp(`^10\\.232\\.${subnetThird}\\.\\d+/24$`) })).toHaveAttribute("href", new RegExp(`/networks/${network.id}/ipam\\?address=10\\.232\\.`));

  execFileSync("podman", ["stop", "-t", "0", container], { env: podmanEnv, stdio: "ignore" });
  await expect(row).toHaveCount(0, { timeout: 30_000 });
  await expect(panel.getByTestId("observed-count")).toHaveText("0");
});

test("a viewer sees hosts and attachments but cannot attach, in the page or through the API", async ({ page, browser }) => {
  const user = await mutate(page.request, "users.create", { username: `viewer-${hex}`, displayName: "", password: "viewer's long password", role: "viewer" });
  expect(user.status()).toBe(200);
  const { context: context, page: viewer } = await signInElsewhere(browser, `viewer-${hex}`, "viewer's long password");
  await viewer.goto("/hosts");
  await expect(viewer.getByTestId(`host-row-${hostName}`)).toBeVisible();
  await expect(viewer.getByRole("form", { name: "Create join token" })).toHaveCount(0);
  await viewer.goto("/attachments?state=detached");
  await expect(viewer.getByTestId(`attachment-row-${sandbox}`)).toBeVisible();
  await expect(viewer.getByRole("button", { name: "New attachment" })).toHaveCount(0);
  const hosts = (await (await viewer.request.get(`/api/trpc/hosts.list?input=${encodeURIComponent(JSON.stringify({ json: null }))}`)).json()) as { result: { data: { json: { items: { id: string; name: string }[] } } } };
  const hostId = hosts.result.data.json.items.find((h) => h.name === hostName)!.id;
  const refused = await mutate(viewer.request, "attachments.create", { hostId, networkId: "x", target: { kind: "sandbox" }, ifName: "eth0", portMappings: [] });
  expect(refused.status()).toBe(403);
  await context.close();
});
