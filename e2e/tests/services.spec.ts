import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Locator, type Page, expect, test } from "@playwright/test";
import { BASE_URL } from "../playwright.config";
import { dataOf, mutate, query, removeFromHost, requireRoot, signInElsewhere } from "./support";

// Issue 12 in the browser: a service created from a label selector; its pool fills live as a real
// agent attaches a labelled sandbox; a weight changed inline is a new revision; a viewer only looks.
test.describe.configure({ mode: "serial" });
requireRoot();

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const hex = randomBytes(3).toString("hex");
const hostName = `e2e-svc-${hex}`;
const networkName = `e2e-svc-${hex}`;
const serviceName = `e2e-svc-${hex}`;
const bridge = `sysv${hex}`;
const sandbox = `sytest-svc-${hex}`;
// The namespace the agent programs its services table in, standing in for the host (no table on this machine).
const servicesNetns = `sytest-svch-${hex}`;
const second = 16 + (parseInt(hex.slice(0, 2), 16) % 200);
const dataDir = mkdtempSync(path.join(tmpdir(), "switchyard-e2e-svc-"));
const agentLog = path.join(dataDir, "agent.log");
// Backends for the probe: namespaces on a bridge inside the services namespace, each a TCP server.
const backendNetns = [0, 1, 2].map((i) => `sytest-svcb${i}-${hex}`);
const backendAddress = (i: number) => `10.${second}.50.${10 + i}`;
const backends: ChildProcess[] = [];
let agent: ChildProcess | undefined;
let serviceUrl = "";

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus && agent) await testInfo.attach("agent.log", { body: readFileSync(agentLog), contentType: "text/plain" });
});
test.afterAll(() => {
  agent?.kill("SIGTERM");
  for (const b of backends) b.kill("SIGKILL");
  removeFromHost({ netns: [sandbox, servicesNetns, ...backendNetns], links: [bridge], dirs: [dataDir, `/var/lib/cni/networks/${networkName}`] });
});

test("a service from a label selector: its member appears live when a labelled sandbox attaches; a weight edit is a new revision", async ({ page }) => {
  // The service CIDR, as an admin sets it on the Services page.
  await page.goto("/services");
  await expect(page.getByRole("heading", { name: "Services" })).toBeVisible();
  const cidrs = page.getByRole("region", { name: "Service CIDRs" });
  const current = await query<string[]>(page.request, "services.cidrs");
  if (!current.includes("10.231.0.0/16")) {
    await cidrs.getByRole("button", { name: "Edit" }).click();
    await cidrs.getByRole("textbox", { name: "Service CIDRs" }).fill([...current, "10.231.0.0/16"].join(", "));
    await cidrs.getByRole("button", { name: "Save" }).click();
    await expect(cidrs).toContainText("10.231.0.0/16");
  }

  await page.getByRole("button", { name: "New service" }).click();
  const form = page.getByRole("form", { name: "New service" });
  await form.getByLabel("Name").fill(serviceName);
  await form.getByLabel("VIP").fill(`10.231.${second}.10`);
  await form.getByRole("textbox", { name: "Member selector" }).fill(`app=${serviceName}`);
  await form.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("heading", { name: serviceName })).toBeVisible();
  serviceUrl = page.url();
  await expect(page.getByText("No members: connections to the VIP are refused")).toBeVisible();

  // A real agent and a labelled sandbox on a bridge network.
  const made = await mutate(page.request, "hosts.createJoinToken", { note: hostName, ttlMinutes: 10 });
  const { token } = await dataOf<{ token: string }>(made);
  const log = openSync(agentLog, "a");
  execFileSync("ip", ["netns", "add", servicesNetns]);
  agent = spawn(process.execPath, [path.join(root, "apps/agent/bin/switchyard-agent"), "--console-url", BASE_URL, "--join-token", token, "--hostname", hostName,
    "--data-dir", path.join(dataDir, "agent"), "--cache-dir", path.join(dataDir, "cache"), "--conf-dir", path.join(dataDir, "net.d"), "--netns-dir", "/run/netns",
    "--services", `netns:${servicesNetns}`], { stdio: ["ignore", log, log] });
  closeSync(log);
  await expect.poll(async () => (await query<{ items: { id: string; name: string }[] }>(page.request, "hosts.list", { limit: 200 })).items.find((h) => h.name === hostName)?.id ?? "", { timeout: 30_000 }).not.toBe("");
  const hostId = (await query<{ items: { id: string; name: string }[] }>(page.request, "hosts.list", { limit: 200 })).items.find((h) => h.name === hostName)!.id;
  const created = await mutate(page.request, "networks.create", {
    text: JSON.stringify({ cniVersion: "1.0.0", name: networkName, plugins: [{ type: "bridge", bridge, ipam: { type: "host-local", ranges: [[{ subnet: `10.${second}.40.0/24` }]] } }] }),
    comment: "e2e services",
  });
  expect(created.status()).toBe(200);
  const networkId = (await dataOf<{ id: string }>(created)).id;
  const attached = await mutate(page.request, "attachments.create", { hostId, networkId, target: { kind: "sandbox", name: sandbox }, labels: { app: serviceName } });
  expect(attached.status()).toBe(200);

  // No reload: the page hears the pool change (the database's doorbell when the attachment is ready).
  const member = page.getByTestId(`member-10.${second}.40.2`);
  await expect(member).toBeVisible({ timeout: 30_000 });
  await expect(member).toContainText(hostName);
  await expect(member).toContainText("active");
  const hostRow = page.getByTestId(`service-host-${hostName}`);
  await expect(hostRow).toContainText("applied", { timeout: 30_000 });

  // Weight 100 → 250, inline: revision 2, its diff says so.
  await member.getByRole("spinbutton", { name: `Weight of 10.${second}.40.2` }).fill("250");
  await member.getByRole("spinbutton", { name: `Weight of 10.${second}.40.2` }).press("Enter");
  // Every change is planned first (services-plan.spec.ts looks at the plan itself).
  await page.getByRole("region", { name: "Plan" }).getByRole("button", { name: "Apply" }).click();
  const revisions = page.getByRole("table", { name: "Revisions" });
  await expect(revisions).toContainText(`10.${second}.40.2: weight 100 → 250`);
  await revisions.getByRole("button", { name: "Diff" }).first().click();
  await expect(page.getByLabel("Revision diff")).toContainText('"weight": 250');
  // Applied on the host: the page says so without a reload, and the kernel's table holds the VIP.
  await expect(hostRow.getByText("applied", { exact: true })).toBeVisible({ timeout: 30_000 });
  await expect(hostRow).toContainText("ms");
  const table = execFileSync("ip", ["netns", "exec", servicesNetns, "nft", "list", "map", "ip", "switchyard", "service-ips"], { encoding: "utf8" });
  expect(table).toContain(`10.231.${second}.10 . tcp . 80`);
  // Drain: the member stays, takes no new connections.
  await member.getByRole("button", { name: "Drain" }).click();
  await page.getByRole("region", { name: "Plan" }).getByRole("button", { name: "Apply" }).click();
  await expect(member).toContainText("draining");
  await expect(member.locator("td").last()).toHaveText("no");

  await page.goto("/services");
  await expect(page.getByTestId(`service-row-${serviceName}`)).toContainText("0 / 1");
});

