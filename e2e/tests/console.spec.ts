import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { BASE_URL } from "../playwright.config";
import { mutate, query, requireRoot, signInElsewhere } from "./support";

// Issue 10, items 5, 6, 8 and 13 as a user meets them, with a real agent on this host (root).
test.describe.configure({ mode: "serial" });
requireRoot();

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const hex = randomBytes(3).toString("hex");
const hostName = `e2e-c-${hex}`;
const networkName = `e2e-pm-${hex}`;
const bridge = `syc${hex}`;
const netns = `sytest-c-${hex}`;
const sandbox = `sytest-cs-${hex}`;
const raced = `sytest-cr-${hex}`;
const third = parseInt(hex.slice(0, 2), 16);
const hostPort = 20000 + (parseInt(hex.slice(2), 16) % 20000);
const dataDir = mkdtempSync(path.join(tmpdir(), "switchyard-e2e-console-"));
let agent: ChildProcess | undefined;
let hostId = "";
/** The agent's log (JSON lines), attached to a failed test so a flake can be read afterwards. */
const agentLog = path.join(dataDir, "agent.log");

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus && agent) {
    await testInfo.attach("agent.log", { body: readFileSync(agentLog), contentType: "text/plain" });
  }
});

/** Every row of a paged list's first page (200 rows is more than these tests make). */
async function list<T>(request: APIRequestContext, procedure: string, input: Record<string, unknown> = {}): Promise<T[]> {
  return (await query<{ items: T[] }>(request, procedure, { limit: 200, ...input })).items;
}
const ALL_STATES = ["pending", "applying", "ready", "failed", "detaching", "detached"];
async function documentWidth(page: Page): Promise<number> {
  return page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth));
}

