import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "@playwright/test";
import { BASE_URL } from "../playwright.config";
import { dataOf, mutate, query, removeFromHost, requireRoot, signInElsewhere } from "./support";

// Issue 12 in the browser: a host's labels set in its page, a sandbox attached with labels from the
// form, and on the service page a manual member added and a weight changed, each shown as its plan
// (the host and its exact nft lines) before Apply; a real agent applies it. Viewers get no controls.
test.describe.configure({ mode: "serial" });
requireRoot();

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const hex = randomBytes(3).toString("hex");
const hostName = `e2e-plan-${hex}`;
const networkName = `e2e-plan-${hex}`;
const serviceName = `e2e-plan-${hex}`;
const zone = `z${hex}`;
const bridge = `sypl${hex}`;
const sandbox = `sytest-pl-${hex}`;
const servicesNetns = `sytest-plh-${hex}`;
const second = 16 + (parseInt(hex.slice(0, 2), 16) % 200);
const vip = `10.231.${second}.20`;
const manual = `10.${second}.43.50`;
const dataDir = mkdtempSync(path.join(tmpdir(), "switchyard-e2e-plan-"));
const agentLog = path.join(dataDir, "agent.log");
let agent: ChildProcess | undefined;
let hostId = "";
let serviceUrl = "";

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus && agent) await testInfo.attach("agent.log", { body: readFileSync(agentLog), contentType: "text/plain" });
});
test.afterAll(() => {
  agent?.kill("SIGTERM");
  removeFromHost({ netns: [sandbox, servicesNetns], links: [bridge], dirs: [dataDir, `/var/lib/cni/networks/${networkName}`] });
});