test("a viewer sees the pool but cannot edit it", async ({ page, browser }) => {
  const made = await mutate(page.request, "users.create", { username: `svc-viewer-${hex}`, displayName: "", password: "viewer's long password", role: "viewer" });
  expect(made.status()).toBe(200);
  const { context, page: viewer } = await signInElsewhere(browser, `svc-viewer-${hex}`, "viewer's long password");
  try {
    await viewer.goto(serviceUrl);
    const member = viewer.getByTestId(`member-10.${second}.40.2`);
    await expect(member).toBeVisible();
    await expect(member.getByRole("spinbutton")).toHaveCount(0);
    await expect(member.getByRole("button")).toHaveCount(0);
    await expect(viewer.getByRole("button", { name: /Roll back/ })).toHaveCount(0);
    await expect(viewer.getByRole("button", { name: "Run probe" })).toHaveCount(0);
    const id = serviceUrl.split("/").at(-1)!;
    const refused = await mutate(viewer.request, "services.rollback", { id, toRevision: 1, expectedRevision: 3 });
    expect(refused.status()).toBe(403);
  } finally {
    await context.close();
  }
});

/** A TCP server that accepts and closes, for at most five minutes. */
const serverScript = (address: string) => `
require("node:net").createServer((s) => s.end()).listen(8080, ${JSON.stringify("ADDR")}, () => console.log("ready"));
setTimeout(() => process.exit(0), 300000);
`.replace("ADDR", address);

/** Whether `count` of `n` is within 4.5 standard deviations of the share `p` (as the agent's traffic tests). */
const withinTolerance = (count: number, n: number, p: number) => Math.abs(count - n * p) <= 4.5 * Math.sqrt(n * p * (1 - p));

/** Runs a probe of `total` connections from the host on tcp/80 with the page's form, and waits until it is done. */
async function runProbe(page: Page, total: number, whileRunning?: (status: Locator) => Promise<void>) {
  const form = page.getByRole("form", { name: "Run a probe" });
  await form.getByLabel("Host").selectOption({ label: hostName });
  await form.getByLabel("From").selectOption({ label: "the host itself" });
  await form.getByLabel("Port").selectOption("tcp/80");
  await form.getByLabel("Connections").fill(String(total));
  await form.getByRole("button", { name: "Run probe" }).click();
  const status = page.getByTestId("probe-status");
  await whileRunning?.(status);
  await expect(status).toHaveText("done", { timeout: 60_000 });
}

