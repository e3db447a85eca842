import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "@playwright/test";
import { BASE_URL } from "../playwright.config";
import { dataOf, mutate, query, removeFromHost, requireRoot, signInElsewhere } from "./support";

// Issue 11 in the browser: the map of a /16 with a real agent's lease on it — the heatmap, the zoom
// to the /24 grid, the holder on hover, the address opened; a viewer sees but cannot reserve.
test.describe.configure({ mode: "serial" });
requireRoot();

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const hex = randomBytes(3).toString("hex");
const hostName = `e2e-ipam-${hex}`;
const networkName = `e2e-ipam-${hex}`;
const bridge = `syip${hex}`;
const sandbox = `sytest-ipam-${hex}`;
const second = 16 + (parseInt(hex.slice(0, 2), 16) % 200);
const subnet = `10.${second}.0.0/16`;
const dataDir = mkdtempSync(path.join(tmpdir(), "switchyard-e2e-ipam-"));
const agentLog = path.join(dataDir, "agent.log");
let agent: ChildProcess | undefined;
let networkId = "";
let containerId = "";
let leased = "";

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus && agent) await testInfo.attach("agent.log", { body: readFileSync(agentLog), contentType: "text/plain" });
});
test.afterAll(() => {
  agent?.kill("SIGTERM");
  removeFromHost({ netns: [sandbox], links: [bridge], dirs: [dataDir, `/var/lib/cni/networks/${networkName}`] });
});

test("an attached sandbox's lease is on the map: the /16 heatmap, the zoom to its /24, the holder on hover, the address's page", async ({ page }) => {
  const made = await mutate(page.request, "hosts.createJoinToken", { note: hostName, ttlMinutes: 10 });
  const { token } = await dataOf<{ token: string }>(made);
  const log = openSync(agentLog, "a");
  agent = spawn(process.execPath, [path.join(root, "apps/agent/bin/switchyard-agent"), "--console-url", BASE_URL, "--join-token", token, "--hostname", hostName,
    "--data-dir", path.join(dataDir, "agent"), "--cache-dir", path.join(dataDir, "cache"), "--conf-dir", path.join(dataDir, "net.d"), "--netns-dir", "/run/netns", "--services", "off"], { stdio: ["ignore", log, log] });
  closeSync(log);
  await expect.poll(async () => (await query<{ items: { id: string; name: string }[] }>(page.request, "hosts.list", { limit: 200 })).items.find((h) => h.name === hostName)?.id ?? "", { timeout: 30_000 }).not.toBe("");
  const hostId = (await query<{ items: { id: string; name: string }[] }>(page.request, "hosts.list", { limit: 200 })).items.find((h) => h.name === hostName)!.id;
  const created = await mutate(page.request, "networks.create", {
    text: JSON.stringify({ cniVersion: "1.0.0", name: networkName, plugins: [{ type: "bridge", bridge, ipam: { type: "host-local", ranges: [[{ subnet, rangeStart: `10.${second}.7.10`, rangeEnd: `10.${second}.7.200` }]] } }] }),
    comment: "e2e ipam",
  });
  expect(created.status()).toBe(200);
  networkId = (await dataOf<{ id: string }>(created)).id;
  const attached = await mutate(page.request, "attachments.create", { hostId, networkId, target: { kind: "sandbox", name: sandbox }, ifName: "eth0", portMappings: [] });
  expect(attached.status()).toBe(200);
  containerId = (await dataOf<{ attachment: { containerId: string } }>(attached)).attachment.containerId;

  await page.goto(`/networks/${networkId}`);
  await page.getByRole("link", { name: "Addresses" }).click();
  await expect(page.getByRole("heading", { name: `Addresses of ${networkName}` })).toBeVisible();
  // The lease arrives with the agent's report after the ADD: the block of 10.x.7.0/24 fills in.
  const block = page.locator(`[data-block="10.${second}.7.0/24"]`);
  await expect.poll(async () => (await block.getAttribute("aria-label")) ?? "", { timeout: 30_000 }).toContain("1 leased (1 live, 0 suspect)");
  await expect(page.getByTestId("ipam-heatmap").getByRole("gridcell")).toHaveCount(256);
  await block.click();
  await expect(page.getByRole("navigation", { name: "Zoom" })).toContainText(`10.${second}.7.0/24`);
  const grid = page.getByTestId("ipam-grid");
  await expect(grid.getByRole("gridcell")).toHaveCount(256);
  const live = grid.locator('[data-kind="live"]');
  await expect(live).toHaveCount(1);
  leased = (await live.getAttribute("data-address"))!;
  expect(leased).toBe(`10.${second}.7.10`);
  await live.hover();
  await expect(page.getByTestId("ipam-hover")).toContainText(`${containerId}/eth0 on ${hostName}`);
  // The network and broadcast addresses of the subnet are not in this block; the keyboard moves between cells.
  await live.focus();
  await page.keyboard.press("ArrowRight");
  await expect(page.getByTestId("ipam-hover")).toContainText(`10.${second}.7.11: free`);
  await page.keyboard.press("ArrowLeft");
  await page.keyboard.press("Enter");
  const panel = page.getByTestId("ipam-address");
  await expect(panel.getByRole("heading", { name: leased })).toBeVisible();
  await expect(panel).toContainText(containerId);
  await expect(panel).toContainText("allocated");
  expect(page.url()).toContain(`address=${encodeURIComponent(leased)}`);
  // Escape zooms out, the breadcrumb too.
  await page.getByRole("navigation", { name: "Zoom" }).getByRole("button", { name: subnet }).click();
  await expect(page.getByTestId("ipam-heatmap")).toBeVisible();
});