test("host labels in the host page; a labelled sandbox from the attach form", async ({ page }) => {
  const made = await mutate(page.request, "hosts.createJoinToken", { note: hostName, ttlMinutes: 10 });
  const { token } = await dataOf<{ token: string }>(made);
  const log = openSync(agentLog, "a");
  execFileSync("ip", ["netns", "add", servicesNetns]);
  agent = spawn(process.execPath, [path.join(root, "apps/agent/bin/switchyard-agent"), "--console-url", BASE_URL, "--join-token", token, "--hostname", hostName,
    "--data-dir", path.join(dataDir, "agent"), "--cache-dir", path.join(dataDir, "cache"), "--conf-dir", path.join(dataDir, "net.d"), "--netns-dir", "/run/netns",
    "--services", `netns:${servicesNetns}`], { stdio: ["ignore", log, log] });
  closeSync(log);
  const findHost = async () => (await query<{ items: { id: string; name: string }[] }>(page.request, "hosts.list", { limit: 200 })).items.find((h) => h.name === hostName)?.id ?? "";
  await expect.poll(findHost, { timeout: 30_000 }).not.toBe("");
  hostId = await findHost();

  // Labels on the host page: a bad key is named beside its row and nothing is sent; fixed, saved, audited.
  await page.goto(`/hosts/${hostId}`);
  const labels = page.getByRole("region", { name: "Host labels" });
  await labels.getByRole("button", { name: "Edit labels" }).click();
  await labels.getByRole("button", { name: "Add label" }).click();
  await labels.getByRole("textbox", { name: "Label key 1" }).fill("-zone");
  await labels.getByRole("textbox", { name: "Label value 1" }).fill(zone);
  await expect(labels.getByRole("alert")).toContainText('label key "-zone"');
  await expect(labels.getByRole("button", { name: "Save labels" })).toBeDisabled();
  await labels.getByRole("textbox", { name: "Label key 1" }).fill("zone");
  await expect(labels.getByRole("alert")).toHaveCount(0);
  await labels.getByRole("button", { name: "Save labels" }).click();
  await expect(labels.getByTestId("labels")).toHaveText(`zone=${zone}`);
  await page.reload();
  await expect(page.getByRole("region", { name: "Host labels" }).getByTestId("labels")).toHaveText(`zone=${zone}`);
  const audit = await query<{ items: { action: string; targetId: string | null }[] }>(page.request, "audit.list", { action: "hosts.setLabels", targetId: hostId, limit: 5 });
  expect(audit.items.map((a) => a.action)).toEqual(["hosts.setLabels"]);

  // The service CIDR and a bridge network, through the API (services.spec.ts shows them in the page).
  const cidrs = await query<string[]>(page.request, "services.cidrs");
  if (!cidrs.includes("10.231.0.0/16")) expect((await mutate(page.request, "services.setCidrs", { cidrs: [...cidrs, "10.231.0.0/16"] })).status()).toBe(200);
  const network = await mutate(page.request, "networks.create", {
    text: JSON.stringify({ cniVersion: "1.0.0", name: networkName, plugins: [{ type: "bridge", bridge, ipam: { type: "host-local", ranges: [[{ subnet: `10.${second}.42.0/24` }]] } }] }),
    comment: "e2e services plan",
  });
  expect(network.status()).toBe(200);

  // The attach form takes labels: a bad one is named, then the sandbox attaches labelled.
  await page.goto("/attachments");
  await page.getByRole("button", { name: "New attachment" }).click();
  const form = page.getByRole("form", { name: "New attachment" });
  await form.getByLabel("Host", { exact: true }).selectOption({ label: `${hostName} (online)` });
  await form.getByLabel("Network", { exact: true }).selectOption({ label: `${networkName} (r1)` });
  await form.getByLabel("Sandbox name (optional)").fill(sandbox);
  await form.getByRole("button", { name: "Add label" }).click();
  await form.getByRole("textbox", { name: "Label key 1" }).fill("app");
  await form.getByRole("textbox", { name: "Label value 1" }).fill("not valid!");
  await expect(form.getByRole("alert")).toContainText('label value "not valid!"');
  await form.getByRole("textbox", { name: "Label value 1" }).fill(serviceName);
  await form.getByRole("button", { name: "Attach" }).click();
  await expect(page).toHaveURL(/\/operations\//);
  await expect(page.getByTestId("op-status")).toHaveText(/succeeded/i, { timeout: 30_000 });

  // Its labels show in the attachments table, and operators edit them there (audited).
  await page.goto("/attachments");
  const row = page.getByTestId(`attachment-row-${sandbox}`);
  await expect(row.getByTestId("labels")).toHaveText(`app=${serviceName}`);
  await row.getByRole("button", { name: `Edit labels of ${sandbox}/eth0 on ${networkName}` }).click();
  await row.getByRole("button", { name: "Add label" }).click();
  await row.getByRole("textbox", { name: "Label key 2" }).fill("tier");
  await row.getByRole("textbox", { name: "Label value 2" }).fill("front");
  await row.getByRole("button", { name: "Save labels" }).click();
  await expect(row.getByTestId("labels")).toHaveText(`app=${serviceName}tier=front`);
  const listed = await query<{ items: { id: string; containerId: string; labels: Record<string, string> }[] }>(page.request, "attachments.list", { q: sandbox, limit: 10 });
  const attachment = listed.items.find((a) => a.containerId === sandbox)!;
  expect(attachment.labels).toEqual({ app: serviceName, tier: "front" });
  const edited = await query<{ items: { action: string }[] }>(page.request, "audit.list", { action: "attachments.setLabels", targetId: attachment.id, limit: 5 });
  expect(edited.items.map((e) => e.action)).toEqual(["attachments.setLabels"]);
});

test("a manual member and a weight change, each planned (the host, its nft lines) before Apply; the host applies them", async ({ page }) => {
  const created = await mutate(page.request, "services.create", {
    name: serviceName,
    vip,
    spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }], hostSelector: { matchLabels: { zone } }, memberSelector: { matchLabels: { app: serviceName } } },
  });
  expect(created.status()).toBe(200);
  serviceUrl = `/services/${(await dataOf<{ id: string }>(created)).id}`;
  await page.goto(serviceUrl);
  const member = page.getByTestId(`member-10.${second}.42.2`);
  await expect(member).toBeVisible({ timeout: 30_000 });
  const hostRow = page.getByTestId(`service-host-${hostName}`);
  await expect(hostRow.getByText("applied", { exact: true })).toBeVisible({ timeout: 30_000 });

  // Add a member by hand: the plan names the host and the new dispatch line; nothing is written yet.
  await page.getByRole("button", { name: "Add member" }).click();
  const add = page.getByRole("form", { name: "Add member" });
  await add.getByLabel("Address").fill("10.1.2");
  await add.getByRole("button", { name: "Review adding" }).click();
  await expect(add.getByRole("alert")).toContainText("10.1.2: must be an IPv4 or IPv6 address");
  // What only the console's state can refuse, the plan refuses: a VIP's range is no member.
  await add.getByLabel("Address").fill("10.231.0.1");
  await add.getByRole("button", { name: "Review adding" }).click();
  const plan = page.getByRole("region", { name: "Plan" });
  await expect(plan.getByRole("alert")).toContainText("in the service CIDR 10.231.0.0/16");
  await expect(plan.getByRole("button", { name: "Apply" })).toBeDisabled();
  await add.getByLabel("Address").fill(manual);
  await add.getByLabel("Weight").fill("50");
  await add.getByRole("button", { name: "Review adding" }).click();
  await expect(plan.getByTestId("plan-members")).toContainText(`${manual} added`);
  const lines = plan.getByRole("group", { name: `Plan for ${hostName}` }).getByLabel(`nft transaction for ${hostName}`);
  await expect(lines).toContainText(`numgen random mod 3 < 2 dnat to 10.${second}.42.2:8080`);
  await expect(lines).toContainText(`meta l4proto tcp dnat to ${manual}:8080`);
  await expect(lines).toContainText("add element ip switchyard masquerade-members");
  await expect(page.getByRole("table", { name: "Revisions" }).getByRole("row")).toHaveCount(2);
  await plan.getByRole("button", { name: "Apply" }).click();
  await expect(plan).toHaveCount(0);
  await expect(page.getByRole("table", { name: "Revisions" })).toContainText(`${manual}: added by hand`);
  await expect(page.getByTestId(`member-${manual}`)).toContainText("added by hand");

  // Weight 100 → 300 on the sandbox's member: one click to review, one to apply.
  await member.getByRole("spinbutton", { name: `Weight of 10.${second}.42.2` }).fill("300");
  await member.getByRole("button", { name: "Review weight" }).click();
  await expect(plan.getByTestId("plan-members")).toContainText(`10.${second}.42.2 weight 100 → 300`);
  await expect(lines).toContainText(`numgen random mod 7 < 6 dnat to 10.${second}.42.2:8080`);
  await plan.getByRole("button", { name: "Apply" }).click();
  await expect(page.getByRole("table", { name: "Revisions" })).toContainText(`10.${second}.42.2: weight 100 → 300`);
  await expect(page.getByRole("table", { name: "Revisions" }).getByRole("cell", { name: "r3", exact: true })).toBeVisible();
  // The host applied the last change, and its kernel table holds the planned dispatch.
  await expect(hostRow.getByText("applied", { exact: true })).toBeVisible({ timeout: 30_000 });
  await expect
    .poll(() => execFileSync("ip", ["netns", "exec", servicesNetns, "nft", "list", "table", "ip", "switchyard"], { encoding: "utf8" }), { timeout: 15_000 })
    .toContain(`numgen random mod 7 < 6 dnat to 10.${second}.42.2:8080`);

  // A rollback is planned too, and Cancel writes nothing.
  await page.getByRole("table", { name: "Revisions" }).getByRole("button", { name: "Roll back to r1" }).click();
  await expect(plan.getByTestId("plan-members")).toContainText(`${manual} removed`);
  await expect(plan.getByTestId("plan-members")).toContainText(`10.${second}.42.2 weight 300 → 100`);
  await expect(lines).toContainText("delete element ip switchyard masquerade-members");
  await plan.getByRole("button", { name: "Cancel" }).click();
  await expect(plan).toHaveCount(0);
  // The spec editor checks the spec with the API's schema before it plans.
  await page.getByRole("button", { name: "Edit spec" }).click();
  const specForm = page.getByRole("form", { name: "Edit spec" });
  await specForm.getByLabel("Spec (JSON)").fill('{ "ports": [] }');
  await specForm.getByRole("button", { name: "Review plan" }).click();
  await expect(specForm.getByRole("alert")).toContainText("ports: a service needs at least one port");
  await specForm.getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByRole("table", { name: "Revisions" }).getByRole("row")).toHaveCount(4);
});