/** The probe's counts per backend add up to `total`, each within tolerance of its weight's share (weights of 1000). */
async function expectProbeSpread(page: Page, total: number, weights: number[]) {
  const counts = await Promise.all(
    weights.map(async (_, i) => {
      const row = page.getByTestId(`probe-member-${backendAddress(i)}`);
      await expect(row).toBeVisible();
      return Number(await row.locator("td").nth(1).innerText());
    }),
  );
  expect(counts.reduce((a, b) => a + b, 0), JSON.stringify(counts)).toBe(total);
  counts.forEach((n, i) => expect(withinTolerance(n, total, weights[i]! / 1000), `member ${i}: ${n} of ${total} (${JSON.stringify(counts)})`).toBe(true));
}

test("the probe: connections from the host spread over the members as their weights ask, shown live", async ({ page }) => {
  // Three backends behind a bridge in the namespace standing in for the host (traffic stays in namespaces made here).
  const ipSvc = (...args: string[]) => execFileSync("ip", ["-n", servicesNetns, ...args]);
  ipSvc("link", "add", "sypb", "type", "bridge");
  ipSvc("addr", "add", `10.${second}.50.1/24`, "dev", "sypb");
  ipSvc("link", "set", "sypb", "up");
  for (const [i, ns] of backendNetns.entries()) {
    execFileSync("ip", ["netns", "add", ns]);
    execFileSync("ip", ["-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", `sypb${i}`, "netns", servicesNetns]);
    ipSvc("link", "set", `sypb${i}`, "master", "sypb", "up");
    execFileSync("ip", ["-n", ns, "addr", "add", `${backendAddress(i)}/24`, "dev", "eth0"]);
    execFileSync("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
    const server = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", serverScript(backendAddress(i))], { stdio: ["ignore", "pipe", "ignore"] });
    backends.push(server);
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once("data", () => resolve());
      server.once("exit", (code) => reject(new Error(`backend ${i} exited ${code}`)));
    });
  }

  // The backends as members by hand, weights 100 / 300 / 600 (the drained sandbox takes none).
  const id = serviceUrl.split("/").at(-1)!;
  const current = await query<{ revision: number; spec: Record<string, unknown> }>(page.request, "services.get", { id });
  const weights = [100, 300, 600];
  const updated = await mutate(page.request, "services.update", {
    id,
    expectedRevision: current.revision,
    comment: "probe backends",
    spec: { ...current.spec, manualMembers: weights.map((weight, i) => ({ address: backendAddress(i), weight })) },
  });
  expect(updated.status()).toBe(200);

  await page.goto(serviceUrl);
  const hostRow = page.getByTestId(`service-host-${hostName}`);
  await expect(hostRow.getByText("applied", { exact: true })).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId(`member-${backendAddress(2)}`)).toBeVisible();

  // Live: pending or running, then done, without a reload.
  const total = 200;
  await runProbe(page, total, async (status) => expect(status).toHaveText(/pending|running|done/));
  await expectProbeSpread(page, total, weights);
  // Beside each share, the share its weight asks for.
  await expect(page.getByTestId(`probe-member-${backendAddress(2)}`).locator("td").nth(3)).toHaveText("60%");
  await expect(page.getByTestId("probe-refused")).toContainText("0");
  await expect(page.getByTestId("probe-timed-out")).toContainText("0");
  await expect(page.getByRole("table", { name: "Recent probes" })).toContainText(`${total} / ${total} answered`);
});

test("the data plane form moves the service onto the userspace proxy; the host runs it and the probe shows its spread", async ({ page }) => {
  await page.goto(serviceUrl);
  await page.getByRole("button", { name: "Data plane" }).click();
  const form = page.getByRole("form", { name: "Data plane" });
  await form.getByLabel(/Userspace proxy/).check();
  await form.getByLabel("Balancing").selectOption("round-robin");
  await form.getByLabel("Kind of port 80").selectOption("tcp");
  await form.getByRole("button", { name: "Review plan" }).click();
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.getByTestId("service-plane")).toContainText("proxy: 80 TCP · round-robin", { timeout: 15_000 });

  // The host applied the version that moved it: its proxy listens on the VIP (no NAT rule carries it any more).
  const hostRow = page.getByTestId(`service-host-${hostName}`);
  await expect(hostRow.getByText("applied", { exact: true })).toBeVisible({ timeout: 30_000 });
  await expect(hostRow).not.toContainText("proxy listener");

  // Each connection's member named by the proxy itself; round robin per worker keeps close to the weights.
  const total = 200;
  await runProbe(page, total);
  await expectProbeSpread(page, total, [100, 300, 600]);
  await expect(page.getByRole("table", { name: "Recent probes" })).toContainText(`${total} / ${total} answered`);
});