test.afterAll(() => {
  agent?.kill("SIGTERM");
  for (const args of [["netns", "del", netns], ["netns", "del", sandbox], ["netns", "del", raced], ["link", "del", bridge]]) {
    try {
      execFileSync("ip", args, { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(`/var/lib/cni/networks/${networkName}`, { recursive: true, force: true });
});

test("the sidebar marks the current page; pages have a favicon and no 404; absolute times carry their zone", async ({ page }) => {
  const missing: string[] = [];
  page.on("response", (r) => {
    if (r.status() === 404) missing.push(r.url());
  });
  await page.goto("/networks");
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "Networks" })).toHaveAttribute("aria-current", "page");
  await expect(nav.getByRole("link", { name: "Hosts" })).not.toHaveAttribute("aria-current", "page");
  await nav.getByRole("link", { name: "Hosts" }).click();
  await expect(nav.getByRole("link", { name: "Hosts" })).toHaveAttribute("aria-current", "page");
  await expect(nav.getByRole("link", { name: "Networks" })).not.toHaveAttribute("aria-current", "page");
  const icon = await page.locator('link[rel="icon"]').first().getAttribute("href");
  expect(icon).toBeTruthy();
  const res = await page.request.get(icon!);
  expect(res.status()).toBe(200);
  expect(res.headers()["content-type"]).toContain("image/svg");
  await page.waitForLoadState("networkidle");
  expect(missing).toEqual([]);
});

test("a fresh host (no conf dir) passes the doctor's conf check as information; its ports list says what to do", async ({ page }) => {
  const made = await mutate(page.request, "hosts.createJoinToken", { note: hostName, ttlMinutes: 10 });
  const token = ((await made.json()) as { result: { data: { json: { token: string } } } }).result.data.json.token;
  execFileSync("ip", ["netns", "add", netns]);
  const log = openSync(agentLog, "a");
  agent = spawn(process.execPath, [path.join(root, "apps/agent/bin/switchyard-agent"), "--console-url", BASE_URL, "--join-token", token, "--hostname", hostName,
    "--data-dir", path.join(dataDir, "agent"), "--cache-dir", path.join(dataDir, "cache"), "--conf-dir", path.join(dataDir, "no-such-net.d"), "--netns-dir", "/run/netns", "--services", "off"], { stdio: ["ignore", log, log] });
  closeSync(log);
  await expect.poll(async () => (await list<{ id: string; name: string }>(page.request, "hosts.list")).find((h) => h.name === hostName)?.id ?? "", { timeout: 30_000 }).not.toBe("");
  hostId = (await list<{ id: string; name: string }>(page.request, "hosts.list")).find((h) => h.name === hostName)!.id;

  await page.goto(`/hosts/${hostId}`);
  const conf = page.getByTestId("doctor-conf-files");
  await expect(conf).toContainText("info", { timeout: 30_000 });
  await expect(conf).toContainText("does not exist");
  await expect(conf).not.toContainText("Fix:");
  await expect(conf).not.toContainText("fail");
  await expect(page.getByRole("table", { name: "Host ports taken" })).toContainText("No host ports mapped on this host. Add port mappings when you attach");
  // The used join token says so, not when it would have expired.
  await page.goto("/hosts");
  const used = page.getByRole("row").filter({ hasText: hostName }).getByTestId("join-token-expiry");
  await expect(used).toContainText("used");
  await expect(used).not.toContainText("in ");
});

test("the form preselects the only host, offers its namespaces; the job view shows ports, the default route's gateway and its network", async ({ page }) => {
  // Hosts earlier files left behind (their agents stopped) are revoked: this host is then the only one.
  for (const h of await list<{ id: string; name: string; revokedAt: string | null }>(page.request, "hosts.list")) {
    if (h.id !== hostId && !h.revokedAt) expect((await mutate(page.request, "hosts.revoke", { id: h.id })).status()).toBe(200);
  }
  const created = await mutate(page.request, "networks.create", {
    text: JSON.stringify({
      cniVersion: "1.0.0",
      name: networkName,
      plugins: [
        { type: "bridge", bridge, isGateway: true, ipam: { type: "host-local", ranges: [[{ subnet: `10.233.${third}.0/24`, gateway: `10.233.${third}.1` }]], routes: [{ dst: "0.0.0.0/0" }] } },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    }),
    comment: "e2e console",
  });
  expect(created.status()).toBe(200);
  const networkId = ((await created.json()) as { result: { data: { json: { id: string } } } }).result.data.json.id;
  // The agent reports its namespaces with its heartbeats.
  await expect.poll(async () => (await query<{ inventory: { namespaces: string[] } | null }>(page.request, "hosts.get", { id: hostId })).inventory?.namespaces.includes(netns) ?? false, { timeout: 30_000 }).toBe(true);

  await page.goto("/attachments");
  await page.getByRole("button", { name: "New attachment" }).click();
  const form = page.getByRole("form", { name: "New attachment" });
  await expect(form.getByLabel("Host", { exact: true })).toHaveValue(hostId);
  await form.getByLabel("Network", { exact: true }).selectOption(networkId);
  await form.getByLabel("Existing netns").check();
  const ns = form.getByLabel("Namespace name");
  await expect(ns.locator("option", { hasText: netns })).toHaveCount(1);
  await ns.selectOption(netns);
  await form.getByRole("button", { name: "Add port mapping" }).click();
  await form.getByLabel("Host port 1").fill(String(hostPort));
  await form.getByLabel("Container port 1").fill("80");
  await form.getByRole("button", { name: "Attach" }).click();

  await expect(page).toHaveURL(/\/operations\//);
  await expect(page.getByTestId("op-status")).toHaveText(/succeeded/i, { timeout: 30_000 });
  await expect(page.getByTestId("op-ports")).toContainText(`*:${hostPort}`);
  const routes = page.getByRole("table", { name: "Routes" });
  await expect(routes).toContainText("0.0.0.0/0");
  await expect(routes).toContainText(`10.233.${third}.1`);
  await expect(page.getByRole("link", { name: networkName })).toHaveAttribute("href", `/networks/${networkId}`);
  await expect(page.getByText(/Requested\s*\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \S+/)).toBeVisible();

  // The host page lists the port as taken.
  await page.goto(`/hosts/${hostId}`);
  await expect(page.getByRole("table", { name: "Host ports taken" })).toContainText(`${netns}/eth0`);
  await expect(page.getByRole("table", { name: "Host ports taken" })).toContainText(String(hostPort));
});

test("a second attachment mapping a taken host port is refused with the holder named; the job view checks; a queued check shows its outcome", async ({ page }) => {
  const before = (await list<unknown>(page.request, "attachments.list", { hostId, states: ALL_STATES })).length;
  await page.goto("/attachments");
  await page.getByRole("button", { name: "New attachment" }).click();
  const form = page.getByRole("form", { name: "New attachment" });
  await form.getByLabel("Network", { exact: true }).selectOption({ label: `${networkName} (r1)` });
  await form.getByLabel("Sandbox name (optional)").fill(sandbox);
  await form.getByLabel("Interface name").fill("eth0");
  await form.getByRole("button", { name: "Add port mapping" }).click();
  await form.getByLabel("Host port 1").fill(String(hostPort));
  await form.getByLabel("Container port 1").fill("8080");
  await form.getByRole("button", { name: "Attach" }).click();
  await expect(form.getByRole("alert").filter({ hasText: "already mapped by" })).toContainText(`host port tcp/${hostPort} is already mapped by ${netns}/eth0 on ${networkName}`);
  // The mapping's own field says who holds it.
  await expect(form.getByRole("alert").filter({ hasText: "taken by" })).toContainText(`taken by ${netns}/eth0 on ${networkName}`);
  expect((await list<unknown>(page.request, "attachments.list", { hostId, states: ALL_STATES })).length).toBe(before);

  // Without the mapping it attaches; the job view checks it and opens the check job.
  // (portmap 1.1.1's CHECK fails on hosts without its ip6tables chain, so the check runs on this one.)
  await form.getByRole("button", { name: "Remove port mapping 1" }).click();
  await form.getByRole("button", { name: "Attach" }).click();
  await expect(page).toHaveURL(/\/operations\//);
  await expect(page.getByTestId("op-status")).toHaveText(/succeeded/i, { timeout: 30_000 });
  const attachJob = page.url();
  await page.getByRole("button", { name: "Check attachment" }).click();
  await expect(page).not.toHaveURL(attachJob);
  await expect(page.getByRole("heading", { name: new RegExp(`^check ${sandbox}/eth0`) })).toBeVisible();
  await expect(page.getByTestId("op-status")).toHaveText(/succeeded/i, { timeout: 30_000 });

  await page.goto("/attachments");
  const row = page.getByTestId(`attachment-row-${sandbox}`);
  await row.getByRole("button", { name: /^Check / }).click();
  const banner = page.getByRole("status").filter({ hasText: "Check of" });
  await expect(banner).toContainText("queued");
  await expect(banner.getByTestId("job-outcome-status")).toHaveText("succeeded", { timeout: 30_000 });
});

test("a job page whose first reads were on their way when the outcome landed still shows the outcome", async ({ page }) => {
  // The race that left job pages "running" (or without their result): the page reads while the job
  // is open, the agent finishes, the status event arrives while that read is still on its way, and
  // the read (made before the change) lands after the event. The agent is paused for real
  // (SIGSTOP) so that the read is made before the outcome; the read's answer is then held in the
  // browser until the event has come (a slow answer cannot be timed otherwise).
  let release: () => void = () => {};
  const released = new Promise<void>((r) => (release = r));
  let heldBody = "";
  const held = new Promise<void>((resolve) => {
    let first = true;
    void page.route(/\/api\/trpc\/[^?]*attachments\.get/, async (route) => {
      if (!first) return route.continue();
      first = false;
      const response = await route.fetch();
      heldBody = await response.text();
      resolve();
      await released;
      await route.fulfill({ response, body: heldBody }).catch(() => {});
    });
  });
  agent!.kill("SIGSTOP");
  try {
    await page.goto("/attachments");
    await page.getByRole("button", { name: "New attachment" }).click();
    const form = page.getByRole("form", { name: "New attachment" });
    await form.getByLabel("Network", { exact: true }).selectOption({ label: `${networkName} (r1)` });
    await form.getByLabel("Sandbox name (optional)").fill(raced);
    await form.getByRole("button", { name: "Attach" }).click();
    await expect(page).toHaveURL(/\/operations\//);
    await held;
    // The held read was made before the agent ran anything.
    expect(heldBody).toContain(raced);
    expect(heldBody).not.toContain('"state":"ready"');
  } finally {
    agent!.kill("SIGCONT");
  }
  const operationId = page.url().split("/operations/")[1]!;
  await expect.poll(async () => (await query<{ status: string }>(page.request, "attachments.operation", { id: operationId })).status, { timeout: 30_000 }).toBe("succeeded");
  await expect(page.getByTestId("op-status")).toHaveText(/succeeded/i, { timeout: 30_000 });
  release();
  await expect(page.getByTestId("op-addresses")).toContainText(`10.233.${third}.`);
});

test("role changes and disabling ask first and say what happened; an admin who demotes themselves loses admin at once", async ({ page, browser }) => {
  const other = `bob-${hex}`;
  expect((await mutate(page.request, "users.create", { username: other, displayName: "", password: "bob's long password", role: "operator" })).status()).toBe(200);
  await page.goto("/users");
  const roleOf = page.getByLabel(`Role of ${other}`);
  await roleOf.selectOption("viewer");
  const dialog = page.getByRole("alertdialog");
  await expect(dialog).toContainText(`Make ${other} a viewer?`);
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(dialog).toHaveCount(0);
  await expect(roleOf).toHaveValue("operator");
  await roleOf.selectOption("viewer");
  await page.getByRole("alertdialog").getByRole("button", { name: "Make viewer" }).click();
  await expect(page.getByRole("status").filter({ hasText: `${other} is now viewer.` })).toBeVisible();
  await expect(roleOf).toHaveValue("viewer");
  await page.getByRole("button", { name: `Disable ${other}` }).click();
  await expect(page.getByRole("alertdialog")).toContainText("signed out everywhere");
  await page.getByRole("alertdialog").getByRole("button", { name: "Disable" }).click();
  await expect(page.getByRole("status").filter({ hasText: `${other} is disabled and signed out.` })).toBeVisible();
  await expect(page.getByRole("row").filter({ hasText: other })).toContainText("disabled");

  // A second admin demotes themselves: their sidebar and page follow without a reload.
  const carol = `carol-${hex}`;
  expect((await mutate(page.request, "users.create", { username: carol, displayName: "", password: "carol's long password", role: "admin" })).status()).toBe(200);
  const { context: context, page: own } = await signInElsewhere(browser, carol, "carol's long password");
  await own.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
  await own.getByLabel(`Role of ${carol}`).selectOption("operator");
  await expect(own.getByRole("alertdialog")).toContainText("You lose admin rights at once");
  await own.getByRole("alertdialog").getByRole("button", { name: "Make operator" }).click();
  await expect(own.getByTestId("signed-in-as")).toContainText(`${carol} (operator)`);
  await expect(own.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" })).toHaveCount(0);
  await expect(own.getByText("Only admins manage users.")).toBeVisible();
  await context.close();
});

test("at 390 px wide no page is wider than the window", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  const attachment = (await list<{ id: string }>(page.request, "attachments.list", { hostId, states: ALL_STATES }))[0]!;
  const detail = await query<{ operations: { id: string }[] }>(page.request, "attachments.get", { id: attachment.id });
  for (const url of ["/networks", "/networks/new", "/hosts", `/hosts/${hostId}`, "/attachments", `/operations/${detail.operations[0]!.id}`, "/audit", "/users", "/account"]) {
    await page.goto(url);
    await page.waitForLoadState("networkidle");
    expect(await documentWidth(page), url).toBeLessThanOrEqual(390);
  }
});

test("detach releases the port", async ({ page }) => {
  const rows = await list<{ id: string; containerId: string; state: string }>(page.request, "attachments.list", { hostId, states: ALL_STATES });
  for (const a of rows.filter((r) => r.state !== "detached")) expect((await mutate(page.request, "attachments.detach", { id: a.id })).status()).toBe(200);
  await expect.poll(async () => (await query<unknown[]>(page.request, "hosts.ports", { id: hostId })).length, { timeout: 30_000 }).toBe(0);
  // The console frees the port at once; the agent's DEL (which removes portmap's rules) must be
  // done too before afterAll stops the agent, or the host keeps the rules.
  await expect
    .poll(async () => (await list<{ state: string }>(page.request, "attachments.list", { hostId, states: ALL_STATES })).filter((a) => a.state !== "detached").length, { timeout: 30_000 })
    .toBe(0);
});