test("a viewer sees labels and the pool, with no edit controls", async ({ page, browser }) => {
  const made = await mutate(page.request, "users.create", { username: `plan-viewer-${hex}`, displayName: "", password: "viewer's long password", role: "viewer" });
  expect(made.status()).toBe(200);
  const { context, page: viewer } = await signInElsewhere(browser, `plan-viewer-${hex}`, "viewer's long password");
  try {
    await viewer.goto(`/hosts/${hostId}`);
    const labels = viewer.getByRole("region", { name: "Host labels" });
    await expect(labels.getByTestId("labels")).toHaveText(`zone=${zone}`);
    await expect(labels.getByRole("button")).toHaveCount(0);
    await viewer.goto("/attachments");
    const row = viewer.getByTestId(`attachment-row-${sandbox}`);
    await expect(row.getByTestId("labels")).toHaveText(`app=${serviceName}tier=front`);
    await expect(row.getByRole("button", { name: /Edit labels/ })).toHaveCount(0);
    await viewer.goto(serviceUrl);
    await expect(viewer.getByTestId(`member-${manual}`)).toBeVisible();
    await expect(viewer.getByRole("button", { name: "Add member" })).toHaveCount(0);
    await expect(viewer.getByRole("button", { name: "Edit spec" })).toHaveCount(0);
    await expect(viewer.getByRole("button", { name: /Remove|Review|Roll back/ })).toHaveCount(0);
    await expect(viewer.getByRole("spinbutton")).toHaveCount(0);
    expect((await mutate(viewer.request, "services.setHostLabels", { hostId, labels: {} })).status()).toBe(403);
  } finally {
    await context.close();
  }
});
