import { readFileSync } from "node:fs";
import { expect, test, type Page } from "@playwright/test";
import { signInElsewhere } from "./support";

async function fillForm(page: Page, fields: Record<string, string>) {
  for (const [label, value] of Object.entries(fields)) await page.getByLabel(label, { exact: true }).fill(value);
}

test.describe.configure({ mode: "serial" });

test("an admin creates a bridge network with the form, edits it, diffs, rolls back and exports", async ({ page, browser }) => {
  // A second browser, already open on the list, must see the new network without a reload.
  const watcherContext = await browser.newContext({ storageState: ".auth/admin.json" });
  const watcher = await watcherContext.newPage();
  await watcher.goto("/networks");
  await expect(watcher.getByRole("heading", { name: "Networks" })).toBeVisible();

  await page.goto("/networks");
  await page.getByRole("link", { name: "New network" }).click();
  await fillForm(page, { "Network name": "lab-bridge", "Bridge device": "sy-lab0", Subnet: "10.88.0.0/24", Gateway: "10.99.0.1" });
  await page.getByRole("button", { name: "Create network" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "10.99.0.1" })).toContainText("outside");
  await expect(page).toHaveURL(/\/networks\/new$/);

  await page.getByLabel("Gateway", { exact: true }).fill("10.88.0.1");
  await page.getByLabel("Change comment").fill("first cut");
  await page.getByRole("button", { name: "Create network" }).click();
  await expect(page.getByRole("heading", { name: /lab-bridge/ })).toBeVisible();
  await expect(page.getByText("r1", { exact: true }).first()).toBeVisible();

  await expect(watcher.getByRole("link", { name: "lab-bridge" })).toBeVisible();

  // Edit with the form: move the gateway.
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Gateway", { exact: true }).fill("10.88.0.254");
  await page.getByLabel("Change comment").fill("move gateway");
  await page.getByRole("button", { name: "Save revision" }).click();
  const history = page.getByRole("table", { name: "Revision history" });
  await expect(history.getByRole("row")).toHaveCount(3);
  await expect(history).toContainText("move gateway");

  // Diff between the two revisions.
  await page.getByLabel("Compare revision 1").check();
  await page.getByLabel("Compare revision 2").check();
  const diff = page.getByLabel("Revision diff");
  await expect(diff).toContainText('-       "gateway": "10.88.0.1"');
  await expect(diff).toContainText('+       "gateway": "10.88.0.254"');

  // Roll back to revision 1: asked first, then a new revision 3 with the old content.
  await page.getByRole("button", { name: "Roll back to r1" }).click();
  await page.getByRole("alertdialog", { name: "Roll back lab-bridge to r1?" }).getByRole("button", { name: "Confirm rollback" }).click();
  await expect(history.getByRole("row")).toHaveCount(4);
  await expect(history).toContainText("Rollback to revision 1");
  await expect(page.getByLabel("Current conflist")).toContainText('"gateway": "10.88.0.1"');

  // Export as the file name /etc/cni/net.d expects.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export" }).click()]);
  expect(download.suggestedFilename()).toBe("10-lab-bridge.conflist");
  const exported = JSON.parse(readFileSync(await download.path(), "utf8")) as { name: string; plugins: { type: string }[] };
  expect(exported.name).toBe("lab-bridge");
  expect(exported.plugins.map((p) => p.type)).toEqual(["bridge", "portmap"]);

  // The audit log shows who did it.
  await page.getByRole("link", { name: "Audit log" }).click();
  const audit = page.getByRole("table", { name: "Audit events" });
  await expect(audit).toContainText("networks.rollback");
  await expect(audit).toContainText("networks.update");
  await expect(audit).toContainText("networks.create");
  await watcherContext.close();
});

test("a viewer sees the pages but no edit controls", async ({ page, browser }) => {
  await page.goto("/users");
  const form = page.getByRole("form", { name: "Create user" });
  await form.getByLabel("Username").fill("vera");
  await form.getByLabel("Initial password").fill("vera's long password");
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByRole("table", { name: "Users" })).toContainText("vera");

  const { context: viewerContext, page: viewer } = await signInElsewhere(browser, "vera", "vera's long password");
  await expect(viewer.getByRole("link", { name: "lab-bridge" })).toBeVisible();
  await expect(viewer.getByRole("link", { name: "New network" })).toHaveCount(0);
  await expect(viewer.getByRole("button", { name: "Import" })).toHaveCount(0);
  await viewer.getByRole("link", { name: "lab-bridge" }).click();
  await expect(viewer.getByLabel("Current conflist")).toContainText("lab-bridge");
  await expect(viewer.getByRole("button", { name: "Edit" })).toHaveCount(0);
  await expect(viewer.getByRole("button", { name: "Delete" })).toHaveCount(0);
  await expect(viewer.getByRole("button", { name: /Roll back/ })).toHaveCount(0);
  await expect(viewer.getByRole("link", { name: "Users" })).toHaveCount(0);
  await viewer.getByRole("link", { name: "Audit log" }).click();
  await expect(viewer.getByRole("table", { name: "Audit events" })).toContainText("networks.create");
  await viewerContext.close();
});

test("deleting a network asks for its name", async ({ page }) => {
  await page.goto("/networks");
  await page.getByRole("link", { name: "lab-bridge" }).click();
  await page.getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByRole("dialog", { name: "Delete network" });
  await expect(dialog.getByRole("button", { name: "Delete for good" })).toBeDisabled();
  await dialog.getByLabel("Network name to confirm").fill("lab-bridge");
  await dialog.getByRole("button", { name: "Delete for good" }).click();
  await expect(page).toHaveURL(/\/networks$/);
  await expect(page.getByRole("link", { name: "lab-bridge" })).toHaveCount(0);
});