test("who holds the address now, and the reservation rules: a held address is refused with its holder named; a viewer cannot reserve", async ({ page, browser }) => {
  await page.goto(`/networks/${networkId}/ipam`);
  const search = page.getByRole("region", { name: "Find an address" });
  await search.getByLabel("Address").fill(leased);
  await search.getByRole("button", { name: "Find" }).click();
  await expect(page.getByTestId("ipam-search-result")).toContainText(`${networkName} on ${hostName}: ${containerId}/eth0`);

  const reservations = page.getByRole("region", { name: "Reservations" });
  await reservations.getByLabel("First").fill(leased);
  await reservations.getByRole("button", { name: "Reserve" }).click();
  await expect(reservations.getByRole("alert")).toContainText(`${leased} by container ${containerId} (eth0) on host ${hostName}`);
  await reservations.getByLabel("First").fill(`10.${second}.9.1`);
  await reservations.getByLabel("Last (optional)").fill(`10.${second}.9.4`);
  await reservations.getByLabel("Note").fill("routers");
  await reservations.getByRole("button", { name: "Reserve" }).click();
  await expect(reservations.getByRole("table")).toContainText(`10.${second}.9.1 – 10.${second}.9.4`);

  const made = await mutate(page.request, "users.create", { username: `ipam-viewer-${hex}`, displayName: "", password: "viewer's long password", role: "viewer" });
  expect(made.status()).toBe(200);
  const { context: context, page: viewer } = await signInElsewhere(browser, `ipam-viewer-${hex}`, "viewer's long password");
  await viewer.goto(`/networks/${networkId}/ipam?cidr=${encodeURIComponent(`10.${second}.9.0/24`)}`);
  await expect(viewer.getByTestId("ipam-grid").locator('[data-kind="reserved"]')).toHaveCount(4);
  await expect(viewer.getByRole("region", { name: "Reservations" }).getByRole("button", { name: "Reserve" })).toHaveCount(0);
  const refused = await mutate(viewer.request, "ipam.reserve", { networkId, first: `10.${second}.9.20`, note: "" });
  expect(refused.status()).toBe(403);
  await context.close();
});

test("the leak flow end to end: a namespace deleted behind the agent's back is flagged with its evidence, the dry run says what a release does, a viewer cannot release, an operator's release frees the cell", async ({ page, browser }) => {
  await page.goto(`/networks/${networkId}/ipam`);
  const leaks = page.getByRole("region", { name: "Leaks" });
  await expect(leaks).toContainText("Every held address of this network has a live holder.");
  execFileSync("ip", ["netns", "del", sandbox]);
  // The agent's next report (its timer) says the namespace is gone; the page hears it live.
  const row = leaks.getByTestId(`leak-${leased}`);
  await expect(row).toContainText("leak", { timeout: 30_000 });
  await expect(row).toContainText(`its namespace /run/netns/${sandbox} is gone`);
  await row.getByRole("button", { name: "Dry run" }).click();
  const dry = page.getByTestId("leak-dry-run");
  await expect(dry).toContainText("Dry run: nothing was changed");
  await expect(dry).toContainText(`its namespace is gone, so its detach operation runs CNI DEL with the cached config`);
  await expect(dry).toContainText(`the result cache entry ${networkName}-${containerId}-eth0`);

  // A viewer sees the same dry run and cannot release (no button; the API refuses).
  const { context: context, page: viewer } = await signInElsewhere(browser, `ipam-viewer-${hex}`, "viewer's long password");
  await viewer.goto(`/networks/${networkId}/ipam`);
  await viewer.getByTestId(`leak-${leased}`).getByRole("button", { name: "Dry run" }).click();
  await expect(viewer.getByTestId("leak-dry-run")).toContainText("Releasing needs the operator role.");
  await expect(viewer.getByTestId("leak-dry-run").getByRole("button", { name: "Release" })).toHaveCount(0);
  const hostId = (await query<{ items: { id: string; name: string }[] }>(page.request, "hosts.list", { limit: 200 })).items.find((h) => h.name === hostName)!.id;
  const refused = await mutate(viewer.request, "ipam.release", { networkId, hostId, addresses: [leased] });
  expect(refused.status()).toBe(403);
  await context.close();

  // The operator releases: the attachment's detach runs DEL with the cached config, the agent's report frees the cell.
  await dry.getByRole("button", { name: "Release" }).click();
  await expect(dry.getByRole("status")).toContainText("Detaching attachment");
  await expect(leaks).toContainText("Every held address of this network has a live holder.", { timeout: 30_000 });
  await page.goto(`/networks/${networkId}/ipam?cidr=${encodeURIComponent(`10.${second}.7.0/24`)}`);
  await expect(page.getByTestId("ipam-grid").locator(`[data-address="${leased}"]`)).toHaveAttribute("data-kind", "free");
  const audit = await query<{ items: { action: string; actorName: string }[] }>(page.request, "audit.list", { limit: 20 });
  expect(audit.items.map((e) => e.action)).toEqual(expect.arrayContaining(["ipam.release", "attachments.detach"]));
});
